#include "services/profile/storage/change_cursor.h"

#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

TEST(ChangeCursorTest, EmptyTextIsTheStartOfAnyDatabase) {
  absl::StatusOr<IssuedCursor> cursor = IssuedCursor::Parse("", "since_cursor");
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(cursor->position, ChangeCursor::Start());
  EXPECT_TRUE(cursor->CheckIssuedBy("7713764420689980130-5", "since_cursor").ok());
}

TEST(ChangeCursorTest, RoundTripsThroughTextWithItsDatabase) {
  const ChangeCursor position{.epoch = 3, .lsn = 18446744073709551615ull, .idx = 2147483647};
  const std::string text = FormatCursor("7713764420689980130-5", position);
  EXPECT_EQ(text, "c3.7713764420689980130-5.3.18446744073709551615.2147483647");
  absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse(text, "page_token");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->position, position);
  EXPECT_EQ(parsed->database_id, "7713764420689980130-5");
  EXPECT_TRUE(parsed->CheckIssuedBy("7713764420689980130-5", "page_token").ok());
}

TEST(ChangeCursorTest, AnotherDatabasesCursorIsRefusedNamingBothDatabases) {
  absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse("c3.111-5.1.900.0", "since_cursor");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const absl::Status refused = parsed->CheckIssuedBy("222-5", "since_cursor");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsCursorRefused(refused));
  EXPECT_NE(refused.message().find("111-5"), absl::string_view::npos) << refused;
  EXPECT_NE(refused.message().find("222-5"), absl::string_view::npos) << refused;
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(refused);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), kCursorFromOtherDatabaseReason);
  EXPECT_EQ(info->metadata().at("field"), "since_cursor");
}

// Cursors of the earlier formats named transaction ids, which have no place
// in the commit-ordered stream: clients holding one list again, once.
TEST(ChangeCursorTest, EarlierFormatsAreRefusedAsExpired) {
  for (const char* text : {"c1.725.1", "c2.7713764420689980130-5.106843.2"}) {
    absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse(text, "since_cursor");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition) << text;
    EXPECT_TRUE(IsCursorRefused(parsed.status())) << text;
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(parsed.status());
    ASSERT_TRUE(info.has_value()) << text;
    EXPECT_EQ(info->reason(), kCursorExpiredReason);
    EXPECT_EQ(info->metadata().at("field"), "since_cursor");
  }
}

TEST(ChangeCursorTest, OrdersByEpochThenCommitThenPlaceInTransaction) {
  EXPECT_LT((ChangeCursor{.epoch = 1, .lsn = 900, .idx = 5}),
            (ChangeCursor{.epoch = 2, .lsn = 1, .idx = 0}));
  EXPECT_LT((ChangeCursor{.epoch = 1, .lsn = 5, .idx = 900}),
            (ChangeCursor{.epoch = 1, .lsn = 6, .idx = 0}));
  EXPECT_LT((ChangeCursor{.epoch = 1, .lsn = 6, .idx = 0}),
            (ChangeCursor{.epoch = 1, .lsn = 6, .idx = 1}));
  EXPECT_LT(ChangeCursor::Start(), (ChangeCursor{.epoch = 1, .lsn = 0, .idx = 0}));
  EXPECT_TRUE(ChangeCursor::Start().is_start());
}

TEST(ChangeCursorTest, MalformedTextNamesTheField) {
  for (const char* text : {"garbage", "c1.1", "c2.1.2", "c2.db.x.2", "c2.db.1.-2", "c2.db.1.2.3",
                           "c1.x.2", "c3.db.1.2", "c3.db.-1.2.3", "c3.db.1.x.3", "c3.db.1.2.-3",
                           "c3.db.1.2.2147483648", "c3.db.1.18446744073709551616.1", " c3.db.1.2.3",
                           "c3..1.2.3", "c3.d b.1.2.3", "c3.db.1.2.3.4", "c4.db.1.2.3"}) {
    absl::StatusOr<IssuedCursor> cursor = IssuedCursor::Parse(text, "page_token");
    ASSERT_EQ(cursor.status().code(), absl::StatusCode::kInvalidArgument) << text;
    std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(cursor.status());
    ASSERT_TRUE(bad_request.has_value()) << text;
    ASSERT_EQ(bad_request->field_violations_size(), 1);
    EXPECT_EQ(bad_request->field_violations(0).field(), "page_token");
  }
}

}  // namespace
}  // namespace profiles
