#ifndef PROFILES_SERVICES_PROFILE_LOGGING_LOG_CAPTURE_H_
#define PROFILES_SERVICES_PROFILE_LOGGING_LOG_CAPTURE_H_

// For tests: collects the lines the process's logger (DefaultLogger())
// writes while it is alive, instead of writing them to stderr; then restores
// the default logger (JSON at level info on stderr).
//
// Example:
//   LogCapture log;
//   ApplyMigrations(url);
//   EXPECT_TRUE(absl::StrContains(log.Text(), R"("migration":"0001_init")"));
//
// Thread-safe: any thread may log while another reads Lines().

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/profile/logging/log.h"

namespace profiles {

class LogCapture {
 public:
  explicit LogCapture(LogLevel level = LogLevel::kInfo, LogFormat format = LogFormat::kJson) {
    ConfigureLogging({.format = format, .level = level, .sink = [this](std::string_view line) {
                        absl::MutexLock lock(&mu_);
                        lines_.emplace_back(line);
                      }});
  }
  ~LogCapture() { ConfigureLogging({}); }

  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every line so far, each with its newline.
  std::vector<std::string> Lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

  // Every line so far, one after the other.
  std::string Text() const {
    std::string text;
    for (const std::string& line : Lines()) text.append(line);
    return text;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_LOGGING_LOG_CAPTURE_H_
