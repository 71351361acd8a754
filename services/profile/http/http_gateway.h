#ifndef PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_
#define PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_

// HttpGateway serves the REST/JSON API of the profile service over HTTP/1.1
// (Boost.Beast), transcoding every request onto the gRPC ProfileService
// through a stub (routes: rest_handler.h). main passes a stub on the
// server's in-process channel; tests may pass one on a TCP channel.
//
// Connections: asynchronous accept and sessions on one boost::asio
// io_context run by Options::threads threads; keep-alive, TCP_NODELAY,
// "Expect: 100-continue". A request must arrive completely (header and
// body) within Options::read_timeout of its first byte being awaited, which
// is also how long an idle keep-alive connection stays open, and a response
// must be written within Options::write_timeout, so a slow client cannot pin
// a session. Bodies over Options::body_limit are answered 413, headers over
// 16 KiB 431, unparseable requests 400; each of those closes the connection.
//
// Threading: requests are handled on the io_context threads, each blocking
// for one RPC at most RestHandler::Options::rpc_timeout. So `threads` is
// also the number of requests transcoded at once; the in-process channel
// makes each call short, and more threads than cores are fine.
//
// Logging: one line per 5xx response (stderr), nothing per successful
// request. The caller prints the address it listens on (see port()).
//
// Example:
//   HttpGateway gateway({.address = "127.0.0.1:8080"},
//                       ProfileService::NewStub(server->InProcessChannel({})),
//                       [&repository] { return repository.Ping(); });
//   if (absl::Status started = gateway.Start(); !started.ok()) ...
//
// Start() and Stop() are not thread-safe with each other; port() is safe
// after Start().

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "profile/v1/profile.grpc.pb.h"
#include "services/profile/http/rest_handler.h"

namespace profiles {

class HttpGateway {
 public:
  struct Options {
    // "host:port" ("[::1]:8080" for IPv6); port 0 picks a free port.
    std::string address = "127.0.0.1:8080";
    // io_context threads, which also run the handlers (see above).
    int threads = 4;
    // To read one whole request, and the longest idle keep-alive.
    std::chrono::milliseconds read_timeout{30000};
    // To write one response.
    std::chrono::milliseconds write_timeout{30000};
    // Deadline of each RPC; an expired one is answered 504.
    std::chrono::milliseconds rpc_timeout{10000};
    // Larger request bodies are answered 413.
    size_t body_limit = size_t{1024} * 1024;
  };

  // Takes ownership of `stub`. `readiness` answers GET /readyz (empty: always
  // ready); it is called on the handler threads and must be thread-safe.
  HttpGateway(Options options, std::unique_ptr<profile::v1::ProfileService::StubInterface> stub,
              std::function<absl::Status()> readiness);
  // Stop()s.
  ~HttpGateway();

  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // Binds Options::address and starts serving. INVALID_ARGUMENT for an
  // address that cannot be parsed or resolved, UNAVAILABLE when it cannot be
  // bound (the message names the address). REQUIRES: called at most once.
  absl::Status Start();

  // The bound port (the chosen one when Options::address had port 0), or 0
  // before Start() succeeded.
  int port() const { return port_; }

  // Stops accepting, closes every connection and joins the threads; requests
  // being handled finish their RPC first, but their responses are not sent.
  // Idempotent. REQUIRES: not called from a handler thread.
  void Stop();

 private:
  void Accept();

  const Options options_;
  const RestHandler handler_;
  std::unique_ptr<boost::asio::io_context> io_context_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_HTTP_GATEWAY_H_
