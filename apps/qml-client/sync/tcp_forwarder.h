#ifndef PROFILES_APPS_QML_CLIENT_SYNC_TCP_FORWARDER_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_TCP_FORWARDER_H_

// TcpForwarder (test-only): a TCP relay on 127.0.0.1 with a fixed address in
// front of a server whose address may change, so a test can take "the
// server" away and bring it back at the same address, as a phone sees it
// when it loses and regains the network or when the server restarts.
//
// Thread safety: thread-safe. One internal thread relays all connections.

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace profiles::client::testing {

class TcpForwarder {
 public:
  // Listens on an ephemeral port of 127.0.0.1 and relays to `target` (host:port).
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Start(const std::string& target);
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  const std::string& address() const { return address_; }

  // Drops every open connection and refuses new ones (accepted and closed
  // at once) until Restore().
  void Cut();
  // Relays new connections to `target` again.
  void Restore(const std::string& target);

 private:
  TcpForwarder(int listen_fd, int wake_read, int wake_write, std::string address,
               std::string target);
  void Run();
  void Wake();

  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  const std::string address_;
  std::mutex mu_;
  std::string target_ ABSL_GUARDED_BY(mu_);
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped by Cut(): the relay thread then closes the connections it has.
  int cuts_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace profiles::client::testing

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_TCP_FORWARDER_H_
