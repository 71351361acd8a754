#include "apps/qml-client/sync/grpc_transport.h"

#include <grpcpp/client_context.h>

#include <QMetaObject>
#include <utility>

namespace profiles::client {

GrpcTransport::GrpcTransport(Options options, QObject* context)
    : options_(std::move(options)), context_(context), client_(NewClient()) {
  transport_context_ = std::make_unique<QObject>();
  transport_context_->moveToThread(&transport_thread_);
  transport_thread_.setObjectName(QStringLiteral("profiles-transport"));
  transport_thread_.start();
}

GrpcTransport::~GrpcTransport() {
  Reset();
  transport_thread_.quit();
  transport_thread_.wait();
  transport_context_.reset();
  std::unique_lock<std::mutex> lock(sends_->mu);
  sends_->done.wait(lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return sends_->count == 0; });
}

std::shared_ptr<ProfileClient> GrpcTransport::NewClient() const {
  return std::make_shared<ProfileClient>(ProfileClient::Options{
      .address = options_.address,
      .call_timeout = options_.call_timeout,
      .connect_timeout = options_.connect_timeout,
      .token = options_.token,
      .tls = options_.tls,
      .tls_ca_pem = options_.tls_ca_pem,
  });
}

template <typename Work>
void GrpcTransport::OnTransportThread(Work work) {
  QMetaObject::invokeMethod(transport_context_.get(), std::move(work), Qt::QueuedConnection);
}

template <typename AnswerFn>
void GrpcTransport::Answer(QObject* context, std::shared_ptr<uint64_t> generation, uint64_t started,
                           AnswerFn answer) {
  QMetaObject::invokeMethod(
      context,
      [generation = std::move(generation), started, answer = std::move(answer)]() mutable {
        if (*generation == started) answer();
      },
      Qt::QueuedConnection);
}

void GrpcTransport::CheckHealth(std::function<void(absl::StatusOr<std::string>)> done) {
  OnTransportThread([client = client_, context = context_, generation = generation_,
                     started = *generation_, done = std::move(done)]() mutable {
    absl::StatusOr<std::string> database_id = client->CheckHealth();
    Answer(context, generation, started,
           [done = std::move(done), database_id = std::move(database_id)] { done(database_id); });
  });
}

std::function<void(SendOutcome)> GrpcTransport::StartSend(std::function<void(SendOutcome)> done) {
  {
    std::lock_guard<std::mutex> lock(sends_->mu);
    ++sends_->count;
  }
  // The callback holds no reference to the client: it runs on a gRPC
  // thread inside the call's completion, where the client's last reference
  // must never be dropped (its destructor waits for this very send to
  // finish: a deadlock CI caught, when Qt destroyed an answer it could not
  // post during shutdown). The client outlives the call anyway: its
  // destructor, on the engine's or the transport's thread, waits for every
  // send it started.
  return [context = context_, generation = generation_, started = *generation_, sends = sends_,
          done = std::move(done)](SendOutcome outcome) mutable {
    Answer(context, generation, started,
           [done = std::move(done), outcome = std::move(outcome)]() mutable {
             done(std::move(outcome));
           });
    std::lock_guard<std::mutex> lock(sends->mu);
    --sends->count;
    sends->done.notify_all();
  };
}

void GrpcTransport::Send(profile::v1::UpdateProfileRequest request,
                         std::function<void(SendOutcome)> done) {
  client_->SendAsync(std::move(request), StartSend(std::move(done)));
}

void GrpcTransport::SendDelete(profile::v1::DeleteProfileRequest request,
                               std::function<void(SendOutcome)> done) {
  client_->SendDeleteAsync(std::move(request), StartSend(std::move(done)));
}

void GrpcTransport::Fetch(std::string id,
                          std::function<void(absl::StatusOr<profile::v1::Profile>)> done) {
  OnTransportThread([client = client_, context = context_, generation = generation_,
                     started = *generation_, id = std::move(id), done = std::move(done)]() mutable {
    absl::StatusOr<profile::v1::Profile> profile = client->Fetch(id);
    Answer(context, generation, started,
           [done = std::move(done), profile = std::move(profile)] { done(profile); });
  });
}

void GrpcTransport::Pull(std::string cursor,
                         std::function<void(profile::v1::ListProfilesResponse)> on_page,
                         std::function<void(absl::Status)> done) {
  OnTransportThread([client = client_, context = context_, generation = generation_,
                     started = *generation_, cursor = std::move(cursor),
                     on_page =
                         std::make_shared<std::function<void(profile::v1::ListProfilesResponse)>>(
                             std::move(on_page)),
                     done = std::move(done)]() mutable {
    const absl::Status status = client->Pull(cursor, [&](profile::v1::ListProfilesResponse page) {
      // Moved, not copied: a page holds up to 3 MiB of pictures.
      Answer(context, generation, started,
             [on_page, page = std::move(page)]() mutable { (*on_page)(std::move(page)); });
    });
    Answer(context, generation, started, [done = std::move(done), status] { done(status); });
  });
}

void GrpcTransport::Watch(std::string cursor,
                          std::function<void(std::vector<profile::v1::ProfileEvent>)> on_events,
                          std::function<void(absl::Status)> ended) {
  StopWatch();
  watch_context_ = std::make_unique<grpc::ClientContext>();
  watch_buffer_ = std::make_shared<WatchBuffer>();
  auto on_events_shared =
      std::make_shared<std::function<void(std::vector<profile::v1::ProfileEvent>)>>(
          std::move(on_events));
  watch_thread_ =
      std::thread([client = client_, context = context_, watch_context = watch_context_.get(),
                   buffer = watch_buffer_, generation = watch_generation_,
                   started = *watch_generation_, cursor = std::move(cursor),
                   on_events = on_events_shared, ended = std::move(ended)]() mutable {
        // Events that arrive while the engine is busy are handed over together.
        const absl::Status status =
            client->Watch(cursor, watch_context, [&](profile::v1::ProfileEvent event) {
              std::lock_guard<std::mutex> lock(buffer->mu);
              if (buffer->events.empty()) {
                Answer(context, generation, started, [buffer, on_events] {
                  std::vector<profile::v1::ProfileEvent> events;
                  {
                    std::lock_guard<std::mutex> lock(buffer->mu);
                    events.swap(buffer->events);
                  }
                  (*on_events)(std::move(events));
                });
              }
              buffer->events.push_back(std::move(event));
            });
        Answer(context, generation, started, [ended = std::move(ended), status] { ended(status); });
      });
}

void GrpcTransport::StopWatch() {
  ++*watch_generation_;
  if (!watch_thread_.joinable()) return;
  watch_context_->TryCancel();
  watch_thread_.join();
  watch_context_.reset();
  watch_buffer_.reset();
}

void GrpcTransport::Reset() {
  ++*generation_;
  client_->Shutdown();
  StopWatch();
  client_ = NewClient();
}

void GrpcTransport::SetAddress(const std::string& address) {
  options_.address = address;
  Reset();
}

void GrpcTransport::SetToken(const std::string& token) {
  options_.token = token;
  Reset();
}

void GrpcTransport::SetTls(bool tls, const std::string& ca_pem) {
  options_.tls = tls;
  options_.tls_ca_pem = ca_pem;
  Reset();
}

}  // namespace profiles::client
