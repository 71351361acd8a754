#include "services/profile/http/rest_handler.h"

#include <google/protobuf/struct.pb.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/profile/domain/status_details.h"
#include "services/profile/domain/validation.h"
#include "services/profile/grpc/grpc_status.h"

namespace profiles {

namespace http = boost::beast::http;

namespace {

std::string_view ToStd(boost::beast::string_view text) { return {text.data(), text.size()}; }
boost::beast::string_view ToBeast(std::string_view text) { return {text.data(), text.size()}; }
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

enum class Route { kNone, kHealth, kReady, kList, kProfile, kAvatar };

struct RouteMatch {
  Route route = Route::kNone;
  std::string_view id;
};

// "/user/{id}" and "/user/{id}/avatar" take one non-empty path segment.
RouteMatch MatchPath(std::string_view path) {
  if (path == "/healthz") return {Route::kHealth, {}};
  if (path == "/readyz") return {Route::kReady, {}};
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
  return route == Route::kProfile ? "GET, PUT, PATCH" : "GET";
}

HttpResponse Respond(const HttpRequest& request, http::status status) {
  HttpResponse response(status, request.version());
  response.keep_alive(request.keep_alive());
  return response;
}

HttpResponse JsonResponse(const HttpRequest& request, http::status status, std::string json) {
  HttpResponse response = Respond(request, status);
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(json);
  response.prepare_payload();
  return response;
}

HttpResponse Error(const HttpRequest& request, const absl::Status& status) {
  return ErrorResponse(status, request.version(), request.keep_alive());
}

HttpResponse Error(const HttpRequest& request, http::status http_status,
                   const absl::Status& status) {
  return ErrorResponse(http_status, status, request.version(), request.keep_alive());
}

HttpResponse StatusJson(const HttpRequest& request, std::string_view value) {
  google::protobuf::Struct body;
  (*body.mutable_fields())["status"].set_string_value(std::string(value));
  return JsonResponse(request, http::status::ok, ResponseJson(body));
}

std::string VersionTag(const profile::v1::Profile& profile) {
  return EntityTag(std::to_string(profile.version()));
}

bool RequestIfNoneMatches(const HttpRequest& request, std::string_view etag) {
  auto header = request.find(http::field::if_none_match);
  return header != request.end() && IfNoneMatchMatches(ToStd(header->value()), etag);
}

HttpResponse NotModified(const HttpRequest& request, const std::string& etag) {
  HttpResponse response = Respond(request, http::status::not_modified);
  response.set(http::field::etag, etag);
  return response;
}

// How a version conflict is reported depends on where the base came from.
http::status ConflictStatus(BaseVersionSource source) {
  switch (source) {
    case BaseVersionSource::kIfMatch:
      return http::status::precondition_failed;
    case BaseVersionSource::kBody:
      return http::status::conflict;
    case BaseVersionSource::kNone:
      return http::status::precondition_required;
  }
  return http::status::conflict;
}

bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

absl::Status ForwardIdentity(const HttpRequest& request, grpc::ClientContext* context) {
  auto header = request.find(http::field::authorization);
  if (header == request.end()) return absl::OkStatus();
  std::string_view value = ToStd(header->value());
  if (!IsPrintableAscii(value)) {
    FieldViolations violations;
    violations.Add("Authorization", "must be printable ASCII");
    return violations.ToStatus();
  }
  context->AddMetadata("authorization", std::string(value));
  return absl::OkStatus();
}

RestHandler::RestHandler(std::unique_ptr<profile::v1::ProfileService::StubInterface> stub,
                         std::function<absl::Status()> readiness, Options options)
    : stub_(std::move(stub)), readiness_(std::move(readiness)), options_(options) {}

HttpResponse RestHandler::Handle(const HttpRequest& request) const {
  const RequestTarget target = SplitTarget(ToStd(request.target()));
  const RouteMatch match = MatchPath(target.path);
  if (match.route == Route::kNone) {
    return Error(request,
                 absl::NotFoundError(absl::StrCat(
                     "no route for ", ToAbsl(target.path),
                     "; the API serves /user, /user/{id}, /user/{id}/avatar, /healthz, /readyz")));
  }
  // The id becomes a proto3 string, which must be UTF-8; the service judges
  // the rest.
  if (!IsValidUtf8(match.id)) {
    FieldViolations violations;
    violations.Add("id", "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
    return Error(request, violations.ToStatus());
  }
  const http::verb method = request.method();
  if (method == http::verb::get) {
    switch (match.route) {
      case Route::kHealth:
        return StatusJson(request, "ok");
      case Route::kReady:
        return Ready(request);
      case Route::kList:
        return ListProfiles(request, target.query);
      case Route::kProfile:
        return GetProfile(request, match.id);
      case Route::kAvatar:
        return GetAvatar(request, match.id);
      case Route::kNone:
        break;
    }
  } else if (match.route == Route::kProfile &&
             (method == http::verb::put || method == http::verb::patch)) {
    auto content_type = request.find(http::field::content_type);
    if (content_type == request.end() || !IsJsonContentType(ToStd(content_type->value()))) {
      return Error(request, http::status::unsupported_media_type,
                   absl::InvalidArgumentError("the body must be JSON: send Content-Type: "
                                              "application/json"));
    }
    return WriteProfile(
        request, method == http::verb::put ? WriteKind::kReplace : WriteKind::kPatch, match.id);
  }
  const std::string_view allowed = AllowedMethods(match.route);
  HttpResponse response = Error(
      request, http::status::method_not_allowed,
      absl::UnimplementedError(absl::StrCat(ToAbsl(ToStd(request.method_string())),
                                            " is not allowed here; allowed: ", ToAbsl(allowed))));
  response.set(http::field::allow, ToBeast(allowed));
  // A response to HEAD has no body (Content-Length still tells its size).
  if (method == http::verb::head) response.body().clear();
  return response;
}

absl::Status RestHandler::PrepareCall(const HttpRequest& request,
                                      grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  return ForwardIdentity(request, context);
}

HttpResponse RestHandler::GetProfile(const HttpRequest& request, std::string_view id) const {
  absl::StatusOr<profile::v1::Profile> fetched = FetchProfile(request, id);
  if (!fetched.ok()) return Error(request, fetched.status());
  const profile::v1::Profile& profile = *fetched;

  const std::string etag = VersionTag(profile);
  if (RequestIfNoneMatches(request, etag)) return NotModified(request, etag);
  HttpResponse response = JsonResponse(request, http::status::ok, ResponseJson(profile));
  response.set(http::field::etag, etag);
  return response;
}

absl::StatusOr<profile::v1::Profile> RestHandler::FetchProfile(const HttpRequest& request,
                                                               std::string_view id) const {
  grpc::ClientContext context;
  if (absl::Status prepared = PrepareCall(request, &context); !prepared.ok()) return prepared;
  profile::v1::GetProfileRequest rpc;
  rpc.set_id(std::string(id));
  profile::v1::Profile profile;
  absl::Status status = FromGrpcStatus(stub_->GetProfile(&context, rpc, &profile));
  if (!status.ok()) return status;
  return profile;
}

HttpResponse RestHandler::WriteProfile(const HttpRequest& request, WriteKind kind,
                                       std::string_view id) const {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(kind, id, request);
  if (!write.ok()) return Error(request, write.status());
  grpc::ClientContext context;
  if (absl::Status prepared = PrepareCall(request, &context); !prepared.ok()) {
    return Error(request, prepared);
  }
  profile::v1::Profile profile;
  absl::Status status = FromGrpcStatus(stub_->UpdateProfile(&context, write->rpc, &profile));
  if (status.code() == absl::StatusCode::kAborted) {
    std::optional<profile::v1::Profile> conflicting = ConflictingProfile(status);
    if (conflicting.has_value() && !conflicting->avatar_sha256().empty()) {
      // gRPC's ABORTED details leave the avatar out (they travel in a
      // trailer); a REST body has no such limit and shows `current` like a
      // GET body, so read the profile once more. A newer one is just as
      // current.
      absl::StatusOr<profile::v1::Profile> fresh = FetchProfile(request, id);
      if (fresh.ok() && fresh->version() >= conflicting->version()) {
        status = VersionConflict(std::string(status.message()), *fresh);
      }
    }
    HttpResponse response = Error(request, ConflictStatus(write->base_source), status);
    if (std::optional<profile::v1::Profile> current = ConflictingProfile(status)) {
      response.set(http::field::etag, VersionTag(*current));
    }
    return response;
  }
  if (kind == WriteKind::kPatch && write->base_source == BaseVersionSource::kNone &&
      status.code() == absl::StatusCode::kInvalidArgument) {
    // A PATCH without a base version is a create, and a partial body makes
    // an invalid one. If the profile exists, what the caller really lacks is
    // the base version: say so (428) rather than list the create's rules.
    if (absl::StatusOr<profile::v1::Profile> current = FetchProfile(request, id); current.ok()) {
      HttpResponse response = Error(
          request, http::status::precondition_required,
          VersionConflict(absl::StrCat("profile ", std::string(id),
                                       " exists: send If-Match or \"version\" with the version "
                                       "your edit is based on"),
                          *current));
      response.set(http::field::etag, VersionTag(*current));
      return response;
    }
  }
  if (!status.ok()) return Error(request, status);

  const bool created = write->rpc.expected_version() == 0 && profile.version() == 1;
  HttpResponse response = JsonResponse(request, created ? http::status::created : http::status::ok,
                                       ResponseJson(profile));
  response.set(http::field::etag, VersionTag(profile));
  if (created) response.set(http::field::location, absl::StrCat("/user/", profile.id()));
  return response;
}

HttpResponse RestHandler::ListProfiles(const HttpRequest& request, std::string_view query) const {
  absl::StatusOr<profile::v1::ListProfilesRequest> rpc = ParseListQuery(query);
  if (!rpc.ok()) return Error(request, rpc.status());
  grpc::ClientContext context;
  if (absl::Status prepared = PrepareCall(request, &context); !prepared.ok()) {
    return Error(request, prepared);
  }
  profile::v1::ListProfilesResponse list;
  absl::Status status = FromGrpcStatus(stub_->ListProfiles(&context, *rpc, &list));
  if (!status.ok()) return Error(request, status);
  return JsonResponse(request, http::status::ok, ResponseJson(list));
}

HttpResponse RestHandler::GetAvatar(const HttpRequest& request, std::string_view id) const {
  absl::StatusOr<profile::v1::Profile> fetched = FetchProfile(request, id);
  if (!fetched.ok()) return Error(request, fetched.status());
  profile::v1::Profile& profile = *fetched;
  if (profile.avatar().empty()) {
    return Error(request,
                 absl::NotFoundError(absl::StrCat("profile ", profile.id(), " has no avatar")));
  }

  const std::string etag = EntityTag(profile.avatar_sha256());
  if (RequestIfNoneMatches(request, etag)) return NotModified(request, etag);
  HttpResponse response = Respond(request, http::status::ok);
  std::optional<std::string_view> mime_type = ImageMimeType(profile.avatar());
  response.set(http::field::content_type, ToBeast(mime_type.value_or("application/octet-stream")));
  response.set(http::field::etag, etag);
  response.set(http::field::cache_control, "no-cache");
  response.body() = std::move(*profile.mutable_avatar());
  response.prepare_payload();
  return response;
}

HttpResponse RestHandler::Ready(const HttpRequest& request) const {
  absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
  if (!ready.ok()) return Error(request, http::status::service_unavailable, ready);
  return StatusJson(request, "ready");
}

}  // namespace profiles
