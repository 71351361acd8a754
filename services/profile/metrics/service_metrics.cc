#include "services/profile/metrics/service_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <utility>

namespace profiles {
namespace {

// Requests: from a cache hit (well under a millisecond) to the 10 s request
// timeout.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// The change feed: a notified change arrives in milliseconds; one found by
// the safety-net poll up to a second late; one published after the feed
// reconnected, seconds to a minute late.
const prometheus::Histogram::BucketBoundaries kFeedLagBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

std::string_view ProtocolLabel(ServiceMetrics::Protocol protocol) {
  return protocol == ServiceMetrics::Protocol::kGrpc ? "grpc" : "http";
}

}  // namespace

struct ServiceMetrics::Callback {
  std::string name;
  std::string help;
  prometheus::MetricType type;
  std::function<double()> read;
  const void* owner;
};

ServiceMetrics::ServiceMetrics()
    : registry_(std::make_unique<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("profiles_requests_total")
                    .Help("Calls answered, by protocol (grpc, http), method (an RPC name or a "
                          "REST route) and status (a gRPC code name or an HTTP status).")
                    .Register(*registry_)),
      request_duration_(prometheus::BuildHistogram()
                            .Name("profiles_request_duration_seconds")
                            .Help("Time from a request's arrival to its answer, by protocol and "
                                  "method (streams not included).")
                            .Register(*registry_)),
      version_conflicts_(prometheus::BuildCounter()
                             .Name("profiles_version_conflicts_total")
                             .Help("Writes refused because their base version was not the "
                                   "current one (ABORTED; REST 409, 412 or 428).")
                             .Register(*registry_)
                             .Add({})),
      idempotent_replays_(prometheus::BuildCounter()
                              .Name("profiles_idempotent_replays_total")
                              .Help("Writes whose mutation id was applied before: answered with "
                                    "the first result, nothing written.")
                              .Register(*registry_)
                              .Add({})),
      watch_events_sent_(prometheus::BuildCounter()
                             .Name("profiles_watch_events_sent_total")
                             .Help("Profile changes handed to WatchProfiles streams.")
                             .Register(*registry_)
                             .Add({})),
      change_feed_lag_(prometheus::BuildHistogram()
                           .Name("profiles_change_feed_lag_seconds")
                           .Help("From a change's commit (its updated_at, PostgreSQL's clock) to "
                                 "its delivery to this process's watchers and cache (this "
                                 "host's clock).")
                           .Register(*registry_)
                           .Add({}, kFeedLagBuckets)) {}

ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::RecordRequest(Protocol protocol, std::string_view method,
                                   std::string_view status, std::optional<absl::Duration> latency) {
  const std::string_view protocol_label = ProtocolLabel(protocol);
  // The key, built without allocating for any realistic label.
  char buffer[256];
  std::string key_storage;
  std::string_view key;
  const size_t key_size = protocol_label.size() + method.size() + status.size() + 2;
  if (key_size <= sizeof buffer) {
    char* end = std::copy(protocol_label.begin(), protocol_label.end(), buffer);
    *end++ = '\0';
    end = std::copy(method.begin(), method.end(), end);
    *end++ = '\0';
    end = std::copy(status.begin(), status.end(), end);
    key = std::string_view(buffer, static_cast<size_t>(end - buffer));
  } else {
    key_storage.append(protocol_label)
        .append(1, '\0')
        .append(method)
        .append(1, '\0')
        .append(status);
    key = key_storage;
  }

  RequestSeries series;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = request_series_.find(absl::string_view(key.data(), key.size()));
    if (it != request_series_.end()) series = it->second;
  }
  // A stream's method never gets a (forever empty) latency histogram.
  const bool timed = latency.has_value();
  if (series.requests == nullptr || (timed && series.latency == nullptr)) {
    // Family::Add returns the existing metric for labels it has seen, so two
    // threads racing here get the same one.
    series.requests = &requests_.Add({{"protocol", std::string(protocol_label)},
                                      {"method", std::string(method)},
                                      {"status", std::string(status)}});
    if (timed) series.latency = &LatencyHistogram(protocol_label, method);
    absl::MutexLock lock(&mu_);
    request_series_[std::string(key)] = series;
  }
  series.requests->Increment();
  if (timed) {
    series.latency->Observe(absl::ToDoubleSeconds(std::max(*latency, absl::ZeroDuration())));
  }
}

prometheus::Histogram& ServiceMetrics::LatencyHistogram(std::string_view protocol,
                                                        std::string_view method) {
  std::string key;
  key.append(protocol).append(1, '\0').append(method);
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = latency_histograms_.find(key);
    if (it != latency_histograms_.end()) return *it->second;
  }
  prometheus::Histogram& added = request_duration_.Add(
      {{"protocol", std::string(protocol)}, {"method", std::string(method)}}, kLatencyBuckets);
  absl::MutexLock lock(&mu_);
  latency_histograms_.emplace(key, &added);
  return added;
}

void ServiceMetrics::RecordVersionConflict() { version_conflicts_.Increment(); }

void ServiceMetrics::RecordIdempotentReplay() { idempotent_replays_.Increment(); }

void ServiceMetrics::RecordWatchEventsSent(int64_t events) {
  if (events > 0) watch_events_sent_.Increment(static_cast<double>(events));
}

void ServiceMetrics::RecordChangeFeedLag(absl::Duration lag) {
  change_feed_lag_.Observe(absl::ToDoubleSeconds(std::max(lag, absl::ZeroDuration())));
}

void ServiceMetrics::AddGauge(std::string name, std::string help, std::function<double()> read,
                              const void* owner) {
  absl::MutexLock lock(&mu_);
  callbacks_.push_back(
      {std::move(name), std::move(help), prometheus::MetricType::Gauge, std::move(read), owner});
}

void ServiceMetrics::AddCounter(std::string name, std::string help, std::function<double()> read,
                                const void* owner) {
  absl::MutexLock lock(&mu_);
  callbacks_.push_back(
      {std::move(name), std::move(help), prometheus::MetricType::Counter, std::move(read), owner});
}

void ServiceMetrics::RemoveCallbacks(const void* owner) {
  // Under the writer lock: a Text() reading a callback holds the reader
  // lock, so once this returns no callback of `owner` runs.
  absl::MutexLock lock(&mu_);
  std::erase_if(callbacks_, [owner](const Callback& callback) { return callback.owner == owner; });
}

std::string ServiceMetrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const Callback& callback : callbacks_) {
      prometheus::MetricFamily family;
      family.name = callback.name;
      family.help = callback.help;
      family.type = callback.type;
      prometheus::ClientMetric metric;
      if (callback.type == prometheus::MetricType::Counter) {
        metric.counter.value = callback.read();
      } else {
        metric.gauge.value = callback.read();
      }
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
    }
  }
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
              return a.name < b.name;
            });
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace profiles
