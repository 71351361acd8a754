#include "services/profile/storage/logical_stream.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace profiles {
namespace {

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01), the
// origin of the protocol's timestamps.
constexpr int64_t kPostgresEpochMicros = 946'684'800'000'000;

uint64_t LoadBigEndian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

void StoreBigEndian64(uint64_t value, char* bytes) {
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

std::string OneLine(std::string_view text) {
  return std::string(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
}

// The application_name of `url`, "" when it names none.
absl::StatusOr<std::string> ApplicationName(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? OneLine(error) : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("the database URL is invalid: ", message));
  }
  std::string name;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::strcmp(option->keyword, "application_name") == 0 && option->val != nullptr) {
      name = option->val;
    }
  }
  PQconninfoFree(options);
  return name;
}

std::string Escaped(PGconn* connection, const std::string& text, bool identifier) {
  char* escaped = identifier ? PQescapeIdentifier(connection, text.data(), text.size())
                             : PQescapeLiteral(connection, text.data(), text.size());
  if (escaped == nullptr) return "";
  std::string result(escaped);
  PQfreemem(escaped);
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogicalStream>> LogicalStream::Open(const Options& options) {
  absl::StatusOr<std::string> application_name = ApplicationName(options.database_url);
  if (!application_name.ok()) return application_name.status();
  const std::string name = std::string(
      absl::StripLeadingAsciiWhitespace(*application_name + options.application_name_suffix));
  // Later keywords override what the expanded URL says.
  const char* const keywords[] = {"dbname", "replication", "application_name", nullptr};
  const char* const values[] = {options.database_url.c_str(), "database", name.c_str(), nullptr};
  PGconn* connection = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  std::unique_ptr<LogicalStream> stream(new LogicalStream(connection));
  if (connection == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(connection) != CONNECTION_OK) {
    const std::string message = OneLine(PQerrorMessage(connection));
    if (message.find("replication role") != std::string::npos ||
        message.find("permission denied") != std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open a replication connection: ", message));
    }
    return absl::UnavailableError(absl::StrCat("cannot open a replication connection: ", message));
  }

  std::string command = absl::StrCat("START_REPLICATION SLOT ",
                                     Escaped(connection, options.slot_name, true), " LOGICAL 0/0");
  if (!options.plugin_options.empty()) {
    command += " (";
    for (size_t i = 0; i < options.plugin_options.size(); ++i) {
      absl::StrAppend(&command, i == 0 ? "" : ", ",
                      Escaped(connection, options.plugin_options[i].first, true), " ",
                      Escaped(connection, options.plugin_options[i].second, false));
    }
    command += ")";
  }
  PGresult* result = PQexec(connection, command.c_str());
  const ExecStatusType status = PQresultStatus(result);
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const bool forbidden = sqlstate != nullptr && std::strcmp(sqlstate, "42501") == 0;
  PQclear(result);
  if (status != PGRES_COPY_BOTH) {
    const std::string message = absl::StrCat("cannot stream slot ", options.slot_name, ": ",
                                             OneLine(PQerrorMessage(connection)));
    // Anything else (the slot still held by a predecessor's walsender, or
    // dropped under us) passes: the caller retries.
    return forbidden ? absl::FailedPreconditionError(message) : absl::UnavailableError(message);
  }
  return stream;
}

LogicalStream::~LogicalStream() { PQfinish(connection_); }

int LogicalStream::socket() const { return PQsocket(connection_); }

absl::StatusOr<std::optional<LogicalStream::Message>> LogicalStream::Read() {
  bool received = false;
  for (;;) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(connection_, &buffer, /*async=*/1);
    if (length == 0) {
      // Read from the socket only when no whole message is buffered: libpq
      // moves what is still unread to the front of its buffer on every
      // read, and reading before each message made a backlog of megabytes
      // cost quadratic time (a 30,000-transaction catch-up took a core for
      // minutes).
      if (received) return std::nullopt;
      if (PQconsumeInput(connection_) == 0) {
        return absl::UnavailableError(
            absl::StrCat("replication stream: ", OneLine(PQerrorMessage(connection_))));
      }
      received = true;
      continue;
    }
    if (length == -1) {
      PGresult* result = PQgetResult(connection_);
      const std::string message = OneLine(PQresultErrorMessage(result));
      PQclear(result);
      return absl::UnavailableError(
          absl::StrCat("the server ended the replication stream: ", message));
    }
    if (length < 0) {
      return absl::UnavailableError(
          absl::StrCat("replication stream: ", OneLine(PQerrorMessage(connection_))));
    }
    const std::unique_ptr<char, void (*)(char*)> owned(buffer, [](char* p) { PQfreemem(p); });
    const size_t size = static_cast<size_t>(length);
    if (buffer[0] == 'w' && size >= 25) {
      // 'w', start LSN, server's WAL end, send time, then the data.
      return Message{.lsn = LoadBigEndian64(buffer + 1),
                     .data = std::string(buffer + 25, size - 25)};
    }
    if (buffer[0] == 'k' && size >= 18) {
      // 'k', the server's position, send time, "reply now".
      decoded_up_to_ = std::max(decoded_up_to_, LoadBigEndian64(buffer + 1));
      if (buffer[17] != 0) {
        if (absl::Status sent = SendStatus(false); !sent.ok()) return sent;
      }
    }
  }
}

absl::Status LogicalStream::Confirm(uint64_t lsn) {
  if (lsn <= confirmed_) return absl::OkStatus();
  confirmed_ = lsn;
  return SendStatus(false);
}

absl::Status LogicalStream::SendStatus(bool reply_requested) {
  // 'r', written, flushed and applied positions (all: processed), the
  // client's clock, "reply now".
  char message[34];
  message[0] = 'r';
  StoreBigEndian64(confirmed_, message + 1);
  StoreBigEndian64(confirmed_, message + 9);
  StoreBigEndian64(confirmed_, message + 17);
  StoreBigEndian64(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()) - kPostgresEpochMicros),
                   message + 25);
  message[33] = reply_requested ? 1 : 0;
  if (PQputCopyData(connection_, message, sizeof message) != 1 || PQflush(connection_) != 0) {
    return absl::UnavailableError(
        absl::StrCat("replication stream: ", OneLine(PQerrorMessage(connection_))));
  }
  return absl::OkStatus();
}

}  // namespace profiles
