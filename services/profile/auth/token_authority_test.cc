#include "services/profile/auth/token_authority.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace profiles {
namespace {

using ::testing::HasSubstr;

constexpr char kUser[] = "0b7e7d1c-5d1e-4a39-9c1f-2f6f1a9e8c11";
constexpr char kSecret[] = "a-test-secret-that-is-at-least-32-bytes-long";
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

std::string Bearer(absl::string_view token) { return absl::StrCat("Bearer ", token); }

// A fresh EC key on `curve` as PEM: the private key, or its public half.
std::string EcKeyPem(const char* curve, bool public_only) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen(curve), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (public_only) {
    PEM_write_bio_PUBKEY(out.get(), key.get());
  } else {
    PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// The public key of a private PEM key.
std::string PublicOf(const std::string& private_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(out.get(), key.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// A token with any claims, signed by libjwt directly (what an attacker with
// the key, or a buggy issuer, could make).
std::string Signed(const std::string& claims_json, jwt_alg_t alg, const std::string& key) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims_json.c_str());
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* encoded = jwt_encode_str(jwt);
  std::string token(encoded);
  std::free(encoded);
  jwt_free(jwt);
  return token;
}

std::string Base64Url(absl::string_view text) { return absl::WebSafeBase64Escape(text); }

TokenAuthority Hs256() { return *TokenAuthority::FromKey(kSecret); }

TEST(TokenAuthorityTest, AMintedTokenNamesItsUser) {
  TokenAuthority authority = Hs256();
  EXPECT_EQ(authority.algorithm(), "HS256");
  absl::StatusOr<std::string> token = authority.Mint({.subject = kUser}, absl::Hours(1), kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<Caller> caller = authority.Verify(Bearer(*token), kNow + absl::Minutes(59));
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->subject, kUser);
  EXPECT_FALSE(caller->admin);

  absl::StatusOr<std::string> admin =
      authority.Mint({.subject = kUser, .admin = true}, absl::Hours(1), kNow);
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(authority.Verify(Bearer(*admin), kNow)->admin);
  // The scheme is case-insensitive (RFC 9110 11.1).
  EXPECT_TRUE(authority.Verify(absl::StrCat("bearer ", *token), kNow).ok());
}

TEST(TokenAuthorityTest, MintCanonicalisesTheUserAndRefusesOtherIds) {
  TokenAuthority authority = Hs256();
  std::string upper = kUser;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  absl::StatusOr<std::string> token = authority.Mint({.subject = upper}, absl::Hours(1), kNow);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(authority.Verify(Bearer(*token), kNow)->subject, kUser);
  EXPECT_EQ(authority.Mint({.subject = "alice"}, absl::Hours(1), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(authority.Mint({.subject = kUser}, absl::ZeroDuration(), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TokenAuthorityTest, ShortSecretsAndBadKeysAreRefused) {
  EXPECT_EQ(TokenAuthority::FromKey("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status short_secret = TokenAuthority::FromKey("only-31-bytes-of-secret-here-xx").status();
  EXPECT_EQ(short_secret.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_secret.message(), HasSubstr("at least 32"));
  EXPECT_EQ(TokenAuthority::FromKey("-----BEGIN PRIVATE KEY-----\nnot a key\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status wrong_curve = TokenAuthority::FromKey(EcKeyPem("P-384", false)).status();
  EXPECT_EQ(wrong_curve.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_curve.message(), HasSubstr("P-256"));
  EXPECT_EQ(TokenAuthority::FromKeyFile("/nonexistent/key").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TokenAuthorityTest, Es256PrivateKeyMintsAndItsPublicKeyOnlyVerifies) {
  const std::string private_pem = EcKeyPem("P-256", false);
  absl::StatusOr<TokenAuthority> issuer = TokenAuthority::FromKey(private_pem);
  ASSERT_TRUE(issuer.ok()) << issuer.status();
  EXPECT_EQ(issuer->algorithm(), "ES256");
  absl::StatusOr<TokenAuthority> replica = TokenAuthority::FromKey(PublicOf(private_pem));
  ASSERT_TRUE(replica.ok()) << replica.status();
  EXPECT_FALSE(replica->can_mint());
  EXPECT_EQ(replica->Mint({.subject = kUser}, absl::Hours(1), kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<std::string> token = issuer->Mint({.subject = kUser}, absl::Hours(1), kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(replica->Verify(Bearer(*token), kNow)->subject, kUser);
  EXPECT_EQ(issuer->Verify(Bearer(*token), kNow)->subject, kUser);
  // Another key pair's public key does not accept it.
  TokenAuthority stranger = *TokenAuthority::FromKey(EcKeyPem("P-256", true));
  EXPECT_EQ(stranger.Verify(Bearer(*token), kNow).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TokenAuthorityTest, ExpiryAndNotBeforeAllowOnlyTheClockSkew) {
  TokenAuthority authority = Hs256();
  const std::string token = *authority.Mint({.subject = kUser}, absl::Hours(1), kNow);
  const absl::Time expiry = kNow + absl::Hours(1);
  EXPECT_TRUE(authority.Verify(Bearer(token), expiry + TokenAuthority::kClockSkew).ok());
  absl::Status expired =
      authority.Verify(Bearer(token), expiry + TokenAuthority::kClockSkew + absl::Seconds(1))
          .status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(expired.message(), HasSubstr("expired"));

  const std::string later =
      Signed(absl::StrCat(R"({"sub":")", kUser, R"(","exp":)", absl::ToUnixSeconds(kNow) + 7200,
                          R"(,"nbf":)", absl::ToUnixSeconds(kNow) + 3600, "}"),
             JWT_ALG_HS256, kSecret);
  EXPECT_THAT(authority.Verify(Bearer(later), kNow).status().message(), HasSubstr("nbf"));
  EXPECT_TRUE(authority.Verify(Bearer(later), kNow + absl::Hours(1)).ok());
}

TEST(TokenAuthorityTest, TokensThatMustNotPass) {
  TokenAuthority authority = Hs256();
  const std::string exp = absl::StrCat(absl::ToUnixSeconds(kNow) + 3600);
  const std::string good_claims = absl::StrCat(R"({"sub":")", kUser, R"(","exp":)", exp, "}");
  const std::string good = Signed(good_claims, JWT_ALG_HS256, kSecret);
  ASSERT_TRUE(authority.Verify(Bearer(good), kNow).ok());

  // The same claims with admin added, keeping the original signature.
  std::vector<std::string> parts = absl::StrSplit(good, '.');
  const std::string forged_admin = absl::StrCat(
      parts[0], ".",
      Base64Url(absl::StrCat(R"({"sub":")", kUser, R"(","exp":)", exp, R"(,"admin":true})")), ".",
      parts[2]);
  const std::string unsigned_token = absl::StrCat(
      Base64Url(R"({"alg":"none","typ":"JWT"})"), ".",
      Base64Url(absl::StrCat(R"({"sub":")", kUser, R"(","exp":)", exp, R"(,"admin":true})")), ".");
  const struct {
    const char* what;
    std::string authorization;
  } kRefused[] = {
      {"no header", ""},
      {"basic scheme", "Basic dXNlcjpwYXNz"},
      {"scheme only", "Bearer "},
      {"not a jwt", "Bearer abc.def"},
      {"four parts", Bearer(good + ".x")},
      {"spaces inside", Bearer(parts[0] + ". " + parts[1] + "." + parts[2])},
      {"signature changed", Bearer(good.substr(0, good.size() - 2) + "AA")},
      {"claims changed", Bearer(forged_admin)},
      {"alg none", Bearer(unsigned_token)},
      {"another secret",
       Bearer(Signed(good_claims, JWT_ALG_HS256, "another-secret-that-is-at-least-32-bytes"))},
      {"HS512 with our secret", Bearer(Signed(good_claims, JWT_ALG_HS512, kSecret))},
      {"no exp",
       Bearer(Signed(absl::StrCat(R"({"sub":")", kUser, R"("})"), JWT_ALG_HS256, kSecret))},
      {"exp as text", Bearer(Signed(absl::StrCat(R"({"sub":")", kUser, R"(","exp":"tomorrow"})"),
                                    JWT_ALG_HS256, kSecret))},
      {"no sub", Bearer(Signed(absl::StrCat(R"({"exp":)", exp, "}"), JWT_ALG_HS256, kSecret))},
      {"sub not a uuid",
       Bearer(Signed(absl::StrCat(R"({"sub":"alice","exp":)", exp, "}"), JWT_ALG_HS256, kSecret))},
      {"too long", Bearer(std::string(TokenAuthority::kMaxTokenBytes, 'a'))},
  };
  for (const auto& refused : kRefused) {
    absl::Status status = authority.Verify(refused.authorization, kNow).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << refused.what << ": " << status;
  }
}

TEST(TokenAuthorityTest, AnEs256PublicKeyIsNeverAnHmacSecret) {
  // The classic algorithm confusion: the verifier's public key is public, so
  // an attacker signs HS256 with it and hopes the verifier uses it as a secret.
  const std::string private_pem = EcKeyPem("P-256", false);
  const std::string public_pem = PublicOf(private_pem);
  TokenAuthority replica = *TokenAuthority::FromKey(public_pem);
  const std::string claims = absl::StrCat(R"({"sub":")", kUser, R"(","admin":true,"exp":)",
                                          absl::ToUnixSeconds(kNow) + 3600, "}");
  absl::Status status =
      replica.Verify(Bearer(Signed(claims, JWT_ALG_HS256, public_pem)), kNow).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
}

}  // namespace
}  // namespace profiles
