#include "services/profile/domain/caller_errors.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/logging/log.h"
#include "services/profile/logging/request_id.h"

namespace profiles {

namespace {

// The message on one line: a PostgreSQL error spans several (DETAIL, HINT).
std::string OneLine(std::string_view text) {
  std::string line;
  line.reserve(text.size());
  for (char c : text) {
    if (c == '\n') {
      line.append(" | ");
    } else if (c == '\r' || c == '\t') {
      line.push_back(' ');
    } else {
      line.push_back(c);
    }
  }
  return line;
}

bool IsInternal(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

}  // namespace

std::optional<std::string> RequestIdOf(const absl::Status& status) {
  const auto payload =
      status.GetPayload(PayloadTypeUrl(google::rpc::RequestInfo::default_instance()));
  google::rpc::RequestInfo info;
  if (!payload.has_value() || !info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info.request_id();
}

absl::Status ForCaller(const absl::Status& status, std::string_view request_id) {
  const bool internal = IsInternal(status.code());
  if (!internal && status.code() != absl::StatusCode::kUnavailable) return status;
  if (RequestIdOf(status).has_value()) return status;  // redacted before

  const std::string id = request_id.empty() ? NewRequestId() : std::string(request_id);
  // The database being down is the operator's to fix but no bug: a warning.
  DefaultLogger().Log(
      internal ? LogLevel::kError : LogLevel::kWarning, internal ? "internal error" : "unavailable",
      {{"request_id", id},
       {"code", absl::StatusCodeToString(status.code())},
       {"error", OneLine(std::string_view(status.message().data(), status.message().size()))}});

  std::string message;
  if (internal) {
    message = absl::StrCat("internal error; request id ", id);
  } else {
    const absl::string_view summary = status.message().substr(0, status.message().find(": "));
    message = absl::StrCat(QuoteForMessage(std::string_view(summary.data(), summary.size()), 200),
                           "; request id ", id);
  }
  absl::Status redacted(status.code(), message);
  google::rpc::RequestInfo info;
  info.set_request_id(id);
  redacted.SetPayload(PayloadTypeUrl(info), absl::Cord(info.SerializeAsString()));
  return redacted;
}

}  // namespace profiles
