#include "libs/profile_contract/status_details.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace profiles {
namespace {

template <typename Message>
std::optional<Message> DecodePayload(const absl::Status& status) {
  Message message;
  const absl::optional<absl::Cord> payload = status.GetPayload(PayloadTypeUrl(message));
  if (!payload.has_value() || !message.ParseFromString(std::string(*payload))) {
    return std::nullopt;
  }
  return message;
}

void Attach(absl::Status& status, const google::protobuf::Message& message) {
  status.SetPayload(PayloadTypeUrl(message), absl::Cord(message.SerializeAsString()));
}

}  // namespace

std::string PayloadTypeUrl(const google::protobuf::Message& prototype) {
  return absl::StrCat(std::string(kTypeUrlPrefix), prototype.GetDescriptor()->full_name());
}

void FieldViolations::Add(std::string field, std::string description) {
  auto* violation = request_.add_field_violations();
  violation->set_field(std::move(field));
  violation->set_description(std::move(description));
}

absl::Status FieldViolations::ToStatus() const {
  std::vector<std::string> parts;
  for (const auto& violation : request_.field_violations()) {
    parts.push_back(absl::StrCat(violation.field(), ": ", violation.description()));
  }
  absl::Status status = absl::InvalidArgumentError(absl::StrJoin(parts, "; "));
  Attach(status, request_);
  return status;
}

absl::Status VersionConflict(std::string_view message, const profile::v1::Profile& current) {
  absl::Status status = absl::AbortedError(std::string(message));
  Attach(status, current);
  return status;
}

absl::Status ProfileDeleted(std::string_view id, std::string_view message,
                            const std::optional<profile::v1::Profile>& tombstone) {
  absl::Status status = absl::NotFoundError(std::string(message));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(kProfileDeletedReason));
  info.set_domain(std::string(kErrorDomain));
  (*info.mutable_metadata())["id"] = std::string(id);
  Attach(status, info);
  if (tombstone.has_value()) Attach(status, *tombstone);
  return status;
}

bool IsProfileDeleted(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kNotFound) return false;
  const std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  return info.has_value() && info->reason() == kProfileDeletedReason;
}

absl::Status WithoutConflictAvatar(absl::Status status) {
  std::optional<profile::v1::Profile> current = ConflictingProfile(status);
  if (!current.has_value() || current->avatar().empty()) return status;
  current->clear_avatar();
  Attach(status, *current);
  return status;
}

absl::Status MutationIdReused(std::string_view mutation_id) {
  absl::Status status = absl::InvalidArgumentError(
      absl::StrCat("mutation_id ", std::string(mutation_id),
                   " was already used for a different request; use a new mutation_id"));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(kMutationIdReusedReason));
  info.set_domain(std::string(kErrorDomain));
  (*info.mutable_metadata())["mutation_id"] = std::string(mutation_id);
  Attach(status, info);
  return status;
}

namespace {

absl::Status CursorRefused(std::string_view reason, std::string_view message,
                           std::string_view field) {
  absl::Status status = absl::FailedPreconditionError(std::string(message));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  if (!field.empty()) (*info.mutable_metadata())["field"] = std::string(field);
  Attach(status, info);
  return status;
}

}  // namespace

absl::Status CursorFromOtherDatabase(std::string_view field, std::string_view message) {
  return CursorRefused(kCursorFromOtherDatabaseReason, message, field);
}

absl::Status CursorAheadOfDatabase(std::string_view message) {
  return CursorRefused(kCursorAheadOfDatabaseReason, message, "");
}

absl::Status CursorExpired(std::string_view field, std::string_view message) {
  return CursorRefused(kCursorExpiredReason, message, field);
}

bool IsCursorRefused(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return false;
  const std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  return info.has_value() &&
         (info->reason() == kCursorFromOtherDatabaseReason ||
          info->reason() == kCursorAheadOfDatabaseReason || info->reason() == kCursorExpiredReason);
}

absl::Status RateLimited(std::string_view message, absl::Duration delay) {
  absl::Status status =
      absl::ResourceExhaustedError(absl::string_view(message.data(), message.size()));
  google::rpc::RetryInfo info;
  const int64_t nanos = absl::ToInt64Nanoseconds(std::max(delay, absl::ZeroDuration()));
  info.mutable_retry_delay()->set_seconds(nanos / 1'000'000'000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  Attach(status, info);
  return status;
}

std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  std::optional<google::rpc::RetryInfo> info = DecodePayload<google::rpc::RetryInfo>(status);
  if (!info.has_value()) return std::nullopt;
  return absl::Seconds(info->retry_delay().seconds()) +
         absl::Nanoseconds(info->retry_delay().nanos());
}

std::optional<profile::v1::Profile> ConflictingProfile(const absl::Status& status) {
  return DecodePayload<profile::v1::Profile>(status);
}

std::optional<google::rpc::BadRequest> BadRequestOf(const absl::Status& status) {
  return DecodePayload<google::rpc::BadRequest>(status);
}

std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const absl::Status& status) {
  return DecodePayload<google::rpc::ErrorInfo>(status);
}

}  // namespace profiles
