#ifndef PROFILES_SERVICES_PROFILE_STORAGE_LOGICAL_STREAM_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_LOGICAL_STREAM_H_

// LogicalStream reads a logical replication slot over PostgreSQL's
// streaming replication protocol: a walsender connection
// (replication=database) in START_REPLICATION ... LOGICAL, through libpq.
//
// Why not the SQL functions (pg_logical_slot_peek_changes() and
// pg_replication_slot_advance()): every call starts a new decoding session
// at the slot's restart_lsn, which moves only at the running-transactions
// records PostgreSQL writes every 15 s, so each call decoded again up to
// 15 s of the database's WAL. After a burst of writes that put every change
// tens of milliseconds late (bench/run.sh's fan-out, p50 33 ms against
// 1.2 ms before). A walsender decodes each record once, sends each
// transaction as soon as it has committed and been flushed, and keeps the
// slot's positions moving from the confirmations sent back.
//
// Why libpq by hand: libpqxx has no replication protocol. The protocol's
// messages used here (XLogData 'w', primary keepalive 'k', standby status
// update 'r') are documented in "Streaming Replication Protocol".
//
// Example:
//   auto stream = LogicalStream::Open({.database_url = url, .slot_name = "profiles_16384",
//                                      .plugin_options = {{"format-version", "2"}}});
//   while (...) {
//     poll((*stream)->socket(), ...);
//     for (;;) {
//       absl::StatusOr<std::optional<LogicalStream::Message>> message = (*stream)->Read();
//       if (!message.ok()) return message.status();
//       if (!message->has_value()) break;
//       ...   // (*message)->lsn, (*message)->data
//     }
//     (*stream)->Confirm(processed_up_to);
//   }
//
// Thread-compatible: one thread uses a stream at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pg_conn;

namespace profiles {

class LogicalStream {
 public:
  struct Options {
    std::string database_url;  // URL or key=value connection string
    std::string slot_name;     // an existing logical slot of that database
    // Passed to the output plugin in START_REPLICATION, in this order.
    std::vector<std::pair<std::string, std::string>> plugin_options;
    // Appended to the URL's application_name (pg_stat_activity).
    std::string application_name_suffix = " wal stream";
  };

  // Connects and starts streaming from the slot's confirmed position.
  // UNAVAILABLE when the server cannot be reached or the connection fails;
  // FAILED_PRECONDITION when it refuses (no REPLICATION attribute, no such
  // slot, the slot in use by another session, no free walsender).
  static absl::StatusOr<std::unique_ptr<LogicalStream>> Open(const Options& options);

  LogicalStream(const LogicalStream&) = delete;
  LogicalStream& operator=(const LogicalStream&) = delete;
  ~LogicalStream();

  struct Message {
    uint64_t lsn = 0;  // XLogData's start: for a commit, the end of its record
    std::string data;  // what the output plugin wrote
  };

  // The next message already received, without blocking: nullopt when
  // none is complete yet (wait until socket() is readable). Keepalives are
  // handled here (answered when the server asks). UNAVAILABLE when the
  // connection failed or the server ended the stream.
  absl::StatusOr<std::optional<Message>> Read();

  // Tells the server that every transaction committed before `lsn` has
  // been processed, so the slot may move past it (and free the WAL). Never
  // moves backwards. UNAVAILABLE when the connection failed.
  absl::Status Confirm(uint64_t lsn);

  // How far the server has decoded, from its last keepalive: every
  // transaction committed before it has been sent. Confirming it when
  // every message read so far is processed lets the slot pass WAL that
  // holds nothing for this stream (other databases' writes). 0 until the
  // first keepalive.
  uint64_t decoded_up_to() const { return decoded_up_to_; }

  // The connection's socket, to poll(2) for readability.
  int socket() const;

 private:
  explicit LogicalStream(pg_conn* connection) : connection_(connection) {}
  absl::Status SendStatus(bool reply_requested);

  pg_conn* const connection_;
  uint64_t confirmed_ = 0;
  uint64_t decoded_up_to_ = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_LOGICAL_STREAM_H_
