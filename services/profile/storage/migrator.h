#ifndef PROFILES_SERVICES_PROFILE_STORAGE_MIGRATOR_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_MIGRATOR_H_

// Brings a database's schema up to date with the SQL migrations embedded in
// this binary (services/profile/storage/migrations/NNNN_name.sql, compiled in
// at build time so the server needs no files at run time).
//
// Applied versions are recorded in `schema_migrations`. Each migration runs
// in its own transaction together with its record, under a transaction-level
// advisory lock, so replicas that start at the same time apply each
// migration exactly once. Running it again applies nothing.
//
// Example (a one-shot migration job, like `profile_server --migrate-only`):
//   absl::Status status = profiles::ApplyMigrations(database_url);
//   if (!status.ok()) { std::cerr << status << "\n"; return 1; }
// A server does not call it directly: StorageStartup (storage_startup.h)
// calls it in the background and retries while it returns UNAVAILABLE, so
// the server outlives a database that is not up yet.
//
// Thread-safe; every call uses its own connection.

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace profiles {

struct Migration {
  int version;       // the NNNN prefix of the file name
  std::string name;  // the file name without ".sql", e.g. "0001_init"
  std::string sql;
};

// The migrations compiled into this binary, in ascending version order.
const std::vector<Migration>& EmbeddedMigrations();

// Applies every embedded migration the database at `database_url` does not
// have yet, in version order, and logs each one applied to std::cerr
// ("migrate: applied 0001_init").
//   UNAVAILABLE  the database cannot be reached.
//   INTERNAL     a migration failed; it was rolled back, earlier ones stay.
//   FAILED_PRECONDITION  the database has a migration newer than any this
//                binary embeds (a newer build migrated it); nothing is done.
absl::Status ApplyMigrations(const std::string& database_url);

// As above, with `migrations` (ascending versions) in place of the embedded
// ones: a test brings a database to the schema of an earlier build with a
// prefix of EmbeddedMigrations(), then upgrades it.
absl::Status ApplyMigrations(const std::string& database_url,
                             const std::vector<Migration>& migrations);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_MIGRATOR_H_
