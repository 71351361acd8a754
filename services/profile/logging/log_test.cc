#include "services/profile/logging/log.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace profiles {
namespace {

using google::protobuf::Struct;

// `line` (one JSON object and a newline) parsed; fails the test if it is not
// exactly that.
Struct ParseLine(const std::string& line) {
  Struct parsed;
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n') << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << ": " << line;
  return parsed;
}

// "2026-11-29T10:15:02.123456Z": digits where the pattern has '9'.
bool IsRfc3339Micros(const std::string& time) {
  constexpr std::string_view kPattern = "9999-99-99T99:99:99.999999Z";
  if (time.size() != kPattern.size()) return false;
  for (size_t i = 0; i < time.size(); ++i) {
    const bool digit = time[i] >= '0' && time[i] <= '9';
    if (kPattern[i] == '9' ? !digit : time[i] != kPattern[i]) return false;
  }
  return true;
}

std::string StringField(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? "<absent>" : it->second.string_value();
}

// A logger whose lines are collected in memory.
struct CapturedLog {
  explicit CapturedLog(LogFormat format = LogFormat::kJson, LogLevel level = LogLevel::kInfo)
      : logger({.format = format, .level = level, .sink = [this](std::string_view line) {
                  lines.emplace_back(line);
                }}) {}
  std::vector<std::string> lines;
  Logger logger;
};

TEST(LoggerTest, WritesOneJsonObjectPerLineWithTimeLevelMessageAndFields) {
  CapturedLog log;
  log.logger.Log(
      LogLevel::kInfo, "listening",
      {{"grpc_address", "127.0.0.1:50051"}, {"port", 8080}, {"tls", false}, {"seconds", 0.25}});
  ASSERT_EQ(log.lines.size(), 1u);
  const Struct line = ParseLine(log.lines[0]);
  EXPECT_EQ(StringField(line, "level"), "info");
  EXPECT_EQ(StringField(line, "msg"), "listening");
  EXPECT_EQ(StringField(line, "grpc_address"), "127.0.0.1:50051");
  EXPECT_EQ(line.fields().at("port").number_value(), 8080);
  EXPECT_FALSE(line.fields().at("tls").bool_value());
  EXPECT_EQ(line.fields().at("seconds").number_value(), 0.25);
  EXPECT_TRUE(IsRfc3339Micros(StringField(line, "time"))) << StringField(line, "time");
  // time, level and msg come first, in that order: a person reading raw
  // lines finds them in the same place.
  EXPECT_EQ(log.lines[0].rfind(R"({"time":")", 0), 0u) << log.lines[0];
  EXPECT_LT(log.lines[0].find(R"("level":)"), log.lines[0].find(R"("msg":)"));
}

TEST(LoggerTest, FormatsTheTimeInUtcWithMicroseconds) {
  Logger logger({.sink = [](std::string_view) {}});
  const absl::Time time = absl::FromUnixMicros(1764411302123456);  // 2025-11-29T10:15:02.123456Z
  const Struct line = ParseLine(logger.Format(LogLevel::kError, time, "m", {}));
  EXPECT_EQ(StringField(line, "time"), "2025-11-29T10:15:02.123456Z");
  EXPECT_EQ(StringField(line, "level"), "error");
  // The same second again comes from the per-thread cache.
  const Struct next =
      ParseLine(logger.Format(LogLevel::kError, time + absl::Microseconds(1), "m", {}));
  EXPECT_EQ(StringField(next, "time"), "2025-11-29T10:15:02.123457Z");
  const Struct early = ParseLine(logger.Format(LogLevel::kError, absl::FromUnixMicros(7), "m", {}));
  EXPECT_EQ(StringField(early, "time"), "1970-01-01T00:00:00.000007Z");
}

TEST(LoggerTest, EscapesWhateverTextItIsGivenSoEveryLineParses) {
  const std::string hostile =
      std::string("quote\" backslash\\ newline\n cr\r tab\t nul") + std::string(1, '\0') +
      "\x01\x1f\x7f bad\xff\xc3 ok é 😀 " +
      "sep\xE2\x80\xA8para\xE2\x80\xA9 overlong\xC0\xAF surrogate\xED\xA0\x80";
  CapturedLog log;
  log.logger.Log(LogLevel::kWarning, hostile, {{hostile, hostile}});
  ASSERT_EQ(log.lines.size(), 1u);
  const Struct line = ParseLine(log.lines[0]);
  const std::string expected =
      std::string("quote\" backslash\\ newline\n cr\r tab\t nul") + std::string(1, '\0') +
      "\x01\x1f\x7f bad\xEF\xBF\xBD\xEF\xBF\xBD ok é 😀 sep\xE2\x80\xA8para\xE2\x80\xA9 " +
      "overlong\xEF\xBF\xBD\xEF\xBF\xBD surrogate\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
  EXPECT_EQ(StringField(line, "msg"), expected);
  EXPECT_EQ(StringField(line, expected), expected);
  // Nothing that ends a line in any reader survives raw.
  for (const char* breaker : {"\r", "\xE2\x80\xA8", "\xE2\x80\xA9"}) {
    EXPECT_EQ(log.lines[0].find(breaker), std::string::npos);
  }
  EXPECT_EQ(log.lines[0].find('\0'), std::string::npos);
}

TEST(LoggerTest, NonFiniteNumbersAreNull) {
  CapturedLog log;
  log.logger.Log(LogLevel::kInfo, "m", {{"nan", std::nan("")}, {"big", 1e300 * 1e300}});
  const Struct line = ParseLine(log.lines.at(0));
  EXPECT_EQ(line.fields().at("nan").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(line.fields().at("big").kind_case(), google::protobuf::Value::kNullValue);
}

TEST(LoggerTest, TextLinesAreForPeople) {
  CapturedLog log(LogFormat::kText);
  log.logger.Log(
      LogLevel::kInfo, "listening",
      {{"grpc_address", "127.0.0.1:50051"}, {"hosts", "localhost, ::1"}, {"n", 3}, {"empty", ""}});
  log.logger.Log(LogLevel::kWarning, "authentication is OFF", {});
  log.logger.Log(LogLevel::kError, "line\nbreak", {{"why", "a \"quoted\" word"}});
  ASSERT_EQ(log.lines.size(), 3u);
  EXPECT_EQ(log.lines[0],
            "profile_server: listening grpc_address=127.0.0.1:50051 hosts=\"localhost, ::1\" n=3 "
            "empty=\"\"\n");
  EXPECT_EQ(log.lines[1], "profile_server: WARNING: authentication is OFF\n");
  EXPECT_EQ(log.lines[2], "profile_server: ERROR: line\\nbreak why=\"a \\\"quoted\\\" word\"\n");
}

TEST(LoggerTest, LinesBelowTheLevelAreNotWritten) {
  CapturedLog log(LogFormat::kJson, LogLevel::kWarning);
  EXPECT_FALSE(log.logger.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.logger.Enabled(LogLevel::kError));
  log.logger.Log(LogLevel::kDebug, "d");
  log.logger.Log(LogLevel::kInfo, "i");
  log.logger.Log(LogLevel::kWarning, "w");
  log.logger.Log(LogLevel::kError, "e");
  ASSERT_EQ(log.lines.size(), 2u);
  EXPECT_EQ(StringField(ParseLine(log.lines[0]), "level"), "warning");
  EXPECT_EQ(StringField(ParseLine(log.lines[1]), "level"), "error");

  log.logger.Configure({.level = LogLevel::kDebug,
                        .sink = [&log](std::string_view line) { log.lines.emplace_back(line); }});
  log.logger.Log(LogLevel::kDebug, "d");
  ASSERT_EQ(log.lines.size(), 3u);
  EXPECT_EQ(StringField(ParseLine(log.lines[2]), "level"), "debug");
}

TEST(LoggerTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("Text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

// Many threads logging at once through a pipe, with lines longer than the
// kernel writes to a pipe atomically (PIPE_BUF, 4 KiB): every line arrives
// whole and parses.
TEST(LoggerTest, ConcurrentLinesNeverInterleave) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string received;
  std::thread reader([&received, fd = fds[0]] {
    char buffer[65536];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) received.append(buffer, n);
  });

  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 500;
  {
    Logger logger({.fd = fds[1]});
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&logger, t] {
        for (int i = 0; i < kLinesPerThread; ++i) {
          // Every seventh line is 10 KB: more than one pipe write's worth.
          const std::string payload(i % 7 == 0 ? 10000 : 20 + i % 50, static_cast<char>('a' + t));
          logger.Log(LogLevel::kInfo, "request",
                     {{"thread", t}, {"i", i}, {"payload", payload}, {"quote", "\"\n"}});
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);

  std::vector<std::string> lines = absl::StrSplit(received, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLinesPerThread));
  std::set<std::pair<int, int>> seen;
  for (const std::string& text : lines) {
    const Struct line = ParseLine(text + "\n");
    const int t = static_cast<int>(line.fields().at("thread").number_value());
    const int i = static_cast<int>(line.fields().at("i").number_value());
    const std::string payload = StringField(line, "payload");
    EXPECT_EQ(payload, std::string(i % 7 == 0 ? 10000 : 20 + i % 50, static_cast<char>('a' + t)));
    EXPECT_EQ(StringField(line, "quote"), "\"\n");
    seen.insert({t, i});
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kLinesPerThread));
}

}  // namespace
}  // namespace profiles
