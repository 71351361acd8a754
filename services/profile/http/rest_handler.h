#ifndef PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_
#define PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_

// RestHandler turns one HTTP request into one HTTP response by calling the
// gRPC ProfileService: the REST API is a transcoder onto the gRPC API, so
// both protocols have one behaviour (validation, versioning, idempotency all
// happen in the service). It does no I/O of its own besides the RPCs; the
// sockets are HttpGateway's (http_gateway.h).
//
// Routes (JSON is protobuf's JSON mapping of profile.v1; see http_status.h):
//   GET   /user/{id}         GetProfile. 200 profile, ETag: "<version>";
//                            304 when If-None-Match matches.
//   PUT   /user/{id}         UpdateProfile replacing name, email and avatar.
//   PATCH /user/{id}         UpdateProfile of the body's keys among name,
//                            email and avatar.
//                            Base version: If-Match: "<n>", else the body's
//                            "version", else none (0: create).
//                            Idempotency-Key (a UUID) is the mutation_id.
//                            201 + Location when it created, else 200; the
//                            profile and its ETag either way. A version
//                            conflict is 412 (base from If-Match), 409 (base
//                            from the body) or 428 (no base, and the profile
//                            exists), with the server's profile as "current".
//                            A reused Idempotency-Key with another body: 422.
//   GET   /user              ListProfiles: ?page_size=&page_token=&since=
//                            &include_avatars=true|false
//   GET   /user/{id}/avatar  the raw image with its Content-Type and
//                            ETag: "<avatar_sha256>"; 304 on If-None-Match;
//                            404 when the profile has no avatar.
//   GET   /healthz           200 {"status":"ok"} while the process serves.
//   GET   /readyz            200 when the readiness callback is OK, else 503.
// Other paths are 404; other methods on these paths (HEAD too) 405 with
// Allow. PUT and PATCH bodies must be application/json (else 415). Errors are
// mapped by http_status.h; the route-specific ones above are the only
// overrides.
//
// Identity: the request's Authorization header is forwarded verbatim as the
// gRPC metadata "authorization" of every call (ForwardIdentity); the gRPC
// adapter is where credentials are checked.
//
// Thread-safe: Handle() may run on many threads at once. It blocks for the
// duration of one RPC, bounded by Options::rpc_timeout (then 504).

#include <grpcpp/client_context.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "profile/v1/profile.grpc.pb.h"
#include "services/profile/http/http_status.h"
#include "services/profile/http/rest_request.h"

namespace profiles {

class RestHandler {
 public:
  struct Options {
    // Deadline of every RPC made for a request.
    std::chrono::milliseconds rpc_timeout{10000};
  };

  // Takes ownership of `stub`. An empty `readiness` means always ready.
  RestHandler(std::unique_ptr<profile::v1::ProfileService::StubInterface> stub,
              std::function<absl::Status()> readiness, Options options);

  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse GetProfile(const HttpRequest& request, std::string_view id) const;
  HttpResponse WriteProfile(const HttpRequest& request, WriteKind kind, std::string_view id) const;
  HttpResponse ListProfiles(const HttpRequest& request, std::string_view query) const;
  HttpResponse GetAvatar(const HttpRequest& request, std::string_view id) const;
  HttpResponse Ready(const HttpRequest& request) const;
  // GetProfile on behalf of `request`.
  absl::StatusOr<profile::v1::Profile> FetchProfile(const HttpRequest& request,
                                                    std::string_view id) const;

  // A context for one RPC made on behalf of `request`: its deadline and the
  // caller's identity. INVALID_ARGUMENT if the identity cannot be forwarded.
  absl::Status PrepareCall(const HttpRequest& request, grpc::ClientContext* context) const;

  const std::unique_ptr<profile::v1::ProfileService::StubInterface> stub_;
  const std::function<absl::Status()> readiness_;
  const Options options_;
};

// Copies the Authorization header of `request`, if any, into the metadata
// "authorization" of `context`. INVALID_ARGUMENT if the value has characters
// gRPC metadata cannot carry (only printable ASCII can).
absl::Status ForwardIdentity(const HttpRequest& request, grpc::ClientContext* context);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_REST_HANDLER_H_
