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

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
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
// A run whose queues hold at least this many deletes must have one acknowledged.
constexpr int kDeletesToRequire = 10;

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

// Deletes profile `profile` (id `id`) on its current version if it is live, the way the set-up
// creates are written (no faults any more); the mutation sent is added to `sent`.
void FinalDelete(profile::v1::ProfileService::Stub& stub, uint64_t seed, int profile,
                 const std::string& id, std::vector<SentMutation>& sent) {
  profile::v1::GetProfileRequest get;
  get.set_id(id);
  profile::v1::Profile current;
  grpc::ClientContext get_context;
  get_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  if (!stub.GetProfile(&get_context, get, &current).ok()) return;  // deleted; or the checks say
  SentMutation mutation{.mutation_id = MutationId(seed, -1, 0x1000 + profile, 0),
                        .client = -1,
                        .sequence = 0x1000 + profile,
                        .profile = profile,
                        .kind = SentMutation::Kind::kDelete,
                        .expected_version = current.version()};
  profile::v1::DeleteProfileRequest request;
  request.set_id(id);
  request.set_expected_version(mutation.expected_version);
  request.set_mutation_id(mutation.mutation_id);
  grpc::Status status;
  for (int attempt = 0; attempt < 5; ++attempt) {  // the same request again, if it must be
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    mutation.answer.Clear();
    status = stub.DeleteProfile(&context, request, &mutation.answer);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  if (status.ok()) {
    mutation.outcome = SentMutation::Outcome::kAcknowledged;
  } else {
    mutation.outcome = SentMutation::Outcome::kRejected;
    mutation.rejection =
        absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                     " '", status.error_message(), "'");
  }
  sent.push_back(std::move(mutation));
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
  std::string created_cursor;
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
                          .kind = SentMutation::Kind::kCreate,
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
    // The cursor right after the creates: once a listing shows every profile (the change stream
    // stamps positions shortly after commit), its cursor is the last create's position.
    const absl::Time until = absl::Now() + absl::Seconds(20);
    for (;;) {
      grpc::ClientContext list_context;
      list_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      profile::v1::ListProfilesRequest everything;
      everything.set_page_size(1000);
      page.Clear();
      const grpc::Status relisted = stub->ListProfiles(&list_context, everything, &page);
      if (relisted.ok() && page.profiles_size() == shape.profiles &&
          page.next_page_token().empty()) {
        created_cursor = page.cursor();
        break;
      }
      if (absl::Now() > until) {
        return infrastructure("the creates did not reach the change stream: " +
                              relisted.error_message());
      }
      absl::SleepFor(absl::Milliseconds(50));
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
  // Every seed ends with a tombstone to check (the clients' last writes are mostly edits): the
  // last profile is deleted, unless it already is.
  FinalDelete(*direct, seed, shape.profiles - 1, profile_ids.back(), setup);
  absl::SleepFor(kQuiet);
  const Observed observed =
      Observe(cluster->url(), *direct, profile_ids, start_cursor, created_cursor);
  std::vector<Violation> violations = Check(profile_ids, setup, reports, observed);

  int acknowledged = 0;
  int after_resend = 0;
  int aborted = 0;
  int attempts = 0;
  int deletes_acknowledged = 0;
  int deletes_already_gone = 0;
  int found_deleted = 0;
  int recreated = 0;
  std::map<std::string, int> retried;
  for (const ClientReport& report : reports) {
    acknowledged += report.acknowledged;
    after_resend += report.acknowledged_after_resend;
    attempts += report.attempts;
    deletes_acknowledged += report.deletes_acknowledged;
    deletes_already_gone += report.deletes_already_gone;
    found_deleted += report.found_deleted;
    recreated += report.recreated;
    for (const SentMutation& mutation : report.sent) {
      aborted += mutation.outcome == SentMutation::Outcome::kAborted ? 1 : 0;
    }
    for (const auto& [code, count] : report.retried) retried[code] += count;
  }
  // Writes answered PROFILE_DELETED although applied: a resend found its first application
  // erased by a later delete (with no tombstone to carry when the profile was re-created since).
  int erased_replays = 0;
  int erased_replays_without_tombstone = 0;
  {
    std::set<std::string> applied_ids;
    for (const Observed::Applied& row : observed.applied) applied_ids.insert(row.mutation_id);
    for (const ClientReport& report : reports) {
      for (const SentMutation& mutation : report.sent) {
        if (mutation.outcome != SentMutation::Outcome::kProfileDeleted ||
            !applied_ids.contains(mutation.mutation_id)) {
          continue;
        }
        ++erased_replays;
        erased_replays_without_tombstone += mutation.carried_profile ? 0 : 1;
      }
    }
  }
  // The mix must really have deleted something (a queue of a few writes may hold no delete).
  int queued_deletes = 0;
  for (const std::vector<QueuedWrite>& queue : schedule.queues) {
    queued_deletes +=
        static_cast<int>(std::count_if(queue.begin(), queue.end(), [](const QueuedWrite& write) {
          return write.kind == QueuedWrite::Kind::kDelete;
        }));
  }
  if (queued_deletes >= kDeletesToRequire && deletes_acknowledged == 0 &&
      std::all_of(reports.begin(), reports.end(),
                  [](const ClientReport& report) { return report.drained; })) {
    violations.push_back(
        {"mix",
         absl::StrCat("none of the ", queued_deletes,
                      " queued deletes was acknowledged: the run did not exercise deletes")});
  }
  const ChaosProxy::Stats stats = proxy->stats();
  std::cout << absl::StreamFormat(
      "  %d writes acknowledged (%d only after a resend; %d ABORTED answers rebased) in %d "
      "calls; retried: %s\n"
      "  deletes: %d acknowledged, %d found the profile already gone; %d edits found it deleted, "
      "%d recreates acknowledged; %d resends found their write erased (%d without a "
      "tombstone)\n"
      "  proxy: %d connections, %d refused, %d cut, %d acknowledgements dropped\n"
      "  queues drained %.1fs after the faults stopped; final versions:",
      acknowledged, after_resend, aborted, attempts,
      retried.empty() ? "none" : absl::StrJoin(retried, ", ", absl::PairFormatter(" ")),
      deletes_acknowledged, deletes_already_gone, found_deleted, recreated, erased_replays,
      erased_replays_without_tombstone, stats.accepted, stats.refused, stats.cut,
      stats.acks_dropped, absl::ToDoubleSeconds(drained_in));
  for (const std::string& id : profile_ids) {
    auto row = observed.table.find(id);
    std::cout << " " << (row == observed.table.end() ? 0 : row->second.version())
              << (row != observed.table.end() && row->second.deleted() ? " (deleted)" : "");
  }
  std::cout << "\n";
  const double took = absl::ToDoubleSeconds(absl::Now() - began);
  const std::string mix = absl::StrFormat("%d deletes acknowledged, %d already gone, %d recreates",
                                          deletes_acknowledged, deletes_already_gone, recreated);
  if (violations.empty()) {
    std::cout << absl::StreamFormat("fault test: seed %d passed in %.1fs (%s)\n", seed, took, mix)
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
  std::cout << absl::StreamFormat("fault test: seed %d FAILED in %.1fs (%s): %d violations of %s\n",
                                  seed, took, mix, violations.size(), absl::StrJoin(order, ", "));
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
