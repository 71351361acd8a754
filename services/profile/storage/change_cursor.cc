#include "services/profile/storage/change_cursor.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

constexpr std::string_view kFirstFormatTag = "c1";
constexpr std::string_view kFormatTag = "c2";

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

bool ParsePosition(absl::string_view txid, absl::string_view seq, ChangeCursor& position) {
  return absl::SimpleAtoi(txid, &position.txid) && absl::SimpleAtoi(seq, &position.seq) &&
         position.seq >= 0;
}

}  // namespace

absl::StatusOr<IssuedCursor> IssuedCursor::Parse(std::string_view text, std::string_view field) {
  if (text.empty()) return IssuedCursor{};
  const std::vector<absl::string_view> parts = absl::StrSplit(Absl(text), '.');
  IssuedCursor cursor;
  if (parts.size() == 3 && parts[0] == Absl(kFirstFormatTag) &&
      ParsePosition(parts[1], parts[2], cursor.position)) {
    return CursorFromOtherDatabase(
        field, absl::StrCat(Absl(field),
                            " was issued before cursors named their database, so it cannot be "
                            "checked against this one; list again from the start"));
  }
  if (parts.size() != 4 || parts[0] != Absl(kFormatTag) || !IsDatabaseId(parts[1]) ||
      !ParsePosition(parts[2], parts[3], cursor.position)) {
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
  return absl::StrCat(Absl(kFormatTag), ".", Absl(database_id), ".", position.txid, ".",
                      position.seq);
}

}  // namespace profiles
