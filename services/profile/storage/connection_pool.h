#ifndef PROFILES_SERVICES_PROFILE_STORAGE_CONNECTION_POOL_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_CONNECTION_POOL_H_

// A fixed number of PostgreSQL connections shared by many threads.
//
// Connections are opened lazily, on the first Acquire() that needs one, and
// prepared with `Options::prepare`. A lease whose connection turned out to be
// broken is returned with MarkBroken(): the pool closes that connection and
// opens a new one on a later Acquire(), so a database restart heals by itself
// without restarting the process.
//
// Dead connections are found before they are handed out. When PostgreSQL
// restarts, fails over, or terminates a session (pg_terminate_backend,
// idle_session_timeout), the server sends a FATAL message and closes the
// socket; libpq only notices when it next reads, so PQstatus() still says
// CONNECTION_OK and the first statement on such a connection used to fail
// ("Could not obtain client encoding: not connected"). An idle pooled
// connection has nothing legitimate to receive (it does not LISTEN and has
// no statement in flight), so Acquire() checks its socket with a zero-timeout
// poll(2): readable, hung up or in error means the server has gone away (or,
// rarely, sent an asynchronous notice), and the connection is replaced before
// use. This costs one system call per Acquire(), where a "SELECT 1" probe
// would cost a round trip per request. It cannot see a peer that vanished
// without closing the socket (a host that lost power); callers still handle
// a connection that breaks in use (see PgProfileRepository).
//
// Example:
//   absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
//   if (!lease.ok()) return lease.status();
//   pqxx::nontransaction txn(**lease);
//   ...
//
// Thread-safe. A Lease must not outlive its pool and is used by one thread
// at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace profiles {

class ConnectionPool {
 public:
  struct Options {
    std::string database_url;
    int size = 8;  // REQUIRES: >= 1
    // How long Acquire() waits for a free connection.
    absl::Duration acquire_timeout = absl::Seconds(5);
    // Run on every newly opened connection, e.g. to prepare statements. May
    // throw pqxx exceptions; the connection is then discarded.
    std::function<void(pqxx::connection&)> prepare;
  };

  // Exclusive use of one connection until destroyed. Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    pqxx::connection& operator*() const { return *connection_; }
    pqxx::connection* operator->() const { return connection_; }

    // The connection is unusable: close it instead of returning it.
    void MarkBroken() { broken_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, int slot, pqxx::connection* connection)
        : pool_(pool), slot_(slot), connection_(connection) {}

    ConnectionPool* pool_;
    int slot_;
    pqxx::connection* connection_;
    bool broken_ = false;
  };

  explicit ConnectionPool(Options options);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  // REQUIRES: no Lease is outstanding.
  ~ConnectionPool();

  // Which connection Acquire() hands out.
  enum class Reuse {
    kPooled,  // an idle pooled connection that passed the liveness check
    kNever,   // always a newly opened one (e.g. to retry after a failure)
  };

  // A connection for the caller's exclusive use, opening one if needed. A
  // pooled connection whose server has gone away is closed and replaced.
  //   UNAVAILABLE  no connection became free within acquire_timeout, or a
  //                new connection could not be opened.
  absl::StatusOr<Lease> Acquire(Reuse reuse = Reuse::kPooled);

  int size() const { return options_.size; }

  // What the pool is doing now, for metrics.
  struct Stats {
    int size = 0;     // Options::size
    int in_use = 0;   // connections leased (being used, or being opened)
    int waiting = 0;  // Acquire() calls waiting for one to be returned
  };
  Stats stats() const;

  // Pooled connections that Acquire() found dead and replaced, since the
  // pool was created. For tests and diagnostics.
  int64_t dead_connections_replaced() const;

 private:
  void Release(int slot, bool broken);

  const Options options_;
  mutable absl::Mutex mu_;
  // One entry per slot; null until opened (or after being found broken).
  std::vector<std::unique_ptr<pqxx::connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dead_connections_replaced_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CONNECTION_POOL_H_
