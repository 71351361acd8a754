#include "services/profile/tls/tls_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "tests/support/test_certificates.h"

namespace profiles {
namespace {

using ::testing::HasSubstr;

class TlsCredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new testing::TestPki(testing::MakeTestPki()); }
  static void TearDownTestSuite() { delete pki_; }

  void SetUp() override {
    char pattern[] = "/tmp/profiles-tls-test.XXXXXX";
    directory_ = mkdtemp(pattern);
    files_ = pki_->WriteTo(directory_);
  }
  void TearDown() override { std::system(("rm -rf " + directory_).c_str()); }

  static testing::TestPki* pki_;
  std::string directory_;
  testing::TestPki::Files files_;
};

testing::TestPki* TlsCredentialsTest::pki_ = nullptr;

TEST_F(TlsCredentialsTest, LoadsACertificateItsKeyAndClientAuthorities) {
  absl::StatusOr<TlsCredentials> loaded =
      LoadTlsCredentials({.certificate_file = files_.server_certificate,
                          .key_file = files_.server_key,
                          .client_ca_file = files_.ca});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->certificate_chain_pem, pki_->server_certificate_pem);
  EXPECT_EQ(loaded->private_key_pem, pki_->server_key_pem);
  EXPECT_EQ(loaded->client_ca_pem, pki_->ca_pem);
}

TEST_F(TlsCredentialsTest, WithoutClientAuthoritiesAsksForNoClientCertificate) {
  absl::StatusOr<TlsCredentials> loaded = LoadTlsCredentials(
      {.certificate_file = files_.server_certificate, .key_file = files_.server_key});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->client_ca_pem.empty());
}

TEST_F(TlsCredentialsTest, AKeyOfAnotherCertificateIsRefusedNamingTheFiles) {
  absl::StatusOr<TlsCredentials> loaded = LoadTlsCredentials(
      {.certificate_file = files_.server_certificate, .key_file = files_.impostor_key});
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("does not belong"));
  EXPECT_THAT(loaded.status().message(), HasSubstr(files_.impostor_key));
}

TEST_F(TlsCredentialsTest, FilesThatAreNotWhatTheySayAreRefused) {
  // The key where the certificate belongs, a certificate where the key does.
  EXPECT_THAT(LoadTlsCredentials({.certificate_file = files_.server_key,
                                  .key_file = files_.server_key})
                  .status()
                  .message(),
              HasSubstr("no PEM certificate"));
  EXPECT_THAT(LoadTlsCredentials({.certificate_file = files_.server_certificate,
                                  .key_file = files_.server_certificate})
                  .status()
                  .message(),
              HasSubstr("no unencrypted PEM private key"));
  EXPECT_THAT(LoadTlsCredentials({.certificate_file = files_.server_certificate,
                                  .key_file = files_.server_key,
                                  .client_ca_file = files_.server_key})
                  .status()
                  .message(),
              HasSubstr("client CA file"));
  EXPECT_THAT(LoadTlsCredentials({.certificate_file = directory_ + "/missing.pem",
                                  .key_file = files_.server_key})
                  .status()
                  .message(),
              HasSubstr("cannot read TLS certificate file"));
}

TEST_F(TlsCredentialsTest, ACertificateCutShortIsRefused) {
  TlsCredentials cut{.certificate_chain_pem = pki_->server_certificate_pem.substr(0, 200),
                     .private_key_pem = pki_->server_key_pem};
  EXPECT_EQ(CheckTlsCredentials(cut).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace profiles
