#ifndef PROFILES_SERVICES_PROFILE_STORAGE_PG_PROFILE_REPOSITORY_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_PG_PROFILE_REPOSITORY_H_

// ProfileRepository on PostgreSQL (schema: migrations/*.sql, applied by
// ApplyMigrations() in migrator.h).
//
// Every operation is one parameterised statement on a pooled connection in
// autocommit mode: Apply() calls the SQL function profiles_apply_write(),
// which checks the mutation id, checks the version and writes in that one
// statement, so no read-then-write race exists in this process or between
// replicas. libpqxx exceptions are caught here and returned as statuses:
// connection failures as UNAVAILABLE ("the database is unreachable"),
// anything else as INTERNAL.
//
// After a database restart no call fails for a stale connection: the pool
// replaces connections it finds dead before handing them out
// (connection_pool.h). A connection that breaks while a statement runs is
// discarded, and the statement runs once more on a new connection if that is
// safe: for reads, and for writes that carry a mutation id (a replay returns
// the first result). A write without one may have been applied, so it fails
// with UNAVAILABLE and the caller decides.
//
// Example:
//   auto repository = PgProfileRepository::Create({.database_url = url, .pool_size = 8});
//   if (!repository.ok()) return repository.status();
//   absl::StatusOr<profile::v1::Profile> profile = (*repository)->Get(id);
//
// Thread-safe.

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/profile/storage/change_stream_health.h"
#include "services/profile/storage/connection_pool.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class PgProfileRepository final : public ProfileRepository {
 public:
  struct Options {
    // A libpq connection string or URL, e.g. postgresql://user@host:5432/db.
    std::string database_url;
    // The number of connections, i.e. of concurrent statements.
    int pool_size = 8;
    // How long a call waits for a free connection before UNAVAILABLE.
    absl::Duration acquire_timeout = absl::Seconds(5);
  };

  // Does not connect yet (see Ping()). INVALID_ARGUMENT for an empty URL or
  // a pool size below 1.
  static absl::StatusOr<std::unique_ptr<PgProfileRepository>> Create(const Options& options);

  PgProfileRepository(const PgProfileRepository&) = delete;
  PgProfileRepository& operator=(const PgProfileRepository&) = delete;

  // Get() returns INVALID_ARGUMENT when `id` is not a UUID; ChangesAfter()
  // when `limit` < 1 or `max_bytes` < 1. Otherwise as documented in ProfileRepository.
  absl::StatusOr<profile::v1::Profile> Get(std::string_view id) override;
  absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) override;
  absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                          bool include_avatars, int64_t max_bytes,
                                          bool include_tombstones) override;
  // The cluster's system identifier (pg_control_system(); a new cluster,
  // initdb or a logical restore, gets a new one) and the database's oid
  // within it, "<system identifier>-<oid>". Read once, then remembered.
  absl::StatusOr<std::string> DatabaseId() override;
  absl::Status Ping() override;

  // The connection pool's state, for metrics.
  ConnectionPool::Stats pool_stats() const { return pool_.stats(); }

  // What the database says about the commit-ordered change stream (one
  // round trip); for health checks (change_stream_health.h). UNAVAILABLE
  // when storage cannot be reached.
  absl::StatusOr<ChangeStreamState> ReadChangeStreamState();

 private:
  explicit PgProfileRepository(const Options& options);

  // Runs `body(connection)` on a leased connection and turns its exceptions
  // into a status; a connection that failed is discarded.
  template <typename T, typename Body>
  absl::StatusOr<T> Run(std::string_view what, Body body);

  ConnectionPool pool_;
  absl::Mutex database_id_mu_;
  std::string database_id_ ABSL_GUARDED_BY(database_id_mu_);  // empty until read
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_PG_PROFILE_REPOSITORY_H_
