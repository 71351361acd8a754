#ifndef PROFILES_TESTS_E2E_GRPC_WRITES_H_
#define PROFILES_TESTS_E2E_GRPC_WRITES_H_

// What the end-to-end tests share to write profiles over gRPC and to wait
// for what other processes do: predictable ids, an UpdateProfile request,
// the call with a deadline, and a bounded wait on a condition.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profiles::testing {

// A UUID that says which test made it: kind in the first group, n in the last.
inline std::string Uuid(int kind, int n) {
  return absl::StrFormat("%08x-0000-4000-8000-%012x", kind, n);
}

// A write of `name` (and a fixed e-mail) based on `expected_version` (0:
// create), with `mutation_id` (empty: none).
inline profile::v1::UpdateProfileRequest Write(const std::string& id, int64_t expected_version,
                                               const std::string& name,
                                               const std::string& mutation_id = "") {
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(id);
  request.mutable_profile()->set_name(name);
  request.mutable_profile()->set_email("someone@example.com");
  request.set_expected_version(expected_version);
  request.set_mutation_id(mutation_id);
  return request;
}

inline grpc::Status Call(profile::v1::ProfileService::Stub& stub,
                         const profile::v1::UpdateProfileRequest& request,
                         profile::v1::Profile* response,
                         absl::Duration timeout = absl::Seconds(20)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return stub.UpdateProfile(&context, request, response);
}

// GetProfile of `id`.
inline grpc::Status Read(profile::v1::ProfileService::Stub& stub, const std::string& id,
                         profile::v1::Profile* profile,
                         absl::Duration timeout = absl::Seconds(20)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  profile::v1::GetProfileRequest request;
  request.set_id(id);
  return stub.GetProfile(&context, request, profile);
}

// DeleteProfile of `id` based on `expected_version`, with `mutation_id`
// (empty: none); `tombstone` gets the answer.
inline grpc::Status Delete(profile::v1::ProfileService::Stub& stub, const std::string& id,
                           int64_t expected_version, const std::string& mutation_id,
                           profile::v1::Profile* tombstone,
                           absl::Duration timeout = absl::Seconds(20)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  profile::v1::DeleteProfileRequest request;
  request.set_id(id);
  request.set_expected_version(expected_version);
  request.set_mutation_id(mutation_id);
  return stub.DeleteProfile(&context, request, tombstone);
}

// Calls `done` until it returns true or `timeout` passes; false on timeout.
// For events in another process, which nothing here can wait on: pauses
// between calls grow from 1 ms to 20 ms.
inline bool Eventually(absl::Duration timeout, const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
  return true;
}

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_GRPC_WRITES_H_
