#include "services/profile/storage/change_cursor.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/profile/domain/status_details.h"

namespace profiles {
namespace {

constexpr std::string_view kVersionTag = "c1";

}  // namespace

absl::StatusOr<ChangeCursor> ChangeCursor::Parse(std::string_view text, std::string_view field) {
  if (text.empty()) return Start();
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(text.data(), text.size()), '.');
  ChangeCursor cursor;
  if (parts.size() != 3 || parts[0] != absl::string_view(kVersionTag.data(), kVersionTag.size()) ||
      !absl::SimpleAtoi(parts[1], &cursor.txid) || !absl::SimpleAtoi(parts[2], &cursor.seq) ||
      cursor.seq < 0) {
    FieldViolations violations;
    violations.Add(std::string(field),
                   "is not a cursor returned by this service; pass a previous response's cursor "
                   "or leave it empty");
    return violations.ToStatus();
  }
  return cursor;
}

std::string ChangeCursor::ToString() const {
  return absl::StrCat(std::string(kVersionTag), ".", txid, ".", seq);
}

}  // namespace profiles
