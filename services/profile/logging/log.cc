#include "services/profile/logging/log.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace profiles {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendUnicodeEscape(std::string& out, unsigned code) {
  out.append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(code >> shift) & 0xf]);
}

// The length of the well-formed UTF-8 sequence at the start of `text`
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// RFC 3339 in UTC with microseconds. The date and time of day are formatted
// once per second per thread: absl::FormatTime costs about a microsecond,
// which the access log would pay on every request.
void AppendTime(std::string& out, absl::Time time) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached_text;
  if (seconds != cached_second) {
    cached_text =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
    cached_second = seconds;
  }
  out.append(cached_text);
  char digits[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 6; i >= 1; --i) {
    digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  out.append(digits, sizeof digits);
}

// A text value needs quotes when a reader could not tell where it ends.
bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void AppendNumber(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  // The shortest text that reads back as the same double (0.25, not
  // 0.25000000000000000); JSON has no "inf" or "nan", handled above.
  char buffer[32];
  const std::to_chars_result written = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (written.ec == std::errc()) out.append(buffer, written.ptr);
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // Runs of plain ASCII, most of every line, are copied whole.
    size_t plain = i;
    while (plain < text.size()) {
      const auto c = static_cast<unsigned char>(text[plain]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++plain;
    }
    out.append(text.substr(i, plain - i));
    i = plain;
    if (i == text.size()) break;
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      switch (byte) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          if (byte < 0x20 || byte == 0x7f) {
            AppendUnicodeEscape(out, byte);
          } else {
            out.push_back(static_cast<char>(byte));
          }
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      // Not UTF-8: one replacement character per bad byte, so the line
      // stays valid JSON and shows where the bad bytes were.
      AppendUnicodeEscape(out, 0xfffd);
      ++i;
      continue;
    }
    // U+2028 and U+2029 are valid in JSON but end a line in JavaScript and in
    // some log viewers: escaped, like the control characters.
    if (length == 3 && byte == 0xe2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(text[i + 2]) == 0xa8 ||
         static_cast<unsigned char>(text[i + 2]) == 0xa9)) {
      AppendUnicodeEscape(out, static_cast<unsigned char>(text[i + 2]) == 0xa8 ? 0x2028 : 0x2029);
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrCat(
      "the log level must be debug, info, warning or error, not '", std::string(name), "'"));
}

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "json") return LogFormat::kJson;
  if (lower == "text") return LogFormat::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("the log format must be json or text, not '", std::string(name), "'"));
}

Logger::Logger(Options options) { Configure(std::move(options)); }

void Logger::Configure(Options options) {
  auto shared = std::make_shared<const Options>(std::move(options));
  absl::MutexLock lock(&mu_);
  level_.store(static_cast<int>(shared->level), std::memory_order_relaxed);
  options_ = std::move(shared);
}

std::shared_ptr<const Logger::Options> Logger::options() const {
  absl::MutexLock lock(&mu_);
  return options_;
}

std::string Logger::Format(LogLevel level, absl::Time time, std::string_view message,
                           LogFields fields) const {
  const std::shared_ptr<const Options> options = this->options();
  std::string line;
  line.reserve(128 + message.size() + 40 * fields.size());
  if (options->format == LogFormat::kJson) {
    line.append(R"({"time":")");
    AppendTime(line, time);
    line.append(R"(","level":")");
    line.append(LevelName(level));
    line.append(R"(","msg":")");
    AppendJsonEscaped(line, message);
    line.push_back('"');
    for (const LogField& field : fields) {
      line.append(",\"");
      AppendJsonEscaped(line, field.key_);
      line.append("\":");
      switch (field.kind_) {
        case LogField::Kind::kString:
          line.push_back('"');
          AppendJsonEscaped(line, field.text_);
          line.push_back('"');
          break;
        case LogField::Kind::kInteger:
          absl::StrAppend(&line, field.integer_);
          break;
        case LogField::Kind::kDouble:
          AppendNumber(line, field.real_);
          break;
        case LogField::Kind::kBool:
          line.append(field.integer_ != 0 ? "true" : "false");
          break;
      }
    }
    line.append("}\n");
    return line;
  }

  line.append(options->program);
  line.append(": ");
  if (level == LogLevel::kWarning) line.append("WARNING: ");
  if (level == LogLevel::kError) line.append("ERROR: ");
  if (level == LogLevel::kDebug) line.append("debug: ");
  // The message as it is, escaped only where it would break the line.
  std::string escaped;
  AppendJsonEscaped(escaped, message);
  line.append(escaped);
  for (const LogField& field : fields) {
    line.push_back(' ');
    line.append(field.key_);
    line.push_back('=');
    switch (field.kind_) {
      case LogField::Kind::kString:
        if (NeedsQuotes(field.text_)) {
          line.push_back('"');
          AppendJsonEscaped(line, field.text_);
          line.push_back('"');
        } else {
          AppendJsonEscaped(line, field.text_);
        }
        break;
      case LogField::Kind::kInteger:
        absl::StrAppend(&line, field.integer_);
        break;
      case LogField::Kind::kDouble:
        AppendNumber(line, field.real_);
        break;
      case LogField::Kind::kBool:
        line.append(field.integer_ != 0 ? "true" : "false");
        break;
    }
  }
  line.push_back('\n');
  return line;
}

void Logger::Log(LogLevel level, std::string_view message, LogFields fields) {
  if (!Enabled(level)) return;
  const std::string line = Format(level, absl::Now(), message, fields);
  absl::MutexLock lock(&mu_);
  if (options_->sink) {
    options_->sink(line);
    return;
  }
  // One write(2) for the whole line; more only if the kernel takes part of
  // it (a full pipe), still under the lock, so no other line gets between.
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t written = write(options_->fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // a closed or broken log: nothing better to do than drop it
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

Logger& DefaultLogger() {
  // Never destroyed: threads may log while the process exits.
  static Logger* const logger = new Logger(Logger::Options{});
  return *logger;
}

void ConfigureLogging(Logger::Options options) { DefaultLogger().Configure(std::move(options)); }

}  // namespace profiles
