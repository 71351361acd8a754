#ifndef PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_
#define PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_

// RestHandler is the REST adapter of the profile core
// (services/profile/core/profile_core.h): it parses a route, its headers and
// its JSON into one core call and maps the core's answer to an HTTP
// response. Validation, versioning, idempotency and authorization happen in
// the core, so REST and gRPC (services/profile/grpc/) behave alike. It does
// no I/O of its own; the sockets are HttpGateway's (http_gateway.h).
//
// Routes (JSON is protobuf's JSON mapping of profile.v1; see http_status.h):
//   GET   /user/{id}         ProfileCore::Get. 200 profile (the snapshot's
//                            pre-rendered JSON), ETag: "<version>";
//                            304 when If-None-Match matches; 404 with the
//                            error reason PROFILE_DELETED (no tombstone)
//                            when the profile was deleted.
//   PUT   /user/{id}         ProfileCore::Update replacing name, email and
//                            avatar.
//   PATCH /user/{id}         ProfileCore::Update of the body's keys among
//                            name, email and avatar.
//                            Base version: If-Match: "<n>", else the body's
//                            "version", else none (0: create).
//                            Idempotency-Key (a UUID) is the mutation_id.
//                            201 + Location when it created (a replay of a
//                            create too: a replay answers as the first
//                            application did), else 200; the profile and its
//                            ETag either way. A version conflict is 412 (base
//                            from If-Match), 409 (base from the body) or 428
//                            (no base, and the profile exists), with the
//                            core's current profile, avatar included, as
//                            "current". A reused Idempotency-Key with another
//                            body: 422. A write based on a version of a
//                            profile since deleted: 404 (reason
//                            PROFILE_DELETED); a create (no base) of a
//                            deleted id: 201 at the tombstone's version + 1.
//   DELETE /user/{id}        ProfileCore::Delete. Base version: If-Match:
//                            "<n>", required (428 without it, before the
//                            core: there is no "create" to fall back on);
//                            no body. Idempotency-Key as for PUT. 204, no
//                            body, no ETag, for the delete and its replays;
//                            a stale If-Match 412 with "current", as PUT; a
//                            profile already deleted or never created 404
//                            (reason PROFILE_DELETED when it was deleted).
//   GET   /user              ProfileCore::List: ?page_size=&page_token=&since=
//                            &include_avatars=true|false
//   GET   /user/{id}/avatar  the raw image with its Content-Type and
//                            ETag: "<avatar_sha256>"; 304 on If-None-Match;
//                            404 when the profile has no avatar.
//   GET   /healthz           200 {"status":"ok"} while the process serves.
//   GET   /readyz            200 when the readiness callback is OK, else 503.
//   GET   /metrics           Options::metrics in Prometheus's text format
//                            (404 without). Like the probes, no token: a
//                            Prometheus scrapes each replica directly; a
//                            proxy in front should not pass /metrics from
//                            outside. The Host check applies as to every
//                            route (HttpGateway).
//   HEAD  every GET route: the GET's status and headers, no body.
//   OPTIONS every route: 204 with Allow; a CORS preflight from an origin in
//                            Options::cors_origins 204 with the methods and
//                            headers it may send, from another origin 403.
// A PUT or PATCH with If-None-Match: * creates only: 412 with "current" if
// the profile exists. Answers to an allowed origin carry
// Access-Control-Allow-Origin (with credentials) and expose ETag, Location
// and Retry-After. Other paths are 404; other methods on these paths 405
// with Allow. PUT and PATCH bodies must be application/json (else 415). Errors are
// mapped by http_status.h; the overrides, all in rest_handler.cc's one
// mapping section, are the route-specific ones above and RESOURCE_EXHAUSTED
// (the core's queue is full: "server busy"), which is 503, not 429. Every
// 503 carries Retry-After.
//
// Identity and time: the request's Authorization header becomes
// CallContext::authorization (refused with 400 unless printable ASCII, what
// gRPC metadata can carry, so one credential works over both protocols), and
// now + Options::request_timeout becomes CallContext::deadline.
//
// Request ids: every answer carries X-Request-Id, the request's id
// (logging/request_id.h: the client's X-Request-Id when it is sane, else a
// new one), which also goes to the core (CallContext::request_id) and into
// the requestId of a redacted error.
//
// Asynchronous: Handle() never waits for storage. It answers through
// `respond`, exactly once: inline (a route that needs no core call, a
// request refused before the core, a cache hit) or later, on a core storage
// thread. A core answer that never comes within request_timeout is the
// caller's to turn into 504 (HttpGateway does).
//
// Thread-safe: Handle() may run on many threads at once. `core` must outlive
// the handler and every call it has not answered yet.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/http/http_status.h"
#include "services/profile/metrics/service_metrics.h"

namespace profiles {

class RestHandler {
 public:
  struct Options {
    // How long the core may take for one request (CallContext::deadline).
    std::chrono::milliseconds request_timeout{10000};
    // Origins ("https://app.example.com", as browsers send them in Origin)
    // whose pages may call the API (CORS, with credentials). None by
    // default: browsers then keep other origins' pages from reading any
    // answer.
    std::vector<std::string> cors_origins{};
    // Served at GET /metrics; null: no such route. Must outlive the handler.
    ServiceMetrics* metrics = nullptr;
  };

  using Respond = absl::AnyInvocable<void(HttpResponse) &&>;

  // What Handle() learnt of a request that its answer does not say, for the
  // caller's access log.
  struct Handled {
    // The subject of the caller's verified token; empty when the route
    // needs none or the token was refused.
    std::string subject;
  };

  // An empty `readiness` means always ready. It is called on the threads
  // calling Handle() and must be thread-safe and must not block: return a
  // state kept up to date elsewhere, not a database round trip.
  RestHandler(ProfileCore* core, std::function<absl::Status()> readiness, Options options);

  // Answers `request` by calling `respond` once (see above). `request` need
  // not outlive this call; `respond` must be callable from any thread.
  // `peer`: the client's address, whose rate limit a call without a user
  // counts against (CallContext::peer). `request_id`: the request's id
  // (HttpGateway decides it, to use it in its own answers too); empty: the
  // handler takes the request's X-Request-Id or makes one up.
  Handled Handle(const HttpRequest& request, Respond respond, std::string_view peer = {},
                 std::string_view request_id = {}) const;

 private:
  void Dispatch(const HttpRequest& request, Respond respond, std::string_view peer,
                std::string_view request_id, Handled& handled) const;

  ProfileCore* const core_;
  const std::function<absl::Status()> readiness_;
  const Options options_;
};

// The label of `method` on `target` in metrics and logs: the method and the
// route's pattern, "GET /user/{id}", never the path itself (ids would make
// one series per profile); "GET (no route)" for a path without a route, and
// "OTHER" for a method Beast does not know.
std::string RouteLabel(boost::beast::http::verb method, std::string_view target);

// The core call's context for `request`: deadline now + `timeout`, and the
// Authorization header, if any, as `authorization`. INVALID_ARGUMENT (field
// "Authorization") unless that is printable ASCII, what gRPC metadata can
// carry, so that a credential works over both protocols or over neither.
absl::StatusOr<CallContext> CallContextFor(const HttpRequest& request,
                                           std::chrono::milliseconds timeout);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_
