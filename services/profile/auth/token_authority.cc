#include "services/profile/auth/token_authority.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/profile_contract/validation.h"

namespace profiles {
namespace {

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

struct FreeDeleter {
  void operator()(char* text) const { std::free(text); }
};

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

constexpr size_t kMinSecretBytes = 32;

bool IsPem(absl::string_view key) { return absl::StartsWith(key, "-----BEGIN "); }

// An EC key on P-256 (ES256's curve), or why not.
absl::Status CheckP256(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::InvalidArgumentError("the PEM key is not an EC key (ES256 needs EC P-256)");
  }
  char group[64] = {};
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1 ||
      std::string_view(group, length) != "prime256v1") {
    return absl::InvalidArgumentError(
        absl::StrCat("the EC key is on curve ", group, "; ES256 needs P-256 (prime256v1)"));
  }
  return absl::OkStatus();
}

// The PEM public key of a PEM private key, which libjwt needs to verify.
absl::StatusOr<std::string> PublicKeyOf(std::string_view private_pem) {
  std::unique_ptr<BIO, BioDeleter> in(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return absl::InvalidArgumentError("the PEM private key does not parse");
  if (absl::Status curve = CheckP256(key.get()); !curve.ok()) return curve;
  std::unique_ptr<BIO, BioDeleter> out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    return absl::InternalError("could not derive the public key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::Status CheckPublicKey(std::string_view public_pem) {
  std::unique_ptr<BIO, BioDeleter> in(
      BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return absl::InvalidArgumentError("the PEM public key does not parse");
  return CheckP256(key.get());
}

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bearer token refused: ", why));
}

// Three base64url segments: what a signed JWT is made of. Checked before
// libjwt sees the text so that its errors need no interpretation.
bool LooksLikeJwt(std::string_view token) {
  int dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return dots == 2;
}

// a + b, clamped to the range of int64_t: the skew is added to exp and nbf,
// which may be any 64-bit integer the token's JSON holds (an exp of 2^63-1
// overflowed; tests/fuzz/corpus/token/crash-*).
int64_t ClampedAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace

// Verified tokens by their text, in shards so that concurrent calls rarely
// wait for each other. A shard that fills up is emptied: valid tokens are
// few per key in practice, and a flood of distinct ones then costs what it
// would cost without the memory, a verification each.
class TokenAuthority::VerifiedTokens {
 public:
  std::optional<Verified> Find(const std::string& token) {
    Shard& shard = ShardOf(token);
    absl::MutexLock lock(&shard.mu);
    auto found = shard.tokens.find(token);
    if (found == shard.tokens.end()) return std::nullopt;
    return found->second;
  }

  void Remember(const std::string& token, const Verified& verified) {
    Shard& shard = ShardOf(token);
    absl::MutexLock lock(&shard.mu);
    if (shard.tokens.size() >= kCachedTokens / kShards) shard.tokens.clear();
    shard.tokens.insert_or_assign(token, verified);
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Verified> tokens ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(const std::string& token) { return shards_[absl::HashOf(token) % kShards]; }

  std::array<Shard, kShards> shards_;
};

TokenAuthority::TokenAuthority(Algorithm algorithm, std::string signing_key,
                               std::string verifying_key)
    : algorithm_(algorithm),
      signing_key_(std::move(signing_key)),
      verifying_key_(std::move(verifying_key)),
      verified_(std::make_shared<VerifiedTokens>()) {}

absl::StatusOr<TokenAuthority> TokenAuthority::FromKey(std::string key) {
  if (key.empty()) return absl::InvalidArgumentError("the token key is empty");
  if (!IsPem(key)) {
    if (key.size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token secret has ", key.size(), " bytes; HS256 needs at least ",
                       kMinSecretBytes, " (e.g. openssl rand -base64 48)"));
    }
    std::string verifying = key;
    return TokenAuthority(Algorithm::kHs256, std::move(key), std::move(verifying));
  }
  if (absl::StrContains(key, "PRIVATE KEY-----")) {
    absl::StatusOr<std::string> public_key = PublicKeyOf(key);
    if (!public_key.ok()) return public_key.status();
    return TokenAuthority(Algorithm::kEs256, std::move(key), *std::move(public_key));
  }
  if (absl::Status checked = CheckPublicKey(key); !checked.ok()) return checked;
  return TokenAuthority(Algorithm::kEs256, "", std::move(key));
}

absl::StatusOr<TokenAuthority> TokenAuthority::FromKeyFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the token key file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream bytes;
  bytes << file.rdbuf();
  std::string key = std::move(bytes).str();
  if (!IsPem(key) && absl::EndsWith(key, "\n")) key.pop_back();
  absl::StatusOr<TokenAuthority> authority = FromKey(std::move(key));
  if (!authority.ok()) {
    return absl::Status(authority.status().code(),
                        absl::StrCat(path, ": ", authority.status().message()));
  }
  return authority;
}

std::string_view TokenAuthority::algorithm() const {
  return algorithm_ == Algorithm::kHs256 ? "HS256" : "ES256";
}

absl::StatusOr<std::string> TokenAuthority::Mint(const Caller& caller, absl::Duration ttl,
                                                 absl::Time now) const {
  if (!can_mint()) {
    return absl::FailedPreconditionError("a public key verifies tokens but cannot mint them");
  }
  absl::StatusOr<std::string> subject = ParseProfileId(caller.subject, "user");
  if (!subject.ok()) return subject.status();
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("the ttl must be positive");

  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::ResourceExhaustedError("jwt_new failed");
  JwtPtr jwt(raw);
  const long issued = static_cast<long>(absl::ToUnixSeconds(now));
  const long expires = static_cast<long>(absl::ToUnixSeconds(now + ttl));
  int failed = jwt_add_grant(jwt.get(), "sub", subject->c_str());
  failed |= jwt_add_grant_int(jwt.get(), "iat", issued);
  failed |= jwt_add_grant_int(jwt.get(), "exp", expires);
  if (caller.admin) failed |= jwt_add_grant_bool(jwt.get(), "admin", 1);
  failed |= jwt_set_alg(jwt.get(), algorithm_ == Algorithm::kHs256 ? JWT_ALG_HS256 : JWT_ALG_ES256,
                        reinterpret_cast<const unsigned char*>(signing_key_.data()),
                        static_cast<int>(signing_key_.size()));
  if (failed != 0) return absl::InternalError("could not build the token");
  std::unique_ptr<char, FreeDeleter> encoded(jwt_encode_str(jwt.get()));
  if (encoded == nullptr) return absl::InternalError("could not sign the token");
  return std::string(encoded.get());
}

absl::StatusOr<Caller> TokenAuthority::Verify(std::string_view authorization,
                                              absl::Time now) const {
  if (authorization.empty()) return Unauthenticated("no Authorization given");
  if (authorization.size() > kMaxTokenBytes) {
    return Unauthenticated(absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
  }
  const absl::string_view header(authorization.data(), authorization.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return Unauthenticated("the Authorization scheme is not Bearer");
  }
  const std::string token(absl::StripAsciiWhitespace(header.substr(kScheme.size())));
  if (!LooksLikeJwt(token)) return Unauthenticated("not a signed JWT (three base64url parts)");

  const int64_t now_seconds = absl::ToUnixSeconds(now);
  std::optional<Verified> verified = verified_->Find(token);
  if (!verified.has_value()) {
    absl::StatusOr<Verified> checked = VerifySigned(token);
    if (!checked.ok()) return checked.status();
    verified = *std::move(checked);
    verified_->Remember(token, *verified);
  }
  if (now_seconds > verified->valid_until) return Unauthenticated("expired");
  if (now_seconds < verified->valid_from) return Unauthenticated("not valid yet (nbf)");
  return verified->caller;
}

absl::StatusOr<TokenAuthority::Verified> TokenAuthority::VerifySigned(
    const std::string& token) const {
  jwt_t* raw = nullptr;
  const int decoded =
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(verifying_key_.data()),
                 static_cast<int>(verifying_key_.size()));
  JwtPtr jwt(raw);
  if (decoded != 0 || jwt == nullptr) {
    return Unauthenticated("malformed, or not signed with this service's key");
  }
  // libjwt verifies with the algorithm the token names; only ours is valid.
  const jwt_alg_t expected = algorithm_ == Algorithm::kHs256 ? JWT_ALG_HS256 : JWT_ALG_ES256;
  if (jwt_get_alg(jwt.get()) != expected) {
    return Unauthenticated(absl::StrCat("signed with ", jwt_alg_str(jwt_get_alg(jwt.get())),
                                        ", this service accepts ", std::string(algorithm())));
  }

  const int64_t skew = absl::ToInt64Seconds(kClockSkew);
  errno = 0;
  const long expires = jwt_get_grant_int(jwt.get(), "exp");
  if (errno == ENOENT || expires <= 0) return Unauthenticated("no expiry (exp)");
  errno = 0;
  const long not_before = jwt_get_grant_int(jwt.get(), "nbf");
  const bool has_not_before = errno != ENOENT;

  const char* subject = jwt_get_grant(jwt.get(), "sub");
  if (subject == nullptr) return Unauthenticated("no subject (sub)");
  absl::StatusOr<std::string> user = ParseProfileId(subject, "sub");
  if (!user.ok()) return Unauthenticated("the subject (sub) is not a user id");
  errno = 0;
  const bool admin = jwt_get_grant_bool(jwt.get(), "admin") == 1 && errno != ENOENT;
  return Verified{.caller = Caller{.subject = *std::move(user), .admin = admin},
                  .valid_from = has_not_before ? ClampedAdd(not_before, -skew)
                                               : std::numeric_limits<int64_t>::min(),
                  .valid_until = ClampedAdd(expires, skew)};
}

}  // namespace profiles
