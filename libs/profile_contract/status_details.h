#ifndef PROFILES_LIBS_PROFILE_CONTRACT_STATUS_DETAILS_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_STATUS_DETAILS_H_

// Structured details carried by the errors of the profile core.
//
// Inside the service every expected failure is an absl::Status with a
// canonical code. The details a client needs to act on it travel as
// absl::Status payloads keyed by protobuf type URL, so each transport adapter
// can forward them without knowing what they are (the gRPC adapter turns each
// payload into a google.protobuf.Any in google.rpc.Status.details):
//   INVALID_ARGUMENT  google.rpc.BadRequest (one violation per bad field)
//   INVALID_ARGUMENT  google.rpc.ErrorInfo{reason: "MUTATION_ID_REUSED"}
//   ABORTED           profile.v1.Profile, the server's current profile
//   NOT_FOUND         google.rpc.ErrorInfo{reason: "PROFILE_DELETED"} and,
//                     while it is kept, the tombstone (profile.v1.Profile
//                     with `deleted` set): the profile was deleted
//   RESOURCE_EXHAUSTED google.rpc.RetryInfo{retry_delay}: this caller made too
//                     many calls; the same call succeeds after the delay
//   FAILED_PRECONDITION google.rpc.ErrorInfo{reason: "CURSOR_FROM_OTHER_DATABASE",
//                     "CURSOR_AHEAD_OF_DATABASE" or "CURSOR_EXPIRED"}: a cursor
//                     or page token this database cannot continue; list again
//                     from the start
//
// Example:
//   FieldViolations violations;
//   violations.Add("email", "must look like name@example.com");
//   if (!violations.empty()) return violations.ToStatus();

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles {

inline constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";
inline constexpr std::string_view kMutationIdReusedReason = "MUTATION_ID_REUSED";
inline constexpr std::string_view kCursorFromOtherDatabaseReason = "CURSOR_FROM_OTHER_DATABASE";
inline constexpr std::string_view kCursorAheadOfDatabaseReason = "CURSOR_AHEAD_OF_DATABASE";
inline constexpr std::string_view kCursorExpiredReason = "CURSOR_EXPIRED";
inline constexpr std::string_view kProfileDeletedReason = "PROFILE_DELETED";
inline constexpr std::string_view kErrorDomain = "profiles.example.com";

// The type URL under which a message of this type is stored as a payload.
std::string PayloadTypeUrl(const google::protobuf::Message& prototype);

// Accumulates per-field validation errors. Not thread-safe.
class FieldViolations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return request_.field_violations_size() == 0; }
  // INVALID_ARGUMENT listing every violation in its message, with a
  // google.rpc.BadRequest payload. REQUIRES: !empty().
  absl::Status ToStatus() const;

 private:
  google::rpc::BadRequest request_;
};

// ABORTED: the write was based on a stale version; `current` is attached.
absl::Status VersionConflict(std::string_view message, const profile::v1::Profile& current);

// NOT_FOUND with ErrorInfo PROFILE_DELETED (metadata "id": `id`): the
// profile `id` was deleted. `tombstone` (deleted set), when known, is
// attached as the profile payload (ConflictingProfile() returns it).
absl::Status ProfileDeleted(std::string_view id, std::string_view message,
                            const std::optional<profile::v1::Profile>& tombstone);
// Whether `status` says the profile it is about was deleted.
bool IsProfileDeleted(const absl::Status& status);

// `status` with the avatar bytes of its conflicting profile left out
// (avatar_sha256 stays, so a client sees whether the picture changed and
// fetches it when it needs it). gRPC carries details in a trailer, and
// clients refuse trailers over 8 KiB by default: a 256 KiB picture there
// turned an ABORTED into DEADLINE_EXCEEDED or a "lost connection". Any other
// status is returned unchanged.
absl::Status WithoutConflictAvatar(absl::Status status);

// INVALID_ARGUMENT with ErrorInfo reason MUTATION_ID_REUSED.
absl::Status MutationIdReused(std::string_view mutation_id);

// FAILED_PRECONDITION with ErrorInfo CURSOR_FROM_OTHER_DATABASE (metadata
// "field": `field`): the cursor was issued by another database.
absl::Status CursorFromOtherDatabase(std::string_view field, std::string_view message);
// FAILED_PRECONDITION with ErrorInfo CURSOR_AHEAD_OF_DATABASE: the cursor
// names a position this database has not reached (restored from a backup).
absl::Status CursorAheadOfDatabase(std::string_view message);
// FAILED_PRECONDITION with ErrorInfo CURSOR_EXPIRED (metadata "field":
// `field`, when not empty): the cursor belongs to a change stream this
// database no longer continues (an older cursor format, or an older epoch of
// the commit-ordered stream after its replication slot was lost).
absl::Status CursorExpired(std::string_view field, std::string_view message);
// Whether `status` refuses a cursor (any reason above): the caller's
// cursor is of no use here, and it must list again from the start.
bool IsCursorRefused(const absl::Status& status);

// The payloads of a status, decoded; nullopt when absent or undecodable.
// RESOURCE_EXHAUSTED with a google.rpc.RetryInfo of `delay`: a rate limit.
absl::Status RateLimited(std::string_view message, absl::Duration delay);
// The delay a status asks the caller to wait before retrying (RetryInfo).
std::optional<absl::Duration> RetryDelayOf(const absl::Status& status);

std::optional<profile::v1::Profile> ConflictingProfile(const absl::Status& status);
std::optional<google::rpc::BadRequest> BadRequestOf(const absl::Status& status);
std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const absl::Status& status);

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_STATUS_DETAILS_H_
