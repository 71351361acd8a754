#include "apps/qml-client/sync/server_directory.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace profiles::client {
namespace {

constexpr char kFileName[] = "servers.json";
constexpr char kServersFolder[] = "servers";

}  // namespace

absl::StatusOr<ServerDirectory> ServerDirectory::Load(const QString& data_dir) {
  ServerDirectory directory(data_dir);
  QFile file(QDir(data_dir).filePath(kFileName));
  if (!file.exists()) return directory;
  if (!file.open(QIODevice::ReadOnly)) {
    return absl::InternalError("cannot read " + file.fileName().toStdString() + ": " +
                               file.errorString().toStdString());
  }
  QJsonParseError error;
  const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &error);
  if (!document.isObject()) {
    return absl::InternalError(file.fileName().toStdString() +
                               " is not a server list: " + error.errorString().toStdString());
  }
  const QJsonObject object = document.object();
  directory.first_database_ = object.value("first").toString().toStdString();
  directory.last_database_ = object.value("last").toString().toStdString();
  const QJsonObject addresses = object.value("addresses").toObject();
  for (auto it = addresses.begin(); it != addresses.end(); ++it) {
    directory.databases_by_address_[it.key().toStdString()] = it.value().toString().toStdString();
  }
  return directory;
}

QString ServerDirectory::FolderForAddress(const std::string& address) const {
  const auto it = databases_by_address_.find(address);
  if (it != databases_by_address_.end()) return FolderForDatabase(it->second);
  if (!last_database_.empty()) return FolderForDatabase(last_database_);
  return data_dir_;
}

QString ServerDirectory::FolderForDatabase(const std::string& database_id) const {
  if (first_database_.empty() || database_id == first_database_) return data_dir_;
  return SecondaryFolderForDatabase(database_id);
}

QString ServerDirectory::SecondaryFolderForDatabase(const std::string& database_id) const {
  // Database ids are letters, digits and dashes (the service's cursor
  // format allows nothing else), so the id is a safe folder name.
  return QDir(data_dir_).filePath(QString(kServersFolder) + "/" +
                                  QString::fromStdString(database_id));
}

bool ServerDirectory::Remember(const std::string& address, const std::string& database_id) {
  const auto known = databases_by_address_.find(address);
  if (!first_database_.empty() && last_database_ == database_id &&
      known != databases_by_address_.end() && known->second == database_id) {
    return false;
  }
  if (first_database_.empty()) first_database_ = database_id;
  last_database_ = database_id;
  databases_by_address_[address] = database_id;
  return true;
}

absl::Status ServerDirectory::Save() const {
  QJsonObject addresses;
  for (const auto& [address, id] : databases_by_address_) {
    addresses.insert(QString::fromStdString(address), QString::fromStdString(id));
  }
  QJsonObject object;
  object.insert("first", QString::fromStdString(first_database_));
  object.insert("last", QString::fromStdString(last_database_));
  object.insert("addresses", addresses);
  QSaveFile file(QDir(data_dir_).filePath(kFileName));
  if (!file.open(QIODevice::WriteOnly)) {
    return absl::InternalError("cannot write " + file.fileName().toStdString() + ": " +
                               file.errorString().toStdString());
  }
  file.write(QJsonDocument(object).toJson());
  if (!file.commit()) {
    return absl::InternalError("cannot write " + file.fileName().toStdString() + ": " +
                               file.errorString().toStdString());
  }
  return absl::OkStatus();
}

}  // namespace profiles::client
