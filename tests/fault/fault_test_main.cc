// profiles_fault_test: a randomized fault test of the whole write path.
//
// K clients (FaultClient) send queues of chained, idempotent writes to a few
// shared profiles through a ChaosProxy, while a seeded schedule
// (fault_schedule.h) cuts connections, drops acknowledgements, SIGKILLs and
// restarts profile_server and stops and starts PostgreSQL (a cluster of the
// test's own). Then the faults stop, the queues must drain within a bound,
// and the invariants of invariants.h are checked against the database and
// the service. See tests/fault/README.md.
//
//   profiles_fault_test [--seed=N] [--seeds=M] [--seconds=S] [--clients=K]
//                       [--profiles=P] [--writes=N] [--drain-seconds=S]
//
// The seed is printed first; a failure prints the command that replays its
// schedule. Environment: PROFILES_FAULT_SEED, PROFILES_FAULT_SECONDS (flags
// win). Exit code 0 when every seed passed, 1 when one failed, 2 on a usage
// error.

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/e2e/postgres_cluster.h"
#include "tests/e2e/server_process.h"
#include "tests/fault/chaos_proxy.h"
#include "tests/fault/fault_client.h"
#include "tests/fault/fault_schedule.h"
#include "tests/fault/invariants.h"

namespace profiles::testing {
namespace {

#if defined(__SANITIZE_ADDRESS__)  // GCC
#define PROFILES_FAULT_SANITIZED
#elif defined(__has_feature)  // Clang
#if __has_feature(address_sanitizer)
#define PROFILES_FAULT_SANITIZED
#endif
#endif

#if defined(PROFILES_FAULT_SANITIZED)
// The sanitizer build's server is several times slower; CI runs both builds.
constexpr double kDefaultSeconds = 20;
#else
constexpr double kDefaultSeconds = 40;
#endif
constexpr int kWritesPerClientPerSecond = 6;
constexpr size_t kExamplesPerInvariant = 8;
constexpr absl::Duration kServerReady = absl::Seconds(60);
constexpr absl::Duration kQuiet = absl::Seconds(1);

struct Options {
  std::optional<uint64_t> seed;
  int seeds = 1;
  RunShape shape;
  bool writes_given = false;
  absl::Duration drain = absl::Seconds(30);
};

constexpr char kUsage[] =
    "usage: profiles_fault_test [--seed=N] [--seeds=M] [--seconds=S] [--clients=K]\n"
    "                           [--profiles=P] [--writes=N] [--drain-seconds=S]\n"
    "  --seed=N           the first seed (default: PROFILES_FAULT_SEED, else random)\n"
    "  --seeds=M          run M seeds: N, N+1, ... (default 1)\n"
    "  --seconds=S        seconds of faults per seed (default: PROFILES_FAULT_SECONDS, else 40;\n"
    "                     20 in a sanitizer build)\n"
    "  --clients=K        clients (default 5)\n"
    "  --profiles=P       shared profiles (default 3)\n"
    "  --writes=N         writes per client (default 6 per second of faults)\n"
    "  --drain-seconds=S  bound for the queues to drain once the faults stop (default 30)\n";

// Parses "--name=value" into `out`; false if `arg` is not that flag.
template <typename T>
bool Flag(const std::string& arg, const std::string& name, T& out, bool& bad) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (arg.substr(0, prefix.size()) != prefix) return false;
  bad = bad || !absl::SimpleAtoi(arg.substr(prefix.size()), &out);
  return true;
}

bool Seconds(const std::string& text, absl::Duration& out) {
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || !(seconds > 0)) return false;
  out = absl::Seconds(seconds);
  return true;
}

std::optional<Options> Parse(int argc, char** argv) {
  Options options;
  options.shape.chaos = absl::Seconds(kDefaultSeconds);
  bool bad = false;
  if (const char* seed = std::getenv("PROFILES_FAULT_SEED"); seed != nullptr && *seed != '\0') {
    uint64_t value = 0;
    bad = bad || !absl::SimpleAtoi(seed, &value);
    options.seed = value;
  }
  if (const char* seconds = std::getenv("PROFILES_FAULT_SECONDS");
      seconds != nullptr && *seconds != '\0') {
    bad = bad || !Seconds(seconds, options.shape.chaos);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    uint64_t seed = 0;
    if (Flag(arg, "seed", seed, bad)) {
      options.seed = seed;
    } else if (Flag(arg, "writes", options.shape.writes_per_client, bad)) {
      options.writes_given = true;
    } else if (arg.starts_with("--seconds=")) {
      bad = bad || !Seconds(arg.substr(10), options.shape.chaos);
    } else if (arg.starts_with("--drain-seconds=")) {
      bad = bad || !Seconds(arg.substr(16), options.drain);
    } else if (!Flag(arg, "seeds", options.seeds, bad) &&
               !Flag(arg, "clients", options.shape.clients, bad) &&
               !Flag(arg, "profiles", options.shape.profiles, bad)) {
      bad = true;  // --help too
    }
  }
  if (!options.writes_given) {
    options.shape.writes_per_client = std::max(
        10,
        static_cast<int>(absl::ToDoubleSeconds(options.shape.chaos) * kWritesPerClientPerSecond));
  }
  if (bad || options.seeds < 1 || options.shape.clients < 1 || options.shape.clients > 1000 ||
      options.shape.profiles < 1 || options.shape.profiles > 4095 ||
      options.shape.writes_per_client < 1 || options.shape.writes_per_client > 0xffff) {
    return std::nullopt;
  }
  if (!options.seed.has_value()) options.seed = std::random_device()() % 1000000000;
  return options;
}

int PortOf(const std::string& address) {
  int port = 0;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) return 0;
  return port;
}

std::string ReproduceCommand(const char* argv0, uint64_t seed, const Options& options) {
  return absl::StrFormat(
      "%s --seed=%d --seconds=%g --clients=%d --profiles=%d --writes=%d --drain-seconds=%g", argv0,
      seed, absl::ToDoubleSeconds(options.shape.chaos), options.shape.clients,
      options.shape.profiles, options.shape.writes_per_client,
      absl::ToDoubleSeconds(options.drain));
}

// One seed, start to end. Prints its progress and verdict; true if it passed.
bool RunSeed(uint64_t seed, const Options& options, const char* argv0) {
  const absl::Time began = absl::Now();
  const RunShape& shape = options.shape;
  std::cout << absl::StreamFormat(
                   "fault test: seed %d: %d clients x %d writes to %d profiles, %gs of faults\n",
                   seed, shape.clients, shape.writes_per_client, shape.profiles,
                   absl::ToDoubleSeconds(shape.chaos))
            << std::flush;
  const Schedule schedule = MakeSchedule(seed, shape);
  auto infrastructure = [&](const std::string& what) {
    std::cout << "fault test: seed " << seed << ": FAILED to set up: " << what << "\n"
              << "reproduce: " << ReproduceCommand(argv0, seed, options) << "\n";
    return false;
  };

  absl::StatusOr<std::unique_ptr<PostgresCluster>> created = PostgresCluster::Create();
  if (!created.ok()) return infrastructure(created.status().ToString());
  std::unique_ptr<PostgresCluster> cluster = *std::move(created);
  if (absl::Status started = cluster->Start(); !started.ok()) {
    return infrastructure(started.ToString());
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> first =
      ServerProcess::Start(cluster->url(), kServerReady);
  if (!first.ok()) return infrastructure(first.status().ToString());
  std::unique_ptr<ServerProcess> server = *std::move(first);
  absl::StatusOr<std::unique_ptr<ChaosProxy>> started_proxy =
      ChaosProxy::Start(PortOf(server->grpc_address()), seed);
  if (!started_proxy.ok()) return infrastructure(started_proxy.status().ToString());
  std::unique_ptr<ChaosProxy> proxy = *std::move(started_proxy);

  // The start cursor (before any profile exists), then the shared profiles.
  std::vector<std::string> profile_ids;
  for (int p = 0; p < shape.profiles; ++p) profile_ids.push_back(ProfileId(seed, p));
  std::string start_cursor;
  std::vector<SentMutation> setup;
  {
    auto stub = server->NewStub();
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    profile::v1::ListProfilesResponse page;
    const grpc::Status listed =
        stub->ListProfiles(&context, profile::v1::ListProfilesRequest(), &page);
    if (!listed.ok()) return infrastructure("ListProfiles: " + listed.error_message());
    start_cursor = page.cursor();
    for (int p = 0; p < shape.profiles; ++p) {
      SentMutation create{.mutation_id = MutationId(seed, -1, p, 0),
                          .client = -1,
                          .sequence = p,
                          .profile = p,
                          .expected_version = 0};
      profile::v1::UpdateProfileRequest request;
      request.mutable_profile()->set_id(profile_ids[static_cast<size_t>(p)]);
      request.mutable_profile()->set_name(WriteName(-1, p));
      request.mutable_profile()->set_email(WriteEmail(-1, p));
      request.set_mutation_id(create.mutation_id);
      grpc::ClientContext write_context;
      write_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      const grpc::Status written = stub->UpdateProfile(&write_context, request, &create.answer);
      if (!written.ok()) return infrastructure("create: " + written.error_message());
      create.outcome = SentMutation::Outcome::kAcknowledged;
      setup.push_back(std::move(create));
    }
  }

  // The clients, and the faults on this thread (which must own the server
  // processes: see ServerProcess).
  const absl::Time start = absl::Now() + absl::Milliseconds(100);
  const absl::Duration pace = shape.chaos / shape.writes_per_client;
  std::vector<std::unique_ptr<FaultClient>> clients;
  for (int c = 0; c < shape.clients; ++c) {
    clients.push_back(std::make_unique<FaultClient>(FaultClient::Options{
        .index = c,
        .seed = seed,
        .queue = schedule.queues[static_cast<size_t>(c)],
        .profile_ids = profile_ids,
        .target = proxy->address(),
        .start = start,
        .pace = pace,
    }));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (std::unique_ptr<FaultClient>& client : clients) {
    threads.emplace_back([&stop, &finished, client = client.get()] {
      client->Run(stop);
      ++finished;
    });
  }
  auto stop_clients = [&] {
    stop = true;
    for (std::thread& thread : threads) thread.join();
    threads.clear();
  };

  std::optional<std::string> broken;  // the fault machinery itself failed
  std::optional<absl::Time> drop_until;
  size_t next = 0;
  while (!broken.has_value()) {
    const absl::Time now = absl::Now();
    if (drop_until.has_value() && now >= *drop_until) {
      proxy->DropAcks(0);
      drop_until.reset();
    }
    if (next < schedule.faults.size() && now >= start + schedule.faults[next].at) {
      const Fault& fault = schedule.faults[next++];
      std::cout << absl::StreamFormat("  [%6.2fs] %s\n", absl::ToDoubleSeconds(now - start),
                                      DescribeFault(fault))
                << std::flush;
      switch (fault.kind) {
        case Fault::Kind::kCutAll:
          proxy->CutAll();
          break;
        case Fault::Kind::kCutSome:
          proxy->CutSome(fault.amount);
          break;
        case Fault::Kind::kDropAcks:
          proxy->DropAcks(fault.amount);
          drop_until = now + fault.length;
          break;
        case Fault::Kind::kKillServer: {
          server->StopWith(SIGKILL);
          server.reset();
          absl::SleepFor(fault.length);
          absl::StatusOr<std::unique_ptr<ServerProcess>> restarted =
              ServerProcess::Start(cluster->url(), kServerReady);
          if (!restarted.ok()) {
            broken = "restarting the server: " + restarted.status().ToString();
            break;
          }
          server = *std::move(restarted);
          proxy->SetUpstream(PortOf(server->grpc_address()));
          break;
        }
        case Fault::Kind::kRestartDatabase: {
          if (absl::Status stopped = cluster->Stop(); !stopped.ok()) {
            broken = "stopping PostgreSQL: " + stopped.ToString();
            break;
          }
          absl::SleepFor(fault.length);
          if (absl::Status restarted = cluster->Start(); !restarted.ok()) {
            broken = "starting PostgreSQL: " + restarted.ToString();
          }
          break;
        }
      }
      continue;
    }
    if (next == schedule.faults.size() && now >= start + shape.chaos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  proxy->DropAcks(0);
  if (broken.has_value()) {
    stop_clients();
    return infrastructure(*broken);
  }

  // Liveness: the queues drain within the bound, with no more faults.
  const absl::Time faults_ended = absl::Now();
  while (finished.load() < shape.clients && absl::Now() < faults_ended + options.drain) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration drained_in = absl::Now() - faults_ended;
  stop_clients();
  absl::SleepFor(kQuiet);

  std::vector<ClientReport> reports;
  for (const std::unique_ptr<FaultClient>& client : clients) reports.push_back(client->report());
  auto direct = server->NewStub();
  const Observed observed = Observe(cluster->url(), *direct, profile_ids, start_cursor);
  const std::vector<Violation> violations = Check(profile_ids, setup, reports, observed);

  int acknowledged = 0;
  int after_resend = 0;
  int aborted = 0;
  int attempts = 0;
  std::map<std::string, int> retried;
  for (const ClientReport& report : reports) {
    acknowledged += report.acknowledged;
    after_resend += report.acknowledged_after_resend;
    attempts += report.attempts;
    for (const SentMutation& mutation : report.sent) {
      aborted += mutation.outcome == SentMutation::Outcome::kAborted ? 1 : 0;
    }
    for (const auto& [code, count] : report.retried) retried[code] += count;
  }
  const ChaosProxy::Stats stats = proxy->stats();
  std::cout << absl::StreamFormat(
      "  %d writes acknowledged (%d only after a resend; %d ABORTED answers rebased) in %d "
      "calls; retried: %s\n"
      "  proxy: %d connections, %d refused, %d cut, %d acknowledgements dropped\n"
      "  queues drained %.1fs after the faults stopped; final versions:",
      acknowledged, after_resend, aborted, attempts,
      retried.empty() ? "none" : absl::StrJoin(retried, ", ", absl::PairFormatter(" ")),
      stats.accepted, stats.refused, stats.cut, stats.acks_dropped,
      absl::ToDoubleSeconds(drained_in));
  for (const std::string& id : profile_ids) {
    auto row = observed.table.find(id);
    std::cout << " " << (row == observed.table.end() ? 0 : row->second.version());
  }
  std::cout << "\n";
  const double took = absl::ToDoubleSeconds(absl::Now() - began);
  if (violations.empty()) {
    std::cout << absl::StreamFormat("fault test: seed %d passed in %.1fs\n", seed, took)
              << std::flush;
    return true;
  }
  // The invariants broken, in the order Check() found them, with a few examples each.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const std::string*>> by_invariant;
  for (const Violation& violation : violations) {
    auto& details = by_invariant[violation.invariant];
    if (details.empty()) order.push_back(violation.invariant);
    details.push_back(&violation.detail);
  }
  std::cout << absl::StreamFormat("fault test: seed %d FAILED in %.1fs: %d violations of %s\n",
                                  seed, took, violations.size(), absl::StrJoin(order, ", "));
  for (const std::string& invariant : order) {
    const auto& details = by_invariant[invariant];
    std::cout << "  " << invariant << " (" << details.size() << "):\n";
    for (size_t i = 0; i < details.size() && i < kExamplesPerInvariant; ++i) {
      std::cout << "    " << *details[i] << "\n";
    }
    if (details.size() > kExamplesPerInvariant) {
      std::cout << "    ... and " << details.size() - kExamplesPerInvariant << " more\n";
    }
  }
  std::cout << "reproduce: " << ReproduceCommand(argv0, seed, options) << "\n" << std::flush;
  return false;
}

}  // namespace
}  // namespace profiles::testing

int main(int argc, char** argv) {
  using profiles::testing::Options;
  const std::optional<Options> options = profiles::testing::Parse(argc, argv);
  if (!options.has_value()) {
    const bool help = argc == 2 && std::string(argv[1]) == "--help";
    (help ? std::cout : std::cerr) << profiles::testing::kUsage;
    return help ? 0 : 2;
  }
  std::vector<uint64_t> failed;
  for (int i = 0; i < options->seeds; ++i) {
    const uint64_t seed = *options->seed + static_cast<uint64_t>(i);
    if (!profiles::testing::RunSeed(seed, *options, argv[0])) failed.push_back(seed);
  }
  if (options->seeds > 1) {
    std::cout << absl::StreamFormat("fault test: %d of %d seeds failed%s%s\n", failed.size(),
                                    options->seeds, failed.empty() ? "" : ": ",
                                    absl::StrJoin(failed, " "));
  }
  return failed.empty() ? 0 : 1;
}
