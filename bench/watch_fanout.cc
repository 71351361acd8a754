// watch_fanout: how long one write takes to reach every open WatchProfiles
// stream, and what the open streams cost the server in memory.
//
//   1. Reads the current end of the change stream (ListProfiles pages, no
//      avatars, until next_page_token is empty: its last `cursor`), so the
//      streams start live instead of replaying every profile.
//   2. Opens --streams WatchProfiles(since_cursor = that cursor) streams over
//      --channels connections with gRPC's callback API: a reactor per stream,
//      no thread per stream, so 10,000 streams fit in this process. The
//      writes go over a connection of their own.
//   3. Writes profile --profile once (the "sentinel") and waits until every
//      stream has delivered that event: each stream is then open and live
//      (its catch-up, if any, is over).
//   4. Makes --writes UpdateProfile calls of that profile, one at a time: for
//      each, the latency from the write's acknowledgement (the UpdateProfile
//      answer) to the event's arrival at each stream; the next write starts
//      once every stream has it (or after --event_timeout).
// It prints p50/p99/max of those latencies (an event that arrives before the
// acknowledgement counts as 0), the stream count, events received/expected
// and, with --server_pid, the server's VmRSS before opening, with all streams
// open and after the writes. Output: text lines and one "JSON {...}" line.
//
// Nothing else may write the profile meanwhile: the events are matched to the
// writes by version.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the profile server");
ABSL_FLAG(int, streams, 1, "number of WatchProfiles streams to open");
ABSL_FLAG(int, channels, 0,
          "gRPC channels (connections) the streams spread over, the writes having one more; 0 = "
          "one per 50 streams, at most 256 (servers often allow 100 streams per connection)");
ABSL_FLAG(int, writes, 20, "number of measured writes");
ABSL_FLAG(int, profile, 1, "number n of the benchmark profile to write (bench_util.h)");
ABSL_FLAG(int, server_pid, 0, "PID of the server, to report its VmRSS");
ABSL_FLAG(double, open_timeout, 120, "seconds to wait until every stream is open and live");
ABSL_FLAG(double, event_timeout, 10, "seconds to wait for one write's event at every stream");
ABSL_FLAG(bool, include_avatars, false, "ask the streams for avatars too");
ABSL_FLAG(double, rpc_timeout, 30, "deadline of the unary calls, in seconds");

namespace {

using Clock = std::chrono::steady_clock;
using profile::v1::ProfileEvent;
using profile::v1::ProfileService;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// What the streams report to. Thread-safe: reactors call it from gRPC's
// threads, the main thread waits on it.
class Fanout {
 public:
  Fanout(int streams, int writes, std::string profile_id, int64_t sentinel_version)
      : streams_(streams),
        writes_(writes),
        profile_id_(std::move(profile_id)),
        sentinel_version_(sentinel_version),
        received_at_(static_cast<size_t>(streams) * writes),
        received_(writes) {}

  void OnEvent(int stream, const ProfileEvent& event) {
    if (event.profile().id() != profile_id_) return;
    const int64_t version = event.profile().version();
    if (version == sentinel_version_) {
      Count(sentinel_seen_);
      return;
    }
    const int64_t write = version - sentinel_version_ - 1;
    if (write < 0 || write >= writes_) return;
    received_at_[write * streams_ + stream].store(NowNanos(), std::memory_order_relaxed);
    Count(received_[write]);
  }

  void OnDone(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      ++failed_;
      failed_relaxed_.fetch_add(1);
      ++failure_codes_[static_cast<int>(status.error_code())];
      if (first_failure_.empty()) first_failure_ = status.error_message();
    }
    ++done_;
  }

  // Wait until every stream that has not failed has the sentinel (or write
  // `write`), or until `deadline`. Return how many streams have it.
  int WaitForSentinel(absl::Time deadline) { return WaitFor(sentinel_seen_, deadline); }
  int WaitForWrite(int write, absl::Time deadline) { return WaitFor(received_[write], deadline); }

  // From now on a stream ending is the tool's doing, not a failure.
  void BeginStopping() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  bool WaitAllDone(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto all_done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return done_ >= streams_; };
    return mu_.AwaitWithDeadline(absl::Condition(&all_done), deadline);
  }

  // Arrival time (NowNanos) of write `write` at `stream`, 0 if it never came.
  int64_t ReceivedAt(int write, int stream) const {
    return received_at_[static_cast<size_t>(write) * streams_ + stream].load();
  }
  int Failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  std::string FailureSummary() {
    absl::MutexLock lock(&mu_);
    std::string text;
    for (auto [code, count] : failure_codes_) {
      text += " code" + std::to_string(code) + "=" + std::to_string(count);
    }
    if (!first_failure_.empty()) text += " (" + first_failure_ + ")";
    return text;
  }

 private:
  int WaitFor(const std::atomic<int>& counter, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto all_have_it = [this, &counter]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return counter.load() + failed_ >= streams_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&all_have_it), deadline);
    return counter.load();
  }

  void Count(std::atomic<int>& counter) {
    if (counter.fetch_add(1) + 1 >= streams_ - failed_relaxed_.load()) {
      // The counters live outside the mutex (10,000 streams would contend on
      // it); releasing the mutex is what makes a waiter re-check, so only the
      // last arrival takes it.
      absl::MutexLock lock(&mu_);
    }
  }

  const int streams_;
  const int writes_;
  const std::string profile_id_;
  const int64_t sentinel_version_;
  std::vector<std::atomic<int64_t>> received_at_;  // [write * streams + stream]
  std::vector<std::atomic<int>> received_;         // streams that got each write
  std::atomic<int> sentinel_seen_{0};
  std::atomic<int> failed_relaxed_{0};  // failed_, readable without the mutex

  absl::Mutex mu_;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int, int> failure_codes_ ABSL_GUARDED_BY(mu_);
  std::string first_failure_ ABSL_GUARDED_BY(mu_);
};

// One WatchProfiles stream. Deletes nothing itself: the main thread owns it
// and frees it after OnDone (Fanout::WaitAllDone).
class WatchStream final : public grpc::ClientReadReactor<ProfileEvent> {
 public:
  WatchStream(Fanout* fanout, int index, ProfileService::Stub* stub, const std::string& cursor,
              bool include_avatars)
      : fanout_(fanout), index_(index) {
    request_.set_since_cursor(cursor);
    request_.set_include_avatars(include_avatars);
    stub->async()->WatchProfiles(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    fanout_->OnEvent(index_, event_);
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override { fanout_->OnDone(status); }
  void Cancel() { context_.TryCancel(); }

 private:
  Fanout* const fanout_;
  const int index_;
  grpc::ClientContext context_;
  profile::v1::WatchProfilesRequest request_;  // must outlive the call
  ProfileEvent event_;
};

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_rpc_timeout) * 1000)));
}

std::string RssText(int pid, std::optional<int64_t>* out) {
  *out = pid > 0 ? profiles::bench::ResidentKib(pid) : std::nullopt;
  if (!out->has_value()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(**out) / 1024.0);
  return buf;
}

// `text` inside a JSON string: quotes and backslashes become apostrophes and
// slashes, control characters spaces (it is a message for a person).
std::string JsonText(std::string text) {
  for (char& c : text) {
    if (c == '"') c = '\'';
    if (c == '\\') c = '/';
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

long long OrMinusOne(const std::optional<int64_t>& value) {
  return value.has_value() ? static_cast<long long>(*value) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "latency from a write's acknowledgement to its event at N open WatchProfiles streams\n"
      "  watch_fanout --target=127.0.0.1:50051 --streams=10000 --writes=20 --server_pid=PID");
  absl::ParseCommandLine(argc, argv);

  const std::string target = absl::GetFlag(FLAGS_target);
  const int streams = std::max(1, absl::GetFlag(FLAGS_streams));
  const int writes = std::max(1, absl::GetFlag(FLAGS_writes));
  const int server_pid = absl::GetFlag(FLAGS_server_pid);
  int channel_count = absl::GetFlag(FLAGS_channels);
  if (channel_count <= 0) channel_count = std::min(256, (streams + 49) / 50);
  channel_count = std::clamp(channel_count, 1, streams);
  const std::string profile_id = profiles::bench::ProfileId(absl::GetFlag(FLAGS_profile));

  // Channel 0 carries the unary calls alone, so a write's answer never waits behind events.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<ProfileService::Stub>> stubs;
  for (int i = 0; i <= channel_count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("profiles.watch_fanout.channel", i);  // distinct args: a connection each
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(ProfileService::NewStub(channels.back()));
  }
  for (auto& channel : channels) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "watch_fanout: cannot connect to %s\n", target.c_str());
      return 1;
    }
  }
  ProfileService::Stub& stub = *stubs[0];

  std::optional<int64_t> rss_before, rss_open, rss_after;
  const std::string rss_before_text = RssText(server_pid, &rss_before);

  // The profile to write, and its version now.
  int64_t version = 0;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    profile::v1::GetProfileRequest request;
    request.set_id(profile_id);
    profile::v1::Profile profile;
    grpc::Status status = stub.GetProfile(&context, request, &profile);
    if (status.ok()) {
      version = profile.version();
    } else if (status.error_code() != grpc::StatusCode::NOT_FOUND) {
      std::fprintf(stderr, "watch_fanout: GetProfile %s: %d %s\n", profile_id.c_str(),
                   static_cast<int>(status.error_code()), status.error_message().c_str());
      return 1;
    }
  }

  // The end of the change stream: page through every change, without avatars.
  std::string cursor;
  int pages = 0;
  const auto list_start = Clock::now();
  for (std::string token;;) {
    grpc::ClientContext context;
    SetDeadline(context);
    profile::v1::ListProfilesRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    profile::v1::ListProfilesResponse response;
    grpc::Status status = stub.ListProfiles(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "watch_fanout: ListProfiles: %d %s\n",
                   static_cast<int>(status.error_code()), status.error_message().c_str());
      return 1;
    }
    ++pages;
    if (!response.cursor().empty()) cursor = response.cursor();
    token = response.next_page_token();
    if (token.empty()) break;
  }
  std::fprintf(stderr, "watch_fanout: current cursor %s (%d pages, %.2f s)\n", cursor.c_str(),
               pages, std::chrono::duration<double>(Clock::now() - list_start).count());

  // Each write below gets the next version; the first is the sentinel.
  const int64_t sentinel_version = version + 1;
  Fanout fanout(streams, writes, profile_id, sentinel_version);
  std::string error;  // why the run stopped early, for the report
  auto write = [&](int64_t expected_version, const std::string& name,
                   std::chrono::milliseconds timeout) -> bool {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    profile::v1::UpdateProfileRequest request;
    profile::v1::Profile* p = request.mutable_profile();
    p->set_id(profile_id);
    p->set_name(name);
    if (expected_version == 0) {
      p->set_email("fanout@example.com");
    } else {
      request.mutable_update_mask()->add_paths("name");
    }
    request.set_expected_version(expected_version);
    profile::v1::Profile response;
    grpc::Status status = stub.UpdateProfile(&context, request, &response);
    if (!status.ok() || response.version() != expected_version + 1) {
      std::fprintf(stderr,
                   "watch_fanout: write of %s at version %lld: %d %s (version %lld; if ABORTED, "
                   "something else writes it)\n",
                   profile_id.c_str(), static_cast<long long>(expected_version),
                   static_cast<int>(status.error_code()), status.error_message().c_str(),
                   static_cast<long long>(response.version()));
      error = name + " failed: " + std::to_string(static_cast<int>(status.error_code())) + " " +
              status.error_message();
      return false;
    }
    return true;
  };

  const auto open_start = Clock::now();
  const absl::Time open_deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_open_timeout));
  std::vector<std::unique_ptr<WatchStream>> watches;
  watches.reserve(streams);
  for (int i = 0; i < streams; ++i) {
    watches.push_back(std::make_unique<WatchStream>(&fanout, i, stubs[1 + i % channel_count].get(),
                                                    cursor, absl::GetFlag(FLAGS_include_avatars)));
  }
  const double start_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
  int exit_code = 0;
  int live = 0;
  double open_seconds = 0;
  std::vector<int64_t> sent_at(writes, 0);
  std::vector<int64_t> acked_at(writes, 0);
  // While the streams open, the server may be slow to take a write (a thread and a catch-up
  // query per stream): the sentinel may take the whole --open_timeout.
  const auto open_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_open_timeout) * 1000));
  if (!write(version, "Fanout sentinel", open_timeout)) {
    exit_code = 1;
  } else {
    const int sentinel = fanout.WaitForSentinel(open_deadline);
    open_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
    live = sentinel;
    if (sentinel < streams) {
      error = std::to_string(streams - sentinel) + " streams not open and live after " +
              std::to_string(static_cast<int>(open_seconds)) + " s";
    }
    std::fprintf(stderr,
                 "watch_fanout: %d of %d streams open and live after %.2f s (calls started in "
                 "%.2f s); %d failed%s\n",
                 sentinel, streams, open_seconds, start_seconds, fanout.Failed(),
                 fanout.FailureSummary().c_str());
  }
  const std::string rss_open_text = RssText(server_pid, &rss_open);

  // CPU both sides spend on the fan-out: this tool runs on the same cores, so
  // its share says how far the latencies are its own.
  const auto writes_start = Clock::now();
  const std::optional<double> server_cpu_start =
      server_pid > 0 ? profiles::bench::CpuSeconds(server_pid) : std::nullopt;
  const std::optional<double> client_cpu_start = profiles::bench::CpuSeconds(0);
  int writes_done = 0;
  const auto rpc_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_rpc_timeout) * 1000));
  for (int k = 0; exit_code == 0 && live > 0 && k < writes; ++k) {
    sent_at[k] = NowNanos();
    if (!write(sentinel_version + k, "Fanout write " + std::to_string(k + 1), rpc_timeout)) {
      exit_code = 1;
      break;
    }
    acked_at[k] = NowNanos();
    ++writes_done;
    fanout.WaitForWrite(k, absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_event_timeout)));
  }
  const double writes_seconds = std::chrono::duration<double>(Clock::now() - writes_start).count();
  const std::optional<double> server_cpu_end =
      server_pid > 0 ? profiles::bench::CpuSeconds(server_pid) : std::nullopt;
  const std::optional<double> client_cpu_end = profiles::bench::CpuSeconds(0);
  const double server_cpu =
      server_cpu_start && server_cpu_end ? *server_cpu_end - *server_cpu_start : -1;
  const double client_cpu =
      client_cpu_start && client_cpu_end ? *client_cpu_end - *client_cpu_start : -1;
  const std::string rss_after_text = RssText(server_pid, &rss_after);

  bool leaked = false;
  fanout.BeginStopping();
  for (auto& watch : watches) watch->Cancel();
  if (!fanout.WaitAllDone(absl::Now() + absl::Seconds(30))) {
    // A reactor may not be freed before its OnDone; leave them to the exit.
    std::fprintf(stderr, "watch_fanout: some streams did not end after cancelling\n");
    for (auto& watch : watches) static_cast<void>(watch.release());
    leaked = true;
  }

  std::vector<int64_t> latencies_us;
  latencies_us.reserve(static_cast<size_t>(writes_done) * streams);
  std::vector<int64_t> completion_us;  // per write: until the last stream had it
  std::vector<int64_t> from_send_us;   // from sending the write instead of its answer
  from_send_us.reserve(latencies_us.capacity());
  int64_t received = 0, before_ack = 0;
  for (int k = 0; k < writes_done; ++k) {
    int64_t last = 0;
    for (int s = 0; s < streams; ++s) {
      const int64_t at = fanout.ReceivedAt(k, s);
      if (at == 0) continue;
      ++received;
      from_send_us.push_back((at - sent_at[k]) / 1000);
      int64_t latency = (at - acked_at[k]) / 1000;
      if (latency < 0) {
        ++before_ack;
        latency = 0;
      }
      latencies_us.push_back(latency);
      last = std::max(last, latency);
    }
    completion_us.push_back(last);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  std::sort(completion_us.begin(), completion_us.end());
  std::sort(from_send_us.begin(), from_send_us.end());
  using profiles::bench::Percentile;
  const double p50 = Percentile(latencies_us, 0.50) / 1000.0;
  const double p99 = Percentile(latencies_us, 0.99) / 1000.0;
  const double max = latencies_us.empty() ? 0 : latencies_us.back() / 1000.0;
  const double completion_p50 = Percentile(completion_us, 0.50) / 1000.0;
  const double send_p50 = Percentile(from_send_us, 0.50) / 1000.0;
  const double send_p99 = Percentile(from_send_us, 0.99) / 1000.0;
  const int64_t expected = static_cast<int64_t>(writes) * streams;
  std::optional<int64_t> client_rss = profiles::bench::ResidentKib(0);

  std::printf(
      "watch_fanout streams=%d channels=%d live=%d failed=%d writes=%d: ack->event p50 %.3f ms, "
      "p99 %.3f ms, max %.3f ms (last stream per write: p50 %.3f ms; from sending the write: p50 "
      "%.3f ms, p99 %.3f ms); events %lld/%lld (%lld before the ack); server RSS %s before, %s "
      "with all streams open, %s after the "
      "writes; open in %.2f s; the writes took %.2f s, server CPU %.2f s, this tool's CPU %.2f s"
      "%s%s\n",
      streams, channel_count, live, fanout.Failed(), writes_done, p50, p99, max, completion_p50,
      send_p50, send_p99, static_cast<long long>(received), static_cast<long long>(expected),
      static_cast<long long>(before_ack), rss_before_text.c_str(), rss_open_text.c_str(),
      rss_after_text.c_str(), open_seconds, writes_seconds, server_cpu, client_cpu,
      fanout.Failed() > 0 ? "; failed streams:" : "", fanout.FailureSummary().c_str());
  std::printf(
      "JSON {\"tool\":\"watch_fanout\",\"streams\":%d,\"channels\":%d,\"live\":%d,\"failed\":%d,"
      "\"writes\":%d,\"events\":%lld,\"expected\":%lld,\"before_ack\":%lld,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"last_stream_p50_ms\":%.3f,\"send_p50_ms\":%.3f,"
      "\"send_p99_ms\":%.3f,\"open_s\":%.3f,"
      "\"server_rss_before_kib\":%lld,\"server_rss_open_kib\":%lld,\"server_rss_after_kib\":%lld,"
      "\"client_rss_kib\":%lld,\"writes_s\":%.3f,\"server_cpu_s\":%.3f,\"client_cpu_s\":%.3f,"
      "\"error\":\"%s\"}\n",
      streams, channel_count, live, fanout.Failed(), writes_done, static_cast<long long>(received),
      static_cast<long long>(expected), static_cast<long long>(before_ack), p50, p99, max,
      completion_p50, send_p50, send_p99, open_seconds, OrMinusOne(rss_before),
      OrMinusOne(rss_open), OrMinusOne(rss_after), OrMinusOne(client_rss), writes_seconds,
      server_cpu, client_cpu, JsonText(error).c_str());
  std::fflush(stdout);
  if (exit_code == 0 && (live < streams || received < expected)) exit_code = 3;
  // Streams that never ended still call into `fanout`: skip the destructors.
  if (leaked) std::_Exit(exit_code);
  return exit_code;
}
