#include "services/profile/domain/validation.h"

#include <string>

#include "gtest/gtest.h"
#include "services/profile/domain/status_details.h"

namespace profiles {
namespace {

constexpr char kId[] = "123E4567-E89B-12D3-A456-426614174000";
constexpr char kPng[] = "\x89PNG\r\n\x1a\n....";

profile::v1::UpdateProfileRequest CreateRequest() {
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(kId);
  request.mutable_profile()->set_name("  Ada Lovelace ");
  request.mutable_profile()->set_email("ada@example.com");
  return request;
}

std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  if (auto bad_request = BadRequestOf(status)) {
    for (const auto& violation : bad_request->field_violations()) fields.push_back(violation.field());
  }
  return fields;
}

TEST(CanonicalUuid, AcceptsAnyCaseAndVersionAndLowercases) {
  EXPECT_EQ(CanonicalUuid(kId), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(CanonicalUuid("00000000-0000-0000-0000-000000000000"),
            "00000000-0000-0000-0000-000000000000");
}

TEST(CanonicalUuid, RejectsMalformed) {
  EXPECT_FALSE(CanonicalUuid(""));
  EXPECT_FALSE(CanonicalUuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(CanonicalUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(CanonicalUuid("{123e4567-e89b-12d3-a456-42661417400}"));
  EXPECT_FALSE(CanonicalUuid("123e4567-e89b-12d3-a456_426614174000"));
}

TEST(NameProblem, CountsCodePointsNotBytes) {
  EXPECT_EQ(NameProblem(std::string(100, 'a')), std::nullopt);
  EXPECT_NE(NameProblem(std::string(101, 'a')), std::nullopt);
  std::string hundred_umlauts;
  for (int i = 0; i < 100; ++i) hundred_umlauts += "\xC3\xB6";  // ö: 2 bytes each
  EXPECT_EQ(NameProblem(hundred_umlauts), std::nullopt);
}

TEST(NameProblem, RejectsEmptyControlAndInvalidUtf8) {
  EXPECT_NE(NameProblem(""), std::nullopt);
  EXPECT_NE(NameProblem("Ada\nLovelace"), std::nullopt);
  EXPECT_NE(NameProblem("Ada\tLovelace"), std::nullopt);
  EXPECT_NE(NameProblem("Ada\xC2\x85"), std::nullopt);  // U+0085, a C1 control
  EXPECT_NE(NameProblem("\xC3\x28"), std::nullopt);      // broken sequence
  EXPECT_NE(NameProblem("\xC0\xAF"), std::nullopt);      // overlong '/'
  EXPECT_NE(NameProblem("\xED\xA0\x80"), std::nullopt);  // surrogate
}

TEST(TrimWhitespace, TrimsUnicodeSpaces) {
  EXPECT_EQ(TrimWhitespace(" \t Zoë\xC2\xA0"), "Zoë");
  EXPECT_EQ(TrimWhitespace("\xE3\x80\x80" "a b" "\xE2\x80\x83"), "a b");
  EXPECT_EQ(TrimWhitespace("   "), "");
}

TEST(EmailProblem, AcceptsPracticalAddresses) {
  for (const char* email : {"ada@example.com", "first.last+tag@sub.example.co.uk",
                            "o'brien@example.ie", "x@xn--bcher-kva.example"}) {
    EXPECT_EQ(EmailProblem(email), std::nullopt) << email;
  }
}

TEST(EmailProblem, RejectsWhatCannotBeDelivered) {
  for (const char* email :
       {"", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "a b@example.com",
        ".ada@example.com", "ada.@example.com", "a..da@example.com", "ada@-example.com",
        "ada@example..com", "ada@example.c", "ada@127.0.0.1", "ada@exa_mple.com"}) {
    EXPECT_NE(EmailProblem(email), std::nullopt) << email;
  }
  EXPECT_NE(EmailProblem(std::string(250, 'a') + "@example.com"), std::nullopt);
}

TEST(AvatarProblem, RecognisesImagesByMagicBytes) {
  EXPECT_EQ(AvatarProblem(""), std::nullopt);
  EXPECT_EQ(ImageMimeType(std::string(kPng, sizeof kPng - 1)), "image/png");
  EXPECT_EQ(ImageMimeType("\xFF\xD8\xFF\xE0"), "image/jpeg");
  EXPECT_EQ(ImageMimeType("GIF89a..."), "image/gif");
  EXPECT_EQ(ImageMimeType(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "image/webp");
  EXPECT_NE(AvatarProblem("<svg xmlns='http://www.w3.org/2000/svg'/>"), std::nullopt);
  std::string too_big(kMaxAvatarBytes + 1, '\0');
  too_big.replace(0, 8, "\x89PNG\r\n\x1a\n");
  EXPECT_NE(AvatarProblem(too_big), std::nullopt);
  too_big.resize(kMaxAvatarBytes);
  EXPECT_EQ(AvatarProblem(too_big), std::nullopt);
}

TEST(ParseUpdateRequest, NormalisesACreate) {
  absl::StatusOr<ProfileWrite> write = ParseUpdateRequest(CreateRequest());
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->id, "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(write->name, "Ada Lovelace");
  EXPECT_EQ(write->email, "ada@example.com");
  EXPECT_EQ(write->avatar, "");
  EXPECT_TRUE(write->creates());
  EXPECT_EQ(write->mutation_id, "");
}

TEST(ParseUpdateRequest, FieldMaskSelectsFields) {
  profile::v1::UpdateProfileRequest request = CreateRequest();
  request.set_expected_version(3);
  request.mutable_update_mask()->add_paths("email");
  request.mutable_profile()->set_name("");  // outside the mask: ignored
  absl::StatusOr<ProfileWrite> write = ParseUpdateRequest(request);
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_FALSE(write->name.has_value());
  EXPECT_EQ(write->email, "ada@example.com");
  EXPECT_FALSE(write->avatar.has_value());
}

TEST(ParseUpdateRequest, ReportsEveryBadFieldAtOnce) {
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id("not-a-uuid");
  request.mutable_profile()->set_name(" ");
  request.mutable_profile()->set_email("nope");
  request.mutable_profile()->set_avatar("plain text");
  request.set_expected_version(-1);
  request.set_mutation_id("also-not-a-uuid");
  const absl::Status status = ParseUpdateRequest(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ViolatedFields(status),
            (std::vector<std::string>{"id", "expected_version", "mutation_id", "name", "email",
                                      "avatar"}));
}

TEST(ParseUpdateRequest, CreateNeedsNameAndEmailInTheMask) {
  profile::v1::UpdateProfileRequest request = CreateRequest();
  request.mutable_update_mask()->add_paths("avatar");
  EXPECT_EQ(ViolatedFields(ParseUpdateRequest(request).status()),
            (std::vector<std::string>{"name", "email"}));
}

TEST(ParseUpdateRequest, RejectsUnknownMaskPaths) {
  profile::v1::UpdateProfileRequest request = CreateRequest();
  request.mutable_update_mask()->add_paths("version");
  request.mutable_update_mask()->add_paths("name");
  request.mutable_update_mask()->add_paths("email");
  EXPECT_EQ(ViolatedFields(ParseUpdateRequest(request).status()),
            (std::vector<std::string>{"update_mask"}));
}

TEST(StatusDetails, ConflictCarriesTheCurrentProfile) {
  profile::v1::Profile current;
  current.set_id(kId);
  current.set_version(7);
  const absl::Status status = VersionConflict("stale", current);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(ConflictingProfile(status).has_value());
  EXPECT_EQ(ConflictingProfile(status)->version(), 7);
  EXPECT_FALSE(ConflictingProfile(absl::AbortedError("no payload")).has_value());
}

TEST(StatusDetails, MutationIdReuseIsRecognisable) {
  const absl::Status status = MutationIdReused("m");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ErrorInfoOf(status).has_value());
  EXPECT_EQ(ErrorInfoOf(status)->reason(), kMutationIdReusedReason);
}

}  // namespace
}  // namespace profiles
