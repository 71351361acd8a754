#include "services/profile/http/http_gateway.h"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace profiles {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// After an error response that closes the connection, unread request bytes
// are drained (for at most this long and this much) before closing, so the
// client reads the response instead of a connection reset.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerBytes = size_t{4} * 1024 * 1024;

void LogLine(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

absl::string_view ToAbsl(boost::beast::string_view text) { return {text.data(), text.size()}; }

// One connection: reads requests, answers each with the handler, in order.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const RestHandler& handler, const HttpGateway::Options& options)
      : stream_(std::move(socket)), handler_(handler), options_(options) {}

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::ReadHeader, shared_from_this()));
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(options_.body_limit);
    stream_.expires_after(options_.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code error, size_t) {
    if (error) return OnReadError(error);
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
      continue_ = http::response<http::empty_body>(http::status::continue_, 11);
      http::async_write(stream_, continue_,
                        [self = shared_from_this()](beast::error_code write_error, size_t) {
                          if (write_error) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code error, size_t) {
    if (error) return OnReadError(error);
    const HttpRequest& request = parser_->get();
    HttpResponse response = handler_.Handle(request);
    if (response.result_int() >= 500) {
      LogLine(absl::StrCat("http: ", response.result_int(), " for ",
                           ToAbsl(request.method_string()), " ", ToAbsl(request.target()), ": ",
                           response.body()));
    }
    Write(std::move(response));
  }

  void OnReadError(beast::error_code error) {
    if (error == http::error::body_limit) {
      return WriteAndClose(http::status::payload_too_large,
                           absl::StrCat("the body exceeds ", options_.body_limit, " bytes"));
    }
    if (error == http::error::header_limit) {
      return WriteAndClose(http::status::request_header_fields_too_large,
                           absl::StrCat("the request header exceeds ", kHeaderLimit, " bytes"));
    }
    // A malformed request; anything else (end of stream, timeout, reset)
    // leaves nobody to answer.
    if (error.category() == http::make_error_code(http::error::bad_target).category() &&
        error != http::error::end_of_stream && error != http::error::partial_message) {
      return WriteAndClose(http::status::bad_request,
                           absl::StrCat("malformed HTTP request: ", error.message()));
    }
    Close();
  }

  void WriteAndClose(http::status status, const std::string& message) {
    Write(ErrorResponse(status, absl::InvalidArgumentError(message), 11, false));
  }

  void Write(HttpResponse response) {
    response_ = std::move(response);
    stream_.expires_after(options_.write_timeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code error, size_t) {
    if (error) return Close();
    if (response_.keep_alive()) return ReadHeader();
    // The request may not have been read completely (an error response).
    if (!parser_->is_done()) return Linger();
    Close();
  }

  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(size_t{64} * 1024),
                            [self = shared_from_this()](beast::error_code error, size_t bytes) {
                              self->drained_ += bytes;
                              if (error || self->drained_ > kLingerBytes) return self->Close();
                              self->buffer_.commit(bytes);
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const RestHandler& handler_;
  const HttpGateway::Options& options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  HttpResponse response_;
  size_t drained_ = 0;
};

// Splits "host:port" and "[v6]:port".
std::optional<std::pair<std::string, std::string>> SplitHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port_number = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() ||
      port_number > 65535) {
    return std::nullopt;
  }
  return std::make_pair(std::string(host), std::string(port));
}

}  // namespace

HttpGateway::HttpGateway(Options options,
                         std::unique_ptr<profile::v1::ProfileService::StubInterface> stub,
                         std::function<absl::Status()> readiness)
    : options_(std::move(options)),
      handler_(std::move(stub), std::move(readiness), {.rpc_timeout = options_.rpc_timeout}) {}

HttpGateway::~HttpGateway() { Stop(); }

absl::Status HttpGateway::Start() {
  std::optional<std::pair<std::string, std::string>> host_port = SplitHostPort(options_.address);
  if (!host_port.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP address '", options_.address,
                                                   "' is not host:port (e.g. 127.0.0.1:8080)"));
  }
  io_context_ = std::make_unique<asio::io_context>(std::max(1, options_.threads));

  beast::error_code error;
  tcp::resolver resolver(*io_context_);
  tcp::resolver::results_type endpoints =
      resolver.resolve(host_port->first, host_port->second,
                       tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error || endpoints.empty()) {
    io_context_.reset();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve HTTP address '", options_.address, "': ", error.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();

  acceptor_ = std::make_unique<tcp::acceptor>(asio::make_strand(*io_context_));
  acceptor_->open(endpoint.protocol(), error);
  if (!error) acceptor_->set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_->bind(endpoint, error);
  if (!error) acceptor_->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    acceptor_.reset();
    io_context_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on HTTP address ", options_.address, ": ", error.message()));
  }
  port_ = acceptor_->local_endpoint().port();

  Accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { io_context_->run(); });
  }
  return absl::OkStatus();
}

void HttpGateway::Accept() {
  acceptor_->async_accept(
      asio::make_strand(*io_context_), [this](beast::error_code error, tcp::socket socket) {
        if (error == asio::error::operation_aborted) return;
        if (!error) {
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::make_shared<Session>(std::move(socket), handler_, options_)->Run();
        }
        Accept();
      });
}

void HttpGateway::Stop() {
  if (io_context_ == nullptr) return;
  io_context_->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  // Destroying the io_context destroys the pending handlers, and with them
  // the sessions that own the connections.
  acceptor_.reset();
  io_context_.reset();
}

}  // namespace profiles
