// The app's sync core over TLS, end to end: a real profile_server that
// speaks only TLS on both ports (certificates made by the test), and
// SyncManager verifying the server's certificate against a private CA.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <QDeadlineTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <functional>
#include <memory>
#include <string>

#include "apps/qml-client/sync/sync_manager.h"
#include "profile/v1/profile.grpc.pb.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_database.h"

namespace profiles::client {
namespace {

using namespace std::chrono_literals;
using profiles::testing::ServerProcess;
using profiles::testing::TestDatabase;
using profiles::testing::TestPki;

class TlsSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(certificates_dir_.isValid());
    files_ = pki_.WriteTo(certificates_dir_.path().toStdString());
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  // A server whose both ports speak TLS only, with `certificate`/`key`.
  void StartServer(const std::string& certificate, const std::string& key) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(database_->url(), absl::Seconds(30), true,
                             {"--tls-cert-file=" + certificate, "--tls-key-file=" + key});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::unique_ptr<SyncManager> OpenDevice(const QTemporaryDir& data_dir, const std::string& ca) {
    SyncManager::Options options;
    options.data_dir = data_dir.path();
    options.server_address = QString::fromStdString(server_->grpc_address());
    options.tls = true;
    options.tls_ca_pem = QByteArray::fromStdString(ca);
    options.backoff = {.initial = 20ms, .max = 300ms};
    options.poll_interval = 500ms;
    options.connect_timeout = 1s;
    absl::StatusOr<std::unique_ptr<SyncManager>> manager = SyncManager::Open(std::move(options));
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? *std::move(manager) : nullptr;
  }

  // Waits, woken by snapshotChanged, until `done` holds of `manager`'s
  // snapshot; false after 30 s.
  static bool WaitFor(SyncManager& manager,
                      const std::function<bool(const ClientSnapshot&)>& done) {
    const QDeadlineTimer deadline(30s);
    while (!done(*manager.snapshot())) {
      if (deadline.hasExpired()) return false;
      QSignalSpy spy(&manager, &SyncManager::snapshotChanged);
      spy.wait(200);
    }
    return true;
  }

  // The profile as the server has it, asked over gRPC with TLS trusting
  // `ca` (the server's own).
  grpc::Status ServerProfile(const std::string& id, profile::v1::Profile* profile,
                             const std::string& ca = pki_.ca_pem) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    auto stub = profile::v1::ProfileService::NewStub(
        grpc::CreateChannel(server_->grpc_address(), grpc::SslCredentials(ssl)));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    profile::v1::GetProfileRequest request;
    request.set_id(id);
    return stub->GetProfile(&context, request, profile);
  }

  static const TestPki pki_;
  QTemporaryDir certificates_dir_;
  TestPki::Files files_;
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
};

const TestPki TlsSyncTest::pki_ = profiles::testing::MakeTestPki();

TEST_F(TlsSyncTest, AnEditReachesTheServerAndAnotherDeviceOverTls) {
  StartServer(files_.server_certificate, files_.server_key);
  QTemporaryDir phone_dir, tablet_dir;
  std::unique_ptr<SyncManager> phone = OpenDevice(phone_dir, pki_.ca_pem);
  std::unique_ptr<SyncManager> tablet = OpenDevice(tablet_dir, pki_.ca_pem);
  ASSERT_NE(phone, nullptr);
  ASSERT_NE(tablet, nullptr);

  const QString id = phone->createProfile(QStringLiteral("Zoë Over-TLS"),
                                          QStringLiteral("zoe@example.com"), QByteArray());
  ASSERT_TRUE(WaitFor(*phone, [](const ClientSnapshot& snapshot) {
    return snapshot.pending_count == 0 && snapshot.connection == ConnectionState::kOnline;
  })) << phone->snapshot()->last_error;
  profile::v1::Profile stored;
  ASSERT_TRUE(ServerProfile(id.toStdString(), &stored).ok());
  EXPECT_EQ(stored.name(), "Zoë Over-TLS");
  EXPECT_EQ(stored.version(), 1);

  ASSERT_TRUE(WaitFor(*tablet, [&id](const ClientSnapshot& snapshot) {
    for (const ProfileView& view : snapshot.profiles) {
      if (view.profile->id() == id.toStdString()) return true;
    }
    return false;
  })) << tablet->snapshot()->last_error;
}

TEST_F(TlsSyncTest, AServerWhoseCertificateTheAppDoesNotTrustIsNeverSentAnEdit) {
  // A man in the middle: the right names, a CA the app does not trust.
  StartServer(files_.impostor_certificate, files_.impostor_key);
  QTemporaryDir phone_dir;
  std::unique_ptr<SyncManager> phone = OpenDevice(phone_dir, pki_.ca_pem);
  ASSERT_NE(phone, nullptr);
  const QString id = phone->createProfile(QStringLiteral("Secret"),
                                          QStringLiteral("secret@example.com"), QByteArray());
  ASSERT_TRUE(WaitFor(*phone, [](const ClientSnapshot& snapshot) {
    return !snapshot.last_error.empty();
  }));
  const std::shared_ptr<const ClientSnapshot> snapshot = phone->snapshot();
  EXPECT_EQ(snapshot->connection, ConnectionState::kOffline);
  EXPECT_NE(snapshot->last_error.find("trusts the CA"), std::string::npos) << snapshot->last_error;
  EXPECT_EQ(snapshot->pending_count, 1u) << "the edit waits on the device";
  profile::v1::Profile stored;
  EXPECT_EQ(ServerProfile(id.toStdString(), &stored, pki_.other_ca_pem).error_code(),
            grpc::StatusCode::NOT_FOUND)
      << "nothing reached the server";
}

TEST_F(TlsSyncTest, APlainTextDeviceGetsNoAnswerUntilTlsIsTurnedOn) {
  StartServer(files_.server_certificate, files_.server_key);
  QTemporaryDir phone_dir;
  SyncManager::Options options;
  options.data_dir = phone_dir.path();
  options.server_address = QString::fromStdString(server_->grpc_address());
  options.backoff = {.initial = 20ms, .max = 300ms};
  options.connect_timeout = 1s;
  absl::StatusOr<std::unique_ptr<SyncManager>> phone = SyncManager::Open(std::move(options));
  ASSERT_TRUE(phone.ok()) << phone.status();
  const QString id = (*phone)->createProfile(
      QStringLiteral("Plain"), QStringLiteral("plain@example.com"), QByteArray());
  ASSERT_TRUE(WaitFor(**phone, [](const ClientSnapshot& snapshot) {
    return !snapshot.last_error.empty();
  }));
  EXPECT_EQ((*phone)->snapshot()->pending_count, 1u);
  EXPECT_NE((*phone)->snapshot()->last_error.find("Encrypted connection"), std::string::npos)
      << (*phone)->snapshot()->last_error;
  profile::v1::Profile stored;
  EXPECT_EQ(ServerProfile(id.toStdString(), &stored).error_code(), grpc::StatusCode::NOT_FOUND);

  // The user turns TLS on in Settings: the waiting edit goes, once.
  (*phone)->setTls(true, QByteArray::fromStdString(pki_.ca_pem));
  ASSERT_TRUE(WaitFor(**phone, [](const ClientSnapshot& snapshot) {
    return snapshot.pending_count == 0 && snapshot.connection == ConnectionState::kOnline;
  })) << (*phone)->snapshot()->last_error;
  ASSERT_TRUE(ServerProfile(id.toStdString(), &stored).ok());
  EXPECT_EQ(stored.name(), "Plain");
  EXPECT_EQ(stored.version(), 1);
}

}  // namespace
}  // namespace profiles::client
