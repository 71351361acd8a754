#include "services/profile/metrics/service_metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace profiles {
namespace {

using Protocol = ServiceMetrics::Protocol;

// Whether `text` has `line` as one whole line.
bool HasLine(const std::string& text, const std::string& line) {
  return absl::StrContains(absl::StrCat("\n", text), absl::StrCat("\n", line, "\n"));
}

TEST(ServiceMetricsTest, CountsRequestsByProtocolMethodAndStatus) {
  ServiceMetrics metrics;
  metrics.RecordRequest(Protocol::kGrpc, "GetProfile", "OK", absl::Milliseconds(2));
  metrics.RecordRequest(Protocol::kGrpc, "GetProfile", "OK", absl::Milliseconds(30));
  metrics.RecordRequest(Protocol::kGrpc, "GetProfile", "NOT_FOUND", absl::Milliseconds(1));
  metrics.RecordRequest(Protocol::kHttp, "GET /user/{id}", "200", absl::Microseconds(300));
  metrics.RecordRequest(Protocol::kGrpc, "WatchProfiles", "UNAVAILABLE", std::nullopt);

  const std::string text = metrics.Text();
  EXPECT_TRUE(HasLine(text, "# TYPE profiles_requests_total counter")) << text;
  EXPECT_TRUE(HasLine(
      text, R"(profiles_requests_total{method="GetProfile",protocol="grpc",status="OK"} 2)"))
      << text;
  EXPECT_TRUE(HasLine(
      text, R"(profiles_requests_total{method="GetProfile",protocol="grpc",status="NOT_FOUND"} 1)"))
      << text;
  EXPECT_TRUE(HasLine(
      text, R"(profiles_requests_total{method="GET /user/{id}",protocol="http",status="200"} 1)"))
      << text;
  EXPECT_TRUE(HasLine(
      text,
      R"(profiles_requests_total{method="WatchProfiles",protocol="grpc",status="UNAVAILABLE"} 1)"))
      << text;

  // Latency by protocol and method, whatever the status; streams not timed.
  EXPECT_TRUE(HasLine(text, "# TYPE profiles_request_duration_seconds histogram")) << text;
  EXPECT_TRUE(HasLine(
      text, R"(profiles_request_duration_seconds_count{method="GetProfile",protocol="grpc"} 3)"))
      << text;
  EXPECT_TRUE(HasLine(
      text,
      R"(profiles_request_duration_seconds_bucket{method="GetProfile",protocol="grpc",le="0.001"} 1)"))
      << text;
  EXPECT_TRUE(HasLine(
      text,
      R"(profiles_request_duration_seconds_bucket{method="GetProfile",protocol="grpc",le="0.0025"} 2)"))
      << text;
  EXPECT_TRUE(HasLine(
      text,
      R"(profiles_request_duration_seconds_bucket{method="GetProfile",protocol="grpc",le="+Inf"} 3)"))
      << text;
  EXPECT_TRUE(HasLine(
      text,
      R"(profiles_request_duration_seconds_bucket{method="GET /user/{id}",protocol="http",le="0.0005"} 1)"))
      << text;
  EXPECT_FALSE(absl::StrContains(text, R"(duration_seconds_count{method="WatchProfiles")")) << text;
}

TEST(ServiceMetricsTest, CountsTheCoresEventsAndTheFeedsLag) {
  ServiceMetrics metrics;
  const std::string before = metrics.Text();
  // Present from the start, at zero, so a rate() has a first sample.
  EXPECT_TRUE(HasLine(before, "profiles_version_conflicts_total 0")) << before;
  EXPECT_TRUE(HasLine(before, "profiles_idempotent_replays_total 0")) << before;
  EXPECT_TRUE(HasLine(before, "profiles_watch_events_sent_total 0")) << before;
  EXPECT_TRUE(HasLine(before, "profiles_change_feed_lag_seconds_count 0")) << before;

  metrics.RecordVersionConflict();
  metrics.RecordVersionConflict();
  metrics.RecordIdempotentReplay();
  metrics.RecordWatchEventsSent(5);
  metrics.RecordWatchEventsSent(0);
  metrics.RecordChangeFeedLag(absl::Milliseconds(4));
  metrics.RecordChangeFeedLag(absl::Milliseconds(-20));  // clock skew: counted as 0
  metrics.RecordChangeFeedLag(absl::Seconds(3));

  const std::string text = metrics.Text();
  EXPECT_TRUE(HasLine(text, "profiles_version_conflicts_total 2")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_idempotent_replays_total 1")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_watch_events_sent_total 5")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_change_feed_lag_seconds_count 3")) << text;
  EXPECT_TRUE(HasLine(text, R"(profiles_change_feed_lag_seconds_bucket{le="0.001"} 1)")) << text;
  EXPECT_TRUE(HasLine(text, R"(profiles_change_feed_lag_seconds_bucket{le="0.005"} 2)")) << text;
  EXPECT_TRUE(HasLine(text, R"(profiles_change_feed_lag_seconds_bucket{le="2.5"} 2)")) << text;
  EXPECT_TRUE(HasLine(text, R"(profiles_change_feed_lag_seconds_bucket{le="5"} 3)")) << text;
}

TEST(ServiceMetricsTest, ReadsCallbacksAtEachScrape) {
  ServiceMetrics metrics;
  std::atomic<int> in_use{3};
  metrics.AddGauge("profiles_db_connections_in_use", "Connections leased.",
                   [&in_use] { return in_use.load(); });
  metrics.AddCounter("profiles_cache_hits_total", "Hits.", [] { return 42.0; });

  std::string text = metrics.Text();
  EXPECT_TRUE(HasLine(text, "# HELP profiles_db_connections_in_use Connections leased.")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE profiles_db_connections_in_use gauge")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_db_connections_in_use 3")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE profiles_cache_hits_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_cache_hits_total 42")) << text;

  in_use = 0;
  text = metrics.Text();
  EXPECT_TRUE(HasLine(text, "profiles_db_connections_in_use 0")) << text;
}

TEST(ServiceMetricsTest, CallbacksGoWithTheirOwner) {
  ServiceMetrics metrics;
  int owner = 0;
  metrics.AddGauge(
      "profiles_owned", "Owned.", [] { return 1.0; }, &owner);
  metrics.AddGauge("profiles_kept", "Kept.", [] { return 2.0; });
  EXPECT_TRUE(HasLine(metrics.Text(), "profiles_owned 1"));
  metrics.RemoveCallbacks(&owner);
  const std::string text = metrics.Text();
  EXPECT_FALSE(absl::StrContains(text, "profiles_owned")) << text;
  EXPECT_TRUE(HasLine(text, "profiles_kept 2")) << text;
}

TEST(ServiceMetricsTest, ConcurrentRecordingLosesNothing) {
  ServiceMetrics metrics;
  constexpr int kThreads = 8;
  constexpr int kCalls = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kCalls; ++i) {
        metrics.RecordRequest(Protocol::kHttp, t % 2 == 0 ? "GET /user/{id}" : "PUT /user/{id}",
                              i % 2 == 0 ? "200" : "404", absl::Milliseconds(1));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = metrics.Text();
  for (const char* route : {"GET /user/{id}", "PUT /user/{id}"}) {
    for (const char* status : {"200", "404"}) {
      EXPECT_TRUE(HasLine(text, absl::StrCat(R"(profiles_requests_total{method=")", route,
                                             R"(",protocol="http",status=")", status, R"("} )",
                                             kThreads / 2 * kCalls / 2)))
          << route << " " << status << "\n"
          << text;
    }
  }
}

}  // namespace
}  // namespace profiles
