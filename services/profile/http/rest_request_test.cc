#include "services/profile/http/rest_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"

namespace profiles {
namespace {

namespace http = boost::beast::http;

constexpr char kId[] = "123e4567-e89b-12d3-a456-426614174000";
constexpr char kKey[] = "9b2f4c1e-0d3a-4e5f-8a6b-7c8d9e0f1a2b";

// The field names of the BadRequest of `status`, in order.
std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  if (std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(status)) {
    for (const auto& violation : bad_request->field_violations()) {
      fields.push_back(violation.field());
    }
  }
  return fields;
}

using Fields = std::vector<std::string>;

HttpRequest Write(http::verb method, std::string body) {
  HttpRequest request(method, std::string("/user/") + kId, 11);
  request.set(http::field::content_type, "application/json");
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

std::vector<std::string> MaskOf(const WriteRequest& write) {
  return {write.rpc.update_mask().paths().begin(), write.rpc.update_mask().paths().end()};
}

TEST(SplitTargetTest, SeparatesPathAndQuery) {
  RequestTarget target = SplitTarget("/user?page_size=2&since=c1.5.0");
  EXPECT_EQ(target.path, "/user");
  EXPECT_EQ(target.query, "page_size=2&since=c1.5.0");
  target = SplitTarget("/healthz");
  EXPECT_EQ(target.path, "/healthz");
  EXPECT_EQ(target.query, "");
}

TEST(IfMatchTest, AcceptsOneStrongVersionTag) {
  EXPECT_EQ(ParseIfMatch("\"7\"").value(), 7);
  EXPECT_EQ(ParseIfMatch(" \"0\"\t").value(), 0);
  EXPECT_EQ(ParseIfMatch("\"9007199254740993\"").value(), 9007199254740993);
}

TEST(IfMatchTest, RejectsEverythingElseNamingTheHeader) {
  for (const char* value :
       {"W/\"7\"", "*", "7", "\"\"", "\"-1\"", "\"7\", \"8\"", "\"abc\"", "\"7", ""}) {
    absl::StatusOr<int64_t> version = ParseIfMatch(value);
    ASSERT_FALSE(version.ok()) << value;
    EXPECT_EQ(version.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ViolatedFields(version.status()), Fields{"If-Match"}) << value;
  }
}

TEST(IfNoneMatchTest, UsesWeakComparison) {
  EXPECT_TRUE(IfNoneMatchMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchMatches("*", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"abd\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchMatches("abc", "\"abc\""));
}

TEST(EntityTagTest, Quotes) { EXPECT_EQ(EntityTag("12"), "\"12\""); }

TEST(IdempotencyKeyTest, MustBeAUuid) {
  EXPECT_EQ(ParseIdempotencyKey("9B2F4C1E-0D3A-4E5F-8A6B-7C8D9E0F1A2B").value(), kKey);
  absl::StatusOr<std::string> bad = ParseIdempotencyKey("retry-1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ViolatedFields(bad.status()), Fields{"Idempotency-Key"});
}

TEST(ContentTypeTest, OnlyJson) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(IsJsonContentType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType(""));
}

TEST(ListQueryTest, ReadsEveryParameter) {
  absl::StatusOr<profile::v1::ListProfilesRequest> request =
      ParseListQuery("page_size=25&page_token=c1.10.2&since=c1%2E9.1&include_avatars=true");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->page_size(), 25);
  EXPECT_EQ(request->page_token(), "c1.10.2");
  EXPECT_EQ(request->since_cursor(), "c1.9.1");
  EXPECT_TRUE(request->include_avatars());

  request = ParseListQuery("");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->page_size(), 0);
  EXPECT_FALSE(request->include_avatars());
}

TEST(ListQueryTest, RejectsMalformedParametersByName) {
  EXPECT_EQ(ViolatedFields(ParseListQuery("page_size=ten").status()), Fields{"page_size"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("page_size=99999999999").status()), Fields{"page_size"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("page_size=").status()), Fields{"page_size"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("include_avatars=yes").status()),
            Fields{"include_avatars"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("since=%zz").status()), Fields{"since"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("limit=5").status()), Fields{"limit"});
}

TEST(ListQueryTest, InvalidUtf8IsNamedAndQuotedSafely) {
  const absl::Status status = ParseListQuery("page_token=%FF").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(ViolatedFields(status), Fields{"page_token"});
  EXPECT_EQ(BadRequestOf(status)->field_violations(0).description(),
            "must be valid UTF-8 once percent-decoded; got '\\xFF'");
  EXPECT_EQ(ViolatedFields(ParseListQuery("since=%C3").status()), Fields{"since"});
  EXPECT_EQ(ViolatedFields(ParseListQuery("page_size=%E2%80").status()), Fields{"page_size"});
  // A parameter name that is not UTF-8 is reported quoted.
  EXPECT_EQ(ViolatedFields(ParseListQuery("a\xFF=1").status()), Fields{"a\\xFF"});
  // Valid percent-encoded UTF-8 is fine (the service judges the cursor).
  EXPECT_TRUE(ParseListQuery("page_token=%C3%A9").ok());
}

TEST(IfMatchTest, EchoesOnlyValidUtf8) {
  const absl::Status status = ParseIfMatch("\"1\xFF\"").status();
  ASSERT_EQ(ViolatedFields(status), Fields{"If-Match"});
  EXPECT_TRUE(IsValidUtf8(BadRequestOf(status)->field_violations(0).description()));
  EXPECT_NE(BadRequestOf(status)->field_violations(0).description().find("\\xFF"),
            std::string::npos);
}

TEST(WriteRequestTest, InvalidUtf8InTheBodyNamesTheField) {
  absl::Status status =
      ParseWriteRequest(WriteKind::kReplace, kId,
                        Write(http::verb::put, "{\"name\":\"An\xFFn\",\"email\":\"a@b.io\"}"))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ViolatedFields(status), Fields{"name"});

  status =
      ParseWriteRequest(WriteKind::kReplace, kId,
                        Write(http::verb::put, "{\"name\":\"Ann\",\"email\":\"jos\xC3@b.io\"}"))
          .status();
  EXPECT_EQ(ViolatedFields(status), Fields{"email"});

  // A bad key, or bytes outside any string: the body as a whole.
  status =
      ParseWriteRequest(WriteKind::kReplace, kId, Write(http::verb::put, "{\"na\xFFme\":\"Ann\"}"))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ViolatedFields(status), Fields{"body"});
  status = ParseWriteRequest(WriteKind::kReplace, kId, Write(http::verb::put, "{\xFF}")).status();
  EXPECT_EQ(ViolatedFields(status), Fields{"body"});
}

TEST(WriteRequestTest, LoneSurrogateEscapesAreInvalidArgument) {
  const absl::Status status =
      ParseWriteRequest(WriteKind::kReplace, kId,
                        Write(http::verb::put, R"({"name":"A\ud800nn","email":"a@b.io"})"))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& field : ViolatedFields(status)) EXPECT_TRUE(IsValidUtf8(field));
}

TEST(WriteRequestTest, PutReplacesNameEmailAndAvatar) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(
      WriteKind::kReplace, kId, Write(http::verb::put, R"({"name":"Ann","email":"a@b.io"})"));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->rpc.profile().id(), kId);
  EXPECT_EQ(write->rpc.profile().name(), "Ann");
  EXPECT_EQ(write->rpc.profile().email(), "a@b.io");
  EXPECT_EQ(MaskOf(*write), (Fields{"name", "email", "avatar"}));
  EXPECT_EQ(write->rpc.expected_version(), 0);
  EXPECT_EQ(write->base_source, BaseVersionSource::kNone);
  EXPECT_EQ(write->rpc.mutation_id(), "");
}

TEST(WriteRequestTest, AGetBodyCanBePutBack) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(
      WriteKind::kReplace, kId,
      Write(http::verb::put, std::string(R"({"id":")") + kId +
                                 R"(","name":"Ann","email":"a@b.io","avatar":"iVBORw==",)"
                                 R"("avatarSha256":"ab12","version":"4",)"
                                 R"("updatedAt":"2023-11-14T22:13:20Z"})"));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->rpc.profile().avatar(), std::string("\x89PNG", 4));
  EXPECT_EQ(write->rpc.profile().avatar_sha256(), "");
  EXPECT_FALSE(write->rpc.profile().has_updated_at());
  EXPECT_EQ(write->rpc.expected_version(), 4);
  EXPECT_EQ(write->base_source, BaseVersionSource::kBody);
}

TEST(WriteRequestTest, PatchWritesOnlyTheKeysPresent) {
  absl::StatusOr<WriteRequest> write =
      ParseWriteRequest(WriteKind::kPatch, kId, Write(http::verb::patch, R"({"email":"a@b.io"})"));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(MaskOf(*write), Fields{"email"});

  write = ParseWriteRequest(WriteKind::kPatch, kId,
                            Write(http::verb::patch, R"({"avatar":null,"version":2})"));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(MaskOf(*write), Fields{"avatar"});
  EXPECT_EQ(write->rpc.profile().avatar(), "");
  EXPECT_EQ(write->rpc.expected_version(), 2);
}

TEST(WriteRequestTest, PatchWithNothingToWriteIsRejected) {
  for (const char* body :
       {"{}", R"({"version":"3"})", R"({"id":"123e4567-e89b-12d3-a456-426614174000"})"}) {
    absl::StatusOr<WriteRequest> write =
        ParseWriteRequest(WriteKind::kPatch, kId, Write(http::verb::patch, body));
    ASSERT_FALSE(write.ok()) << body;
    EXPECT_EQ(write.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(WriteRequestTest, MalformedJsonIsInvalidArgument) {
  for (const char* body : {"", "{", "{\"name\":}", "[1,2]", "\"text\"", "{\"name\":\"a\"} x"}) {
    absl::StatusOr<WriteRequest> write =
        ParseWriteRequest(WriteKind::kReplace, kId, Write(http::verb::put, body));
    ASSERT_FALSE(write.ok()) << body;
    EXPECT_EQ(write.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(WriteRequestTest, UnknownFieldsAreNamed) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(
      WriteKind::kReplace, kId,
      Write(http::verb::put, R"({"name":"Ann","nickname":"A","email":"a@b.io","age":3})"));
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(ViolatedFields(write.status()), (Fields{"age", "nickname"}));
}

TEST(WriteRequestTest, WrongTypesAreInvalidArgument) {
  for (const char* body :
       {R"({"name":5})", R"({"version":"three"})", R"({"avatar":"not base64!"})"}) {
    absl::StatusOr<WriteRequest> write =
        ParseWriteRequest(WriteKind::kReplace, kId, Write(http::verb::put, body));
    ASSERT_FALSE(write.ok()) << body;
    EXPECT_EQ(write.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(WriteRequestTest, BodyIdMustNameThePathProfile) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(
      WriteKind::kReplace, kId,
      Write(http::verb::put, std::string(R"({"id":")") + kKey + R"(","name":"Ann"})"));
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(ViolatedFields(write.status()), Fields{"id"});

  write = ParseWriteRequest(
      WriteKind::kReplace, kId,
      Write(http::verb::put, R"({"id":"123E4567-E89B-12D3-A456-426614174000","name":"Ann"})"));
  EXPECT_TRUE(write.ok()) << write.status();
}

TEST(WriteRequestTest, IfMatchWinsOverTheBodyVersion) {
  HttpRequest request = Write(http::verb::put, R"({"name":"Ann","version":"2"})");
  request.set(http::field::if_match, "\"5\"");
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(WriteKind::kReplace, kId, request);
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->rpc.expected_version(), 5);
  EXPECT_EQ(write->base_source, BaseVersionSource::kIfMatch);
  EXPECT_EQ(write->rpc.profile().version(), 0);
}

TEST(WriteRequestTest, HeaderProblemsAreReportedTogether) {
  HttpRequest request = Write(http::verb::put, R"({"name":"Ann"})");
  request.set(http::field::if_match, "W/\"5\"");
  request.set("Idempotency-Key", "again");
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(WriteKind::kReplace, kId, request);
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(ViolatedFields(write.status()), (Fields{"If-Match", "Idempotency-Key"}));
}

TEST(WriteRequestTest, IdempotencyKeyIsTheMutationId) {
  HttpRequest request = Write(http::verb::patch, R"({"name":"Ann"})");
  request.set("Idempotency-Key", "9B2F4C1E-0D3A-4E5F-8A6B-7C8D9E0F1A2B");
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(WriteKind::kPatch, kId, request);
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->rpc.mutation_id(), kKey);
}

// "deleted": false, as every GET body has it, may be sent back; true would
// be a delete a write is not.
TEST(WriteRequestTest, DeletedTrueIsRefusedFalseIgnored) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(
      WriteKind::kReplace, kId,
      Write(http::verb::put, R"({"name":"Ann","email":"a@b.io","deleted":false})"));
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_FALSE(write->rpc.profile().deleted());

  for (WriteKind kind : {WriteKind::kReplace, WriteKind::kPatch}) {
    write =
        ParseWriteRequest(kind, kId, Write(http::verb::patch, R"({"name":"Ann","deleted":true})"));
    ASSERT_FALSE(write.ok());
    EXPECT_EQ(ViolatedFields(write.status()), Fields{"deleted"});
  }
}

HttpRequest Delete() {
  HttpRequest request(http::verb::delete_, std::string("/user/") + kId, 11);
  request.prepare_payload();
  return request;
}

TEST(DeleteRequestTest, IfMatchIsTheBaseAndIdempotencyKeyTheMutationId) {
  HttpRequest request = Delete();
  request.set(http::field::if_match, " \"7\"");
  request.set("Idempotency-Key", "9B2F4C1E-0D3A-4E5F-8A6B-7C8D9E0F1A2B");
  absl::StatusOr<DeleteRequest> deletion = ParseDeleteRequest(kId, request);
  ASSERT_TRUE(deletion.ok()) << deletion.status();
  EXPECT_EQ(deletion->rpc.id(), kId);
  EXPECT_EQ(deletion->rpc.expected_version(), 7);
  EXPECT_EQ(deletion->base_source, BaseVersionSource::kIfMatch);
  EXPECT_EQ(deletion->rpc.mutation_id(), kKey);
}

// No If-Match parses (the handler answers 428), with no version at all.
TEST(DeleteRequestTest, WithoutIfMatchThereIsNoBase) {
  absl::StatusOr<DeleteRequest> deletion = ParseDeleteRequest(kId, Delete());
  ASSERT_TRUE(deletion.ok()) << deletion.status();
  EXPECT_EQ(deletion->base_source, BaseVersionSource::kNone);
  EXPECT_EQ(deletion->rpc.expected_version(), 0);
  EXPECT_EQ(deletion->rpc.mutation_id(), "");
}

TEST(DeleteRequestTest, OnlyOneStrongVersionOfAtLeastOneIsAccepted) {
  for (const char* value : {"W/\"3\"", "*", "\"1\", \"2\"", "3", "\"0\"", "\"-1\""}) {
    HttpRequest request = Delete();
    request.set(http::field::if_match, value);
    absl::StatusOr<DeleteRequest> deletion = ParseDeleteRequest(kId, request);
    ASSERT_FALSE(deletion.ok()) << value;
    EXPECT_EQ(deletion.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_EQ(ViolatedFields(deletion.status()), Fields{"If-Match"}) << value;
  }
  HttpRequest twice = Delete();
  twice.insert(http::field::if_match, "\"1\"");
  twice.insert(http::field::if_match, "\"1\"");
  EXPECT_EQ(ViolatedFields(ParseDeleteRequest(kId, twice).status()), Fields{"If-Match"});
}

// The version travels in If-Match only: a body (where PATCH may carry
// "version") or If-None-Match is refused, with every problem named at once.
TEST(DeleteRequestTest, ABodyIfNoneMatchAndABadKeyAreRefusedTogether) {
  HttpRequest request = Delete();
  request.set(http::field::content_type, "application/json");
  request.body() = R"({"version":"3"})";
  request.prepare_payload();
  request.set(http::field::if_none_match, "*");
  request.set("Idempotency-Key", "again");
  absl::StatusOr<DeleteRequest> deletion = ParseDeleteRequest(kId, request);
  ASSERT_FALSE(deletion.ok());
  EXPECT_EQ(ViolatedFields(deletion.status()),
            (Fields{"body", "If-None-Match", "Idempotency-Key"}));
}

}  // namespace
}  // namespace profiles
