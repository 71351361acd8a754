#ifndef PROFILES_SERVICES_PROFILE_METRICS_SERVICE_METRICS_H_
#define PROFILES_SERVICES_PROFILE_METRICS_SERVICE_METRICS_H_

// ServiceMetrics holds the server's metrics and renders them in Prometheus's
// text format (version 0.0.4), which the REST gateway serves at GET /metrics.
// Built on Debian's prometheus-cpp (core only: the gateway serves the text,
// so no second HTTP server is needed).
//
// What the server counts (every name starts with "profiles_"):
//   requests_total{protocol,method,status}           counter, one per call
//   request_duration_seconds{protocol,method}        histogram, unary calls
//   version_conflicts_total                          counter
//   idempotent_replays_total                         counter
//   watch_events_sent_total                          counter
//   change_feed_lag_seconds                          histogram
// protocol is "grpc" or "http"; method an RPC name ("GetProfile") or a REST
// route ("GET /user/{id}"), never a raw path, and status a gRPC code name
// ("NOT_FOUND") or an HTTP status ("404"), so every label has a small, fixed
// set of values. Numbers that are a current state (connections in use, open
// watches, the cache's hits) are not kept here in step with their owner:
// the owner registers a callback (AddGauge(), AddCounter()) that is read at
// each scrape.
//
// Recording costs a lock-free counter increment and, for histograms,
// prometheus-cpp's short per-histogram lock; a request's series are found
// with one lookup under a reader lock, and created on their first use.
//
// Example:
//   ServiceMetrics metrics;
//   metrics.AddGauge("profiles_watch_streams_open", "Open WatchProfiles streams.",
//                    [&core] { return core.open_watches(); });
//   metrics.RecordRequest(ServiceMetrics::Protocol::kGrpc, "GetProfile", "OK",
//                         absl::Milliseconds(3));
//   std::string text = metrics.Text();
//
// Thread-safe. Callbacks run on the thread calling Text() and must be
// thread-safe and quick, and must not call back into ServiceMetrics; what
// they read must stay valid until they are removed (RemoveCallbacks()) or
// Text() is no longer called.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace profiles {

class ServiceMetrics {
 public:
  enum class Protocol { kGrpc, kHttp };

  // The Content-Type of Text().
  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  ServiceMetrics();
  ~ServiceMetrics();

  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // One call that ended with `status`. `latency` goes into the latency
  // histogram; nullopt for a stream, whose length says nothing about the
  // server's speed. REQUIRES: `method` and `status` come from small fixed
  // sets (see above).
  void RecordRequest(Protocol protocol, std::string_view method, std::string_view status,
                     std::optional<absl::Duration> latency);

  // A write refused because its base version was not the current one.
  void RecordVersionConflict();
  // A write whose mutation id had been applied before: answered with its
  // first result, nothing written.
  void RecordIdempotentReplay();
  // `events` handed to watch streams.
  void RecordWatchEventsSent(int64_t events);
  // How long after its commit a change reached this process's watchers
  // (negative lags, from clock skew between hosts, count as zero).
  void RecordChangeFeedLag(absl::Duration lag);

  // A gauge or counter whose value `read` returns at each scrape, until
  // RemoveCallbacks(owner). `name` must be a valid metric name not used by
  // another metric.
  void AddGauge(std::string name, std::string help, std::function<double()> read,
                const void* owner = nullptr);
  void AddCounter(std::string name, std::string help, std::function<double()> read,
                  const void* owner = nullptr);
  // Drops the callbacks added with `owner`, which may then go away: a scrape
  // running now finishes first.
  void RemoveCallbacks(const void* owner);

  // Every metric in Prometheus's text format.
  std::string Text() const;

 private:
  struct Callback;

  prometheus::Histogram& LatencyHistogram(std::string_view protocol, std::string_view method);

  const std::unique_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Counter& version_conflicts_;
  prometheus::Counter& idempotent_replays_;
  prometheus::Counter& watch_events_sent_;
  prometheus::Histogram& change_feed_lag_;

  // A request's counter and latency histogram, found with one lookup.
  struct RequestSeries {
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* latency = nullptr;
  };

  // The metrics of each label combination seen so far, keyed by their labels
  // joined with '\0' (protocol, method, status; protocol, method). The
  // families own the metrics, which live as long as the registry.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, RequestSeries> request_series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> latency_histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<Callback> callbacks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_METRICS_SERVICE_METRICS_H_
