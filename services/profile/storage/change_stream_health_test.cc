#include "services/profile/storage/change_stream_health.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace profiles {
namespace {

constexpr int64_t kAlarm = int64_t{256} << 20;

ChangeStreamState Healthy() {
  return {.has_epoch = true,
          .slot_exists = true,
          .wal_status = "reserved",
          .lag_bytes = 4096,
          .sequencer_elected = true};
}

TEST(ChangeStreamHealthTest, AnElectedSequencerWithASlotWithinTheAlarmIsHealthy) {
  EXPECT_TRUE(JudgeChangeStream(Healthy(), kAlarm).ok());
  ChangeStreamState at_alarm = Healthy();
  at_alarm.lag_bytes = kAlarm;
  at_alarm.wal_status = "extended";
  EXPECT_TRUE(JudgeChangeStream(at_alarm, kAlarm).ok());
}

TEST(ChangeStreamHealthTest, EachFaultIsNamed) {
  struct Case {
    ChangeStreamState state;
    const char* says;
  };
  ChangeStreamState no_epoch = Healthy();
  no_epoch.has_epoch = false;
  ChangeStreamState nobody = Healthy();
  nobody.sequencer_elected = false;
  ChangeStreamState no_slot = Healthy();
  no_slot.slot_exists = false;
  ChangeStreamState lost = Healthy();
  lost.wal_status = "lost";
  ChangeStreamState behind = Healthy();
  behind.lag_bytes = int64_t{300} << 20;
  for (const Case& c : {Case{no_epoch, "no change stream yet"},
                        Case{nobody, "no replica is sequencing"}, Case{no_slot, "gone or lost"},
                        Case{lost, "gone or lost"}, Case{behind, "keeps 300 MiB of WAL"}}) {
    const absl::Status status = JudgeChangeStream(c.state, kAlarm);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << c.says;
    EXPECT_TRUE(absl::StrContains(status.message(), c.says)) << status;
  }
}

}  // namespace
}  // namespace profiles
