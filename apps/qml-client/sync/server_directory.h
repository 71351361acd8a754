#ifndef PROFILES_APPS_QML_CLIENT_SYNC_SERVER_DIRECTORY_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_SERVER_DIRECTORY_H_

// ServerDirectory: which local store holds which server's data, in the app's
// data folder. The app keeps one store per server database (ServiceInfo's
// database_id), so that switching to another server never mixes its
// profiles, cursor or pending edits with another's, and switching back finds
// them all again:
//
//   <data dir>/                the first store (also where versions before
//                              this one kept their only store)
//   <data dir>/servers/<id>/   the store of every other database
//   <data dir>/servers.json    address -> database id, the first store's id,
//                              the store used last
//
// The addresses are remembered so that the app, started offline, opens the
// store of the server it points at (or, for an address never reached, the
// store it used last) before it can ask the server who it is.
//
// Value type; not thread-safe. Save() writes atomically (QSaveFile).

#include <QString>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles::client {

class ServerDirectory {
 public:
  // Reads <data_dir>/servers.json; a missing file is an empty directory.
  // INTERNAL when it exists but cannot be read or parsed.
  static absl::StatusOr<ServerDirectory> Load(const QString& data_dir);

  // The folder of the store to open for `address` at start: the store of
  // its database if it was reached before, else the store used last, else
  // the first store.
  QString FolderForAddress(const std::string& address) const;
  // The folder of database `database_id`'s store.
  QString FolderForDatabase(const std::string& database_id) const;
  // <data dir>/servers/<database_id>: where the store goes when the first
  // store turns out to belong to another database (servers.json was lost).
  QString SecondaryFolderForDatabase(const std::string& database_id) const;

  // `address` serves database `database_id`, whose store is now in use.
  // The first database ever bound takes the first store. Returns whether
  // that is news (then Save() it): every health check tells it again.
  bool Remember(const std::string& address, const std::string& database_id);

  absl::Status Save() const;

 private:
  explicit ServerDirectory(QString data_dir) : data_dir_(std::move(data_dir)) {}

  QString data_dir_;
  std::string first_database_;  // the id of the store in data_dir_ itself
  std::string last_database_;
  std::map<std::string, std::string> databases_by_address_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_SERVER_DIRECTORY_H_
