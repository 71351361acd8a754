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
// Example:
//   absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
//   if (!lease.ok()) return lease.status();
//   pqxx::nontransaction txn(**lease);
//   ...
//
// Thread-safe. A Lease must not outlive its pool and is used by one thread
// at a time.

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

  // A connection for the caller's exclusive use, opening one if needed.
  //   UNAVAILABLE  no connection became free within acquire_timeout, or a
  //                new connection could not be opened.
  absl::StatusOr<Lease> Acquire();

  int size() const { return options_.size; }

 private:
  void Release(int slot, bool broken);

  const Options options_;
  absl::Mutex mu_;
  // One entry per slot; null until opened (or after being found broken).
  std::vector<std::unique_ptr<pqxx::connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CONNECTION_POOL_H_
