#include "services/profile/storage/pg_status.h"

#include <pqxx/except>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace profiles::storage_internal {

bool IsConnectionFailure(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string& state = sql->sqlstate();
    return absl::StartsWith(state, "08") || absl::StartsWith(state, "57P");
  }
  return false;
}

absl::Status StatusFromException(std::string_view what, const std::exception& e) {
  if (IsConnectionFailure(e)) return UnreachableStatus(what, e);
  return absl::InternalError(absl::StrCat(std::string(what), " failed: ", e.what()));
}

absl::Status UnreachableStatus(std::string_view what, const std::exception& e) {
  return absl::UnavailableError(
      absl::StrCat("the database is unreachable (", std::string(what), "): ", e.what()));
}

}  // namespace profiles::storage_internal
