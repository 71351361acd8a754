#include "services/profile/grpc/grpc_status.h"

#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "services/profile/domain/status_details.h"

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

TEST(GrpcStatus, GarbageDetailsAreIgnoredNotFatal) {
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "gone", "\xff\xff not a proto"));
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(back.message(), "gone");
}

}  // namespace
}  // namespace profiles
