#include "libs/profile_contract/validation.h"

#include <string>

#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"

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
    for (const auto& violation : bad_request->field_violations())
      fields.push_back(violation.field());
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
  EXPECT_NE(NameProblem("Ada\xC2\x85"), std::nullopt);   // U+0085, a C1 control
  EXPECT_NE(NameProblem("\xC3\x28"), std::nullopt);      // broken sequence
  EXPECT_NE(NameProblem("\xC0\xAF"), std::nullopt);      // overlong '/'
  EXPECT_NE(NameProblem("\xED\xA0\x80"), std::nullopt);  // surrogate
}

TEST(TrimWhitespace, TrimsUnicodeSpaces) {
  EXPECT_EQ(TrimWhitespace(" \t Zoë\xC2\xA0"), "Zoë");
  EXPECT_EQ(TrimWhitespace("\xE3\x80\x80"
                           "a b"
                           "\xE2\x80\x83"),
            "a b");
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

TEST(NameProblem, RefusesInvisibleAndLayoutCharactersNamingThem) {
  EXPECT_EQ(NameProblem("Ada\xE2\x80\xA8Lovelace"),
            "must not contain U+2028, a line or paragraph separator");
  EXPECT_EQ(NameProblem("Ada\xE2\x80\x8B"),
            "must not contain U+200B, an invisible formatting character");
  EXPECT_EQ(NameProblem("\xE2\x80\xAEnimda"),
            "must not contain U+202E, an invisible formatting character");
  EXPECT_EQ(NameProblem("Ada\xEF\xBF\xBE"), "must not contain U+FFFE, a noncharacter");
  EXPECT_EQ(NameProblem("Ada\xC2\x85"), "must not contain U+0085, a control character");
  EXPECT_EQ(NameProblem("Ada\xF3\xA0\x80\x81"),
            "must not contain U+E0001, an invisible formatting character");
  EXPECT_EQ(NameProblem("Ada "), "must not start or end with a space");
}

TEST(NameProblem, AcceptsJoinersInnerSpacesAndEveryScript) {
  for (const char* name :
       {"Ada\xC2\xA0Lovelace", "\xD9\x85\xE2\x80\x8C\xD8\xA7",
        "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB", "\xE5\xBC\xA0\xE4\xBC\x9F",
        "\xF0\x9F\x98\x80", "\xEE\x80\x80" /* private use */}) {
    EXPECT_EQ(NameProblem(name), std::nullopt) << name;
  }
}

TEST(TextClasses, MatchTheDocumentedLists) {
  for (char32_t c :
       {0x00,   0x1F,   0x7F,    0x9F,    0xAD,    0x600,   0x61C,   0x890,   0x180E,
        0x200B, 0x200E, 0x2028,  0x202A,  0x2060,  0x2066,  0x206F,  0xFDD0,  0xFEFF,
        0xFFFB, 0xFFFF, 0x110BD, 0x1343F, 0x1D17A, 0xE0001, 0xE007F, 0x1FFFE, 0x10FFFF}) {
    EXPECT_TRUE(IsForbiddenCharacter(c)) << std::hex << static_cast<uint32_t>(c);
  }
  for (char32_t c : {0x20, 0x7E, 0xA0, 0xE9, 0x200C, 0x200D, 0x2065, 0x3000, 0xE000, 0xFFFD,
                     0x1F600, 0xE0000, 0xE0080, 0x10FFFD}) {
    EXPECT_FALSE(IsForbiddenCharacter(c)) << std::hex << static_cast<uint32_t>(c);
  }
  for (char32_t c : {0x09, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028, 0x2029, 0x202F,
                     0x205F, 0x3000}) {
    EXPECT_TRUE(IsWhitespace(c)) << std::hex << static_cast<uint32_t>(c);
  }
  for (char32_t c : {0x200B, 0xFEFF, 0x180E, 0x1C, 0x41}) {
    EXPECT_FALSE(IsWhitespace(c)) << std::hex << static_cast<uint32_t>(c);
  }
}

TEST(EmailProblem, AcceptsInternationalAddresses) {
  for (const char* email :
       {"josé@example.com", "zoe@exämple.com", "用户@例子.广告", "δοκιμή@παράδειγμα.δοκιμή",
        "x@xn--exmple-cua.com", "Ünsal.Öztürk@bücher.example"}) {
    EXPECT_EQ(EmailProblem(email), std::nullopt) << email;
  }
}

TEST(EmailProblem, NamesTheWholeCharacter) {
  EXPECT_EQ(EmailProblem("ada(x)@example.com"), "the part before '@' must not contain '('");
  EXPECT_EQ(EmailProblem("ada@exa_mple.com"),
            "the domain may only hold letters, digits, '-' and '.', not '_'");
  EXPECT_EQ(EmailProblem("ada@example\xE3\x80\x82"
                         "com"),
            "the parts of the domain must be separated by '.', not '\xE3\x80\x82' (U+3002)");
  EXPECT_EQ(EmailProblem("a\xC2\xA0"
                         "da@example.com"),
            "must not contain U+00A0, a space");
  EXPECT_EQ(EmailProblem("a da@example.com"), "must not contain a space");
  EXPECT_EQ(EmailProblem("ada\xE2\x80\x8B@example.com"),
            "must not contain U+200B, an invisible formatting character");
  EXPECT_EQ(EmailProblem("a@b@example.com"), "must contain one '@', not 2");
  // Limits are in bytes of UTF-8: 32 two-byte characters fill the local part.
  std::string local;
  for (int i = 0; i < 32; ++i) local += "é";
  EXPECT_EQ(EmailProblem(local + "@example.com"), std::nullopt);
  EXPECT_EQ(EmailProblem(local + "a@example.com"),
            "the part before '@' must be 1 to 64 bytes long (it is 65)");
  std::string label;
  for (int i = 0; i < 21; ++i) label += "ä";  // 42 bytes
  EXPECT_EQ(EmailProblem("a@" + label + label.substr(0, 20) + ".com"), std::nullopt);
  EXPECT_NE(EmailProblem("a@" + label + label.substr(0, 22) + ".com"), std::nullopt);
  // Every message is valid UTF-8, whatever was sent.
  for (const char* email : {"jos\xC3@example.com", "ad\xFF@example.com", "\xE2\x80@x.com"}) {
    const std::optional<std::string> problem = EmailProblem(email);
    ASSERT_TRUE(problem.has_value()) << email;
    EXPECT_TRUE(IsValidUtf8(*problem)) << *problem;
  }
}

TEST(QuoteForMessage, IsAlwaysWholeValidUtf8) {
  EXPECT_EQ(QuoteForMessage("josé"), "josé");
  EXPECT_EQ(QuoteForMessage("a\xFF"
                            "b"),
            "a\\xFFb");
  EXPECT_EQ(QuoteForMessage("a\nb\xE2\x80\xAE"), "a<U+000A>b<U+202E>");
  EXPECT_EQ(QuoteForMessage("ééé", 2), "éé...");
  EXPECT_EQ(QuoteForMessage("\xC3"), "\\xC3");
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
