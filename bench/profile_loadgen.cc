// profile_loadgen: a closed-loop gRPC load generator for profile.v1.ProfileService.
//
// --concurrency calls are kept outstanding at all times: each "slot" sends a
// request and, when its answer arrives, sends the next (closed loop), for
// --duration seconds after a --warmup. The calls are asynchronous (gRPC's
// completion-queue API): --threads threads each drive one completion queue
// and the slots assigned to it, over --channels HTTP/2 connections. A thread
// per outstanding call would spend the two cores of the benchmark machine on
// context switches and leave less of them to the server being measured.
//
// Profiles: ids 00000000-0000-4000-8000-<12-digit n>, n = 1..--profiles
// (bench_util.h), each with the same --avatar_bytes PNG.
//   --seed_only    create them (UpdateProfile with expected_version 0; one
//                  that exists answers ABORTED, which is fine) and exit.
//   --mode=get     GetProfile of a random id.
//   --mode=update  each slot owns the ids n with (n-1) % concurrency == slot
//                  and updates their name with expected_version = the version
//                  the previous write returned, so writes succeed; an ABORTED
//                  (someone else wrote) is counted apart and the slot goes on
//                  from the version carried in the error. The starting
//                  versions come from --versions_file ("n version" lines, as
//                  bench/run.sh writes them) or, without it, from a GetProfile
//                  of each owned id before the load starts (a missing one is
//                  created). --write_profiles=N limits the writes to
//                  profiles 1..N.
//   --mode=mixed   --read_percent GETs of random ids, the rest updates as above.
//
// Output: one line of text and one line of JSON (prefixed "JSON ") with the
// successful req/s, p50/p99 of successful calls, error counts and the CPU
// seconds this process used (to show it was not the bottleneck).

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "bench/bench_util.h"
#include "google/rpc/status.pb.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the profile server");
ABSL_FLAG(std::string, mode, "get", "get | update | mixed");
ABSL_FLAG(int, concurrency, 16, "number of calls kept outstanding (closed loop)");
ABSL_FLAG(double, duration, 10, "measured seconds");
ABSL_FLAG(double, warmup, 1, "seconds of load before measuring");
ABSL_FLAG(int, profiles, 1000, "number of profile ids to spread requests over");
ABSL_FLAG(int, channels, 0, "number of gRPC channels (connections); 0 = min(concurrency, 8)");
ABSL_FLAG(int, threads, 2, "threads (one completion queue each) driving the calls");
ABSL_FLAG(bool, seed_only, false, "only create the profiles, then exit");
ABSL_FLAG(double, rpc_timeout, 10, "per-RPC deadline in seconds");
ABSL_FLAG(int, avatar_bytes, 4096, "size of the PNG avatar of created profiles (0: none)");
ABSL_FLAG(std::string, print_avatar, "",
          "hex | base64: print the avatar (--avatar_bytes) in that encoding and exit");
ABSL_FLAG(int, read_percent, 90, "share of GETs in --mode=mixed");
ABSL_FLAG(int, write_profiles, 0,
          "update/mixed: write only profiles 1..N (0 = all of --profiles), e.g. to leave the "
          "others to another writer");
ABSL_FLAG(std::string, versions_file, "",
          "update/mixed: file of \"n version\" lines giving each profile's current version");

namespace {

using Clock = std::chrono::steady_clock;
using profile::v1::Profile;
using profile::v1::ProfileService;
using profiles::bench::ProfileId;

enum class Phase { kSeed, kPrepare, kLoad };
enum class CallKind { kGet, kWrite, kCreate, kRefresh };

// The current profile carried in an ABORTED status, if any.
std::optional<Profile> CurrentFromAborted(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const auto& any : details.details()) {
    Profile current;
    if (any.Is<Profile>() && any.UnpackTo(&current)) return current;
  }
  return std::nullopt;
}

struct Stats {
  std::vector<uint32_t> latencies_us;  // successful calls in the window
  uint64_t ok = 0;
  uint64_t reads_ok = 0;
  uint64_t writes_ok = 0;
  uint64_t aborted = 0;
  std::map<int, uint64_t> errors;  // other grpc::StatusCode -> count
  std::string first_error;
};

// One closed loop: at most one call of a slot is in flight. Only the thread
// driving the slot's completion queue touches it.
struct Slot {
  int index = 0;
  ProfileService::Stub* stub = nullptr;
  std::mt19937 rng;
  std::vector<int64_t> owned;  // profiles this slot creates / writes
  size_t next_owned = 0;
  uint64_t sequence = 0;
  std::optional<int64_t> refresh;  // fetch this profile's version before writing it again
  std::optional<int64_t> create;   // prepare: create this missing profile next
  bool failed = false;             // seed/prepare: an unexpected error
  Stats stats;
};

// One asynchronous unary call; its address is the completion-queue tag.
struct Call {
  Slot* slot = nullptr;
  CallKind kind = CallKind::kGet;
  int64_t n = 0;
  Clock::time_point start;
  grpc::ClientContext context;
  Profile response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Profile>> reader;
};

class LoadGenerator {
 public:
  LoadGenerator(std::string mode, int profiles, std::string avatar)
      : mode_(std::move(mode)),
        profiles_(profiles),
        avatar_(std::move(avatar)),
        versions_(static_cast<size_t>(profiles) + 1, 0),
        rpc_timeout_(std::chrono::milliseconds(
            static_cast<int64_t>(absl::GetFlag(FLAGS_rpc_timeout) * 1000))) {}

  // Reads "n version" lines; ids outside 1..profiles are ignored.
  bool LoadVersions(const std::string& path) {
    std::ifstream in(path);
    if (!in) return false;
    int64_t n = 0, version = 0;
    while (in >> n >> version) {
      if (n >= 1 && n <= profiles_) versions_[n] = version;
    }
    return true;
  }

  bool AllVersionsKnown(const std::vector<Slot>& slots) const {
    for (const Slot& slot : slots) {
      for (int64_t n : slot.owned) {
        if (versions_[n] == 0) return false;
      }
    }
    return true;
  }

  // Runs `phase` with every slot of `slots`, `threads` completion queues.
  void Run(Phase phase, std::vector<Slot>& slots, int threads, Clock::time_point measure_from,
           Clock::time_point stop_at) {
    phase_ = phase;
    measure_from_ = measure_from;
    stop_at_ = stop_at;
    for (Slot& slot : slots) slot.next_owned = 0;
    std::vector<std::thread> drivers;
    for (int t = 0; t < threads; ++t) {
      drivers.emplace_back([this, &slots, threads, t] {
        std::vector<Slot*> mine;
        for (size_t s = t; s < slots.size(); s += threads) mine.push_back(&slots[s]);
        Drive(mine);
      });
    }
    for (auto& driver : drivers) driver.join();
  }

 private:
  void Drive(const std::vector<Slot*>& slots) {
    grpc::CompletionQueue cq;
    size_t active = 0;
    for (Slot* slot : slots) {
      if (StartNext(*slot, cq)) ++active;
    }
    while (active > 0) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq.Next(&tag, &ok)) break;
      std::unique_ptr<Call> call(static_cast<Call*>(tag));
      Finished(*call);
      if (!StartNext(*call->slot, cq)) --active;
    }
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) delete static_cast<Call*>(tag);
  }

  // Starts the slot's next call; false when the slot is done for this phase.
  bool StartNext(Slot& slot, grpc::CompletionQueue& cq) {
    if (slot.failed) return false;
    switch (phase_) {
      case Phase::kSeed:
        if (slot.next_owned >= slot.owned.size()) return false;
        Create(slot, slot.owned[slot.next_owned++], cq);
        return true;
      case Phase::kPrepare:
        if (slot.create.has_value()) {
          Create(slot, *slot.create, cq);
          slot.create.reset();
          return true;
        }
        while (slot.next_owned < slot.owned.size() && versions_[slot.owned[slot.next_owned]] != 0) {
          ++slot.next_owned;
        }
        if (slot.next_owned >= slot.owned.size()) return false;
        Get(slot, slot.owned[slot.next_owned++], CallKind::kRefresh, cq);
        return true;
      case Phase::kLoad:
        break;
    }
    if (Clock::now() >= stop_at_) return false;
    if (slot.refresh.has_value()) {
      Get(slot, *slot.refresh, CallKind::kRefresh, cq);
      slot.refresh.reset();
      return true;
    }
    const bool read =
        mode_ == "get" || (mode_ == "mixed" && static_cast<int>(slot.rng() % 100) < read_percent_);
    if (read || slot.owned.empty()) {
      Get(slot, std::uniform_int_distribution<int64_t>(1, profiles_)(slot.rng), CallKind::kGet, cq);
    } else {
      Write(slot, slot.owned[slot.next_owned++ % slot.owned.size()], cq);
    }
    return true;
  }

  std::unique_ptr<Call> NewCall(Slot& slot, CallKind kind, int64_t n) const {
    auto call = std::make_unique<Call>();
    call->slot = &slot;
    call->kind = kind;
    call->n = n;
    call->context.set_deadline(std::chrono::system_clock::now() + rpc_timeout_);
    call->start = Clock::now();
    return call;
  }

  void Get(Slot& slot, int64_t n, CallKind kind, grpc::CompletionQueue& cq) {
    std::unique_ptr<Call> call = NewCall(slot, kind, n);
    profile::v1::GetProfileRequest request;
    request.set_id(ProfileId(n));
    call->reader = slot.stub->PrepareAsyncGetProfile(&call->context, request, &cq);
    Launch(std::move(call));
  }

  void Write(Slot& slot, int64_t n, grpc::CompletionQueue& cq) {
    std::unique_ptr<Call> call = NewCall(slot, CallKind::kWrite, n);
    profile::v1::UpdateProfileRequest request;
    Profile* p = request.mutable_profile();
    p->set_id(ProfileId(n));
    p->set_name("Bench user " + std::to_string(n) + " s" + std::to_string(slot.index) + " #" +
                std::to_string(++slot.sequence));
    request.mutable_update_mask()->add_paths("name");
    request.set_expected_version(versions_[n]);
    call->reader = slot.stub->PrepareAsyncUpdateProfile(&call->context, request, &cq);
    Launch(std::move(call));
  }

  void Create(Slot& slot, int64_t n, grpc::CompletionQueue& cq) {
    std::unique_ptr<Call> call = NewCall(slot, CallKind::kCreate, n);
    profile::v1::UpdateProfileRequest request;
    Profile* p = request.mutable_profile();
    p->set_id(ProfileId(n));
    p->set_name("Bench user " + std::to_string(n));
    p->set_email("bench" + std::to_string(n) + "@example.com");
    p->set_avatar(avatar_);
    request.set_expected_version(0);
    call->reader = slot.stub->PrepareAsyncUpdateProfile(&call->context, request, &cq);
    Launch(std::move(call));
  }

  static void Launch(std::unique_ptr<Call> call) {
    call->reader->StartCall();
    Call* tag = call.release();  // owned by the completion queue until Next() returns it
    tag->reader->Finish(&tag->response, &tag->status, tag);
  }

  void Finished(Call& call) {
    Slot& slot = *call.slot;
    const grpc::StatusCode code = call.status.error_code();
    if (call.kind == CallKind::kCreate || call.kind == CallKind::kRefresh) {
      if (call.status.ok()) {
        versions_[call.n] = call.response.version();
      } else if (std::optional<Profile> current;
                 code == grpc::StatusCode::ABORTED &&
                 (current = CurrentFromAborted(call.status)).has_value()) {
        versions_[call.n] = current->version();
      } else if (phase_ == Phase::kSeed && code == grpc::StatusCode::ABORTED) {
        // It exists: that is all seeding needs.
      } else if (phase_ == Phase::kPrepare && call.kind == CallKind::kRefresh &&
                 code == grpc::StatusCode::NOT_FOUND) {
        slot.create = call.n;
      } else if (phase_ != Phase::kLoad) {
        std::fprintf(stderr, "profile_loadgen: %s %s failed: %d %s\n",
                     call.kind == CallKind::kCreate ? "creating" : "reading",
                     ProfileId(call.n).c_str(), static_cast<int>(code),
                     call.status.error_message().c_str());
        slot.failed = true;
      }
      return;
    }

    if (call.kind == CallKind::kWrite) {
      if (call.status.ok()) {
        versions_[call.n] = call.response.version();
      } else if (code == grpc::StatusCode::ABORTED) {
        if (auto current = CurrentFromAborted(call.status)) {
          versions_[call.n] = current->version();
        } else {
          slot.refresh = call.n;
        }
      }
    }
    if (call.start < measure_from_) return;
    Stats& stats = slot.stats;
    if (call.status.ok()) {
      ++stats.ok;
      ++(call.kind == CallKind::kGet ? stats.reads_ok : stats.writes_ok);
      stats.latencies_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - call.start)
              .count()));
    } else if (code == grpc::StatusCode::ABORTED) {
      ++stats.aborted;
    } else {
      ++stats.errors[static_cast<int>(code)];
      if (stats.first_error.empty()) {
        stats.first_error =
            std::to_string(static_cast<int>(code)) + " " + call.status.error_message();
      }
    }
  }

  const std::string mode_;
  const int profiles_;
  const std::string avatar_;
  const int read_percent_ = absl::GetFlag(FLAGS_read_percent);
  // Indexed by profile number; each entry is only touched by the slot that
  // owns the profile, hence by one thread.
  std::vector<int64_t> versions_;
  const std::chrono::milliseconds rpc_timeout_;
  Phase phase_ = Phase::kLoad;
  Clock::time_point measure_from_;
  Clock::time_point stop_at_;
};

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "closed-loop asynchronous gRPC load generator for profile.v1.ProfileService\n"
      "  profile_loadgen --target=127.0.0.1:50051 --mode=get|update|mixed --concurrency=16 "
      "--duration=10 --profiles=10000");
  absl::ParseCommandLine(argc, argv);

  const int avatar_bytes = absl::GetFlag(FLAGS_avatar_bytes);
  const std::string avatar =
      avatar_bytes > 0 ? profiles::bench::MakePngAvatar(avatar_bytes) : std::string();
  if (const std::string encoding = absl::GetFlag(FLAGS_print_avatar); !encoding.empty()) {
    if (encoding != "hex" && encoding != "base64") {
      std::fprintf(stderr, "profile_loadgen: --print_avatar must be hex or base64\n");
      return 2;
    }
    std::printf("%s\n", (encoding == "hex" ? profiles::bench::HexEncode(avatar)
                                           : profiles::bench::Base64Encode(avatar))
                            .c_str());
    return 0;
  }

  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const bool seed_only = absl::GetFlag(FLAGS_seed_only);
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  const int threads = std::clamp(absl::GetFlag(FLAGS_threads), 1, concurrency);
  int profiles = std::max(1, absl::GetFlag(FLAGS_profiles));
  int channel_count = absl::GetFlag(FLAGS_channels);
  if (channel_count <= 0) channel_count = std::min(concurrency, 8);
  channel_count = std::min(channel_count, concurrency);
  if (mode != "get" && mode != "update" && mode != "mixed") {
    std::fprintf(stderr, "profile_loadgen: --mode must be get, update or mixed\n");
    return 2;
  }
  const bool writes = !seed_only && mode != "get";
  if (writes && profiles < concurrency) {
    std::fprintf(stderr, "profile_loadgen: writes need --profiles >= --concurrency; using %d\n",
                 concurrency);
    profiles = concurrency;
  }

  // Distinct channel args keep gRPC from sharing one subchannel (connection).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<ProfileService::Stub>> stubs;
  for (int i = 0; i < channel_count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("profiles.loadgen.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(ProfileService::NewStub(channels.back()));
  }
  for (auto& channel : channels) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "profile_loadgen: cannot connect to %s\n", target.c_str());
      return 1;
    }
  }

  LoadGenerator generator(mode, profiles, avatar);
  std::vector<Slot> slots(concurrency);
  for (int s = 0; s < concurrency; ++s) {
    slots[s].index = s;
    slots[s].stub = stubs[s % channel_count].get();
    slots[s].rng.seed(0x5eed + s);
  }
  // Seeding spreads all ids over the slots; writes give each slot its own.
  int owned_profiles = profiles;
  if (writes && absl::GetFlag(FLAGS_write_profiles) > 0) {
    owned_profiles = std::clamp(absl::GetFlag(FLAGS_write_profiles), concurrency, profiles);
  }
  if (seed_only || writes) {
    for (int n = 1; n <= owned_profiles; ++n) slots[(n - 1) % concurrency].owned.push_back(n);
  }

  const auto prepare_start = Clock::now();
  if (seed_only) {
    generator.Run(Phase::kSeed, slots, threads, prepare_start, prepare_start);
  } else if (writes) {
    const std::string versions_file = absl::GetFlag(FLAGS_versions_file);
    if (!versions_file.empty() && !generator.LoadVersions(versions_file)) {
      std::fprintf(stderr, "profile_loadgen: cannot read %s\n", versions_file.c_str());
      return 1;
    }
    if (!generator.AllVersionsKnown(slots)) {
      generator.Run(Phase::kPrepare, slots, threads, prepare_start, prepare_start);
    }
  }
  for (const Slot& slot : slots) {
    if (slot.failed) return 1;
  }
  if (seed_only || writes) {
    std::fprintf(stderr, "profile_loadgen: %d profiles %s in %.2f s\n", profiles,
                 seed_only ? "created" : "ready",
                 std::chrono::duration<double>(Clock::now() - prepare_start).count());
  }
  if (seed_only) return 0;

  const double cpu_before = CpuSeconds();
  const auto begin = Clock::now();
  const auto measure_from =
      begin + std::chrono::microseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_warmup) * 1e6));
  const auto stop_at =
      measure_from +
      std::chrono::microseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_duration) * 1e6));
  generator.Run(Phase::kLoad, slots, threads, measure_from, stop_at);
  const double seconds = std::chrono::duration<double>(stop_at - measure_from).count();
  const double cpu_seconds = CpuSeconds() - cpu_before;
  const double load_seconds = std::chrono::duration<double>(Clock::now() - begin).count();

  std::vector<uint32_t> latencies;
  uint64_t ok = 0, reads_ok = 0, writes_ok = 0, aborted = 0, errors = 0;
  std::map<int, uint64_t> error_codes;
  std::string first_error;
  for (Slot& slot : slots) {
    const Stats& r = slot.stats;
    ok += r.ok;
    reads_ok += r.reads_ok;
    writes_ok += r.writes_ok;
    aborted += r.aborted;
    latencies.insert(latencies.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (auto [code, count] : r.errors) {
      error_codes[code] += count;
      errors += count;
    }
    if (first_error.empty()) first_error = r.first_error;
  }
  if (!first_error.empty()) {
    std::fprintf(stderr, "profile_loadgen: an error (code and message): %s\n", first_error.c_str());
  }
  std::sort(latencies.begin(), latencies.end());
  const double rps = static_cast<double>(ok) / seconds;
  const double p50 = profiles::bench::Percentile(latencies, 0.50) / 1000.0;
  const double p99 = profiles::bench::Percentile(latencies, 0.99) / 1000.0;
  const double cpu_percent = 100.0 * cpu_seconds / load_seconds;

  std::string codes_text, codes_json;
  for (auto [code, count] : error_codes) {
    codes_text += " code" + std::to_string(code) + "=" + std::to_string(count);
    codes_json += std::string(codes_json.empty() ? "" : ",") + "\"" + std::to_string(code) +
                  "\":" + std::to_string(count);
  }
  std::printf(
      "grpc %-6s concurrency=%d threads=%d channels=%d profiles=%d duration=%.1fs: %.0f req/s, "
      "p50 %.3f ms, p99 %.3f ms, ok %llu, aborted %llu, errors %llu%s; client CPU %.0f%% of one "
      "core\n",
      mode.c_str(), concurrency, threads, channel_count, profiles, seconds, rps, p50, p99,
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(aborted),
      static_cast<unsigned long long>(errors), codes_text.c_str(), cpu_percent);
  std::printf(
      "JSON {\"tool\":\"profile_loadgen\",\"mode\":\"%s\",\"concurrency\":%d,\"threads\":%d,"
      "\"channels\":%d,\"profiles\":%d,\"duration_s\":%.3f,\"ok\":%llu,\"reads_ok\":%llu,"
      "\"writes_ok\":%llu,\"aborted\":%llu,\"errors\":%llu,\"error_codes\":{%s},\"rps\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"client_cpu_percent\":%.1f}\n",
      mode.c_str(), concurrency, threads, channel_count, profiles, seconds,
      static_cast<unsigned long long>(ok), static_cast<unsigned long long>(reads_ok),
      static_cast<unsigned long long>(writes_ok), static_cast<unsigned long long>(aborted),
      static_cast<unsigned long long>(errors), codes_json.c_str(), rps, p50, p99, cpu_percent);
  std::fflush(stdout);
  return errors == 0 ? 0 : 3;
}
