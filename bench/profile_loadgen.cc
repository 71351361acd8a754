// profile_loadgen: a closed-loop gRPC load generator for profile.v1.ProfileService.
//
// N worker threads each send one request, wait for the answer, and send the
// next (closed loop), for --duration seconds after a --warmup. Latencies of
// every request in the measured window are kept and the p50/p99 computed at
// the end. Workers spread over --channels channels (default: one per worker),
// each with its own HTTP/2 connection, so one connection is not the limit.
//
// Profiles: ids 00000000-0000-4000-8000-<12-digit n>, n = 1..--profiles. They
// are created first (UpdateProfile with expected_version 0; ABORTED "exists"
// is fine, its details carry the current profile and version).
//   --mode=get     GetProfile of a random id.
//   --mode=update  each worker owns the ids n with (n-1) % concurrency == w and
//                  updates their name with expected_version = the version the
//                  previous write returned, so writes succeed; an ABORTED
//                  (someone else wrote) is counted separately and the worker
//                  continues from the version carried in the error.
//
// Output: one line of text and one line of JSON (prefixed "JSON ").

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "google/rpc/status.pb.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the profile server");
ABSL_FLAG(std::string, mode, "get", "get | update");
ABSL_FLAG(int, concurrency, 16, "number of concurrent closed-loop workers");
ABSL_FLAG(double, duration, 10, "measured seconds");
ABSL_FLAG(double, warmup, 1, "seconds of load before measuring");
ABSL_FLAG(int, profiles, 1000, "number of profile ids to spread requests over");
ABSL_FLAG(int, channels, 0, "number of gRPC channels (connections); 0 = one per worker");
ABSL_FLAG(bool, seed_only, false, "only create the profiles, then exit");
ABSL_FLAG(double, rpc_timeout, 10, "per-RPC deadline in seconds");

namespace {

using Clock = std::chrono::steady_clock;
using profile::v1::ProfileService;

std::string ProfileId(int n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012d", n);
  return buf;
}

// The current profile carried in an ABORTED status, if any.
std::optional<profile::v1::Profile> CurrentFromAborted(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const auto& any : details.details()) {
    profile::v1::Profile current;
    if (any.Is<profile::v1::Profile>() && any.UnpackTo(&current)) return current;
  }
  return std::nullopt;
}

struct WorkerResult {
  std::vector<uint32_t> latencies_us;  // successful requests in the window
  uint64_t ok = 0;
  uint64_t aborted = 0;
  std::map<int, uint64_t> errors;  // other grpc::StatusCode -> count
};

class Worker {
 public:
  Worker(int index, std::shared_ptr<grpc::Channel> channel)
      : index_(index), stub_(ProfileService::NewStub(channel)), rng_(0x5eed + index) {}

  // Creates (or finds) the profiles this worker owns in update mode, or a
  // share of all profiles otherwise. Returns false on an unexpected error.
  bool Ensure(const std::vector<int>& ids) {
    for (int n : ids) {
      profile::v1::UpdateProfileRequest request;
      auto* p = request.mutable_profile();
      p->set_id(ProfileId(n));
      p->set_name("Bench user " + std::to_string(n));
      p->set_email("bench" + std::to_string(n) + "@example.com");
      request.set_expected_version(0);
      profile::v1::Profile response;
      grpc::ClientContext context;
      SetDeadline(context);
      grpc::Status status = stub_->UpdateProfile(&context, request, &response);
      if (status.ok()) {
        versions_[n] = response.version();
        continue;
      }
      if (status.error_code() == grpc::StatusCode::ABORTED) {
        if (auto current = CurrentFromAborted(status)) {
          versions_[n] = current->version();
          continue;
        }
        if (auto version = Fetch(n)) {
          versions_[n] = *version;
          continue;
        }
      }
      std::fprintf(stderr, "profile_loadgen: creating %s failed: %d %s\n", ProfileId(n).c_str(),
                   static_cast<int>(status.error_code()), status.error_message().c_str());
      return false;
    }
    return true;
  }

  void Run(const std::string& mode, const std::vector<int>& owned, int total_profiles,
           Clock::time_point measure_from, Clock::time_point stop_at) {
    std::uniform_int_distribution<int> any_id(1, total_profiles);
    size_t next_owned = 0;
    uint64_t sequence = 0;
    while (true) {
      const auto start = Clock::now();
      if (start >= stop_at) break;
      grpc::ClientContext context;
      SetDeadline(context);
      profile::v1::Profile response;
      grpc::Status status;
      int n = 0;
      if (mode == "get") {
        n = any_id(rng_);
        profile::v1::GetProfileRequest request;
        request.set_id(ProfileId(n));
        status = stub_->GetProfile(&context, request, &response);
      } else {
        n = owned[next_owned++ % owned.size()];
        profile::v1::UpdateProfileRequest request;
        auto* p = request.mutable_profile();
        p->set_id(ProfileId(n));
        p->set_name("Bench user " + std::to_string(n) + " w" + std::to_string(index_) + " #" +
                    std::to_string(++sequence));
        request.mutable_update_mask()->add_paths("name");
        request.set_expected_version(versions_[n]);
        status = stub_->UpdateProfile(&context, request, &response);
        if (status.ok()) {
          versions_[n] = response.version();
        } else if (status.error_code() == grpc::StatusCode::ABORTED) {
          if (auto current = CurrentFromAborted(status)) {
            versions_[n] = current->version();
          } else if (auto version = Fetch(n)) {
            versions_[n] = *version;
          }
        }
      }
      const auto end = Clock::now();
      if (start < measure_from) continue;
      if (status.ok()) {
        ++result_.ok;
        result_.latencies_us.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(end - start).count()));
      } else if (status.error_code() == grpc::StatusCode::ABORTED) {
        ++result_.aborted;
      } else {
        ++result_.errors[static_cast<int>(status.error_code())];
        if (result_.errors.size() == 1 && result_.errors.begin()->second == 1) {
          std::fprintf(stderr, "profile_loadgen: first error: %d %s\n",
                       static_cast<int>(status.error_code()), status.error_message().c_str());
        }
      }
    }
  }

  WorkerResult& result() { return result_; }

 private:
  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(
                             static_cast<int64_t>(absl::GetFlag(FLAGS_rpc_timeout) * 1000)));
  }

  std::optional<int64_t> Fetch(int n) {
    grpc::ClientContext context;
    SetDeadline(context);
    profile::v1::GetProfileRequest request;
    request.set_id(ProfileId(n));
    profile::v1::Profile response;
    if (!stub_->GetProfile(&context, request, &response).ok()) return std::nullopt;
    return response.version();
  }

  const int index_;
  std::unique_ptr<ProfileService::Stub> stub_;
  std::mt19937 rng_;
  std::map<int, int64_t> versions_;
  WorkerResult result_;
};

double Percentile(const std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)] / 1000.0;  // ms
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "closed-loop gRPC load generator for profile.v1.ProfileService\n"
      "  profile_loadgen --target=127.0.0.1:50051 --mode=get|update --concurrency=16 "
      "--duration=10 --profiles=1000");
  absl::ParseCommandLine(argc, argv);

  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  int profiles = std::max(1, absl::GetFlag(FLAGS_profiles));
  int channel_count = absl::GetFlag(FLAGS_channels);
  if (channel_count <= 0) channel_count = concurrency;
  channel_count = std::min(channel_count, concurrency);
  if (mode != "get" && mode != "update") {
    std::fprintf(stderr, "profile_loadgen: --mode must be get or update\n");
    return 2;
  }
  if (mode == "update" && profiles < concurrency) {
    std::fprintf(stderr, "profile_loadgen: update mode needs --profiles >= --concurrency; using %d\n",
                 concurrency);
    profiles = concurrency;
  }

  // Distinct channel args keep gRPC from sharing one subchannel (connection).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < channel_count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("profiles.loadgen.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  for (auto& channel : channels) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "profile_loadgen: cannot connect to %s\n", target.c_str());
      return 1;
    }
  }

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::vector<int>> owned(concurrency);
  for (int n = 1; n <= profiles; ++n) owned[(n - 1) % concurrency].push_back(n);
  for (int w = 0; w < concurrency; ++w) {
    workers.push_back(std::make_unique<Worker>(w, channels[w % channel_count]));
  }

  // Create / look up the profiles in parallel; in update mode this also
  // learns every owned profile's version.
  const auto seed_start = Clock::now();
  std::atomic<bool> seed_ok{true};
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < concurrency; ++w) {
      threads.emplace_back([&, w] {
        if (!workers[w]->Ensure(owned[w])) seed_ok = false;
      });
    }
    for (auto& t : threads) t.join();
  }
  if (!seed_ok) return 1;
  std::fprintf(stderr, "profile_loadgen: %d profiles ready in %.2f s\n", profiles,
               std::chrono::duration<double>(Clock::now() - seed_start).count());
  if (absl::GetFlag(FLAGS_seed_only)) return 0;

  const auto begin = Clock::now();
  const auto measure_from =
      begin + std::chrono::microseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_warmup) * 1e6));
  const auto stop_at =
      measure_from +
      std::chrono::microseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_duration) * 1e6));
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < concurrency; ++w) {
      threads.emplace_back(
          [&, w] { workers[w]->Run(mode, owned[w], profiles, measure_from, stop_at); });
    }
    for (auto& t : threads) t.join();
  }
  const double seconds = std::chrono::duration<double>(stop_at - measure_from).count();

  std::vector<uint32_t> latencies;
  uint64_t ok = 0, aborted = 0, errors = 0;
  std::map<int, uint64_t> error_codes;
  for (auto& worker : workers) {
    auto& r = worker->result();
    ok += r.ok;
    aborted += r.aborted;
    latencies.insert(latencies.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (auto [code, count] : r.errors) {
      error_codes[code] += count;
      errors += count;
    }
  }
  std::sort(latencies.begin(), latencies.end());
  const double rps = static_cast<double>(ok) / seconds;
  const double p50 = Percentile(latencies, 0.50);
  const double p99 = Percentile(latencies, 0.99);

  std::string codes_text, codes_json;
  for (auto [code, count] : error_codes) {
    codes_text += " code" + std::to_string(code) + "=" + std::to_string(count);
    codes_json += std::string(codes_json.empty() ? "" : ",") + "\"" + std::to_string(code) +
                  "\":" + std::to_string(count);
  }
  std::printf(
      "grpc %-6s concurrency=%d channels=%d profiles=%d duration=%.1fs: %.0f req/s, p50 %.3f ms, "
      "p99 %.3f ms, ok %llu, aborted %llu, errors %llu%s\n",
      mode.c_str(), concurrency, channel_count, profiles, seconds, rps, p50, p99,
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(aborted),
      static_cast<unsigned long long>(errors), codes_text.c_str());
  std::printf(
      "JSON {\"tool\":\"profile_loadgen\",\"mode\":\"%s\",\"concurrency\":%d,\"channels\":%d,"
      "\"profiles\":%d,\"duration_s\":%.3f,\"ok\":%llu,\"aborted\":%llu,\"errors\":%llu,"
      "\"error_codes\":{%s},\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
      mode.c_str(), concurrency, channel_count, profiles, seconds,
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(aborted),
      static_cast<unsigned long long>(errors), codes_json.c_str(), rps, p50, p99);
  std::fflush(stdout);
  return errors == 0 ? 0 : 3;
}
