#ifndef PROFILES_BENCH_BENCH_UTIL_H_
#define PROFILES_BENCH_BENCH_UTIL_H_

// Small pieces shared by the benchmark tools (profile_loadgen, watch_fanout):
// the ids of the benchmark's profiles, the avatar they carry, percentiles and
// a process's resident memory. No gRPC, no I/O besides /proc.
//
// The benchmark's profiles are numbered n = 1..K and have the id
//   00000000-0000-4000-8000-<n as 12 digits>
// whichever way they were created (profile_loadgen --seed_only, or bench/run.sh
// inserting them with SQL); bench/wrk/common.lua spells them the same way.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiles::bench {

// The id of benchmark profile `n` (1 <= n < 10^12).
std::string ProfileId(int64_t n);

// The inverse of ProfileId(): n, or nullopt for any other id.
std::optional<int64_t> ProfileNumber(const std::string& id);

// A valid PNG of exactly `size` bytes (at least 128): an RGB image of
// pseudo-random pixels stored without compression, padded with a tEXt chunk.
// Noise, so that neither PostgreSQL (TOAST's pglz) nor anything on the wire
// compresses it: it costs what a real photo of that size costs. The same
// `size` and `variant` always give the same bytes, so every tool and the SQL
// seed agree; another `variant` is another picture of the same size (people
// have photos of their own).
std::string MakePngAvatar(int size, uint32_t variant = 0);

// The q-quantile (0..1, nearest rank) of `sorted` (ascending), or 0 when
// empty.
template <typename T>
T Percentile(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  size_t index = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  if (index >= sorted.size()) index = sorted.size() - 1;
  return sorted[index];
}

// VmRSS of process `pid` in KiB (from /proc/PID/status), or nullopt when the
// process does not exist or cannot be read. pid 0 means this process.
std::optional<int64_t> ResidentKib(int pid);

// CPU time (user + system) process `pid` has used so far, in seconds (from
// /proc/PID/stat), or nullopt when it cannot be read. pid 0 means this process.
std::optional<double> CpuSeconds(int pid);

// Lowercase hex and standard base64 (padded) of `bytes`.
std::string HexEncode(const std::string& bytes);
std::string Base64Encode(const std::string& bytes);

}  // namespace profiles::bench

#endif  // PROFILES_BENCH_BENCH_UTIL_H_
