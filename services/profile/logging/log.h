#ifndef PROFILES_SERVICES_PROFILE_LOGGING_LOG_H_
#define PROFILES_SERVICES_PROFILE_LOGGING_LOG_H_

// The server's log: one line per event, with a level, a short constant
// message and key/value fields, as JSON (the default, for log collectors) or
// as text (for a person at a terminal).
//
//   JSON  {"time":"2026-11-29T10:15:02.123456Z","level":"info","msg":"listening",
//          "grpc_address":"127.0.0.1:50051","http_address":"127.0.0.1:8080"}
//   text  profile_server: listening grpc_address=127.0.0.1:50051 http_address=127.0.0.1:8080
//
// JSON lines are one object each: "time" (RFC 3339, UTC, microseconds),
// "level" (debug, info, warning, error), "msg", then the fields in the order
// given. Strings are escaped as RFC 8259 requires (quotes, backslashes,
// control characters), bytes that are not UTF-8 become U+FFFD, and U+2028
// and U+2029 are escaped too, so every line parses whatever a caller's text
// held. Text lines start with the program name, then "WARNING: " or
// "ERROR: " for those levels, the message and key=value pairs (a value with
// a space, quote, '=' or control character is quoted and escaped as in JSON).
//
// Lines never interleave: each is formatted first, then written with one
// write(2) (repeated only if the kernel takes part of it) under one lock.
// Nothing is buffered in the process, so a crash loses no line already
// logged. A line that cannot be written (a closed pipe) is dropped.
//
// A small writer rather than spdlog (Debian's libspdlog-dev): spdlog formats
// a message with a pattern and does not escape the values it is given, so
// JSON would still need the escaping below, and its asynchronous sinks would
// buffer what a crash should not lose.
//
// What never goes in: request or response bodies, avatar bytes, the
// Authorization header or any token. Callers log ids, names of things and
// statuses; see the access log of each adapter.
//
// Example:
//   ConfigureLogging({.format = LogFormat::kText});
//   LogInfo("database ready", {{"attempts", 3}});
//   if (LogEnabled(LogLevel::kDebug)) LogDebug("written", {{"id", id}, {"version", v}});
//
// Thread-safe. The process has one Logger (DefaultLogger()), writing JSON at
// level info to stderr until ConfigureLogging() says otherwise; tests may
// make their own.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace profiles {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kJson, kText };

// "debug", "info", "warning" or "error" (also "warn"); INVALID_ARGUMENT for
// anything else.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
// "json" or "text"; INVALID_ARGUMENT for anything else.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);

// One key/value of a log line. Holds views: the strings it is made from must
// outlive the call it is passed to (a temporary in the call's argument list
// does).
class LogField {
 public:
  LogField(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), text_(value) {}
  LogField(std::string_view key, const char* value)
      : LogField(key, std::string_view(value == nullptr ? "" : value)) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
#if !defined(ABSL_USES_STD_STRING_VIEW)
  // Debian's Abseil has a string_view of its own (absl::Status::message()).
  LogField(std::string_view key, absl::string_view value)
      : LogField(key, std::string_view(value.data(), value.size())) {}
#endif
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), integer_(value) {}
  LogField(std::string_view key, int value) : key_(key), kind_(Kind::kInteger), integer_(value) {}
  LogField(std::string_view key, long value) : key_(key), kind_(Kind::kInteger), integer_(value) {}
  LogField(std::string_view key, long long value)
      : key_(key), kind_(Kind::kInteger), integer_(value) {}
  LogField(std::string_view key, unsigned value)
      : key_(key), kind_(Kind::kInteger), integer_(value) {}
  LogField(std::string_view key, unsigned long value)
      : key_(key), kind_(Kind::kInteger), integer_(static_cast<int64_t>(value)) {}
  LogField(std::string_view key, unsigned long long value)
      : key_(key), kind_(Kind::kInteger), integer_(static_cast<int64_t>(value)) {}
  // A JSON number; NaN and infinities are written as null (JSON has none).
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), real_(value) {}

 private:
  friend class Logger;
  enum class Kind { kString, kInteger, kDouble, kBool };

  std::string_view key_;
  Kind kind_;
  std::string_view text_{};
  int64_t integer_ = 0;
  double real_ = 0;
};

// A braced list of fields ({{"key", value}, ...}) or any array of them.
using LogFields = absl::Span<const LogField>;

class Logger {
 public:
  struct Options {
    LogFormat format = LogFormat::kJson;
    LogLevel level = LogLevel::kInfo;
    // Where lines are written (not closed by the logger).
    int fd = 2;
    // The text format's prefix.
    std::string program = "profile_server";
    // For tests: when set, each whole line (with its newline) is handed here,
    // under the logger's lock, instead of being written to `fd`.
    std::function<void(std::string_view line)> sink{};
  };

  explicit Logger(Options options);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Replaces the options; lines being written finish with the old ones.
  void Configure(Options options);

  // Whether a line at `level` would be written. Cheap (one atomic load):
  // check it before building fields that cost something.
  bool Enabled(LogLevel level) const {
    return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
  }

  // Writes one line, if `level` is enabled.
  void Log(LogLevel level, std::string_view message, LogFields fields = {});

  // The line Log() would write at `time`, newline included. For tests.
  std::string Format(LogLevel level, absl::Time time, std::string_view message,
                     LogFields fields) const;

 private:
  std::shared_ptr<const Options> options() const;

  std::atomic<int> level_;
  // Guards the options and every write: a line is formatted outside it, with
  // the options it was read under, and written whole under it.
  mutable absl::Mutex mu_;
  std::shared_ptr<const Options> options_ ABSL_GUARDED_BY(mu_);
};

// The process's logger.
Logger& DefaultLogger();

// DefaultLogger().Configure(options).
void ConfigureLogging(Logger::Options options);

inline bool LogEnabled(LogLevel level) { return DefaultLogger().Enabled(level); }
inline void LogDebug(std::string_view message, LogFields fields = {}) {
  DefaultLogger().Log(LogLevel::kDebug, message, fields);
}
inline void LogInfo(std::string_view message, LogFields fields = {}) {
  DefaultLogger().Log(LogLevel::kInfo, message, fields);
}
inline void LogWarning(std::string_view message, LogFields fields = {}) {
  DefaultLogger().Log(LogLevel::kWarning, message, fields);
}
inline void LogError(std::string_view message, LogFields fields = {}) {
  DefaultLogger().Log(LogLevel::kError, message, fields);
}

// Appends `text` to `out` as the contents of a JSON string (no quotes
// around it), escaped as described above.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_LOGGING_LOG_H_
