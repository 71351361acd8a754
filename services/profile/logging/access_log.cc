#include "services/profile/logging/access_log.h"

namespace profiles {

void LogAccess(LogLevel level, const AccessRecord& record) {
  if (!LogEnabled(level)) return;
  LogField fields[8] = {
      {"protocol", record.protocol},
      {"method", record.method},
      {"status", record.status},
      {"duration_ms", absl::ToDoubleMilliseconds(record.duration)},
      {"peer", record.peer},
      {"request_id", record.request_id},
      {"", ""},
      {"", ""},
  };
  size_t count = 6;
  if (!record.subject.empty()) fields[count++] = LogField("subject", record.subject);
  if (record.events.has_value()) fields[count++] = LogField("events", *record.events);
  DefaultLogger().Log(level, "request", LogFields(fields, count));
}

}  // namespace profiles
