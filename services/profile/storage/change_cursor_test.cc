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
  const ChangeCursor position{.txid = 18446744073709551615ull, .seq = 42};
  const std::string text = FormatCursor("7713764420689980130-5", position);
  EXPECT_EQ(text, "c2.7713764420689980130-5.18446744073709551615.42");
  absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse(text, "page_token");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->position, position);
  EXPECT_EQ(parsed->database_id, "7713764420689980130-5");
  EXPECT_TRUE(parsed->CheckIssuedBy("7713764420689980130-5", "page_token").ok());
}

TEST(ChangeCursorTest, AnotherDatabasesCursorIsRefusedNamingBothDatabases) {
  absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse("c2.111-5.900.1", "since_cursor");
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

// Cursors of the first format named no database: clients holding one list
// again from the start, once.
TEST(ChangeCursorTest, FirstFormatCursorIsRefusedAsFromAnotherDatabase) {
  absl::StatusOr<IssuedCursor> parsed = IssuedCursor::Parse("c1.725.1", "since_cursor");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsCursorRefused(parsed.status()));
}

TEST(ChangeCursorTest, OrdersByTransactionThenSequence) {
  EXPECT_LT((ChangeCursor{.txid = 5, .seq = 900}), (ChangeCursor{.txid = 6, .seq = 1}));
  EXPECT_LT((ChangeCursor{.txid = 6, .seq = 1}), (ChangeCursor{.txid = 6, .seq = 2}));
  EXPECT_LT(ChangeCursor::Start(), (ChangeCursor{.txid = 1, .seq = 1}));
}

TEST(ChangeCursorTest, MalformedTextNamesTheField) {
  for (const char* text :
       {"garbage", "c1.1", "c2.1.2", "c2.db.x.2", "c2.db.1.-2", "c2.db.1.2.3", "c1.x.2",
        "c2.db.18446744073709551616.1", " c2.db.1.2", "c2..1.2", "c2.d b.1.2", "c3.db.1.2"}) {
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
