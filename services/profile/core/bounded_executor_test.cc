#include "services/profile/core/bounded_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"

namespace profiles {
namespace {

TEST(BoundedExecutorTest, RunsTasksOnItsWorkers) {
  BoundedExecutor executor(2, 8);
  absl::Notification ran;
  std::thread::id worker;
  ASSERT_TRUE(executor
                  .Schedule([&] {
                    worker = std::this_thread::get_id();
                    ran.Notify();
                  })
                  .ok());
  ran.WaitForNotification();
  EXPECT_NE(worker, std::this_thread::get_id());
}

TEST(BoundedExecutorTest, RefusesTasksBeyondTheQueueBoundAndNeverRunsThem) {
  BoundedExecutor executor(1, 2);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(executor
                  .Schedule([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
  std::atomic<int> ran{0};
  EXPECT_TRUE(executor.Schedule([&] { ++ran; }).ok());
  EXPECT_TRUE(executor.Schedule([&] { ++ran; }).ok());
  EXPECT_EQ(executor.queued(), 2);
  const absl::Status refused = executor.Schedule([&] { ran += 100; });
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_NE(refused.message().find("server busy"), absl::string_view::npos) << refused;
  release.Notify();
  absl::Notification drained;
  // Once the queue moves, there is room again.
  while (!executor.Schedule([&] { drained.Notify(); }).ok()) std::this_thread::yield();
  drained.WaitForNotification();
  EXPECT_EQ(ran.load(), 2);
}

TEST(BoundedExecutorTest, DestructorRunsEveryAdmittedTask) {
  std::atomic<int> ran{0};
  {
    BoundedExecutor executor(1, 100);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(executor.Schedule([&] { ++ran; }).ok());
  }
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace profiles
