// Fuzz target: the change cursor / page token parser
// (services/profile/storage/change_cursor.h), which reads text a client sent
// back ("c3.<database id>.<epoch>.<lsn>.<idx>").
//
// Invariants: "" is the start; a cursor that parses names a database id as
// issued and formats back to a text that parses to the same position; a
// refused one is INVALID_ARGUMENT (malformed) or FAILED_PRECONDITION (a cursor
// of an earlier format), naming the field either way; CheckIssuedBy accepts
// the issuing database only.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/storage/change_cursor.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using profiles::IssuedCursor;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kField = "page_token";

  absl::StatusOr<IssuedCursor> cursor = IssuedCursor::Parse(text, kField);
  if (!cursor.ok()) {
    const absl::Status& status = cursor.status();
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      std::optional<google::rpc::BadRequest> bad = profiles::BadRequestOf(status);
      FUZZ_CHECK(bad.has_value() && bad->field_violations_size() == 1 &&
                 bad->field_violations(0).field() == kField);
    } else {
      FUZZ_CHECK(status.code() == absl::StatusCode::kFailedPrecondition) << status;
      FUZZ_CHECK(profiles::IsCursorRefused(status)) << status;
    }
    // The message reaches the client: it must print.
    FUZZ_CHECK(profiles::IsValidUtf8(std::string(status.message()))) << status;
    return 0;
  }

  if (text.empty()) {
    FUZZ_CHECK(cursor->database_id.empty() && cursor->position == profiles::ChangeCursor::Start());
    return 0;
  }
  FUZZ_CHECK(!cursor->database_id.empty());
  FUZZ_CHECK(cursor->position.epoch >= 0 && cursor->position.idx >= 0 &&
             cursor->position.idx <= INT32_MAX);

  // What the service hands out for this position parses back to it.
  const std::string formatted = profiles::FormatCursor(cursor->database_id, cursor->position);
  absl::StatusOr<IssuedCursor> again = IssuedCursor::Parse(formatted, kField);
  FUZZ_CHECK(again.ok()) << formatted << ": " << again.status();
  FUZZ_CHECK(again->database_id == cursor->database_id);
  FUZZ_CHECK(again->position == cursor->position) << formatted;
  FUZZ_CHECK(profiles::FormatCursor(again->database_id, again->position) == formatted);

  FUZZ_CHECK(cursor->CheckIssuedBy(cursor->database_id, kField).ok());
  const absl::Status other = cursor->CheckIssuedBy(cursor->database_id + "x", kField);
  FUZZ_CHECK(!other.ok() && profiles::IsCursorRefused(other)) << other;
  return 0;
}
