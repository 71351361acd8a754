#ifndef PROFILES_TESTS_E2E_SERVER_PROCESS_H_
#define PROFILES_TESTS_E2E_SERVER_PROCESS_H_

// ServerProcess runs a real profile_server as a child process, the way it
// runs in production, for end-to-end and fault tests: several replicas on one
// database, SIGKILL in the middle of a write, restart.
//
// Both ports are chosen by the kernel (address 127.0.0.1:0) and read back
// from the "listening" log line the server writes once it listens (its
// grpc_address and http_address, in either --log-format), so tests never
// race for a port. The server listens before its database is open;
// Start() also waits for its "database ready" line unless told not to, so
// tests never sleep waiting for readiness.
//
// Not thread-safe. The destructor kills the child if it still runs, and the
// kernel kills it if the thread that started it dies (PR_SET_PDEATHSIG):
// call Start() from the thread that runs the test, never from a helper
// thread that ends before the server should.

#include <grpcpp/channel.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profiles::testing {

class ServerProcess {
 public:
  // Starts profile_server on `database_url`, with `extra_flags` after its
  // usual ones (loopback addresses, --pool-size=8, --auth=off and no rate
  // limits: later flags override them; e.g. "--cache-bytes=1"), and waits
  // until it listens and, if
  // `wait_for_database`, until its database is open (migrated, serving).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& database_url, absl::Duration ready_timeout = absl::Seconds(30),
      bool wait_for_database = true, const std::vector<std::string>& extra_flags = {});

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  // A new channel (a connection of its own, as another device or service
  // would have) to this server; not yet connected.
  std::shared_ptr<grpc::Channel> NewChannel() const;
  // A new stub on NewChannel().
  std::unique_ptr<profile::v1::ProfileService::Stub> NewStub() const;

  // Sends `signal` and waits for the process to end; returns its raw wait
  // status.
  int StopWith(int signal);

 private:
  ServerProcess(pid_t pid, int output_fd) : pid_(pid), output_fd_(output_fd) {}

  pid_t pid_;
  int output_fd_;
  // After start-up, copies the server's log to our stderr until it exits, so
  // the child never blocks on a full pipe and a failing test shows the log.
  std::thread log_copier_;
  std::string grpc_address_;
  std::string http_address_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_SERVER_PROCESS_H_
