#include "services/profile/storage/change_cursor.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

constexpr std::string_view kFirstFormatTag = "c1";
constexpr std::string_view kSecondFormatTag = "c2";
constexpr std::string_view kFormatTag = "c3";

absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

absl::Status Malformed(std::string_view field) {
  FieldViolations violations;
  violations.Add(std::string(field),
                 "is not a cursor returned by this service; pass a previous response's cursor "
                 "or leave it empty");
  return violations.ToStatus();
}

// Database ids are made of digits, letters and dashes (PgProfileRepository
// builds them from numbers); the dot separates the cursor's parts.
bool IsDatabaseId(absl::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (const char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

bool ParsePosition(absl::string_view epoch, absl::string_view lsn, absl::string_view idx,
                   ChangeCursor& position) {
  return absl::SimpleAtoi(epoch, &position.epoch) && position.epoch >= 0 &&
         absl::SimpleAtoi(lsn, &position.lsn) && absl::SimpleAtoi(idx, &position.idx) &&
         position.idx >= 0 && position.idx <= std::numeric_limits<int32_t>::max();
}

// The formats before c3 named transaction ids (change_cursor.h).
bool IsEarlierFormat(const std::vector<absl::string_view>& parts) {
  uint64_t txid;
  int64_t seq;
  if (parts.size() == 3 && parts[0] == Absl(kFirstFormatTag)) {
    return absl::SimpleAtoi(parts[1], &txid) && absl::SimpleAtoi(parts[2], &seq) && seq >= 0;
  }
  return parts.size() == 4 && parts[0] == Absl(kSecondFormatTag) && IsDatabaseId(parts[1]) &&
         absl::SimpleAtoi(parts[2], &txid) && absl::SimpleAtoi(parts[3], &seq) && seq >= 0;
}

}  // namespace

absl::StatusOr<IssuedCursor> IssuedCursor::Parse(std::string_view text, std::string_view field) {
  if (text.empty()) return IssuedCursor{};
  const std::vector<absl::string_view> parts = absl::StrSplit(Absl(text), '.');
  if (IsEarlierFormat(parts)) {
    return CursorExpired(field, absl::StrCat(Absl(field),
                                             " was issued before changes were ordered by their "
                                             "commit in the write-ahead log, and cannot be "
                                             "continued; list again from the start"));
  }
  IssuedCursor cursor;
  if (parts.size() != 5 || parts[0] != Absl(kFormatTag) || !IsDatabaseId(parts[1]) ||
      !ParsePosition(parts[2], parts[3], parts[4], cursor.position)) {
    return Malformed(field);
  }
  cursor.database_id = std::string(parts[1]);
  return cursor;
}

absl::Status IssuedCursor::CheckIssuedBy(std::string_view database_id,
                                         std::string_view field) const {
  if (this->database_id.empty() || this->database_id == database_id) return absl::OkStatus();
  return CursorFromOtherDatabase(
      field, absl::StrCat(Absl(field), " was issued by database ", this->database_id,
                          ", and this service stores profiles in database ", Absl(database_id),
                          "; list again from the start"));
}

std::string FormatCursor(std::string_view database_id, const ChangeCursor& position) {
  return absl::StrCat(Absl(kFormatTag), ".", Absl(database_id), ".", position.epoch, ".",
                      position.lsn, ".", position.idx);
}

}  // namespace profiles
