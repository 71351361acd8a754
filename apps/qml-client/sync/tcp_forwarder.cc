#include "apps/qml-client/sync/tcp_forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace profiles::client::testing {
namespace {

// Connects to "host:port" (numeric IPv4), or returns -1.
int ConnectTo(const std::string& target) {
  const size_t colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &port)) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr) != 1) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Copies what `from` has to `to`; false when either side is done.
bool Relay(int from, int to) {
  char buffer[64 * 1024];
  const ssize_t n = read(from, buffer, sizeof buffer);
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    const ssize_t written = write(to, buffer + done, static_cast<size_t>(n - done));
    if (written <= 0) return false;
    done += written;
  }
  return true;
}

struct Connection {
  int client;
  int server;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Start(const std::string& target) {
  const int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  int pipe_fds[2];
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd, 64) != 0 ||
      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0 ||
      pipe(pipe_fds) != 0) {
    const std::string error = std::strerror(errno);
    close(listen_fd);
    return absl::InternalError(error);
  }
  return std::unique_ptr<TcpForwarder>(
      new TcpForwarder(listen_fd, pipe_fds[0], pipe_fds[1],
                       absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)), target));
}

TcpForwarder::TcpForwarder(int listen_fd, int wake_read, int wake_write, std::string address,
                           std::string target)
    : listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      address_(std::move(address)),
      target_(std::move(target)) {
  thread_ = std::thread([this] { Run(); });
}

TcpForwarder::~TcpForwarder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

void TcpForwarder::Cut() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cut_ = true;
    ++cuts_;
  }
  Wake();
}

void TcpForwarder::Restore(const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_ = false;
  target_ = target;
}

void TcpForwarder::Wake() {
  const char byte = 0;
  [[maybe_unused]] const ssize_t n = write(wake_write_, &byte, 1);
}

void TcpForwarder::Run() {
  std::vector<Connection> connections;
  int cuts_seen = 0;
  auto close_all = [&connections] {
    for (const Connection& c : connections) {
      close(c.client);
      close(c.server);
    }
    connections.clear();
  };
  while (true) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    for (const Connection& c : connections) {
      fds.push_back({c.client, POLLIN, 0});
      fds.push_back({c.server, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    std::string target;
    bool cut = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      target = target_;
      cut = cut_;
      if (cuts_ != cuts_seen) {
        cuts_seen = cuts_;
        close_all();
        continue;
      }
    }
    if (fds[1].revents != 0) {
      char drain[64];
      [[maybe_unused]] const ssize_t n = read(wake_read_, drain, sizeof drain);
    }
    std::vector<Connection> kept;
    for (size_t i = 0; i < connections.size(); ++i) {
      const Connection& c = connections[i];
      const short client_events = fds[2 + 2 * i].revents;
      const short server_events = fds[3 + 2 * i].revents;
      bool open = true;
      if (client_events != 0) open = Relay(c.client, c.server);
      if (open && server_events != 0) open = Relay(c.server, c.client);
      if (open) {
        kept.push_back(c);
      } else {
        close(c.client);
        close(c.server);
      }
    }
    connections.swap(kept);
    if (fds[0].revents != 0) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = cut ? -1 : ConnectTo(target);
      if (server < 0) {
        close(client);
        continue;
      }
      const int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      connections.push_back({client, server});
    }
  }
  close_all();
}

}  // namespace profiles::client::testing
