#ifndef PROFILES_SERVICES_PROFILE_AUTH_TOKEN_AUTHORITY_H_
#define PROFILES_SERVICES_PROFILE_AUTH_TOKEN_AUTHORITY_H_

// TokenAuthority mints and verifies the service's bearer tokens: JWTs (RFC
// 7519) signed with one configured key, through libjwt (Debian's libjwt 1.10,
// OpenSSL backend).
//
// The key decides the algorithm, never the token: a token whose header names
// another algorithm (`alg: none`, or HS256 signed with an ES256 public key
// used as an HMAC secret) is refused before its signature is looked at.
//   HS256  a secret of at least 32 bytes (any file that is not PEM); mints
//          and verifies.
//   ES256  a PEM EC P-256 private key (mints and verifies), or its public key
//          (verifies only: a replica needs no signing key).
//
// Claims: `sub` is the caller's user id (a UUID: the id of the one profile
// they may write), `exp` is required, `nbf` is honoured, `admin: true` makes
// an administrator. Expiry and not-before allow kClockSkew of skew between
// the machine that minted and the one that verifies.
//
// Example:
//   absl::StatusOr<TokenAuthority> authority = TokenAuthority::FromKeyFile(path);
//   absl::StatusOr<Caller> caller = authority->Verify("Bearer eyJ...", absl::Now());
//
// Verified tokens are remembered (up to kCachedTokens, until they expire),
// so a caller that sends the same token with every call pays for its
// signature once: measured by bench/auth_bench, an HS256 check costs about
// 4.7 µs and an ES256 one about 400 µs (libjwt parses the PEM key on every
// check), against about 0.1 µs for a cached GetProfile. Refused tokens are
// never remembered. Copies share the memory (it depends on the key only).
//
// A value type; thread-safe for concurrent const calls.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace profiles {

// Who makes a call, as a verified token says.
struct Caller {
  // The user id: a canonical lowercase UUID.
  std::string subject{};
  // May write every profile, and read every profile whatever the read scope.
  bool admin = false;
};

class TokenAuthority {
 public:
  static constexpr absl::Duration kClockSkew = absl::Seconds(60);
  // Longer Authorization values are refused before any parsing.
  static constexpr size_t kMaxTokenBytes = 8192;
  // Verified tokens remembered at most; when full, the memory starts over.
  static constexpr size_t kCachedTokens = 16384;

  // INVALID_ARGUMENT for a secret under 32 bytes, a PEM that is not an EC
  // P-256 key, or an empty key.
  static absl::StatusOr<TokenAuthority> FromKey(std::string key);
  // FromKey() on the file's bytes (one trailing newline dropped from a
  // secret); NOT_FOUND or PERMISSION_DENIED if it cannot be read.
  static absl::StatusOr<TokenAuthority> FromKeyFile(const std::string& path);

  // "HS256" or "ES256".
  std::string_view algorithm() const;
  // False for an authority made from a public key.
  bool can_mint() const { return !signing_key_.empty(); }

  // A token for `caller` valid from `now` for `ttl`. INVALID_ARGUMENT for a
  // subject that is not a UUID or a ttl that is not positive;
  // FAILED_PRECONDITION if !can_mint().
  absl::StatusOr<std::string> Mint(const Caller& caller, absl::Duration ttl, absl::Time now) const;

  // The caller an Authorization value ("Bearer <token>") names.
  // UNAUTHENTICATED, with a message that says why, for: no value, another
  // scheme, a token that is malformed, too long, signed with another
  // algorithm or key, expired or not yet valid, or without a UUID subject.
  absl::StatusOr<Caller> Verify(std::string_view authorization, absl::Time now) const;

 private:
  enum class Algorithm { kHs256, kEs256 };
  class VerifiedTokens;
  // A token whose signature verified, and the window it is valid in.
  struct Verified {
    Caller caller;
    int64_t valid_from = 0;   // unix seconds, skew applied
    int64_t valid_until = 0;  // unix seconds, skew applied
  };

  TokenAuthority(Algorithm algorithm, std::string signing_key, std::string verifying_key);
  // The signature and claims of `token` (three base64url parts), uncached.
  absl::StatusOr<Verified> VerifySigned(const std::string& token) const;

  Algorithm algorithm_;
  std::string signing_key_;    // the secret, or the PEM private key; empty: verify only
  std::string verifying_key_;  // the secret, or the PEM public key
  std::shared_ptr<VerifiedTokens> verified_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_AUTH_TOKEN_AUTHORITY_H_
