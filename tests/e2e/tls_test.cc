// TLS end to end: a real profile_server given a certificate serves gRPC over
// TLS and HTTPS on its two ports, and only those; with a client CA it
// requires client certificates on both. Certificates are made by the test
// (tests/support/test_certificates.h). Refused connections are checked to
// have written nothing.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

constexpr char kId[] = "3d7f1a52-6c1e-4b0a-9f3e-7a2c5d8e1b40";
constexpr char kBody[] = R"({"name":"Tess Layer","email":"tess@example.com"})";

struct HostAndPort {
  std::string host;
  int port = 0;
};

HostAndPort Split(const std::string& address) {
  const size_t colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // httplib's TLS client writes with SSL_write, which raises SIGPIPE when
    // the server has already closed the connection (a refused client
    // certificate); a client program ignores it, as curl does.
    signal(SIGPIPE, SIG_IGN);
    pki_ = new TestPki(MakeTestPki());
  }
  static void TearDownTestSuite() { delete pki_; }

  void SetUp() override {
    char dir_template[] = "/tmp/profiles-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    files_ = pki_->WriteTo(dir_);
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }
  void TearDown() override {
    server_.reset();
    std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }

  void StartServer(std::vector<std::string> flags) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(database_->url(), absl::Seconds(30), true, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::vector<std::string> TlsFlags() const {
    return {"--tls-cert-file=" + files_.server_certificate, "--tls-key-file=" + files_.server_key};
  }

  // An HTTPS client of the server trusting `ca`, with a client certificate
  // when `with_client_certificate`.
  std::unique_ptr<httplib::SSLClient> Https(const std::string& ca, bool with_client_certificate) {
    const HostAndPort http = Split(server_->http_address());
    auto client = with_client_certificate
                      ? std::make_unique<httplib::SSLClient>(http.host, http.port,
                                                             files_.client_certificate,
                                                             files_.client_key)
                      : std::make_unique<httplib::SSLClient>(http.host, http.port);
    client->set_ca_cert_path(ca.c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5);
    return client;
  }

  // A gRPC stub trusting `ca`, presenting the client certificate when asked.
  std::unique_ptr<profile::v1::ProfileService::Stub> GrpcStub(const std::string& ca_pem,
                                                              bool with_client_certificate) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem;
    if (with_client_certificate) {
      ssl.pem_cert_chain = pki_->client_certificate_pem;
      ssl.pem_private_key = pki_->client_key_pem;
    }
    return profile::v1::ProfileService::NewStub(
        grpc::CreateChannel(server_->grpc_address(), grpc::SslCredentials(ssl)));
  }

  static grpc::Status Write(profile::v1::ProfileService::Stub& stub, const std::string& name,
                            int64_t expected_version = 0) {
    profile::v1::UpdateProfileRequest request;
    request.set_expected_version(expected_version);
    request.mutable_profile()->set_id(kId);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email("tess@example.com");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    profile::v1::Profile written;
    return stub.UpdateProfile(&context, request, &written);
  }

  static grpc::Status Read(profile::v1::ProfileService::Stub& stub, profile::v1::Profile* profile) {
    profile::v1::GetProfileRequest request;
    request.set_id(kId);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub.GetProfile(&context, request, profile);
  }

  static TestPki* pki_;
  std::string dir_;
  TestPki::Files files_;
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
};

TestPki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, RestAndGrpcClientsThatTrustTheCaReadAndWriteTheSameProfile) {
  StartServer(TlsFlags());
  std::unique_ptr<httplib::SSLClient> https = Https(files_.ca, false);
  httplib::Result put = https->Put(absl::StrCat("/user/", kId).c_str(), kBody, "application/json");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  EXPECT_EQ(put->status, 201) << put->body;
  EXPECT_EQ(put->get_header_value("ETag"), "\"1\"");

  auto stub = GrpcStub(pki_->ca_pem, false);
  profile::v1::Profile read;
  ASSERT_TRUE(Read(*stub, &read).ok());
  EXPECT_EQ(read.name(), "Tess Layer");
  ASSERT_TRUE(Write(*stub, "Tess Over gRPC", 1).ok());

  httplib::Result get = https->Get(absl::StrCat("/user/", kId).c_str());
  ASSERT_TRUE(get) << httplib::to_string(get.error());
  EXPECT_EQ(get->status, 200);
  EXPECT_TRUE(absl::StrContains(get->body, "Tess Over gRPC")) << get->body;
  EXPECT_EQ(get->get_header_value("ETag"), "\"2\"");
  // Keep-alive over TLS: the second request went on the first connection
  // or a new one; either way the gateway answers /healthz too.
  httplib::Result health = https->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(TlsTest, ClientsThatDoNotTrustTheCertificateOrSpeakPlainTextWriteNothing) {
  StartServer(TlsFlags());
  // A client that trusts another CA: the handshake fails, nothing is sent.
  std::unique_ptr<httplib::SSLClient> distrusting = Https(files_.other_ca, false);
  httplib::Result put =
      distrusting->Put(absl::StrCat("/user/", kId).c_str(), kBody, "application/json");
  EXPECT_FALSE(put) << "answered " << put->status;
  EXPECT_EQ(Write(*GrpcStub(pki_->other_ca_pem, false), "Not trusted").error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Plain text to TLS ports.
  const HostAndPort http = Split(server_->http_address());
  httplib::Client plain(http.host, http.port);
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  httplib::Result plain_put =
      plain.Put(absl::StrCat("/user/", kId).c_str(), kBody, "application/json");
  ASSERT_TRUE(plain_put) << httplib::to_string(plain_put.error());
  EXPECT_EQ(plain_put->status, 400);
  EXPECT_TRUE(absl::StrContains(plain_put->body, "https://")) << plain_put->body;
  auto insecure = profile::v1::ProfileService::NewStub(
      grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Write(*insecure, "Plain text").error_code(), grpc::StatusCode::UNAVAILABLE);

  profile::v1::Profile read;
  EXPECT_EQ(Read(*GrpcStub(pki_->ca_pem, false), &read).error_code(),
            grpc::StatusCode::NOT_FOUND)
      << "nothing was written";
}

TEST_F(TlsTest, WithAClientCaBothPortsRequireAClientCertificate) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--tls-client-ca-file=" + files_.ca);
  StartServer(flags);

  httplib::Result anonymous =
      Https(files_.ca, false)->Put(absl::StrCat("/user/", kId).c_str(), kBody, "application/json");
  EXPECT_FALSE(anonymous && anonymous->status == 200);
  EXPECT_EQ(Write(*GrpcStub(pki_->ca_pem, false), "Anonymous").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  profile::v1::Profile read;
  EXPECT_EQ(Read(*GrpcStub(pki_->ca_pem, true), &read).error_code(), grpc::StatusCode::NOT_FOUND)
      << "nothing was written";

  httplib::Result put =
      Https(files_.ca, true)->Put(absl::StrCat("/user/", kId).c_str(), kBody, "application/json");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  EXPECT_EQ(put->status, 201) << put->body;
  ASSERT_TRUE(Write(*GrpcStub(pki_->ca_pem, true), "Tess Mutual", 1).ok());
  ASSERT_TRUE(Read(*GrpcStub(pki_->ca_pem, true), &read).ok());
  EXPECT_EQ(read.name(), "Tess Mutual");
  EXPECT_EQ(read.version(), 2);
}

}  // namespace
}  // namespace profiles::testing
