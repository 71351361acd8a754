#include "services/profile/storage/migrator.h"

#include <cstdint>
#include <exception>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// Key of the advisory lock that serialises migrations across replicas.
constexpr int64_t kMigrationLockKey = 0x70726f66696c6573;  // "profiles"

}  // namespace

absl::Status ApplyMigrations(const std::string& database_url) {
  std::string step = "connect";
  try {
    pqxx::connection connection(database_url);
    {
      step = "create schema_migrations";
      pqxx::work txn(connection);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      txn.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  version int PRIMARY KEY,"
          "  name text NOT NULL,"
          "  applied_at timestamptz NOT NULL DEFAULT now())");
      txn.commit();
    }
    for (const Migration& migration : EmbeddedMigrations()) {
      step = absl::StrCat("migration ", migration.name);
      pqxx::work txn(connection);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      const pqxx::result applied =
          txn.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version);
      if (!applied.empty()) continue;
      txn.exec(migration.sql);
      txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                      migration.version, migration.name);
      txn.commit();
      std::cerr << "migrate: applied " << migration.name << "\n";
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException(step, e);
  }
  return absl::OkStatus();
}

}  // namespace profiles
