// What checking a bearer token adds to a call (issue 9), measured in the
// same run as the call it is added to, so the ratio survives a noisy machine:
//
//   VerifyFirstSight/es256:0|1   TokenAuthority::Verify of a token not seen
//                                before: the signature is checked
//   Verify/es256:0|1             the same token again (remembered)
//   CachedGet/off, CachedGet/on  ProfileCore::Get of a cached profile (the
//                                service's cheapest call: no database, no
//                                transport) without and with a token check
//
// The figure is CachedGet/on against CachedGet/off: the share of the
// cheapest call that authentication costs. Every other call costs more (a
// database round trip at least), so the share there is smaller.
//
//   build/bench/auth_bench [--benchmark_repetitions=5]

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "services/profile/auth/token_authority.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/storage/testing/in_memory_storage.h"

namespace profiles {
namespace {

constexpr char kUser[] = "0b7e7d1c-5d1e-4a39-9c1f-2f6f1a9e8c11";

// An ES256 key made by the command-line tool every deployment has.
std::string Es256Key() {
  FILE* pipe =
      popen("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null", "r");
  std::string pem;
  char buffer[512];
  size_t n = 0;
  while (pipe != nullptr && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0) pem.append(buffer, n);
  if (pipe != nullptr) pclose(pipe);
  return pem;
}

TokenAuthority Authority(bool es256) {
  absl::StatusOr<TokenAuthority> authority =
      TokenAuthority::FromKey(es256 ? Es256Key() : std::string(48, 'k'));
  if (!authority.ok()) {
    std::fprintf(stderr, "auth_bench: %s\n", std::string(authority.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(authority);
}

// Each token seen for the first time: the signature is checked.
void VerifyFirstSight(benchmark::State& state) {
  const bool es256 = state.range(0) == 1;
  const std::string key = es256 ? Es256Key() : std::string(48, 'k');
  constexpr int kTokens = 256;
  std::vector<std::string> headers;
  {
    const TokenAuthority minter = *TokenAuthority::FromKey(key);
    for (int i = 0; i < kTokens; ++i) {
      headers.push_back(absl::StrCat(
          "Bearer ",
          *minter.Mint({.subject = kUser}, absl::Hours(1) + absl::Seconds(i), absl::Now())));
    }
  }
  std::optional<TokenAuthority> authority;
  const absl::Time now = absl::Now();
  int i = 0;
  for (auto _ : state) {
    if (i % kTokens == 0) {
      // A new authority remembers nothing yet.
      state.PauseTiming();
      authority = *TokenAuthority::FromKey(key);
      state.ResumeTiming();
    }
    absl::StatusOr<Caller> caller = authority->Verify(headers[i++ % kTokens], now);
    benchmark::DoNotOptimize(caller);
  }
  state.SetLabel(es256 ? "ES256" : "HS256");
}
BENCHMARK(VerifyFirstSight)->Arg(0)->Arg(1)->ArgName("es256");

// The same token again, as a client sends it with every call.
void Verify(benchmark::State& state) {
  const TokenAuthority authority = Authority(state.range(0) == 1);
  const std::string header =
      absl::StrCat("Bearer ", *authority.Mint({.subject = kUser}, absl::Hours(1), absl::Now()));
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    absl::StatusOr<Caller> caller = authority.Verify(header, now);
    benchmark::DoNotOptimize(caller);
  }
  state.SetLabel(std::string(authority.algorithm()));
}
BENCHMARK(Verify)->Arg(0)->Arg(1)->ArgName("es256");

void CachedGet(benchmark::State& state) {
  const bool auth = state.range(0) == 1;
  InMemoryStorage storage;
  std::optional<TokenAuthority> tokens;
  CallContext context;
  if (auth) {
    tokens = Authority(false);
    context.authorization =
        absl::StrCat("Bearer ", *tokens->Mint({.subject = kUser}, absl::Hours(1), absl::Now()));
  }
  ProfileCore core({.storage_workers = 1, .tokens = tokens}, storage.repository(), storage.feed());
  profile::v1::UpdateProfileRequest create;
  create.mutable_profile()->set_id(kUser);
  create.mutable_profile()->set_name("Ada");
  create.mutable_profile()->set_email("ada@example.com");
  // The write answers on a storage worker, once it has put the profile in
  // the cache.
  absl::Notification created;
  core.Update(context, create, [&](absl::StatusOr<WriteOutcome> outcome) {
    if (!outcome.ok())
      std::fprintf(stderr, "auth_bench: %s\n", outcome.status().ToString().c_str());
    created.Notify();
  });
  created.WaitForNotification();
  for (auto _ : state) {
    core.Get(context, kUser, [](absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> profile) {
      benchmark::DoNotOptimize(profile);
    });
  }
  state.SetLabel(auth ? "token checked (HS256)" : "auth off");
}
BENCHMARK(CachedGet)->Arg(0)->Arg(1)->ArgName("auth");

}  // namespace
}  // namespace profiles

BENCHMARK_MAIN();
