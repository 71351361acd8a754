#include "services/profile/logging/request_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace profiles {
namespace {

TEST(RequestIdTest, NewIdsAre32HexDigitsAndDiffer) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(RequestIdTest, AcceptsASaneClientIdAndReplacesAnyOther) {
  EXPECT_EQ(AcceptRequestId("abc-123"), "abc-123");
  EXPECT_EQ(AcceptRequestId("req:7f/ok=1"), "req:7f/ok=1");
  const std::string longest(kMaxRequestIdLength, 'x');
  EXPECT_EQ(AcceptRequestId(longest), longest);
  for (const std::string& refused :
       {std::string(), std::string(kMaxRequestIdLength + 1, 'x'), std::string("two words"),
        std::string("line\nbreak"), std::string("tab\t"), std::string("caf\xC3\xA9"),
        std::string("nul\0x", 5), std::string("del\x7f")}) {
    EXPECT_FALSE(IsAcceptableRequestId(refused)) << refused;
    const std::string replaced = AcceptRequestId(refused);
    EXPECT_EQ(replaced.size(), 32u) << refused;
    EXPECT_NE(replaced, refused);
  }
}

}  // namespace
}  // namespace profiles
