#include "tests/fault/fault_schedule.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_format.h"

namespace profiles::testing {
namespace {

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // Uniform in [low, high).
  double Between(double low, double high) {
    return low + (high - low) * static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  }
  // Uniform in [0, n). REQUIRES: n >= 1.
  int Below(int n) { return static_cast<int>(engine_() % static_cast<uint64_t>(n)); }

 private:
  std::mt19937_64 engine_;
};

Fault MakeFault(Random& random, Fault::Kind kind, double at_seconds) {
  Fault fault{.at = absl::Seconds(at_seconds), .kind = kind};
  switch (kind) {
    case Fault::Kind::kCutAll:
      break;
    case Fault::Kind::kCutSome:
      fault.amount = random.Between(0.2, 0.8);
      break;
    case Fault::Kind::kDropAcks:
      fault.amount = random.Between(0.3, 1.0);
      fault.length = absl::Seconds(random.Between(0.3, 3.0));
      break;
    case Fault::Kind::kKillServer:
      fault.length = absl::Seconds(random.Between(0.0, 1.5));
      break;
    case Fault::Kind::kRestartDatabase:
      fault.length = absl::Seconds(random.Between(0.0, 2.5));
      break;
  }
  return fault;
}

}  // namespace

Schedule MakeSchedule(uint64_t seed, const RunShape& shape) {
  Schedule schedule;
  Random faults(seed ^ 0x6661756c74735f31);  // "faults_1"
  const double chaos = absl::ToDoubleSeconds(shape.chaos);
  for (double at = faults.Between(0.3, 1.5); at < chaos; at += faults.Between(0.3, 2.5)) {
    const double pick = faults.Between(0, 1);
    const Fault::Kind kind = pick < 0.30   ? Fault::Kind::kCutAll
                             : pick < 0.50 ? Fault::Kind::kCutSome
                             : pick < 0.75 ? Fault::Kind::kDropAcks
                             : pick < 0.88 ? Fault::Kind::kKillServer
                                           : Fault::Kind::kRestartDatabase;
    schedule.faults.push_back(MakeFault(faults, kind, at));
  }
  // Every seed kills the server and restarts the database at least once.
  for (Fault::Kind kind : {Fault::Kind::kKillServer, Fault::Kind::kRestartDatabase}) {
    if (std::none_of(schedule.faults.begin(), schedule.faults.end(),
                     [kind](const Fault& fault) { return fault.kind == kind; })) {
      const double at = kind == Fault::Kind::kKillServer ? faults.Between(0.2, 0.45) * chaos
                                                         : faults.Between(0.55, 0.8) * chaos;
      schedule.faults.push_back(MakeFault(faults, kind, at));
    }
  }
  std::stable_sort(schedule.faults.begin(), schedule.faults.end(),
                   [](const Fault& a, const Fault& b) { return a.at < b.at; });

  Random writes(seed ^ 0x7772697465735f31);   // "writes_1"
  Random deletes(seed ^ 0x64656c657465735f);  // "deletes_": profiles stay as they were
  schedule.queues.resize(static_cast<size_t>(shape.clients));
  for (std::vector<QueuedWrite>& queue : schedule.queues) {
    for (int i = 0; i < shape.writes_per_client; ++i) {
      queue.push_back({.profile = writes.Below(shape.profiles),
                       .kind = deletes.Below(kOneDeleteIn) == 0 ? QueuedWrite::Kind::kDelete
                                                                : QueuedWrite::Kind::kEdit});
    }
  }
  return schedule;
}

std::string DescribeFault(const Fault& fault) {
  const double at = absl::ToDoubleSeconds(fault.at);
  const double length = absl::ToDoubleSeconds(fault.length);
  switch (fault.kind) {
    case Fault::Kind::kCutAll:
      return absl::StrFormat("%6.2fs cut every connection", at);
    case Fault::Kind::kCutSome:
      return absl::StrFormat("%6.2fs cut connections, p=%.2f", at, fault.amount);
    case Fault::Kind::kDropAcks:
      return absl::StrFormat("%6.2fs drop acknowledgements, p=%.2f, for %.2fs", at, fault.amount,
                             length);
    case Fault::Kind::kKillServer:
      return absl::StrFormat("%6.2fs SIGKILL the server, restart after %.2fs", at, length);
    case Fault::Kind::kRestartDatabase:
      return absl::StrFormat("%6.2fs stop PostgreSQL, start it after %.2fs", at, length);
  }
  return "?";
}

}  // namespace profiles::testing
