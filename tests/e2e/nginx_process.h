#ifndef PROFILES_TESTS_E2E_NGINX_PROCESS_H_
#define PROFILES_TESTS_E2E_NGINX_PROCESS_H_

// NginxProcess runs nginx (/usr/sbin/nginx, Debian's 1.22) as a child
// process in front of profile_server replicas, with the project's own
// configuration: deploy/nginx/profiles.conf, copied byte for byte into a
// prefix directory of its own (mktemp -d), next to the four site files
// written for loopback (profiles-listen-{grpc,rest}.conf,
// profiles-{grpc,rest}-upstreams.conf). Logs, pid and temporary files stay
// in that directory, which the destructor removes.
//
// nginx cannot listen on port 0 and tell which port it got, so its two ports
// are free ones picked below the kernel's ephemeral range (no client
// connection of another test can hold them as its local port). Another test
// process may pick the same port in between: Start() then sees nginx's bind
// fail in its error log and starts again on other ports. It is ready when its
// error log says it started its workers (after it bound every port), and a
// connection to each port succeeds; no sleeps.
//
// Cleanup happens whatever the test does: the destructor stops nginx by PID
// (SIGTERM, then SIGKILL to its process group: master and workers), and a
// watchdog in a session of its own kills that process group and removes the
// directory when the test process dies without running destructors (a crash,
// ctest's timeout); nginx's workers would otherwise outlive it, holding the
// ports.
//
// Not thread-safe; accessors may be called from any thread after Start().

#include <grpcpp/channel.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profiles::testing {

class NginxProcess {
 public:
  static constexpr char kBinary[] = "/usr/sbin/nginx";

  // One replica behind the balancer: its gRPC and HTTP host:port.
  struct Replica {
    std::string grpc_address;
    std::string http_address;
  };

  // Starts nginx in front of `replicas` and waits until it listens.
  // FAILED_PRECONDITION when nginx is not installed (deploy/setup.sh
  // installs it).
  static absl::StatusOr<std::unique_ptr<NginxProcess>> Start(
      const std::vector<Replica>& replicas, absl::Duration ready_timeout = absl::Seconds(30));

  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Where clients reach the balancer: 127.0.0.1:PORT.
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  // The prefix directory (the configuration, logs and temporary files).
  const std::string& prefix() const { return prefix_; }
  // A file of the prefix directory, e.g. "access.log"; empty if unreadable.
  std::string ReadFile(const std::string& name) const;
  // A new channel (a connection of its own, as another device would have) to
  // the balancer; not yet connected.
  std::shared_ptr<grpc::Channel> NewChannel() const;
  // A new stub on NewChannel().
  std::unique_ptr<profile::v1::ProfileService::Stub> NewStub() const;

 private:
  NginxProcess() = default;
  void Stop();

  pid_t pid_ = 0;
  std::string prefix_;
  std::string grpc_address_;
  std::string http_address_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_NGINX_PROCESS_H_
