#include "services/profile/http/http_gateway.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/profile_contract/host_port.h"
#include "services/profile/logging/access_log.h"
#include "services/profile/logging/request_id.h"

namespace profiles {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace http_gateway_internal {

// What a request's Responder needs of its session, whatever the session's
// stream (plain TCP or TLS).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // The handler's answer to request number `request`. On the strand.
  virtual void OnAnswer(uint64_t request, HttpResponse response) = 0;
  virtual asio::any_io_executor executor() = 0;
  // The gateway drains (HttpGateway::Drain): an idle connection closes at
  // once, one in the middle of a request once it is answered. On the strand.
  virtual void OnDrain() = 0;
};

// What becomes of a new connection: served, answered 503, or just closed.
enum class Admission { kServe, kTurnAway, kDrop };

// Counts the connections being served or turned away, and the core calls
// not yet answered, which Stop() waits for: their answers hold sessions,
// which must not outlive the io_context. Thread-safe.
class ConnectionTracker {
 public:
  using Admission = http_gateway_internal::Admission;

  explicit ConnectionTracker(int max_connections) : max_connections_(max_connections) {}

  // Whether to serve a new connection, answer it 503, or just close it.
  // Each kServe and kTurnAway must be matched by one Left().
  Admission Admit() {
    if (served_.fetch_add(1) < max_connections_) return Admission::kServe;
    served_.fetch_sub(1);
    if (turned_away_.fetch_add(1) < max_connections_) return Admission::kTurnAway;
    turned_away_.fetch_sub(1);
    return Admission::kDrop;
  }

  void Left(bool served) { (served ? served_ : turned_away_).fetch_sub(1); }

  // The open sessions (served or turned away), for Drain() to reach them.
  void Register(SessionBase* session, std::weak_ptr<SessionBase> handle) {
    absl::MutexLock lock(&mu_);
    sessions_.emplace(session, std::move(handle));
  }
  void Unregister(SessionBase* session) {
    absl::MutexLock lock(&mu_);
    sessions_.erase(session);
  }
  std::vector<std::weak_ptr<SessionBase>> Sessions() {
    absl::MutexLock lock(&mu_);
    std::vector<std::weak_ptr<SessionBase>> sessions;
    sessions.reserve(sessions_.size());
    for (const auto& [session, handle] : sessions_) sessions.push_back(handle);
    return sessions;
  }
  // Returns once no session is open, or at `deadline`; whether none is.
  bool AwaitNoSessions(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(absl::Condition(
                                     +[](absl::flat_hash_map<SessionBase*,
                                                             std::weak_ptr<SessionBase>>* sessions) {
                                       return sessions->empty();
                                     },
                                     &sessions_),
                                 deadline);
  }

  // Set once the gateway drains: every answer closes its connection.
  void StartDraining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

  int max_connections() const { return max_connections_; }

  void CallStarted() {
    absl::MutexLock lock(&mu_);
    ++calls_;
  }

  void CallEnded() {
    absl::MutexLock lock(&mu_);
    --calls_;
  }

  void WaitForCalls() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* calls) { return *calls == 0; }, &calls_));
  }

 private:
  const int max_connections_;
  std::atomic<int> served_{0};
  std::atomic<int> turned_away_{0};
  std::atomic<bool> draining_{false};
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace http_gateway_internal

namespace {

using http_gateway_internal::ConnectionTracker;
using http_gateway_internal::SessionBase;

// After an error response that closes the connection, unread request bytes
// are drained (for at most this long and this much) before closing, so the
// client reads the response instead of a connection reset.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerBytes = size_t{4} * 1024 * 1024;
// After accept() fails (out of file descriptors, most likely), the pending
// connections wait in the listen queue this long instead of the acceptor
// spinning on the same error.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The host of a Host header value ("name", "name:port", "[v6]:port"),
// without brackets or port.
absl::string_view HostOf(absl::string_view value) {
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    return close == absl::string_view::npos ? value : value.substr(1, close - 1);
  }
  return value.substr(0, value.find(':'));
}

// The answer (which closes the connection) to a request whose header the
// gateway refuses before reading its body, or nothing.
std::optional<HttpResponse> RefuseHeader(const HttpRequest& request,
                                         const HttpGateway::Options& options) {
  const auto refuse = [](http::status status, const absl::Status& why) {
    return ErrorResponse(status, why, 11, /*keep_alive=*/false);
  };
  if (auto coding = request.find(http::field::transfer_encoding); coding != request.end()) {
    const absl::string_view value(coding->value().data(), coding->value().size());
    const absl::string_view coding_name = absl::StripAsciiWhitespace(value);
    if (!beast::iequals(beast::string_view(coding_name.data(), coding_name.size()), "chunked")) {
      return refuse(http::status::not_implemented,
                    absl::UnimplementedError(absl::StrCat("Transfer-Encoding '", value,
                                                          "' is not supported; send \"chunked\" or "
                                                          "Content-Length")));
    }
  }
  auto host = request.find(http::field::host);
  if (host == request.end()) {
    if (request.version() < 11) return std::nullopt;
    return refuse(http::status::bad_request,
                  absl::InvalidArgumentError("an HTTP/1.1 request must send Host"));
  }
  const absl::string_view value(host->value().data(), host->value().size());
  const absl::string_view name = HostOf(value);
  for (const std::string& allowed : options.allowed_hosts) {
    if (allowed == "*" || absl::EqualsIgnoreCase(allowed, name)) return std::nullopt;
  }
  return refuse(http::status::misdirected_request,
                absl::PermissionDeniedError(absl::StrCat(
                    "this server does not answer for Host '", value, "'; it answers for: ",
                    absl::StrJoin(options.allowed_hosts, ", "), " (--allowed-hosts)")));
}

// The `respond` of one request: posts the answer onto its session's strand,
// from whichever thread the core answers on. Tells the tracker when it is
// done (called, or dropped uncalled), after it let go of the session.
class Responder {
 public:
  Responder(std::shared_ptr<SessionBase> session, uint64_t request, ConnectionTracker* tracker)
      : session_(std::move(session)), request_(request), tracker_(tracker) {
    tracker_->CallStarted();
  }
  Responder(Responder&& other) noexcept
      : session_(std::move(other.session_)),
        request_(other.request_),
        tracker_(std::exchange(other.tracker_, nullptr)) {}
  Responder& operator=(Responder&&) = delete;
  ~Responder() { Release(); }

  void operator()(HttpResponse response) &&;

 private:
  void Release() {
    session_.reset();
    if (tracker_ != nullptr) std::exchange(tracker_, nullptr)->CallEnded();
  }

  std::shared_ptr<SessionBase> session_;
  uint64_t request_;
  ConnectionTracker* tracker_;
};

// The client's address, without its port; empty if the socket cannot say.
std::string PeerOf(const tcp::socket& socket) {
  beast::error_code error;
  const tcp::endpoint endpoint = socket.remote_endpoint(error);
  return error ? std::string() : endpoint.address().to_string();
}

template <class Stream>
Stream MakeStream(tcp::socket socket, asio::ssl::context* tls) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), *tls);
  } else {
    return Stream(std::move(socket));
  }
}

// One connection: reads a request, hands it to the handler, writes its
// answer, then reads the next; so pipelined requests are answered in order.
// Over TLS the same, after a handshake that must end within the read
// timeout; `Stream` is PlainStream or TlsStream.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(tcp::socket socket, asio::ssl::context* tls, const RestHandler& handler,
          const HttpGateway::Options& options, ConnectionTracker& tracker, bool served)
      : stream_(MakeStream<Stream>(std::move(socket), tls)),
        handler_(handler),
        options_(options),
        tracker_(tracker),
        served_(served),
        buffer_(options.read_buffer_limit),
        request_timer_(stream_.get_executor()),
        peer_(PeerOf(Tcp().socket())) {}

  ~Session() override {
    tracker_.Unregister(this);
    tracker_.Left(served_);
  }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = Self()] {
      self->Handshake([self] { self->ReadHeader(); });
    });
  }

  // Answers 503 without reading a request, and closes.
  void TurnAway() {
    asio::dispatch(stream_.get_executor(), [self = Self()] {
      self->Handshake([self] {
        self->Write(ErrorResponse(http::status::service_unavailable,
                                  absl::ResourceExhaustedError(absl::StrCat(
                                      "server busy: all ", self->tracker_.max_connections(),
                                      " connections are in use; retry later")),
                                  11, /*keep_alive=*/false));
      });
    });
  }

  void OnAnswer(uint64_t request, HttpResponse response) override {
    // Late: the request was answered 504 already.
    if (request != request_ || !awaiting_answer_) return;
    awaiting_answer_ = false;
    request_timer_.cancel();
    Reply(std::move(response));
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

  void OnDrain() override {
    // Waiting for a request of which nothing has arrived: nobody waits for
    // an answer, so the connection goes now (a client whose request crosses
    // this retries it on a new connection, as after any keep-alive close).
    if (reading_header_ && buffer_.size() == 0 && !parser_->got_some()) CloseSocket();
  }

 private:
  std::shared_ptr<Session> Self() { return this->shared_from_this(); }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // Calls `then` once the connection can carry HTTP: at once in plain TCP,
  // after the TLS handshake otherwise. A failed handshake closes the
  // connection (there is no channel to answer on), except when the client
  // spoke plain HTTP: that one is told, in plain HTTP, to use https, as a
  // script's author would otherwise see only an empty reply.
  template <class Then>
  void Handshake(Then then) {
    if constexpr (kTls) {
      Tcp().expires_after(options_.read_timeout);
      beast::async_detect_ssl(
          Tcp(), buffer_, [self = Self(), then](beast::error_code error, bool is_tls) {
            if (error) return self->CloseSocket();
            if (!is_tls) return self->RefusePlainText();
            self->stream_.async_handshake(
                asio::ssl::stream_base::server, self->buffer_.data(),
                [self, then](beast::error_code handshake_error, size_t used) {
                  if (handshake_error) return self->CloseSocket();
                  self->buffer_.consume(used);
                  then();
                });
          });
    } else {
      then();
    }
  }

  void RefusePlainText() {
    auto refusal = std::make_shared<HttpResponse>(ErrorResponse(
        http::status::bad_request,
        absl::InvalidArgumentError("this port speaks HTTPS only: use https://"), 11,
        /*keep_alive=*/false));
    refusal->set("X-Content-Type-Options", "nosniff");
    Tcp().expires_after(options_.write_timeout);
    http::async_write(Tcp(), *refusal,
                      [self = Self(), refusal](beast::error_code, size_t) { self->Linger(); });
  }

  void ReadHeader() {
    if (tracker_.draining() && buffer_.size() == 0) return Close();
    reading_header_ = true;
    request_id_.clear();
    route_.clear();
    subject_.clear();
    started_ = absl::InfinitePast();
    parser_.emplace();
    parser_->header_limit(options_.header_limit);
    parser_->body_limit(options_.body_limit);
    Tcp().expires_after(options_.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, Self()));
  }

  void OnHeader(beast::error_code error, size_t) {
    reading_header_ = false;
    if (error) return OnReadError(error);
    BeginRequest(parser_->get());
    if (std::optional<HttpResponse> refusal = RefuseHeader(parser_->get(), options_)) {
      return Reply(*std::move(refusal));
    }
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
      continue_ = http::response<http::empty_body>(http::status::continue_, 11);
      http::async_write(stream_, continue_,
                        [self = Self()](beast::error_code write_error, size_t) {
                          if (write_error) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, Self()));
  }

  void OnRead(beast::error_code error, size_t) {
    if (error) return OnReadError(error);
    const uint64_t request = ++request_;
    awaiting_answer_ = true;
    request_timer_.expires_after(options_.request_timeout);
    request_timer_.async_wait([self = Self(), request](beast::error_code timer_error) {
      if (!timer_error) self->OnRequestTimeout(request);
    });
    subject_ =
        handler_.Handle(parser_->get(), Responder(Self(), request, &tracker_), peer_, request_id_)
            .subject;
  }

  void OnRequestTimeout(uint64_t request) {
    if (request != request_ || !awaiting_answer_) return;
    awaiting_answer_ = false;
    const HttpRequest& timed_out = parser_->get();
    Reply(ErrorResponse(
        absl::DeadlineExceededError(absl::StrCat("no answer within the request timeout of ",
                                                 options_.request_timeout.count(), " ms")),
        timed_out.version(), timed_out.keep_alive(), request_id_));
  }

  // A request's header has arrived: its id, route and start.
  void BeginRequest(const HttpRequest& request) {
    started_ = absl::Now();
    auto sent = request.find(kRequestIdHeader);
    request_id_ = AcceptRequestId(
        sent == request.end() ? std::string_view()
                              : std::string_view(sent->value().data(), sent->value().size()));
    const boost::beast::string_view target = request.target();
    route_ = RouteLabel(request.method(), std::string_view(target.data(), target.size()));
  }

  // Every answer to a request, whole or in part, goes out here: marked with
  // the request's id, counted and logged (see the header), then written.
  void Reply(HttpResponse response) {
    // A request refused before its header was complete has no id or route.
    if (request_id_.empty()) request_id_ = NewRequestId();
    if (route_.empty()) route_ = "(unparsed)";
    response.set(kRequestIdHeader, request_id_);
    const int code = static_cast<int>(response.result_int());
    const absl::Duration took =
        started_ == absl::InfinitePast() ? absl::ZeroDuration() : absl::Now() - started_;
    const std::string status = std::to_string(code);
    if (options_.metrics != nullptr) {
      options_.metrics->RecordRequest(ServiceMetrics::Protocol::kHttp, route_, status, took);
    }
    const bool failed = code >= 500;
    if (options_.access_log || failed) {
      LogAccess(failed ? LogLevel::kWarning : LogLevel::kInfo, {.protocol = "http",
                                                                .method = route_,
                                                                .status = status,
                                                                .duration = took,
                                                                .peer = peer_,
                                                                .request_id = request_id_,
                                                                .subject = subject_});
    }
    Write(std::move(response));
  }

  void OnReadError(beast::error_code error) {
    if (error == http::error::body_limit) {
      return WriteAndClose(http::status::payload_too_large,
                           absl::StrCat("the body exceeds ", options_.body_limit, " bytes"));
    }
    if (error == http::error::header_limit) {
      return WriteAndClose(
          http::status::request_header_fields_too_large,
          absl::StrCat("the request header exceeds ", options_.header_limit, " bytes"));
    }
    if (error == http::error::buffer_overflow) {
      // Only a piece the parser needs whole can fill the buffer: a header
      // line, or in a chunked body a chunk header or trailer line.
      if (!parser_->is_header_done()) {
        return WriteAndClose(http::status::request_header_fields_too_large,
                             absl::StrCat("the request header does not fit the read buffer of ",
                                          options_.read_buffer_limit, " bytes"));
      }
      return WriteAndClose(http::status::payload_too_large,
                           absl::StrCat("a chunk header of the body does not fit the read buffer "
                                        "of ",
                                        options_.read_buffer_limit, " bytes"));
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
    Reply(ErrorResponse(status, absl::InvalidArgumentError(message), 11, false, request_id_));
  }

  void Write(HttpResponse response) {
    // Every answer, the handler's and the gateway's own: it is data, never
    // a page or a script to run, sniff or frame.
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    // Draining: this answer is the connection's last ("Connection: close").
    if (tracker_.draining()) response.keep_alive(false);
    response_ = std::move(response);
    Tcp().expires_after(options_.write_timeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, Self()));
  }

  void OnWrite(beast::error_code error, size_t) {
    if (error) return Close();
    if (response_.keep_alive()) return ReadHeader();
    // The request may not have been read completely (an error response, or
    // a connection turned away unread).
    if (!parser_.has_value() || !parser_->is_done()) return Linger();
    Close();
  }

  void Linger() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    // Below TLS, if any: the bytes are thrown away unread.
    Tcp().async_read_some(buffer_.prepare(std::min(size_t{64} * 1024, buffer_.max_size())),
                            [self = Self()](beast::error_code error, size_t bytes) {
                              self->drained_ += bytes;
                              if (error || self->drained_ > kLingerBytes) {
                                return self->CloseSocket();
                              }
                              self->buffer_.commit(bytes);
                              self->Drain();
                            });
  }

  // Over TLS says so first (close_notify), so the client can tell the end
  // from a cut connection; waits for its reply at most kLingerTime.
  void Close() {
    if constexpr (kTls) {
      Tcp().expires_after(kLingerTime);
      stream_.async_shutdown([self = Self()](beast::error_code) { self->CloseSocket(); });
    } else {
      CloseSocket();
    }
  }

  void CloseSocket() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();
  }

  Stream stream_;
  const RestHandler& handler_;
  const HttpGateway::Options& options_;
  ConnectionTracker& tracker_;
  const bool served_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  HttpResponse response_;
  size_t drained_ = 0;
  // Answers 504 when the handler has not answered in time.
  asio::steady_timer request_timer_;
  const std::string peer_;
  // The number of the request handed to the handler last, and whether its
  // answer is still awaited.
  uint64_t request_ = 0;
  bool awaiting_answer_ = false;
  // Waiting for the header of the next request.
  bool reading_header_ = false;
  // The current request's id, route label (RouteLabel()), verified subject
  // and arrival (its header's), for Reply().
  std::string request_id_;
  std::string route_;
  std::string subject_;
  absl::Time started_ = absl::InfinitePast();
};

void Responder::operator()(HttpResponse response) && {
  {
    std::shared_ptr<SessionBase> session = std::move(session_);
    asio::post(session->executor(),
               [session, request = request_, response = std::move(response)]() mutable {
                 session->OnAnswer(request, std::move(response));
               });
    // This thread's reference goes before Release(): once the call has
    // ended, Stop() may destroy the io_context, and a Session must not
    // outlive it anywhere but in the io_context's own queue.
  }
  Release();
}

absl::Status CheckOptions(const HttpGateway::Options& options) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("HTTP max_connections must be at least 1");
  }
  if (options.header_limit < 1 || options.body_limit < 1) {
    return absl::InvalidArgumentError("HTTP header_limit and body_limit must be at least 1");
  }
  if (options.read_buffer_limit < options.header_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP read_buffer_limit (", options.read_buffer_limit,
                     " bytes) must be at least header_limit (", options.header_limit, " bytes)"));
  }
  if (options.request_timeout <= std::chrono::milliseconds::zero()) {
    return absl::InvalidArgumentError("HTTP request_timeout must be positive");
  }
  return absl::OkStatus();
}

// `options` with the default allowed_hosts filled in.
HttpGateway::Options WithServedHosts(HttpGateway::Options options) {
  if (!options.allowed_hosts.empty()) return options;
  options.allowed_hosts = {"localhost", "127.0.0.1", "::1"};
  HostPort listening;
  if (CheckHostPort(options.address, /*port_zero_allowed=*/true, &listening) ==
          AddressProblem::kNone &&
      listening.host != "0.0.0.0" && listening.host != "::" &&
      std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), listening.host) ==
          options.allowed_hosts.end()) {
    options.allowed_hosts.push_back(listening.host);
  }
  return options;
}

// The server side of TLS 1.2 and 1.3 (older versions have known attacks and
// every client of this API speaks 1.2) with `tls`'s identity; when it names
// client CAs, a client must present a certificate one of them signed.
absl::StatusOr<std::unique_ptr<asio::ssl::context>> TlsContext(const TlsCredentials& tls) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code error;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                       error);
  if (!error) {
    context->use_certificate_chain(
        asio::buffer(tls.certificate_chain_pem.data(), tls.certificate_chain_pem.size()), error);
  }
  if (!error) {
    context->use_private_key(asio::buffer(tls.private_key_pem.data(), tls.private_key_pem.size()),
                             asio::ssl::context::pem, error);
  }
  if (!error && !tls.client_ca_pem.empty()) {
    context->add_certificate_authority(
        asio::buffer(tls.client_ca_pem.data(), tls.client_ca_pem.size()), error);
    if (!error) {
      context->set_verify_mode(
          asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, error);
    }
  }
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP TLS credentials cannot be used: ", error.message()));
  }
  return context;
}

}  // namespace

HttpGateway::HttpGateway(Options options, ProfileCore* core,
                         std::function<absl::Status()> readiness)
    : options_(WithServedHosts(std::move(options))),
      handler_(core, std::move(readiness),
               {.request_timeout = options_.request_timeout,
                .cors_origins = options_.cors_origins,
                .metrics = options_.metrics}),
      tracker_(std::make_unique<ConnectionTracker>(options_.max_connections)) {}

HttpGateway::~HttpGateway() { Stop(); }

absl::Status HttpGateway::Start() {
  if (absl::Status valid = CheckOptions(options_); !valid.ok()) return valid;
  HostPort host_port;
  if (CheckHostPort(options_.address, /*port_zero_allowed=*/true, &host_port) !=
      AddressProblem::kNone) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", options_.address,
                     "' is not host:port (e.g. 127.0.0.1:8080, or [::1]:8080 for IPv6)"));
  }
  if (options_.tls.has_value()) {
    absl::StatusOr<std::unique_ptr<asio::ssl::context>> tls = TlsContext(*options_.tls);
    if (!tls.ok()) return tls.status();
    ssl_context_ = *std::move(tls);
  }
  io_context_ = std::make_unique<asio::io_context>(std::max(1, options_.threads));

  beast::error_code error;
  tcp::resolver resolver(*io_context_);
  tcp::resolver::results_type endpoints =
      resolver.resolve(host_port.host, std::to_string(host_port.port),
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
  accept_backoff_ = std::make_unique<asio::steady_timer>(acceptor_->get_executor());

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
        if (error) {
          accept_backoff_->expires_after(kAcceptBackoff);
          accept_backoff_->async_wait([this](beast::error_code wait_error) {
            if (!wait_error) Accept();
          });
          return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        const ConnectionTracker::Admission admission = tracker_->Admit();
        if (admission == ConnectionTracker::Admission::kDrop) {
          Accept();
          return;  // `socket` closes as it goes out of scope
        }
        if (ssl_context_ != nullptr) {
          Serve<TlsStream>(std::move(socket), admission);
        } else {
          Serve<PlainStream>(std::move(socket), admission);
        }
        Accept();
      });
}

template <class Stream>
void HttpGateway::Serve(boost::asio::ip::tcp::socket socket,
                        http_gateway_internal::ConnectionTracker::Admission admission) {
  const bool served = admission == ConnectionTracker::Admission::kServe;
  auto session = std::make_shared<Session<Stream>>(std::move(socket), ssl_context_.get(), handler_,
                                                   options_, *tracker_, served);
  tracker_->Register(session.get(), session);
  if (served) {
    session->Run();
  } else {
    session->TurnAway();
  }
}

bool HttpGateway::Drain(std::chrono::milliseconds grace) {
  if (io_context_ == nullptr) return true;
  const absl::Time deadline = absl::Now() + absl::FromChrono(grace);
  tracker_->StartDraining();
  // On the acceptor's strand, like every accept: the pending accept ends
  // (operation_aborted) and the port refuses new connections.
  absl::Notification closed;
  asio::post(acceptor_->get_executor(), [this, &closed] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    closed.Notify();
  });
  closed.WaitForNotification();
  for (const std::weak_ptr<SessionBase>& handle : tracker_->Sessions()) {
    if (std::shared_ptr<SessionBase> session = handle.lock()) {
      asio::post(session->executor(), [session] { session->OnDrain(); });
    }
  }
  return tracker_->AwaitNoSessions(deadline);
}

void HttpGateway::Stop() {
  if (io_context_ == nullptr) return;
  io_context_->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  // Answers still coming from the core post onto the stopped io_context;
  // once none can come, destroying it destroys the pending handlers, and
  // with them the sessions that own the connections.
  tracker_->WaitForCalls();
  accept_backoff_.reset();
  acceptor_.reset();
  io_context_.reset();
}

}  // namespace profiles
