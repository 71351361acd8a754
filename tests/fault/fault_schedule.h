#ifndef PROFILES_TESTS_FAULT_FAULT_SCHEDULE_H_
#define PROFILES_TESTS_FAULT_FAULT_SCHEDULE_H_

// What one seed of the fault test does: the timeline of faults, and each
// client's queue of writes. Both are pure functions of the seed and the
// run's shape (MakeSchedule), so a failing seed replays the same faults at
// the same offsets against the same queues. Thread and network timing still
// vary from run to run: a seed reproduces the schedule, not every
// interleaving.
//
// The random numbers come from std::mt19937_64, whose sequence the C++
// standard fixes, turned into numbers by hand (no std:: distributions, whose
// results differ between standard libraries).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace profiles::testing {

struct RunShape {
  absl::Duration chaos = absl::Seconds(40);  // faults happen in [0, chaos)
  int clients = 5;
  int profiles = 3;
  int writes_per_client = 240;
};

struct Fault {
  enum class Kind {
    kCutAll,          // close every open connection
    kCutSome,         // close each open connection with probability `amount`
    kDropAcks,        // drop each response with probability `amount` for `length`
    kKillServer,      // SIGKILL the server, wait `length`, start a new one
    kRestartDatabase  // stop PostgreSQL (fast), wait `length`, start it
  };
  absl::Duration at;  // since the start of the chaos phase
  Kind kind;
  double amount = 0;
  absl::Duration length = absl::ZeroDuration();
};

// One queued write of a client: which profile it writes (an index into the
// run's profiles), and whether it edits or deletes it. An edit's content
// follows from (client, sequence).
struct QueuedWrite {
  enum class Kind { kEdit, kDelete };
  int profile;
  Kind kind = Kind::kEdit;
};

// About one queued write in this many is a delete.
inline constexpr int kOneDeleteIn = 8;

struct Schedule {
  std::vector<Fault> faults;                     // sorted by `at`
  std::vector<std::vector<QueuedWrite>> queues;  // one per client
};

// REQUIRES: shape.clients >= 1, shape.profiles >= 1.
Schedule MakeSchedule(uint64_t seed, const RunShape& shape);

// "12.3s drop acks p=0.70 for 1.2s", one fault per line.
std::string DescribeFault(const Fault& fault);

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_FAULT_FAULT_SCHEDULE_H_
