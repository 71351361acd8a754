#include "services/profile/grpc/grpc_status.h"

#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/domain/caller_errors.h"

namespace profiles {
namespace {

TEST(GrpcStatus, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatus, ConflictTravelsAsGoogleRpcStatusDetails) {
  profile::v1::Profile current;
  current.set_id("123e4567-e89b-12d3-a456-426614174000");
  current.set_version(4);
  const grpc::Status wire = ToGrpcStatus(VersionConflict("stale version", current));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(wire.error_message(), "stale version");

  // What any gRPC client sees in the grpc-status-details-bin trailer.
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(wire.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::ABORTED));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/profile.v1.Profile");
  profile::v1::Profile decoded;
  ASSERT_TRUE(details.details(0).UnpackTo(&decoded));
  EXPECT_EQ(decoded.version(), 4);

  const absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(ConflictingProfile(back).has_value());
  EXPECT_EQ(ConflictingProfile(back)->id(), current.id());
}

TEST(GrpcStatus, FieldViolationsSurviveTheRoundTrip) {
  FieldViolations violations;
  violations.Add("email", "must look like name@example.com");
  const absl::Status back = FromGrpcStatus(ToGrpcStatus(violations.ToStatus()));
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(BadRequestOf(back).has_value());
  EXPECT_EQ(BadRequestOf(back)->field_violations(0).field(), "email");
}

TEST(GrpcStatus, InternalErrorsReachTheCallerAsARequestIdOnly) {
  const grpc::Status wire = ToGrpcStatus(absl::InternalError(
      "apply write failed: ERROR:  new row for relation \"profiles\" violates check constraint "
      "\"profiles_email_valid\"\nDETAIL:  Failing row contains (ada@example.com)"));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(wire.error_message().rfind("internal error; request id ", 0), 0u)
      << wire.error_message();
  EXPECT_EQ(wire.error_message().find("profiles"), std::string::npos);
  const absl::Status back = FromGrpcStatus(wire);
  ASSERT_TRUE(RequestIdOf(back).has_value());
  EXPECT_EQ(wire.error_message(), "internal error; request id " + *RequestIdOf(back));
  // Redacting again (the gateway does) keeps the id and the message.
  EXPECT_EQ(ForCaller(back), back);
}

TEST(GrpcStatus, AnInternalErrorCarriesTheCallsRequestId) {
  const grpc::Status wire = ToGrpcStatus(absl::InternalError("secret"), "client-chosen-id-7");
  EXPECT_EQ(wire.error_message(), "internal error; request id client-chosen-id-7");
  EXPECT_EQ(RequestIdOf(FromGrpcStatus(wire)), "client-chosen-id-7");
}

TEST(GrpcStatus, EachInternalErrorGetsItsOwnId) {
  const absl::Status a = ForCaller(absl::UnknownError("x"));
  const absl::Status b = ForCaller(absl::UnknownError("x"));
  EXPECT_NE(RequestIdOf(a), RequestIdOf(b));
}

TEST(GrpcStatus, MessagesAreValidUtf8OnTheWire) {
  const grpc::Status wire = ToGrpcStatus(absl::NotFoundError("no profile 'jos\xC3'"));
  google::rpc::Status details;
  const absl::Status with_details = FromGrpcStatus(
      ToGrpcStatus(VersionConflict("stale 'jos\xC3'", profile::v1::Profile::default_instance())));
  EXPECT_EQ(with_details.message(), "stale 'jos\\xC3'");
  EXPECT_TRUE(ConflictingProfile(with_details).has_value());
}

TEST(GrpcStatus, GarbageDetailsAreIgnoredNotFatal) {
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "gone", "\xff\xff not a proto"));
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(back.message(), "gone");
}

}  // namespace
}  // namespace profiles
