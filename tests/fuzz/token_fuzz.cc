// Fuzz target: bearer token verification (services/profile/auth/
// token_authority.h), which reads the Authorization value of every call
// before anything else does.
//
// The first byte of the input chooses how the rest is used:
//   bit 0 clear  the rest is the Authorization value as a caller sent it,
//                checked by an HS256 authority, or (bit 1 set) by an ES256
//                one holding only a public key;
//   bit 0 set    the rest is "<header JSON>\n<claims JSON>", which the target
//                encodes and signs with the HS256 authority's own secret, so
//                that claims the fuzzer makes up get past the signature to
//                the code that reads them (exp, nbf, sub, admin, alg).
//
// Invariants: a token is accepted only with a subject that is a canonical
// lowercase UUID; a refusal is UNAUTHENTICATED with a printable message;
// asking again (now from the memory of verified tokens) answers the same.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/auth/token_authority.h"
#include "tests/fuzz/fuzz_check.h"

namespace profiles {
namespace {

constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdefghijklmnopqrstuvwxyz";

// A P-256 public key made for this target (its private half was thrown away).
constexpr char kPublicKey[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqXaYMmVGnR1B25VrxPENJZwAFJZT\n"
    "5B82YHCjb0kQsyIuyaTdx0IargmBSnzet8TYX1jUA7290lzs2W5gQKZfbg==\n"
    "-----END PUBLIC KEY-----\n";

// 2023-11-14T22:13:20Z: the seeds' tokens are valid then.
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  const size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t n = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (left == 2) n |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    if (left == 2) out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

// "Bearer <header>.<claims>.<HMAC-SHA256 signature>" with kSecret.
std::string SignedAuthorization(std::string_view header, std::string_view claims) {
  const std::string signing_input = Base64Url(header) + "." + Base64Url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_size);
  return "Bearer " + signing_input + "." +
         Base64Url(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

bool IsCanonicalUuid(const std::string& text) { return CanonicalUuid(text) == text; }

void CheckVerify(const TokenAuthority& authority, std::string_view authorization) {
  const absl::StatusOr<Caller> caller = authority.Verify(authorization, kNow);
  if (caller.ok()) {
    FUZZ_CHECK(IsCanonicalUuid(caller->subject)) << caller->subject;
  } else {
    FUZZ_CHECK(caller.status().code() == absl::StatusCode::kUnauthenticated) << caller.status();
    FUZZ_CHECK(IsValidUtf8(std::string(caller.status().message()))) << caller.status();
  }
  // The second time the answer may come from the memory of verified tokens.
  const absl::StatusOr<Caller> again = authority.Verify(authorization, kNow);
  FUZZ_CHECK(again.ok() == caller.ok()) << again.status();
  if (caller.ok()) {
    FUZZ_CHECK(again->subject == caller->subject && again->admin == caller->admin);
  }
}

}  // namespace
}  // namespace profiles

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using profiles::TokenAuthority;
  static const TokenAuthority* const kHs256 =
      new TokenAuthority(TokenAuthority::FromKey(std::string(profiles::kSecret)).value());
  static const TokenAuthority* const kEs256 =
      new TokenAuthority(TokenAuthority::FromKey(profiles::kPublicKey).value());
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((mode & 1) == 0) {
    profiles::CheckVerify((mode & 2) != 0 ? *kEs256 : *kHs256, rest);
    return 0;
  }
  const size_t newline = rest.find('\n');
  const std::string_view header = rest.substr(0, newline);
  const std::string_view claims =
      newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  profiles::CheckVerify(*kHs256, profiles::SignedAuthorization(header, claims));
  return 0;
}
