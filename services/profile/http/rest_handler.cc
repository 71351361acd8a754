#include "services/profile/http/rest_handler.h"

#include <google/protobuf/struct.pb.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/http/rest_request.h"
#include "services/profile/logging/request_id.h"

namespace profiles {

namespace http = boost::beast::http;

namespace {

// What an answer needs to know of its request, copied out of it so that the
// request need not outlive Handle() while the core works.
struct Exchange {
  unsigned http_version = 11;
  bool keep_alive = true;
  // HEAD: answered as GET, without the body.
  bool head = false;
  // The request's Origin when it is one the server shares answers with
  // (RestHandler::Options::cors_origins).
  std::optional<std::string> cors_origin;
  // Whether answers depend on the Origin (some origins are allowed): caches
  // must then keep them apart (Vary: Origin).
  bool varies_by_origin = false;
  RestHandler::Respond respond;
  // The request's id, on every answer (X-Request-Id).
  std::string request_id;
  std::optional<std::string> if_none_match;
  // Writes only.
  std::string id;  // as the path names it
  WriteKind write_kind = WriteKind::kReplace;
  BaseVersionSource base_source = BaseVersionSource::kNone;
  int64_t expected_version = 0;
};

std::string_view ToStd(boost::beast::string_view text) { return {text.data(), text.size()}; }
boost::beast::string_view ToBeast(std::string_view text) { return {text.data(), text.size()}; }
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

enum class Route { kNone, kInfo, kHealth, kReady, kMetrics, kList, kProfile, kAvatar };

struct RouteMatch {
  Route route = Route::kNone;
  std::string_view id;
};

// "/user/{id}" and "/user/{id}/avatar" take one non-empty path segment.
RouteMatch MatchPath(std::string_view path) {
  if (path == "/") return {Route::kInfo, {}};
  if (path == "/healthz") return {Route::kHealth, {}};
  if (path == "/readyz") return {Route::kReady, {}};
  if (path == "/metrics") return {Route::kMetrics, {}};
  if (path == "/user") return {Route::kList, {}};
  constexpr std::string_view kUserPrefix = "/user/";
  if (path.substr(0, kUserPrefix.size()) != kUserPrefix) return {};
  std::string_view rest = path.substr(kUserPrefix.size());
  const size_t slash = rest.find('/');
  std::string_view id = rest.substr(0, slash);
  if (id.empty()) return {};
  if (slash == std::string_view::npos) return {Route::kProfile, id};
  if (rest.substr(slash) == "/avatar") return {Route::kAvatar, id};
  return {};
}

std::string_view AllowedMethods(Route route) {
  return route == Route::kProfile ? "GET, HEAD, PUT, PATCH, DELETE, OPTIONS" : "GET, HEAD, OPTIONS";
}

// What a page on another origin may send and read (CORS): the headers of
// optimistic concurrency, idempotent retries, credentials and request ids.
constexpr std::string_view kCorsAllowedHeaders =
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";
constexpr std::string_view kCorsExposedHeaders =
    "ETag, Location, Retry-After, WWW-Authenticate, X-Request-Id";
// How long a browser may reuse a preflight's answer.
constexpr std::string_view kCorsMaxAgeSeconds = "600";

bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The one place where answers become HTTP responses: the core's outcomes,
// its errors (through http_status.h) and the gateway's own refusals.

HttpResponse Respond(const Exchange& exchange, http::status status) {
  HttpResponse response(status, exchange.http_version);
  response.keep_alive(exchange.keep_alive);
  return response;
}

HttpResponse JsonResponse(const Exchange& exchange, http::status status, std::string json) {
  HttpResponse response = Respond(exchange, status);
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(json);
  response.prepare_payload();
  return response;
}

HttpResponse ErrorAnswer(const Exchange& exchange, const absl::Status& status) {
  // RESOURCE_EXHAUSTED without a retry delay is the core's full queue: the
  // server is busy (503). With one, it is this caller's rate limit, which
  // HttpStatusFor() makes 429.
  if (absl::IsResourceExhausted(status) && !RetryDelayOf(status).has_value()) {
    return ErrorResponse(http::status::service_unavailable, status, exchange.http_version,
                         exchange.keep_alive, exchange.request_id);
  }
  return ErrorResponse(status, exchange.http_version, exchange.keep_alive, exchange.request_id);
}

HttpResponse ErrorAnswer(const Exchange& exchange, http::status http_status,
                         const absl::Status& status) {
  return ErrorResponse(http_status, status, exchange.http_version, exchange.keep_alive,
                       exchange.request_id);
}

HttpResponse StatusAnswer(const Exchange& exchange, std::string_view value) {
  google::protobuf::Struct body;
  (*body.mutable_fields())["status"].set_string_value(std::string(value));
  return JsonResponse(exchange, http::status::ok, ResponseJson(body));
}

// GET /metrics: Prometheus's text format, never cached by anyone between.
HttpResponse MetricsAnswer(const Exchange& exchange, std::string text) {
  HttpResponse response = Respond(exchange, http::status::ok);
  response.set(http::field::content_type, ServiceMetrics::kContentType);
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(text);
  response.prepare_payload();
  return response;
}

bool IfNoneMatches(const Exchange& exchange, std::string_view etag) {
  return exchange.if_none_match.has_value() && IfNoneMatchMatches(*exchange.if_none_match, etag);
}

HttpResponse NotModified(const Exchange& exchange, std::string_view etag) {
  HttpResponse response = Respond(exchange, http::status::not_modified);
  response.set(http::field::etag, ToBeast(etag));
  return response;
}

// GET /user/{id}: the snapshot's JSON, rendered once for every reader.
HttpResponse ProfileAnswer(const Exchange& exchange, const ProfileSnapshot& snapshot) {
  if (IfNoneMatches(exchange, snapshot.etag())) return NotModified(exchange, snapshot.etag());
  HttpResponse response = JsonResponse(exchange, http::status::ok, snapshot.json());
  response.set(http::field::etag, snapshot.etag());
  return response;
}

HttpResponse AvatarAnswer(const Exchange& exchange, const ProfileSnapshot& snapshot) {
  const profile::v1::Profile& profile = snapshot.profile();
  if (profile.avatar().empty()) {
    return ErrorAnswer(
        exchange, absl::NotFoundError(absl::StrCat("profile ", profile.id(), " has no avatar")));
  }
  const std::string etag = EntityTag(profile.avatar_sha256());
  if (IfNoneMatches(exchange, etag)) return NotModified(exchange, etag);
  HttpResponse response = Respond(exchange, http::status::ok);
  std::optional<std::string_view> mime_type = ImageMimeType(profile.avatar());
  response.set(http::field::content_type, ToBeast(mime_type.value_or("application/octet-stream")));
  response.set(http::field::etag, etag);
  response.set(http::field::cache_control, "no-cache");
  response.body() = profile.avatar();
  response.prepare_payload();
  return response;
}

HttpResponse WriteAnswer(const Exchange& exchange, const WriteOutcome& outcome) {
  const ProfileSnapshot& snapshot = *outcome.profile;
  bool created = false;
  bool deleted = false;
  switch (outcome.kind) {
    case WriteOutcomeKind::kCreated:
      created = true;
      break;
    case WriteOutcomeKind::kUpdated:
      break;
    case WriteOutcomeKind::kDeleted:
      deleted = true;
      break;
    case WriteOutcomeKind::kReplayed:
      // A replay answers as its first application did: a delete's result is
      // its tombstone; a write based on version 0 can only have been
      // applied by creating the profile.
      deleted = snapshot.profile().deleted();
      created = !deleted && exchange.expected_version == 0;
      break;
  }
  // A delete answers 204, replays too: a tombstone is never sent as a
  // profile (a GET of it is 404).
  if (deleted) return Respond(exchange, http::status::no_content);
  HttpResponse response =
      JsonResponse(exchange, created ? http::status::created : http::status::ok, snapshot.json());
  response.set(http::field::etag, snapshot.etag());
  if (created) response.set(http::field::location, absl::StrCat("/user/", snapshot.id()));
  return response;
}

// A version conflict: the status depends on where the base version came
// from; the body's "current" is the core's current profile, whole.
HttpResponse ConflictAnswer(const Exchange& exchange, const absl::Status& conflict) {
  http::status status = http::status::conflict;
  switch (exchange.base_source) {
    case BaseVersionSource::kIfMatch:
    case BaseVersionSource::kIfNoneMatch:
      status = http::status::precondition_failed;
      break;
    case BaseVersionSource::kBody:
      status = http::status::conflict;
      break;
    case BaseVersionSource::kNone:
      status = http::status::precondition_required;
      break;
  }
  HttpResponse response = ErrorAnswer(exchange, status, conflict);
  if (std::optional<profile::v1::Profile> current = ConflictingProfile(conflict)) {
    response.set(http::field::etag, EntityTag(std::to_string(current->version())));
  }
  return response;
}

HttpResponse WriteErrorAnswer(const Exchange& exchange, const absl::Status& status) {
  if (absl::IsAborted(status)) return ConflictAnswer(exchange, status);
  return ErrorAnswer(exchange, status);
}

HttpResponse ListAnswer(const Exchange& exchange, const profile::v1::ListProfilesResponse& list) {
  return JsonResponse(exchange, http::status::ok, ResponseJson(list));
}

// ---------------------------------------------------------------------------

// Every answer of the handler goes out here.
void Answer(Exchange& exchange, HttpResponse response) {
  if (exchange.cors_origin.has_value()) {
    response.set(http::field::access_control_allow_origin, *exchange.cors_origin);
    response.set(http::field::access_control_allow_credentials, "true");
    response.set(http::field::access_control_expose_headers, ToBeast(kCorsExposedHeaders));
  }
  if (exchange.varies_by_origin) response.set(http::field::vary, "Origin");
  response.set(kRequestIdHeader, exchange.request_id);
  // A response to HEAD has no body; Content-Length still tells its size.
  if (exchange.head) response.body().clear();
  std::move(exchange.respond)(std::move(response));
}

// OPTIONS: a CORS preflight (Origin and Access-Control-Request-Method) from
// an allowed origin is 204 with what that origin may send; one from another
// origin 403; a plain OPTIONS 204 with Allow.
HttpResponse OptionsAnswer(const Exchange& exchange, const HttpRequest& request, Route route,
                           const std::vector<std::string>& cors_origins) {
  const std::string_view allowed = AllowedMethods(route);
  const bool preflight = request.count(http::field::origin) > 0 &&
                         request.count(http::field::access_control_request_method) > 0;
  if (preflight && !exchange.cors_origin.has_value()) {
    const std::string listed = cors_origins.empty() ? std::string("none (--cors-origins)")
                                                    : absl::StrJoin(cors_origins, ", ");
    return ErrorAnswer(exchange, http::status::forbidden,
                       absl::PermissionDeniedError(absl::StrCat(
                           "pages of origin ", ToAbsl(ToStd(request[http::field::origin])),
                           " may not call this API; origins allowed: ", listed)));
  }
  HttpResponse response = Respond(exchange, http::status::no_content);
  response.set(http::field::allow, ToBeast(allowed));
  if (preflight) {
    response.set(http::field::access_control_allow_methods, ToBeast(allowed));
    response.set(http::field::access_control_allow_headers, ToBeast(kCorsAllowedHeaders));
    response.set(http::field::access_control_max_age, ToBeast(kCorsMaxAgeSeconds));
  }
  return response;
}

// The routes that call the core: each one call, answered in its callback.

void GetProfile(ProfileCore* core, Exchange exchange, const CallContext& context,
                std::string_view id) {
  core->Get(context, id,
            [exchange = std::move(exchange)](
                absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> snapshot) mutable {
              if (!snapshot.ok()) return Answer(exchange, ErrorAnswer(exchange, snapshot.status()));
              Answer(exchange, ProfileAnswer(exchange, **snapshot));
            });
}

void GetAvatar(ProfileCore* core, Exchange exchange, const CallContext& context,
               std::string_view id) {
  core->Get(context, id,
            [exchange = std::move(exchange)](
                absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> snapshot) mutable {
              if (!snapshot.ok()) return Answer(exchange, ErrorAnswer(exchange, snapshot.status()));
              Answer(exchange, AvatarAnswer(exchange, **snapshot));
            });
}

void WriteProfile(ProfileCore* core, Exchange exchange, const CallContext& context,
                  const profile::v1::UpdateProfileRequest& update) {
  core->Update(
      context, update,
      [core, context,
       exchange = std::move(exchange)](absl::StatusOr<WriteOutcome> outcome) mutable {
        if (outcome.ok()) return Answer(exchange, WriteAnswer(exchange, *outcome));
        if (exchange.write_kind == WriteKind::kPatch &&
            exchange.base_source == BaseVersionSource::kNone &&
            absl::IsInvalidArgument(outcome.status())) {
          // A PATCH without a base version is a create, and a
          // partial body makes an invalid one: the core refused it
          // without touching storage. If the profile exists, what
          // the caller really lacks is the base version: say so
          // (428) rather than list the create's rules.
          const std::string id = exchange.id;
          core->Get(context, id,
                    [exchange = std::move(exchange), invalid = outcome.status()](
                        absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> current) mutable {
                      if (!current.ok()) return Answer(exchange, ErrorAnswer(exchange, invalid));
                      Answer(
                          exchange,
                          ConflictAnswer(
                              exchange, VersionConflict(absl::StrCat("profile ", exchange.id,
                                                                     " exists: send If-Match or "
                                                                     "\"version\" with the version "
                                                                     "your edit is based on"),
                                                        (*current)->profile())));
                    });
          return;
        }
        Answer(exchange, WriteErrorAnswer(exchange, outcome.status()));
      });
}

void DeleteProfile(ProfileCore* core, Exchange exchange, const CallContext& context,
                   const profile::v1::DeleteProfileRequest& deletion) {
  core->Delete(context, deletion,
               [exchange = std::move(exchange)](absl::StatusOr<WriteOutcome> outcome) mutable {
                 if (outcome.ok()) return Answer(exchange, WriteAnswer(exchange, *outcome));
                 Answer(exchange, WriteErrorAnswer(exchange, outcome.status()));
               });
}

void GetServiceInfo(ProfileCore* core, Exchange exchange, const CallContext& context) {
  core->Info(context, [exchange = std::move(exchange)](
                          absl::StatusOr<profile::v1::ServiceInfo> info) mutable {
    if (!info.ok()) return Answer(exchange, ErrorAnswer(exchange, info.status()));
    Answer(exchange, JsonResponse(exchange, http::status::ok, ResponseJson(*info)));
  });
}

void ListProfiles(ProfileCore* core, Exchange exchange, const CallContext& context,
                  const profile::v1::ListProfilesRequest& list) {
  core->List(context, list,
             [exchange = std::move(exchange)](
                 absl::StatusOr<profile::v1::ListProfilesResponse> page) mutable {
               if (!page.ok()) return Answer(exchange, ErrorAnswer(exchange, page.status()));
               Answer(exchange, ListAnswer(exchange, *page));
             });
}

}  // namespace

std::string RouteLabel(http::verb method, std::string_view target) {
  std::string label(method == http::verb::unknown ? std::string_view("OTHER")
                                                  : ToStd(http::to_string(method)));
  switch (MatchPath(SplitTarget(target).path).route) {
    case Route::kNone:
      label.append(" (no route)");
      break;
    case Route::kInfo:
      label.append(" /");
      break;
    case Route::kHealth:
      label.append(" /healthz");
      break;
    case Route::kReady:
      label.append(" /readyz");
      break;
    case Route::kMetrics:
      label.append(" /metrics");
      break;
    case Route::kList:
      label.append(" /user");
      break;
    case Route::kProfile:
      label.append(" /user/{id}");
      break;
    case Route::kAvatar:
      label.append(" /user/{id}/avatar");
      break;
  }
  return label;
}

absl::StatusOr<CallContext> CallContextFor(const HttpRequest& request,
                                           std::chrono::milliseconds timeout) {
  CallContext context;
  context.deadline = absl::Now() + absl::FromChrono(timeout);
  auto header = request.find(http::field::authorization);
  if (header == request.end()) return context;
  std::string_view value = ToStd(header->value());
  if (!IsPrintableAscii(value)) {
    FieldViolations violations;
    violations.Add("Authorization", "must be printable ASCII");
    return violations.ToStatus();
  }
  context.authorization = std::string(value);
  return context;
}

RestHandler::RestHandler(ProfileCore* core, std::function<absl::Status()> readiness,
                         Options options)
    : core_(core), readiness_(std::move(readiness)), options_(std::move(options)) {}

RestHandler::Handled RestHandler::Handle(const HttpRequest& request, Respond respond,
                                         std::string_view peer, std::string_view request_id) const {
  Handled handled;
  Dispatch(request, std::move(respond), peer, request_id, handled);
  return handled;
}

void RestHandler::Dispatch(const HttpRequest& request, Respond respond, std::string_view peer,
                           std::string_view request_id, Handled& handled) const {
  Exchange exchange;
  exchange.http_version = request.version();
  exchange.keep_alive = request.keep_alive();
  exchange.head = request.method() == http::verb::head;
  exchange.respond = std::move(respond);
  if (!request_id.empty()) {
    exchange.request_id = std::string(request_id);
  } else {
    auto sent = request.find(kRequestIdHeader);
    exchange.request_id = AcceptRequestId(sent == request.end() ? "" : ToStd(sent->value()));
  }
  exchange.varies_by_origin = !options_.cors_origins.empty();
  if (auto origin = request.find(http::field::origin); origin != request.end()) {
    const std::string_view value = ToStd(origin->value());
    // Echoed as the browser sent it: it compares the answer with its own.
    for (const std::string& allowed : options_.cors_origins) {
      if (absl::EqualsIgnoreCase(ToAbsl(value), allowed)) exchange.cors_origin = std::string(value);
    }
  }

  const RequestTarget target = SplitTarget(ToStd(request.target()));
  const RouteMatch match = MatchPath(target.path);
  if (match.route == Route::kNone) {
    return Answer(exchange, ErrorAnswer(exchange, absl::NotFoundError(absl::StrCat(
                                                      "no route for ", ToAbsl(target.path),
                                                      "; the API serves /, /user, /user/{id}, "
                                                      "/user/{id}/avatar, /healthz, /readyz"))));
  }
  // The id becomes a proto3 string, which must be UTF-8; the core judges
  // the rest.
  if (!IsValidUtf8(match.id)) {
    FieldViolations violations;
    violations.Add("id", "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
    return Answer(exchange, ErrorAnswer(exchange, violations.ToStatus()));
  }
  if (auto header = request.find(http::field::if_none_match); header != request.end()) {
    exchange.if_none_match = std::string(ToStd(header->value()));
  }

  // Who calls is settled before the query or body is read: a caller
  // without a valid token gets 401 whatever else is wrong with the request.
  auto core_context = [&request, &handled, &exchange, peer, this]() -> absl::StatusOr<CallContext> {
    absl::StatusOr<CallContext> context = CallContextFor(request, options_.request_timeout);
    if (!context.ok()) return context.status();
    context->peer = std::string(peer);
    context->request_id = exchange.request_id;
    absl::StatusOr<Caller> caller = core_->Authenticate(*context);
    if (!caller.ok()) return caller.status();
    handled.subject = caller->subject;
    return context;
  };

  const http::verb method = request.method();
  if (method == http::verb::options) {
    HttpResponse response = OptionsAnswer(exchange, request, match.route, options_.cors_origins);
    return Answer(exchange, std::move(response));
  }
  if (method == http::verb::get || method == http::verb::head) {
    switch (match.route) {
      case Route::kInfo: {
        absl::StatusOr<CallContext> context = core_context();
        if (!context.ok()) return Answer(exchange, ErrorAnswer(exchange, context.status()));
        return GetServiceInfo(core_, std::move(exchange), *context);
      }
      case Route::kHealth:
        return Answer(exchange, StatusAnswer(exchange, "ok"));
      case Route::kMetrics: {
        if (options_.metrics == nullptr) {
          return Answer(
              exchange,
              ErrorAnswer(exchange, absl::NotFoundError("this server serves no metrics")));
        }
        return Answer(exchange, MetricsAnswer(exchange, options_.metrics->Text()));
      }
      case Route::kReady: {
        absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
        if (!ready.ok()) {
          return Answer(exchange, ErrorAnswer(exchange, http::status::service_unavailable, ready));
        }
        return Answer(exchange, StatusAnswer(exchange, "ready"));
      }
      case Route::kList: {
        absl::StatusOr<CallContext> context = core_context();
        if (!context.ok()) return Answer(exchange, ErrorAnswer(exchange, context.status()));
        absl::StatusOr<profile::v1::ListProfilesRequest> list = ParseListQuery(target.query);
        if (!list.ok()) return Answer(exchange, ErrorAnswer(exchange, list.status()));
        return ListProfiles(core_, std::move(exchange), *context, *list);
      }
      case Route::kProfile:
      case Route::kAvatar: {
        absl::StatusOr<CallContext> context = core_context();
        if (!context.ok()) return Answer(exchange, ErrorAnswer(exchange, context.status()));
        if (match.route == Route::kAvatar) {
          return GetAvatar(core_, std::move(exchange), *context, match.id);
        }
        return GetProfile(core_, std::move(exchange), *context, match.id);
      }
      case Route::kNone:
        break;
    }
  } else if (match.route == Route::kProfile &&
             (method == http::verb::put || method == http::verb::patch)) {
    absl::StatusOr<CallContext> context = core_context();
    if (!context.ok()) return Answer(exchange, ErrorAnswer(exchange, context.status()));
    auto content_type = request.find(http::field::content_type);
    if (content_type == request.end() || !IsJsonContentType(ToStd(content_type->value()))) {
      return Answer(exchange, ErrorAnswer(exchange, http::status::unsupported_media_type,
                                          absl::InvalidArgumentError(
                                              "the body must be JSON: send Content-Type: "
                                              "application/json")));
    }
    exchange.id = std::string(match.id);
    exchange.write_kind = method == http::verb::put ? WriteKind::kReplace : WriteKind::kPatch;
    absl::StatusOr<WriteRequest> write = ParseWriteRequest(exchange.write_kind, match.id, request);
    if (!write.ok()) return Answer(exchange, ErrorAnswer(exchange, write.status()));
    exchange.base_source = write->base_source;
    exchange.expected_version = write->rpc.expected_version();
    return WriteProfile(core_, std::move(exchange), *context, write->rpc);
  } else if (match.route == Route::kProfile && method == http::verb::delete_) {
    absl::StatusOr<CallContext> context = core_context();
    if (!context.ok()) return Answer(exchange, ErrorAnswer(exchange, context.status()));
    absl::StatusOr<DeleteRequest> deletion = ParseDeleteRequest(match.id, request);
    if (!deletion.ok()) return Answer(exchange, ErrorAnswer(exchange, deletion.status()));
    if (deletion->base_source == BaseVersionSource::kNone) {
      // Unlike a PUT, a DELETE without a base cannot mean "create": refused
      // before the core, whatever the profile's state.
      return Answer(exchange,
                    ErrorAnswer(exchange, http::status::precondition_required,
                                absl::FailedPreconditionError(
                                    "a DELETE must name the version it deletes, so that it never "
                                    "deletes a change you have not seen: send If-Match with the "
                                    "ETag of your last GET or write of it, e.g. If-Match: \"3\"")));
    }
    exchange.id = std::string(match.id);
    exchange.base_source = deletion->base_source;
    exchange.expected_version = deletion->rpc.expected_version();
    return DeleteProfile(core_, std::move(exchange), *context, deletion->rpc);
  }
  const std::string_view allowed = AllowedMethods(match.route);
  HttpResponse response = ErrorAnswer(
      exchange, http::status::method_not_allowed,
      absl::UnimplementedError(absl::StrCat(ToAbsl(ToStd(request.method_string())),
                                            " is not allowed here; allowed: ", ToAbsl(allowed))));
  response.set(http::field::allow, ToBeast(allowed));
  Answer(exchange, std::move(response));
}

}  // namespace profiles
