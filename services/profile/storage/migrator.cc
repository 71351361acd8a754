#include "services/profile/storage/migrator.h"

#include <cstdint>
#include <exception>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "services/profile/logging/log.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// Key of the advisory lock that serialises migrations across replicas.
constexpr int64_t kMigrationLockKey = 0x70726f66696c6573;  // "profiles"

}  // namespace

absl::Status ApplyMigrations(const std::string& database_url) {
  return ApplyMigrations(database_url, EmbeddedMigrations());
}

absl::Status ApplyMigrations(const std::string& database_url,
                             const std::vector<Migration>& migrations) {
  if (migrations.empty()) return absl::InvalidArgumentError("no migrations to apply");
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
      step = "read schema_migrations";
      const pqxx::result newest =
          txn.exec("SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1");
      const Migration& known = migrations.back();
      if (!newest.empty() && newest[0][0].as<int>() > known.version) {
        // A newer build migrated this database (a rolling upgrade, or a
        // rollback of the binary only). Serving it could misread columns or
        // call functions by signatures that changed; refusing says so.
        return absl::FailedPreconditionError(absl::StrCat(
            "the database's schema is newer than this server knows: it has migration ",
            newest[0][1].as<std::string>(), ", this build knows up to ", known.name,
            ". Run a build at least as new as the one that migrated it (schema_migrations "
            "lists what was applied)"));
      }
      txn.commit();
    }
    for (const Migration& migration : migrations) {
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
      LogInfo("migration applied", {{"migration", migration.name}});
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException(step, e);
  }
  return absl::OkStatus();
}

}  // namespace profiles
