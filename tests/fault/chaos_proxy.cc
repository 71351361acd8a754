#include "tests/fault/chaos_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace profiles::testing {
namespace {

// Bytes queued towards one side before the proxy stops reading the other.
constexpr size_t kMaxQueued = 1 << 20;
constexpr size_t kFrameHeaderSize = 9;
constexpr uint8_t kHeadersFrame = 0x1;

// A connected, non-blocking socket to 127.0.0.1:`port`, or -1. Loopback
// connects complete (or are refused) at once, so this blocks no longer.
int ConnectToLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return fd;
}

// Writes as much of `pending` as `fd` takes now; false on an error.
bool Flush(int fd, std::string& pending) {
  while (!pending.empty()) {
    const ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    pending.erase(0, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

struct ChaosProxy::Connection {
  int client = -1;
  int server = -1;
  std::string to_server;
  std::string to_client;
  bool client_done = false;  // the client closed its side (EOF)
  bool server_done = false;
  // The server-to-client frame parser: the header being collected, and how
  // many payload bytes of the current frame are still to be copied.
  std::string frame_header;
  size_t payload_left = 0;

  ~Connection() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

absl::StatusOr<std::unique_ptr<ChaosProxy>> ChaosProxy::Start(int upstream_port, uint64_t seed) {
  const int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd, 128) != 0 ||
      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string error = std::strerror(errno);
    close(listen_fd);
    return absl::InternalError(absl::StrCat("ChaosProxy: ", error));
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const std::string error = std::strerror(errno);
    close(listen_fd);
    return absl::InternalError(absl::StrCat("ChaosProxy: ", error));
  }
  return std::unique_ptr<ChaosProxy>(
      new ChaosProxy(listen_fd, wake_fd, absl::StrCat("127.0.0.1:", ntohs(address.sin_port)),
                     upstream_port, seed));
}

ChaosProxy::ChaosProxy(int listen_fd, int wake_fd, std::string address, int upstream_port,
                       uint64_t seed)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      address_(std::move(address)),
      upstream_port_(upstream_port),
      random_(seed) {
  thread_ = std::thread([this] { Run(); });
}

ChaosProxy::~ChaosProxy() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void ChaosProxy::SetUpstream(int port) {
  std::lock_guard<std::mutex> lock(mu_);
  upstream_port_ = port;
}

void ChaosProxy::CutSome(double fraction) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cut_pending_ = true;
    cut_fraction_ = std::max(cut_fraction_, fraction);
  }
  Wake();
}

void ChaosProxy::DropAcks(double probability) {
  std::lock_guard<std::mutex> lock(mu_);
  drop_probability_ = probability;
}

ChaosProxy::Stats ChaosProxy::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ChaosProxy::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof one);
}

void ChaosProxy::Accept(std::vector<std::unique_ptr<Connection>>& connections) {
  for (;;) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN: no more waiting (or a transient error)
    int port = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.accepted;
      port = upstream_port_;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int server = ConnectToLoopback(port);
    if (server < 0) {
      close(client);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.refused;
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->client = client;
    connection->server = server;
    connections.push_back(std::move(connection));
  }
}

bool ChaosProxy::FromServer(Connection& connection, double drop_probability) {
  char buffer[64 * 1024];
  const ssize_t n = recv(connection.server, buffer, sizeof buffer, 0);
  if (n == 0) {
    connection.server_done = true;
    return true;
  }
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  std::string_view data(buffer, static_cast<size_t>(n));
  while (!data.empty()) {
    if (connection.payload_left > 0) {
      const size_t take = std::min(connection.payload_left, data.size());
      connection.to_client.append(data.substr(0, take));
      connection.payload_left -= take;
      data.remove_prefix(take);
      continue;
    }
    const size_t take = std::min(kFrameHeaderSize - connection.frame_header.size(), data.size());
    connection.frame_header.append(data.substr(0, take));
    data.remove_prefix(take);
    if (connection.frame_header.size() < kFrameHeaderSize) break;
    const auto* header = reinterpret_cast<const uint8_t*>(connection.frame_header.data());
    const size_t length = (size_t{header[0]} << 16) | (size_t{header[1]} << 8) | header[2];
    const uint32_t stream = ((uint32_t{header[5]} & 0x7f) << 24) | (uint32_t{header[6]} << 16) |
                            (uint32_t{header[7]} << 8) | header[8];
    if (header[3] == kHeadersFrame && stream != 0 && drop_probability > 0 &&
        std::uniform_real_distribution<double>(0, 1)(random_) < drop_probability) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.acks_dropped;
      return false;
    }
    connection.to_client.append(connection.frame_header);
    connection.frame_header.clear();
    connection.payload_left = length;
  }
  return true;
}

void ChaosProxy::Run() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  for (;;) {
    double drop_probability = 0;
    double cut_fraction = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      drop_probability = drop_probability_;
      if (cut_pending_) {
        cut_fraction = cut_fraction_;
        cut_pending_ = false;
        cut_fraction_ = 0;
      }
    }
    if (cut_fraction >= 0) {
      int64_t cut = 0;
      std::erase_if(connections, [&](const std::unique_ptr<Connection>&) {
        const bool close_it = std::uniform_real_distribution<double>(0, 1)(random_) < cut_fraction;
        cut += close_it ? 1 : 0;
        return close_it;
      });
      std::lock_guard<std::mutex> lock(mu_);
      stats_.cut += cut;
    }

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const std::unique_ptr<Connection>& c : connections) {
      short client_events = 0;
      short server_events = 0;
      if (!c->client_done && c->to_server.size() < kMaxQueued) client_events |= POLLIN;
      if (!c->server_done && c->to_client.size() < kMaxQueued) server_events |= POLLIN;
      if (!c->to_client.empty()) client_events |= POLLOUT;
      if (!c->to_server.empty()) server_events |= POLLOUT;
      fds.push_back({c->client, client_events, 0});
      fds.push_back({c->server, server_events, 0});
    }
    if (poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) return;

    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t read_bytes = read(wake_fd_, &count, sizeof count);
    }
    // Relay first, then accept: the new connections have no pollfd yet.
    for (size_t i = 0; i < connections.size(); ++i) {
      Connection& c = *connections[i];
      const pollfd& client = fds[2 + 2 * i];
      const pollfd& server = fds[3 + 2 * i];
      bool ok = true;
      if (!c.client_done && (client.revents & (POLLIN | POLLHUP | POLLERR))) {
        char buffer[64 * 1024];
        const ssize_t n = recv(c.client, buffer, sizeof buffer, 0);
        if (n > 0) {
          c.to_server.append(buffer, static_cast<size_t>(n));
        } else if (n == 0) {
          c.client_done = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          ok = false;
        }
      }
      if (ok && !c.server_done && (server.revents & (POLLIN | POLLHUP | POLLERR))) {
        ok = FromServer(c, drop_probability);
      }
      ok = ok && Flush(c.server, c.to_server) && Flush(c.client, c.to_client);
      // Done once a side has closed and what it sent has been passed on.
      if (!ok || (c.client_done && c.to_server.empty()) || (c.server_done && c.to_client.empty())) {
        connections[i].reset();
      }
    }
    std::erase(connections, nullptr);
    if (fds[1].revents & POLLIN) Accept(connections);
  }
}

}  // namespace profiles::testing
