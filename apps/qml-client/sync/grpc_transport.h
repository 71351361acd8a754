#ifndef PROFILES_APPS_QML_CLIENT_SYNC_GRPC_TRANSPORT_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_GRPC_TRANSPORT_H_

// GrpcTransport: the ProfileTransport the app uses, over a ProfileClient
// (profile_client.h). Sends are asynchronous gRPC calls, several at once on
// one channel; health checks, fetches and pulls block a transport thread of
// their own, one at a time, so they never hold up the engine; a watch blocks
// a thread of its own. Every answer is posted to the thread of `context`
// (the engine's), and dropped there if Reset() came after the call started:
// a counter, read and bumped only on that thread, tells.
//
// Thread safety: as ProfileTransport (the engine's thread only). The
// destructor cancels everything and waits for the threads and for the
// callbacks of sends in progress.

#include <QObject>
#include <QThread>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "apps/qml-client/sync/profile_client.h"
#include "apps/qml-client/sync/profile_transport.h"

namespace grpc {
class ClientContext;
}

namespace profiles::client {

class GrpcTransport final : public ProfileTransport {
 public:
  struct Options {
    std::string address;
    std::string token{};  // bearer token; empty: none
    // TLS, and the CAs to trust (empty: the system's): ProfileClient::Options.
    bool tls = false;
    std::string tls_ca_pem{};
    std::chrono::milliseconds call_timeout{10000};
    std::chrono::milliseconds connect_timeout{2000};
  };

  // Answers are posted to `context`'s thread, which must outlive this.
  GrpcTransport(Options options, QObject* context);
  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;
  ~GrpcTransport() override;

  void CheckHealth(std::function<void(absl::StatusOr<std::string>)> done) override;
  void Send(profile::v1::UpdateProfileRequest request,
            std::function<void(SendOutcome)> done) override;
  void SendDelete(profile::v1::DeleteProfileRequest request,
                  std::function<void(SendOutcome)> done) override;
  void Fetch(std::string id,
             std::function<void(absl::StatusOr<profile::v1::Profile>)> done) override;
  void Pull(std::string cursor, std::function<void(profile::v1::ListProfilesResponse)> on_page,
            std::function<void(absl::Status)> done) override;
  void Watch(std::string cursor,
             std::function<void(std::vector<profile::v1::ProfileEvent>)> on_events,
             std::function<void(absl::Status)> ended) override;
  void StopWatch() override;
  void Reset() override;
  void SetAddress(const std::string& address) override;
  void SetToken(const std::string& token) override;
  void SetTls(bool tls, const std::string& ca_pem) override;
  const std::string& address() const override { return options_.address; }

 private:
  // Sends whose callback has not finished, of any generation: the
  // destructor waits for them, since their callbacks post to `context_`.
  struct SendsInProgress {
    std::mutex mu;
    std::condition_variable done;
    int count ABSL_GUARDED_BY(mu) = 0;
  };
  // Events of the watch not yet handed to the engine.
  struct WatchBuffer {
    std::mutex mu;
    std::vector<profile::v1::ProfileEvent> events ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<ProfileClient> NewClient() const;
  // Counts a send as started and returns its completion, for the client's
  // SendAsync()/SendDeleteAsync(): it answers `done` on the engine's thread
  // (Answer()) and then counts the send finished.
  std::function<void(SendOutcome)> StartSend(std::function<void(SendOutcome)> done);
  // Runs `work` on the transport thread.
  template <typename Work>
  void OnTransportThread(Work work);
  // Runs `answer` on the engine's thread unless the generation it was
  // started in has ended by then. Callable from any thread.
  template <typename Answer>
  static void Answer(QObject* context, std::shared_ptr<uint64_t> generation, uint64_t started,
                     Answer answer);

  Options options_;
  QObject* const context_;
  std::shared_ptr<ProfileClient> client_;
  // Bumped by Reset(); read and written on the engine's thread only.
  std::shared_ptr<uint64_t> generation_ = std::make_shared<uint64_t>(0);
  std::shared_ptr<SendsInProgress> sends_ = std::make_shared<SendsInProgress>();
  QThread transport_thread_;
  std::unique_ptr<QObject> transport_context_;
  std::thread watch_thread_;
  std::unique_ptr<grpc::ClientContext> watch_context_;
  std::shared_ptr<WatchBuffer> watch_buffer_;
  // Bumped by StopWatch(): the stopped watch's answers are dropped.
  std::shared_ptr<uint64_t> watch_generation_ = std::make_shared<uint64_t>(0);
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_GRPC_TRANSPORT_H_
