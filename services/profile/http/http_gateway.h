#ifndef PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_
#define PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_

// HttpGateway serves the REST/JSON API of the profile service over HTTP/1.1
// (Boost.Beast): its sessions hand each request to a RestHandler, which calls
// the ProfileCore directly (routes: rest_handler.h), and write the answer
// when it comes.
//
// Connections: asynchronous accept and sessions on one boost::asio
// io_context run by Options::threads threads; keep-alive, TCP_NODELAY,
// "Expect: 100-continue"; HTTPS only when Options::tls is set (the TLS
// handshake must end within Options::read_timeout). A connection handles one request at a time:
// pipelined requests wait in the socket and are answered in order. Bounds,
// each answered with a JSON error body (http_status.h):
//   - at most Options::max_connections connections are served; one more is
//     answered 503 RESOURCE_EXHAUSTED "server busy" with Retry-After and
//     closed (and while as many are already being turned away, further ones
//     are closed at once, so a flood costs no more than that);
//   - a request must arrive completely (header and body) within
//     Options::read_timeout of its first byte being awaited, which is also
//     how long an idle keep-alive connection stays open, and a response must
//     be written within Options::write_timeout, so a slow client cannot pin
//     a session;
//   - headers over Options::header_limit are answered 431, bodies over
//     Options::body_limit 413, input that does not fit the read buffer
//     (Options::read_buffer_limit: a header line, a chunk header) 431 in
//     the header and 413 in the body, unparseable requests 400; each of
//     those closes the connection;
//   - a request the core has not answered within Options::request_timeout
//     is answered 504 (the core's late answer is dropped) and the connection
//     goes on;
//   - a Host outside Options::allowed_hosts is answered 421, an HTTP/1.1
//     request without Host 400, and a Transfer-Encoding other than
//     "chunked" 501 (the body's end would be unknown); each closes.
// Every answer carries X-Content-Type-Options: nosniff and a
// Content-Security-Policy that lets a browser run or embed nothing from it.
//
// Threading: a session runs on its own strand of the io_context. The
// handler is called there and never blocks on storage; its answer may come
// on any thread (inline, or a core storage thread) and is posted back onto
// the session's strand. So the io threads only parse and write, and
// `threads` near the number of cores is enough however many requests wait
// for the database.
//
// Every request answered (the handler's answers and the gateway's own
// refusals above) gets an id (logging/request_id.h: the client's X-Request-Id
// when sane, else a new one), sent back as X-Request-Id; is counted in
// Options::metrics (profiles_requests_total with protocol "http", the route
// as RouteLabel() names it, "GET /user/{id}", and the status; latency from
// the request's header to its answer); and, with Options::access_log, is
// logged on one line (services/profile/logging/log.h):
//   {"time":...,"level":"info","msg":"request","protocol":"http",
//    "method":"PUT /user/{id}","status":"200","duration_ms":1.93,
//    "peer":"127.0.0.1","request_id":"...","subject":"<user id>"}
// Never a body, a header's value (the Authorization header least of all) or
// the path's ids. Without the access log only 5xx answers are logged, at
// level warning. Connections turned away (503 before a request is read) are
// neither counted nor logged, so a flood costs no more than that. The caller
// logs the address it listens on (see port()).
//
// Example:
//   HttpGateway gateway({.address = "127.0.0.1:8080"}, &core,
//                       [&health] { return health.LastReadiness(); });
//   if (absl::Status started = gateway.Start(); !started.ok()) ...
//
// Start() and Stop() are not thread-safe with each other; port() is safe
// after Start(). `core` must outlive the gateway (or its Stop()).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/http/rest_handler.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/tls/tls_credentials.h"

namespace profiles {

namespace http_gateway_internal {
class ConnectionTracker;
enum class Admission;
}  // namespace http_gateway_internal

class HttpGateway {
 public:
  struct Options {
    // "host:port" ("[::1]:8080" for IPv6); port 0 picks a free port.
    std::string address = "127.0.0.1:8080";
    // io_context threads: they parse requests and write responses only.
    int threads = 4;
    // Connections served at once; one more is answered 503 and closed.
    // Each costs a file descriptor: keep it below `ulimit -n`.
    int max_connections = 4096;
    // To read one whole request, and the longest idle keep-alive.
    std::chrono::milliseconds read_timeout{30000};
    // To write one response.
    std::chrono::milliseconds write_timeout{30000};
    // For the core to answer one request (CallContext::deadline); after it,
    // 504.
    std::chrono::milliseconds request_timeout{10000};
    // Larger request headers are answered 431.
    uint32_t header_limit = 16 * 1024;
    // Larger request bodies are answered 413. The body is held in memory
    // once read, besides the read buffer.
    size_t body_limit = size_t{1024} * 1024;
    // The most a connection's read buffer holds (beast::flat_buffer's max
    // size). REQUIRES: >= header_limit, so that any header within the limit
    // fits.
    size_t read_buffer_limit = size_t{64} * 1024;
    // Origins whose pages may call the API (RestHandler::Options).
    std::vector<std::string> cors_origins{};
    // The names (or addresses) a request's Host may give, without the port;
    // another is answered 421. Empty: localhost, 127.0.0.1, ::1 and the
    // host of `address` unless it is a wildcard (0.0.0.0, ::). "*": any.
    // This keeps a server on loopback from a page whose own name an
    // attacker points at 127.0.0.1 (DNS rebinding): the browser still sends
    // that name as Host.
    std::vector<std::string> allowed_hosts{};
    // Set: the port speaks HTTPS only (TLS 1.2 or 1.3) with this identity,
    // and asks for client certificates when it names client CAs; a failed
    // handshake closes the connection. Unset: plain HTTP.
    std::optional<TlsCredentials> tls{};
    // Where requests are counted, and what GET /metrics serves; null:
    // neither. Must outlive the gateway.
    ServiceMetrics* metrics = nullptr;
    // One log line per request (see above).
    bool access_log = true;
  };

  // `readiness` answers GET /readyz (empty: always ready). It is called on
  // the io threads, so it must be thread-safe and must not block: return a
  // state kept up to date elsewhere (a database round trip there would hold
  // up every connection on that thread).
  HttpGateway(Options options, ProfileCore* core, std::function<absl::Status()> readiness);
  // Stop()s.
  ~HttpGateway();

  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // Binds Options::address and starts serving. INVALID_ARGUMENT for an
  // address that cannot be parsed or resolved and for inconsistent Options
  // (the message names the option), UNAVAILABLE when the address cannot be
  // bound (the message names it). REQUIRES: called at most once.
  absl::Status Start();

  // The bound port (the chosen one when Options::address had port 0), or 0
  // before Start() succeeded.
  int port() const { return port_; }
  // Options::allowed_hosts, defaults filled in.
  const std::vector<std::string>& allowed_hosts() const { return options_.allowed_hosts; }

  // Shuts down gracefully, for a replica leaving a load balancer: stops
  // accepting (new connections are refused), closes idle keep-alive
  // connections, and lets every request being read or waiting for the core
  // be answered, with "Connection: close"; returns once every connection is
  // closed (true), or when `grace` has passed (false). Stop() then closes
  // what is left. REQUIRES: after Start(); not called from an io thread or
  // a core callback.
  bool Drain(std::chrono::milliseconds grace);

  // Stops accepting, closes every connection and joins the threads, then
  // waits until the core has answered every request it was handed (those
  // answers are not sent). Idempotent. REQUIRES: not called from an io
  // thread or from a core callback.
  void Stop();

 private:
  void Accept();
  // Serves (or turns away) one accepted connection over `Stream`.
  template <class Stream>
  void Serve(boost::asio::ip::tcp::socket socket, http_gateway_internal::Admission admission);

  const Options options_;
  const RestHandler handler_;
  // Connections open and core calls unanswered, shared with the sessions.
  std::unique_ptr<http_gateway_internal::ConnectionTracker> tracker_;
  // Set when Options::tls is.
  std::unique_ptr<boost::asio::ssl::context> ssl_context_;
  std::unique_ptr<boost::asio::io_context> io_context_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  // Spaces accept attempts after a failure (out of file descriptors).
  std::unique_ptr<boost::asio::steady_timer> accept_backoff_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_
