#include "libs/profile_contract/host_port.h"

#include <gtest/gtest.h>

namespace profiles {
namespace {

TEST(HostPort, AcceptsNamesAddressesAndBracketedIpv6) {
  HostPort parsed;
  ASSERT_EQ(CheckHostPort(" profiles.example.com:50051 ", false, &parsed), AddressProblem::kNone);
  EXPECT_EQ(parsed.host, "profiles.example.com");
  EXPECT_EQ(parsed.port, 50051);
  ASSERT_EQ(CheckHostPort("[::1]:443", false, &parsed), AddressProblem::kNone);
  EXPECT_EQ(parsed.host, "::1");
  EXPECT_EQ(parsed.port, 443);
  ASSERT_EQ(CheckHostPort("127.0.0.1:0", true, &parsed), AddressProblem::kNone);
  EXPECT_EQ(parsed.port, 0);
}

TEST(HostPort, NamesWhatIsWrong) {
  EXPECT_EQ(CheckHostPort("  ", false, nullptr), AddressProblem::kEmpty);
  EXPECT_EQ(CheckHostPort("my host:1", false, nullptr), AddressProblem::kHasSpace);
  EXPECT_EQ(CheckHostPort("profiles.example.com", false, nullptr), AddressProblem::kNoPort);
  EXPECT_EQ(CheckHostPort("::1:50051", false, nullptr), AddressProblem::kNoPort);
  EXPECT_EQ(CheckHostPort(":50051", false, nullptr), AddressProblem::kNoHost);
  EXPECT_EQ(CheckHostPort("[]:50051", false, nullptr), AddressProblem::kNoHost);
  EXPECT_EQ(CheckHostPort("host:0", false, nullptr), AddressProblem::kBadPort);
  EXPECT_EQ(CheckHostPort("host:65536", false, nullptr), AddressProblem::kBadPort);
  EXPECT_EQ(CheckHostPort("host:http", false, nullptr), AddressProblem::kBadPort);
  EXPECT_EQ(CheckHostPort("host:-1", true, nullptr), AddressProblem::kBadPort);
  EXPECT_EQ(CheckHostPort("host:", false, nullptr), AddressProblem::kBadPort);
}

TEST(IsLoopbackHostTest, OnlyNamesThisMachineAloneAnswers) {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "[::]", "", "10.0.0.1", "128.0.0.1", "127.0.0.1.nip.io",
                           "localhost.example.com", "127.1", "0x7f.0.0.1", "::ffff:127.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace profiles
