#ifndef PROFILES_TESTS_E2E_POSTGRES_CLUSTER_H_
#define PROFILES_TESTS_E2E_POSTGRES_CLUSTER_H_

// PostgresCluster is a PostgreSQL 15 cluster of one test's own, for tests
// that stop, start and restart the database under a running server (which
// the shared cluster of PROFILES_TEST_DATABASE_URL must never be).
//
// It uses deploy/postgres.sh (the same functions deploy/run.sh and
// deploy/test.sh use), so it works as root (the cluster then belongs to the
// `postgres` system user) and as an ordinary user. Create() only reserves a
// directory (mktemp -d) and a free port: the test decides when the database
// exists, so a server can be started before it. The port is chosen by the
// kernel (bind to port 0), so parallel tests (ctest -j) do not collide.
//
// Cleanup happens whatever the test does: the destructor stops the cluster
// and removes its directory, and a watchdog process in its own session does
// the same when the test process dies without running destructors (a crash,
// ctest's timeout).
//
// Not thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles::testing {

class PostgresCluster {
 public:
  // `server_options` go to postgres after the usual ones (later settings
  // win), e.g. "-c wal_level=replica" for a server misconfigured on purpose.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Create(std::string server_options = "");

  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  ~PostgresCluster();

  // Creates the cluster on first use (initdb), then starts it and waits
  // until it accepts connections.
  absl::Status Start();
  // Stops it (pg_ctl stop -m fast: sessions are terminated, as in a restart
  // or failover) and waits until it is down.
  absl::Status Stop();

  int port() const { return port_; }
  // postgresql://postgres@127.0.0.1:PORT/postgres, valid before Start().
  std::string url() const;

 private:
  PostgresCluster(std::string directory, int port, std::string server_options)
      : directory_(std::move(directory)), port_(port), server_options_(std::move(server_options)) {}

  const std::string directory_;
  const int port_;
  const std::string server_options_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_POSTGRES_CLUSTER_H_
