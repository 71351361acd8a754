// profile_server: the ProfileService over gRPC and its REST gateway over HTTP,
// on PostgreSQL. Flags and wiring only; everything else lives in the
// component libraries.

#include <dlfcn.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/profile_contract/host_port.h"
#include "services/profile/auth/token_authority.h"
#include "services/profile/cli/command_line.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/grpc/profile_service.h"
#include "services/profile/grpc/request_interceptor.h"
#include "services/profile/http/http_gateway.h"
#include "services/profile/logging/log.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/storage/change_stream_health.h"
#include "services/profile/storage/migrator.h"
#include "services/profile/storage/retention_pruner.h"
#include "services/profile/storage/storage_startup.h"
#include "services/profile/tls/tls_credentials.h"

namespace profiles {
namespace {

// The duration in environment variable `name`, or `fallback` when it is not
// set. A value that does not parse (or is not positive) gives zero, which
// Run() refuses naming the flag and the variable, as it does a bad
// PROFILES_POOL_SIZE, rather than silently running with the default.
absl::Duration EnvDurationOr(const char* name, absl::Duration fallback) {
  const std::string value = EnvOr(name, "");
  if (value.empty()) return fallback;
  absl::Duration parsed;
  return absl::ParseDuration(value, &parsed) ? parsed : absl::ZeroDuration();
}

}  // namespace
}  // namespace profiles

ABSL_FLAG(std::string, grpc_address, profiles::EnvOr("PROFILES_GRPC_ADDRESS", "127.0.0.1:50051"),
          "host:port for gRPC (env PROFILES_GRPC_ADDRESS); port 0 picks a free one");
ABSL_FLAG(std::string, http_address, profiles::EnvOr("PROFILES_HTTP_ADDRESS", "127.0.0.1:8080"),
          "host:port for the REST gateway (env PROFILES_HTTP_ADDRESS); port 0 picks a free one");
ABSL_FLAG(std::string, database_url, profiles::EnvOr("DATABASE_URL", ""),
          "PostgreSQL connection URL, e.g. postgresql://user@host:5432/profiles "
          "(env DATABASE_URL); required");
ABSL_FLAG(int, pool_size, std::atoi(profiles::EnvOr("PROFILES_POOL_SIZE", "16").c_str()),
          "PostgreSQL connections in the pool (env PROFILES_POOL_SIZE)");
ABSL_FLAG(int, http_threads, 2,
          "threads serving the REST gateway's sockets (they never wait for the database)");
ABSL_FLAG(int, http_max_connections, 4096,
          "open HTTP connections; more are answered 503 with Retry-After and closed");
ABSL_FLAG(absl::Duration, http_read_timeout,
          profiles::EnvDurationOr("PROFILES_HTTP_READ_TIMEOUT", absl::Seconds(30)),
          "time a client has to send one whole HTTP request (header and body, e.g. 30s, 500ms), "
          "which is also how long an idle keep-alive connection stays open; a slower client is "
          "disconnected (env PROFILES_HTTP_READ_TIMEOUT)");
ABSL_FLAG(absl::Duration, shutdown_grace,
          profiles::EnvDurationOr("PROFILES_SHUTDOWN_GRACE", absl::Seconds(10)),
          "on SIGTERM or SIGINT, how long calls in flight may take to finish (e.g. 10s): new "
          "connections are refused at once, /readyz and gRPC health say NOT_SERVING, watch "
          "streams end UNAVAILABLE so clients resume from their cursor elsewhere, idle HTTP "
          "connections close; what is still running after it is cancelled, and the process "
          "exits 0 (env PROFILES_SHUTDOWN_GRACE)");
ABSL_FLAG(int64_t, cache_bytes, int64_t{256} << 20,
          "bytes of profiles the in-process read cache may hold (0 disables it)");
ABSL_FLAG(int, max_watch_streams, 16384,
          "open WatchProfiles streams this process holds; more are refused with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, watch_queue_bytes, int64_t{4} << 20,
          "bytes of changes queued for one watcher before it must catch up from the database");
ABSL_FLAG(int, max_queued_requests, 4096,
          "requests waiting for a database connection; more are refused (gRPC "
          "RESOURCE_EXHAUSTED, HTTP 503 with Retry-After)");
ABSL_FLAG(std::vector<std::string>, cors_origins,
          absl::StrSplit(profiles::EnvOr("PROFILES_CORS_ORIGINS", ""), ',', absl::SkipEmpty()),
          "origins whose web pages may call the REST API, comma-separated, as browsers send "
          "them (https://app.example.com) (env PROFILES_CORS_ORIGINS); none by default");
ABSL_FLAG(std::vector<std::string>, allowed_hosts,
          absl::StrSplit(profiles::EnvOr("PROFILES_ALLOWED_HOSTS", ""), ',', absl::SkipEmpty()),
          "names the REST API answers for in Host, comma-separated, without ports; others get "
          "421 (env PROFILES_ALLOWED_HOSTS). Default: localhost, 127.0.0.1, ::1 and the "
          "--http-address host. '*' answers any (behind a proxy that checks Host itself)");
ABSL_FLAG(bool, grpc_reflection,
          profiles::EnvOr("PROFILES_GRPC_REFLECTION", "") == std::string("1"),
          "serve gRPC server reflection (grpc.reflection.v1alpha), which lists every method and "
          "message to anyone who asks (env PROFILES_GRPC_REFLECTION=1); off by default. Health "
          "is always served");
ABSL_FLAG(std::string, auth, profiles::EnvOr("PROFILES_AUTH", "on"),
          "on: every call needs a bearer token signed with the --auth-key-file key (gRPC "
          "metadata or HTTP header 'authorization: Bearer ...'; mint with profilectl token); "
          "off: no checks at all, for local development only, refused unless both addresses "
          "are loopback (env PROFILES_AUTH)");
ABSL_FLAG(std::string, auth_key_file, profiles::EnvOr("PROFILES_AUTH_KEY_FILE", ""),
          "the token key: a secret of 32+ bytes (HS256; e.g. openssl rand -base64 48), or a PEM "
          "EC P-256 key, private or only public (ES256) (env PROFILES_AUTH_KEY_FILE). Never "
          "given on the command line itself, so it stays out of ps and shell history");
ABSL_FLAG(std::string, read_scope, profiles::EnvOr("PROFILES_READ_SCOPE", "all"),
          "what a user who is not an admin may read: 'all' (every profile, listings and watches, "
          "as the app's list needs) or 'own' (their own profile only) (env PROFILES_READ_SCOPE)");
ABSL_FLAG(double, reads_per_second, 200,
          "reads (GetProfile, ListProfiles pages, watches opened, service info) per caller per "
          "second, in bursts of up to 5 seconds' worth; a caller is a user, or an address for "
          "calls without a valid token. Beyond: RESOURCE_EXHAUSTED / 429 with the delay "
          "(RetryInfo, Retry-After). 0: no limit");
ABSL_FLAG(double, writes_per_second, 50,
          "writes (UpdateProfile, DeleteProfile, PUT, PATCH, DELETE) per caller per second, in bursts of up to 5 "
          "seconds' worth; as --reads-per-second. 0: no limit");
ABSL_FLAG(std::string, tls_cert_file, profiles::EnvOr("PROFILES_TLS_CERT_FILE", ""),
          "PEM certificate chain (the server's certificate first): with --tls-key-file, both "
          "ports speak TLS only (gRPC over TLS, HTTPS), TLS 1.2 or later (env "
          "PROFILES_TLS_CERT_FILE). Without: plain gRPC and HTTP, for loopback or behind a proxy "
          "that terminates TLS");
ABSL_FLAG(std::string, tls_key_file, profiles::EnvOr("PROFILES_TLS_KEY_FILE", ""),
          "PEM private key of --tls-cert-file, unencrypted (env PROFILES_TLS_KEY_FILE)");
ABSL_FLAG(std::string, tls_client_ca_file, profiles::EnvOr("PROFILES_TLS_CLIENT_CA_FILE", ""),
          "PEM CA certificates: every client must present a certificate one of them signed "
          "(mutual TLS, on both ports); needs --tls-cert-file (env PROFILES_TLS_CLIENT_CA_FILE). "
          "Bearer tokens are still required: a client certificate says which machine calls, a "
          "token which user");
ABSL_FLAG(absl::Duration, idempotency_retention,
          profiles::EnvDurationOr("PROFILES_IDEMPOTENCY_RETENTION", absl::Hours(24 * 30)),
          "how long a write's mutation_id is remembered, so that a retry returns the first "
          "result (e.g. 720h, the default: 30 days); older records are deleted in the background. "
          "A retry after that is refused as a version conflict, never applied twice. Keep it "
          "longer than devices stay offline (env PROFILES_IDEMPOTENCY_RETENTION)");
ABSL_FLAG(absl::Duration, idempotency_prune_interval, absl::Hours(1),
          "how often expired idempotency records and tombstones are removed (one replica at a "
          "time)");
ABSL_FLAG(absl::Duration, tombstone_retention,
          profiles::EnvDurationOr("PROFILES_TOMBSTONE_RETENTION", absl::Hours(24 * 90)),
          "how long a deleted profile's tombstone stays in the change stream, so that every "
          "device learns of the delete (e.g. 2160h, the default: 90 days). A client whose cursor "
          "is older is told CURSOR_EXPIRED (REST 410) and lists again from the start, so a "
          "deleted profile never comes back through a stale cursor. Keep it longer than devices "
          "stay offline (env PROFILES_TOMBSTONE_RETENTION)");
ABSL_FLAG(int64_t, change_lag_alarm_bytes, int64_t{256} << 20,
          "the change stream is reported unhealthy (gRPC health service "
          "\"profiles.ChangeStream\", and a warning in the log) when PostgreSQL keeps more than "
          "this many bytes of WAL for its replication slot; keep it well below the database's "
          "max_slot_wal_keep_size");
ABSL_FLAG(std::string, log_format, profiles::EnvOr("PROFILES_LOG_FORMAT", "json"),
          "json: one JSON object per line on stderr (time, level, msg, then fields), for log "
          "collectors; text: 'profile_server: msg key=value ...', for a terminal "
          "(env PROFILES_LOG_FORMAT)");
ABSL_FLAG(std::string, log_level, profiles::EnvOr("PROFILES_LOG_LEVEL", "info"),
          "the least severe lines logged: debug (also every write, with its request id), info, "
          "warning or error (env PROFILES_LOG_LEVEL)");
ABSL_FLAG(std::string, access_log, profiles::EnvOr("PROFILES_ACCESS_LOG", "on"),
          "on: one line per request, both protocols (method or route, status, duration, peer, "
          "request id, the caller's user id; never a body or a token); off: only requests that "
          "failed on the server's side (env PROFILES_ACCESS_LOG). Metrics count every request "
          "either way (GET /metrics on the HTTP port, no token needed; its Host must be in "
          "--allowed-hosts like any other request's)");
ABSL_FLAG(bool, migrate_only, false,
          "apply the database migrations and exit (one attempt: exits 1 at once when the "
          "database is unreachable; without this flag the server waits for it)");

namespace {

constexpr char kServiceName[] = "profile.v1.ProfileService";

// Every HTTP connection and every gRPC connection is a file descriptor; the
// usual soft limit of 1024 would refuse connections long before
// --http-max-connections. Raising the soft limit to the hard one is what the
// limits are for, and needs no privilege.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

bool ListensOnLoopbackOnly(const std::string& address) {
  profiles::HostPort parsed;
  return profiles::CheckHostPort(address, /*port_zero_allowed=*/true, &parsed) ==
             profiles::AddressProblem::kNone &&
         profiles::IsLoopbackHost(parsed.host);
}

// Who may call, from --auth, --auth-key-file and --read-scope; an error
// message when they do not fit together.
absl::StatusOr<std::pair<std::optional<profiles::TokenAuthority>, profiles::ReadScope>>
AuthFromFlags() {
  const std::string scope = absl::GetFlag(FLAGS_read_scope);
  if (scope != "all" && scope != "own") {
    return absl::InvalidArgumentError(
        absl::StrCat("--read-scope must be 'all' or 'own', not '", scope, "'"));
  }
  const profiles::ReadScope read_scope =
      scope == "own" ? profiles::ReadScope::kOwnProfile : profiles::ReadScope::kEveryProfile;
  const std::string auth = absl::GetFlag(FLAGS_auth);
  if (auth == "off") {
    for (const std::string& address :
         {absl::GetFlag(FLAGS_grpc_address), absl::GetFlag(FLAGS_http_address)}) {
      if (!ListensOnLoopbackOnly(address)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--auth=off is for local development and is refused on ", address,
            ", which other machines can reach; listen on 127.0.0.1 or give --auth-key-file"));
      }
    }
    profiles::LogWarning(
        "authentication is OFF (--auth=off): every local caller may read and overwrite every "
        "profile. For local development only.");
    return std::make_pair(std::nullopt, read_scope);
  }
  if (auth != "on") {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth must be 'on' or 'off', not '", auth, "'"));
  }
  const std::string key_file = absl::GetFlag(FLAGS_auth_key_file);
  if (key_file.empty()) {
    return absl::InvalidArgumentError(
        "no token key: pass --auth-key-file or set PROFILES_AUTH_KEY_FILE (make one with: "
        "umask 077; openssl rand -base64 48 > profiles.key), or --auth=off for local "
        "development");
  }
  absl::StatusOr<profiles::TokenAuthority> tokens = profiles::TokenAuthority::FromKeyFile(key_file);
  if (!tokens.ok()) return tokens.status();
  profiles::LogInfo(
      "auth on",
      {{"algorithm", tokens->algorithm()}, {"key_file", key_file}, {"read_scope", scope}});
  return std::make_pair(std::optional<profiles::TokenAuthority>(*std::move(tokens)), read_scope);
}

// A rate with bursts of 5 seconds' worth: a first sync's pages or a backlog
// of offline edits passes at once, a steady flood does not.
profiles::RateLimiter::Rate RateOf(double per_second) {
  return {.per_second = per_second, .burst = std::max(1.0, 5 * per_second)};
}

absl::StatusOr<profiles::ProfileCore::Options> CoreOptions() {
  if (absl::GetFlag(FLAGS_reads_per_second) < 0 || absl::GetFlag(FLAGS_writes_per_second) < 0) {
    return absl::InvalidArgumentError(
        "--reads-per-second and --writes-per-second must not be negative (0: no limit)");
  }
  auto auth = AuthFromFlags();
  if (!auth.ok()) return auth.status();
  return profiles::ProfileCore::Options{
      .storage_workers = absl::GetFlag(FLAGS_pool_size),
      .max_queued_calls = absl::GetFlag(FLAGS_max_queued_requests),
      .cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_cache_bytes)),
      .max_watches = absl::GetFlag(FLAGS_max_watch_streams),
      .watch_queue_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_watch_queue_bytes)),
      .tokens = std::move(auth->first),
      .read_scope = auth->second,
      .read_rate = RateOf(absl::GetFlag(FLAGS_reads_per_second)),
      .write_rate = RateOf(absl::GetFlag(FLAGS_writes_per_second))};
}

// The TLS identity from --tls-cert-file, --tls-key-file and
// --tls-client-ca-file; nullopt for plain transports.
absl::StatusOr<std::optional<profiles::TlsCredentials>> TlsFromFlags() {
  const std::string certificate = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (certificate.empty() && key.empty()) {
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca-file needs TLS: give --tls-cert-file and --tls-key-file too");
    }
    return std::nullopt;
  }
  if (certificate.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls-cert-file and --tls-key-file (or neither, for plain transports)");
  }
  absl::StatusOr<profiles::TlsCredentials> tls = profiles::LoadTlsCredentials(
      {.certificate_file = certificate, .key_file = key, .client_ca_file = client_ca});
  if (!tls.ok()) return tls.status();
  return std::optional<profiles::TlsCredentials>(*std::move(tls));
}

// gRPC's side of `tls`: the same identity and client-certificate rule as
// the HTTP port's.
std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(
    const std::optional<profiles::TlsCredentials>& tls) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      tls->client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls->client_ca_pem;
  options.pem_key_cert_pairs.push_back({tls->private_key_pem, tls->certificate_chain_pem});
  return grpc::SslServerCredentials(options);
}

int Fail(const absl::Status& status) {
  profiles::LogError(
      "stopping", {{"code", absl::StatusCodeToString(status.code())}, {"error", status.message()}});
  return 1;
}

// A flag that does not fit: said once, and the process exits 2.
int BadFlags(absl::string_view why) {
  profiles::LogError(std::string_view(why.data(), why.size()));
  return 2;
}

// The logger as --log-format and --log-level say; a message if they do not
// parse.
absl::Status ConfigureLoggingFromFlags() {
  absl::StatusOr<profiles::LogFormat> format =
      profiles::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format (env PROFILES_LOG_FORMAT): ", format.status().message()));
  }
  absl::StatusOr<profiles::LogLevel> level =
      profiles::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level (env PROFILES_LOG_LEVEL): ", level.status().message()));
  }
  profiles::ConfigureLogging({.format = *format, .level = *level});
  const std::string access_log = absl::GetFlag(FLAGS_access_log);
  if (access_log != "on" && access_log != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--access-log (env PROFILES_ACCESS_LOG) must be 'on' or 'off', not '", access_log, "'"));
  }
  return absl::OkStatus();
}

// Numbers the server's parts keep, read at each scrape: the database pool's.
void ExportStorageMetrics(profiles::ServiceMetrics& metrics, profiles::StorageStartup* storage) {
  metrics.AddGauge(
      "profiles_db_pool_connections", "PostgreSQL connections the pool may hold (--pool-size).",
      [storage] { return storage->pool_stats().size; }, storage);
  metrics.AddGauge(
      "profiles_db_pool_connections_in_use", "PostgreSQL connections of the pool in use now.",
      [storage] { return storage->pool_stats().in_use; }, storage);
  metrics.AddGauge(
      "profiles_db_pool_waiters",
      "Threads waiting for a connection of the pool (calls waiting for a storage worker are "
      "profiles_storage_queued_calls).",
      [storage] { return storage->pool_stats().waiting; }, storage);
  // The change feed from the WAL (issue 11): which replica reads the slot,
  // and how far behind the database's WAL it is.
  metrics.AddGauge(
      "profiles_wal_sequencer_elected",
      "1 on the one replica that reads this database's logical replication slot, else 0.",
      [storage] {
        const auto progress = storage->sequencer_progress();
        return progress.has_value() && progress->elected ? 1 : 0;
      },
      storage);
  metrics.AddGauge(
      "profiles_wal_slot_lag_bytes",
      "Bytes of WAL PostgreSQL keeps for the change stream's slot (the current position minus "
      "the slot's restart point; past max_slot_wal_keep_size the slot is lost); 0 on "
      "replicas that do not read the slot.",
      [storage] {
        const auto progress = storage->sequencer_progress();
        return progress.has_value() && progress->elected ? progress->lag_bytes : 0;
      },
      storage);
}

int Run() {
  if (absl::Status logging = ConfigureLoggingFromFlags(); !logging.ok()) {
    return BadFlags(logging.message());
  }
  const std::string database_url = absl::GetFlag(FLAGS_database_url);
  if (database_url.empty()) {
    return BadFlags("no database: pass --database-url or set DATABASE_URL (see --help)");
  }
  if (absl::GetFlag(FLAGS_pool_size) < 1) return BadFlags("--pool-size must be at least 1");
  if (absl::GetFlag(FLAGS_cache_bytes) < 0 || absl::GetFlag(FLAGS_watch_queue_bytes) < 1 ||
      absl::GetFlag(FLAGS_max_watch_streams) < 0 || absl::GetFlag(FLAGS_max_queued_requests) < 1 ||
      absl::GetFlag(FLAGS_http_threads) < 1 || absl::GetFlag(FLAGS_http_max_connections) < 1) {
    return BadFlags(
        "--cache-bytes and --max-watch-streams must not be negative; --watch-queue-bytes, "
        "--max-queued-requests, --http-threads and --http-max-connections must be at least 1");
  }

  const absl::Duration http_read_timeout = absl::GetFlag(FLAGS_http_read_timeout);
  if (http_read_timeout < absl::Milliseconds(1) || http_read_timeout > absl::Hours(1)) {
    return BadFlags(
        "--http-read-timeout (env PROFILES_HTTP_READ_TIMEOUT) must be a duration from 1ms to 1h, "
        "such as 30s");
  }

  const absl::Duration shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (shutdown_grace < absl::ZeroDuration() || shutdown_grace > absl::Hours(1)) {
    return BadFlags(
        "--shutdown-grace (env PROFILES_SHUTDOWN_GRACE) must be a duration from 0s to 1h, such "
        "as 10s");
  }

  const absl::Duration idempotency_retention = absl::GetFlag(FLAGS_idempotency_retention);
  const absl::Duration prune_interval = absl::GetFlag(FLAGS_idempotency_prune_interval);
  if (idempotency_retention < absl::Seconds(1) || prune_interval < absl::Seconds(1)) {
    return BadFlags(
        "--idempotency-retention (env PROFILES_IDEMPOTENCY_RETENTION) and "
        "--idempotency-prune-interval must be durations of 1s or more, such as 720h");
  }
  const absl::Duration tombstone_retention = absl::GetFlag(FLAGS_tombstone_retention);
  if (tombstone_retention < absl::Seconds(1)) {
    return BadFlags(
        "--tombstone-retention (env PROFILES_TOMBSTONE_RETENTION) must be a duration of 1s or "
        "more, such as 2160h");
  }

  const int64_t change_lag_alarm_bytes = absl::GetFlag(FLAGS_change_lag_alarm_bytes);
  if (change_lag_alarm_bytes < 1) {
    return BadFlags("--change-lag-alarm-bytes must be a positive number of bytes");
  }

  if (absl::GetFlag(FLAGS_migrate_only)) {
    // A one-shot command: its exit code tells the caller (a deploy job, which
    // retries) whether the schema is up to date, so it does not wait.
    if (absl::Status migrated = profiles::ApplyMigrations(database_url); !migrated.ok()) {
      return Fail(migrated);
    }
    profiles::LogInfo("database is up to date");
    return 0;
  }

  // After --migrate-only: a migration job needs no token key.
  absl::StatusOr<profiles::ProfileCore::Options> core_options = CoreOptions();
  if (!core_options.ok()) return BadFlags(core_options.status().message());

  absl::StatusOr<std::optional<profiles::TlsCredentials>> tls = TlsFromFlags();
  if (!tls.ok()) return BadFlags(tls.status().message());

  RaiseOpenFileLimit();

  // SIGINT/SIGTERM are taken synchronously by this thread (sigtimedwait
  // below); blocking them before any thread starts keeps them off the others.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Health: "" says the process serves (like /healthz); the profile service
  // says whether calls can succeed, i.e. storage is open and PostgreSQL
  // answers (like /readyz). Set from this thread's loop and, the moment
  // storage opens, from the start-up thread. /readyz answers the last
  // result: asking PostgreSQL on an HTTP io thread would hold up every
  // connection served by that thread.
  absl::Mutex health_mu;
  grpc::HealthCheckServiceInterface* health = nullptr;          // guarded by health_mu
  absl::Status readiness = absl::UnavailableError("starting");  // guarded by health_mu
  // Before everything that records into it, so it goes last.
  profiles::ServiceMetrics metrics;
  std::unique_ptr<profiles::StorageStartup> storage;
  // The change stream's health is its own (change_stream_health.h): it is
  // logged when it changes, and again every minute while it stays bad, and
  // never touches readiness. Not known until storage is open.
  std::optional<absl::Status> change_stream;               // guarded by health_mu
  absl::Time change_stream_logged = absl::InfinitePast();  // guarded by health_mu
  auto refresh_health = [&health_mu, &health, &readiness, &storage, &change_stream,
                         &change_stream_logged, change_lag_alarm_bytes] {
    const absl::Status ready = storage->CheckReady();
    std::optional<absl::Status> stream;
    // A failed query says nothing about the stream: keep the last verdict.
    if (ready.ok()) {
      if (absl::Status checked = storage->CheckChangeStream(change_lag_alarm_bytes);
          !absl::IsUnavailable(checked)) {
        stream = std::move(checked);
      }
    }
    absl::MutexLock lock(&health_mu);
    readiness = ready;
    if (stream.has_value()) {
      const bool changed = !change_stream.has_value() || change_stream->ok() != stream->ok();
      if (!stream->ok() && (changed || absl::Now() - change_stream_logged >= absl::Minutes(1))) {
        profiles::LogWarning("change stream unhealthy",
                             {{"reason", std::string(stream->message())}});
        change_stream_logged = absl::Now();
      } else if (stream->ok() && changed && change_stream.has_value()) {
        profiles::LogInfo("change stream healthy again");
      }
      change_stream = std::move(stream);
    }
    if (health == nullptr) return;
    health->SetServingStatus("", true);
    health->SetServingStatus(kServiceName, ready.ok());
    health->SetServingStatus(profiles::kChangeStreamHealthService,
                             change_stream.has_value() && change_stream->ok());
  };

  // The server listens at once and waits for PostgreSQL in the background
  // (never exiting for it): until the database is reachable and migrated,
  // calls get UNAVAILABLE and readiness says why.
  profiles::StorageStartup::Options storage_options;
  storage_options.database_url = database_url;
  storage_options.pool_size = absl::GetFlag(FLAGS_pool_size);
  storage_options.on_ready = refresh_health;
  storage_options.log = [](std::string_view line) {
    profiles::LogInfo(line, {{"component", "storage"}});
  };
  absl::StatusOr<std::unique_ptr<profiles::StorageStartup>> started =
      profiles::StorageStartup::Begin(std::move(storage_options));
  if (!started.ok()) return Fail(started.status());
  storage = *std::move(started);
  ExportStorageMetrics(metrics, storage.get());

  absl::StatusOr<std::unique_ptr<profiles::RetentionPruner>> pruner =
      profiles::RetentionPruner::Start(
          {.database_url = database_url,
           .retention = idempotency_retention,
           .tombstone_retention = tombstone_retention,
           .interval = prune_interval,
           .log = [](std::string_view line) {
             profiles::LogInfo(line, {{"component", "retention pruner"}});
           }});
  if (!pruner.ok()) return Fail(pruner.status());

  core_options->metrics = &metrics;
  auto core = std::make_unique<profiles::ProfileCore>(*std::move(core_options),
                                                      storage->repository(), storage->feed());
  const bool access_log = absl::GetFlag(FLAGS_access_log) == "on";
  profiles::GrpcProfileService service(core.get(), {.metrics = &metrics, .access_log = access_log});
  grpc::EnableDefaultHealthCheckService(true);
  // Loading gRPC's reflection library registers reflection with every
  // server built after it (its static initializer); so it is loaded only
  // when asked, and never linked. Kept loaded for the process's life.
  if (absl::GetFlag(FLAGS_grpc_reflection) &&
      dlopen(GRPC_REFLECTION_LIBRARY, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("--grpc-reflection: cannot load ", GRPC_REFLECTION_LIBRARY, ": ", dlerror())));
  }
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_grpc_address), GrpcCredentials(*tls), &grpc_port);
  builder.RegisterService(&service);
  // A request gRPC cannot parse (invalid UTF-8) is INVALID_ARGUMENT, not INTERNAL.
  builder.experimental().SetInterceptorCreators(profiles::RequestInterceptorCreators());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", absl::GetFlag(FLAGS_grpc_address))));
  }
  auto host_of = [](const std::string& address) { return address.substr(0, address.rfind(':')); };

  profiles::HttpGateway gateway({.address = absl::GetFlag(FLAGS_http_address),
                                 .threads = absl::GetFlag(FLAGS_http_threads),
                                 .max_connections = absl::GetFlag(FLAGS_http_max_connections),
                                 .read_timeout = absl::ToChronoMilliseconds(http_read_timeout),
                                 .cors_origins = absl::GetFlag(FLAGS_cors_origins),
                                 .allowed_hosts = absl::GetFlag(FLAGS_allowed_hosts),
                                 .tls = *tls,
                                 .metrics = &metrics,
                                 .access_log = access_log},
                                core.get(), [&health_mu, &readiness] {
                                  absl::MutexLock lock(&health_mu);
                                  return readiness;
                                });
  if (absl::Status listening = gateway.Start(); !listening.ok()) return Fail(listening);

  {
    absl::MutexLock lock(&health_mu);
    health = server->GetHealthCheckService();
  }
  refresh_health();

  // Tests and scripts read the addresses from this line (port 0 picks one).
  const std::string grpc_listening =
      absl::StrCat(host_of(absl::GetFlag(FLAGS_grpc_address)), ":", grpc_port);
  const std::string http_listening =
      absl::StrCat(host_of(absl::GetFlag(FLAGS_http_address)), ":", gateway.port());
  profiles::LogInfo("listening",
                    {{"grpc_address", grpc_listening}, {"http_address", http_listening}});
  const std::vector<std::string> cors_origins = absl::GetFlag(FLAGS_cors_origins);
  profiles::LogInfo("http rules",
                    {{"allowed_hosts", absl::StrJoin(gateway.allowed_hosts(), ",")},
                     {"cors_origins", cors_origins.empty() ? std::string("none")
                                                           : absl::StrJoin(cors_origins, ",")},
                     {"access_log", access_log}});
  if (!tls->has_value()) {
    profiles::LogInfo("tls off: both ports are plain text (--tls-cert-file)");
  } else {
    profiles::LogInfo("tls on both ports",
                      {{"cert_file", absl::GetFlag(FLAGS_tls_cert_file)},
                       {"client_ca_file", (*tls)->client_ca_pem.empty()
                                              ? std::string("none")
                                              : absl::GetFlag(FLAGS_tls_client_ca_file)}});
  }

  int exit_code = 0;
  for (;;) {
    const timespec interval{2, 0};
    const int signal = sigtimedwait(&stop_signals, nullptr, &interval);
    if (signal == SIGINT || signal == SIGTERM) {
      profiles::LogInfo("shutting down", {{"signal", strsignal(signal)}});
      break;
    }
    if (absl::Status status = storage->status(); !status.ok() && !absl::IsUnavailable(status)) {
      // Opening storage failed for good (a migration failed): waiting would
      // not help, and exiting makes the failure visible to the supervisor.
      exit_code = Fail(status);
      break;
    }
    refresh_health();
  }

  // Leaving gracefully (--shutdown-grace). Health and /readyz say so first,
  // so a load balancer sends nothing more; both ports refuse new connections
  // and finish what is in flight, side by side, until the grace runs out
  // (then what is left is cancelled); watches end UNAVAILABLE, so clients
  // resume from their cursor on another replica.
  {
    absl::MutexLock lock(&health_mu);
    readiness = absl::UnavailableError("shutting down");
    health->Shutdown();
    health = nullptr;
  }
  const std::chrono::milliseconds grace = absl::ToChronoMilliseconds(shutdown_grace);
  const std::chrono::system_clock::time_point deadline = std::chrono::system_clock::now() + grace;
  std::thread grpc_shutdown([&server, deadline] { server->Shutdown(deadline); });
  // After Shutdown() has begun, as a rule: a C++ client whose stream got its
  // status before the server's GOAWAY held Shutdown() for the whole grace
  // (gRPC 1.51; grpc-js did not). Starting the thread first makes that rare;
  // the grace still bounds it.
  core->StopWatches();
  if (!gateway.Drain(grace)) {
    profiles::LogWarning("HTTP requests still running after --shutdown-grace are cancelled",
                         {{"shutdown_grace", absl::FormatDuration(shutdown_grace)}});
  }
  gateway.Stop();
  grpc_shutdown.join();
  // The core's workers and hub use storage: they go first.
  core.reset();
  pruner->reset();
  metrics.RemoveCallbacks(storage.get());
  storage.reset();
  profiles::LogInfo("stopped", {{"exit_code", exit_code}});
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves the Profiles API: gRPC (profile.v1.ProfileService, health, reflection with "
      "--grpc-reflection) and "
      "REST (/user/{id}), two adapters over one core, on PostgreSQL.\n"
      "It listens at once and waits for PostgreSQL with backoff (never exiting for it), then\n"
      "applies the migrations and serves; meanwhile /readyz answers 503, gRPC health reports\n"
      "profile.v1.ProfileService NOT_SERVING and calls get UNAVAILABLE.\n"
      "Flags may be written with dashes or underscores (--database-url or --database_url).\n"
      "Example: profile_server --database-url=postgresql://postgres@127.0.0.1:5432/profiles");
  // Debian builds Abseil without NDEBUG, which turns on absl::Mutex's deadlock detector: every
  // Lock() then consults one process-wide lock graph under a global lock. Measured with perf
  // (bench/README.md): it cost a third of the server's CPU when fanning a change out to 10,000
  // watches. The tests keep it on, to find lock-order cycles; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> storage;
  std::vector<char*> args = profiles::AcceptDashedFlags(argc, argv, storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  return Run();
}
