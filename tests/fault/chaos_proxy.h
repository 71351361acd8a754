#ifndef PROFILES_TESTS_FAULT_CHAOS_PROXY_H_
#define PROFILES_TESTS_FAULT_CHAOS_PROXY_H_

// ChaosProxy (test-only): a TCP relay on 127.0.0.1 in front of a gRPC
// server, with a port of its own that stays the same while the server behind
// it is killed and restarted on new ports, and with faults on command:
//
//   CutAll / CutSome   close every (or a random share of the) open
//                      connection(s) at once, on both sides, mid-request or
//                      mid-response.
//   DropAcks(p)        "applied but not acknowledged": the client's bytes
//                      still reach the server, but when a response would go
//                      back (an HTTP/2 HEADERS frame on a stream, i.e. the
//                      start of a response or its trailers), with probability
//                      `p` the proxy closes both connections instead of
//                      forwarding it. Connection-level frames (SETTINGS, PING,
//                      WINDOW_UPDATE, GOAWAY) pass, so new connections are
//                      still set up and requests are still sent.
//
// The proxy parses only the frame headers of the server-to-client byte
// stream (RFC 9113 section 4.1); it reads no payloads and needs no HPACK
// state, since it never forwards a stream frame after deciding to drop one.
// The client-to-server direction is copied untouched.
//
// While the upstream is down (connection refused), each new client
// connection is accepted and closed at once, as a phone sees a server that
// is restarting.
//
// Thread safety: thread-safe. One internal thread relays every connection
// with poll(); the control methods only set state under a mutex and wake it.

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace profiles::testing {

class ChaosProxy {
 public:
  struct Stats {
    int64_t accepted = 0;      // client connections accepted
    int64_t refused = 0;       // closed at once: the upstream refused
    int64_t cut = 0;           // closed by CutAll / CutSome
    int64_t acks_dropped = 0;  // closed instead of forwarding a response
  };

  // Listens on an ephemeral port of 127.0.0.1 and relays to
  // 127.0.0.1:`upstream_port`. `seed` seeds the choices of CutSome and
  // DropAcks.
  static absl::StatusOr<std::unique_ptr<ChaosProxy>> Start(int upstream_port, uint64_t seed);
  // Closes every connection and stops the relay thread.
  ~ChaosProxy();
  ChaosProxy(const ChaosProxy&) = delete;
  ChaosProxy& operator=(const ChaosProxy&) = delete;

  // "127.0.0.1:<port>", fixed for the proxy's lifetime.
  const std::string& address() const { return address_; }

  // New connections go to 127.0.0.1:`port`; open ones are left alone.
  void SetUpstream(int port);
  // Closes every open connection.
  void CutAll() { CutSome(1.0); }
  // Closes each open connection with probability `fraction` (0..1).
  void CutSome(double fraction);
  // From now on, each response is dropped with probability `probability`
  // (0 turns dropping off).
  void DropAcks(double probability);

  Stats stats() const;

 private:
  struct Connection;

  ChaosProxy(int listen_fd, int wake_fd, std::string address, int upstream_port, uint64_t seed);
  void Run();
  void Wake();
  void Accept(std::vector<std::unique_ptr<Connection>>& connections);
  // Reads what the server sent and queues it for the client, frame by frame;
  // false when the connection must close (an error, or a dropped response).
  bool FromServer(Connection& connection, double drop_probability);

  const int listen_fd_;
  const int wake_fd_;  // eventfd
  const std::string address_;
  mutable std::mutex mu_;
  int upstream_port_ ABSL_GUARDED_BY(mu_);
  double drop_probability_ ABSL_GUARDED_BY(mu_) = 0;
  // A cut waiting for the relay thread, and its share of connections.
  bool cut_pending_ ABSL_GUARDED_BY(mu_) = false;
  double cut_fraction_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 random_;  // relay thread only
  std::thread thread_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_FAULT_CHAOS_PROXY_H_
