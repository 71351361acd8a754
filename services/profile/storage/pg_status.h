#ifndef PROFILES_SERVICES_PROFILE_STORAGE_PG_STATUS_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_PG_STATUS_H_

// Turns what libpqxx throws into an absl::Status, so that no exception leaves
// the storage layer. Internal to services/profile/storage.

#include <exception>
#include <string_view>

#include "absl/status/status.h"

namespace profiles::storage_internal {

// True when `e` means the connection is lost or the server is going away
// (pqxx::broken_connection, SQLSTATE classes 08 and 57P): the connection
// must be discarded and the operation may succeed on a new one.
bool IsConnectionFailure(const std::exception& e);

// UNAVAILABLE ("the database is unreachable: ...") for connection failures,
// INTERNAL with the message otherwise. `what` names the operation.
absl::Status StatusFromException(std::string_view what, const std::exception& e);

// UNAVAILABLE ("the database is unreachable (what): ...") whatever `e` is:
// for failures known to be a lost connection by other means, e.g. libpq has
// marked the connection bad but libpqxx threw a plain pqxx::failure.
absl::Status UnreachableStatus(std::string_view what, const std::exception& e);

}  // namespace profiles::storage_internal

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_PG_STATUS_H_
