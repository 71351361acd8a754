#include "services/profile/storage/change_cursor.h"

#include "gtest/gtest.h"
#include "services/profile/domain/status_details.h"

namespace profiles {
namespace {

TEST(ChangeCursorTest, EmptyTextIsStart) {
  absl::StatusOr<ChangeCursor> cursor = ChangeCursor::Parse("", "since_cursor");
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(*cursor, ChangeCursor::Start());
}

TEST(ChangeCursorTest, RoundTripsThroughText) {
  const ChangeCursor cursor{.txid = 18446744073709551615ull, .seq = 42};
  EXPECT_EQ(cursor.ToString(), "c1.18446744073709551615.42");
  absl::StatusOr<ChangeCursor> parsed = ChangeCursor::Parse(cursor.ToString(), "page_token");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, cursor);
}

TEST(ChangeCursorTest, OrdersByTransactionThenSequence) {
  EXPECT_LT((ChangeCursor{.txid = 5, .seq = 900}), (ChangeCursor{.txid = 6, .seq = 1}));
  EXPECT_LT((ChangeCursor{.txid = 6, .seq = 1}), (ChangeCursor{.txid = 6, .seq = 2}));
  EXPECT_LT(ChangeCursor::Start(), (ChangeCursor{.txid = 1, .seq = 1}));
}

TEST(ChangeCursorTest, MalformedTextNamesTheField) {
  for (const char* text : {"garbage", "c1.1", "c2.1.2", "c1.x.2", "c1.1.-2", "c1.1.2.3",
                           "c1.18446744073709551616.1", " c1.1.2"}) {
    absl::StatusOr<ChangeCursor> cursor = ChangeCursor::Parse(text, "page_token");
    ASSERT_EQ(cursor.status().code(), absl::StatusCode::kInvalidArgument) << text;
    std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(cursor.status());
    ASSERT_TRUE(bad_request.has_value()) << text;
    ASSERT_EQ(bad_request->field_violations_size(), 1);
    EXPECT_EQ(bad_request->field_violations(0).field(), "page_token");
  }
}

}  // namespace
}  // namespace profiles
