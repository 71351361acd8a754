#include "tests/support/test_database.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/profile/storage/migrator.h"

namespace profiles::testing {
namespace {

// Quotes a value for a libpq key=value connection string.
std::string QuoteConnValue(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

// `admin_url` (URL or key=value form) with its database replaced by `dbname`.
absl::StatusOr<std::string> WithDatabase(const std::string& admin_url, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(admin_url.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat(TestDatabase::kUrlVariable, " is not a valid connection string: ", message));
  }
  std::string url;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string(option->keyword) == "dbname" || option->val == nullptr) continue;
    absl::StrAppend(&url, option->keyword, "=", QuoteConnValue(option->val), " ");
  }
  PQconninfoFree(options);
  absl::StrAppend(&url, "dbname=", QuoteConnValue(dbname));
  return url;
}

absl::Status RunOn(const std::string& url, const std::string& sql, bool in_transaction) {
  try {
    pqxx::connection connection(url);
    if (in_transaction) {
      pqxx::work txn(connection);
      txn.exec(sql);
      txn.commit();
    } else {
      pqxx::nontransaction txn(connection);
      txn.exec(sql);
    }
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(e.what(), " (SQL: ", sql, ")"));
  }
  return absl::OkStatus();
}

// Drops every replication slot on database `name`, ending first whatever
// holds one (a walsender streaming it, or a backend reading it through SQL).
// DROP DATABASE drops a database's inactive logical slots itself, but fails
// while one is active ("database ... is used by an active logical replication
// slot"), and WITH (FORCE) does not end walsenders. A server under test may
// still be running and take a slot again, so this goes round until none is
// left or five seconds have passed. OK when there are no slots.
absl::Status DropReplicationSlots(const std::string& admin_url, const std::string& name) {
  try {
    pqxx::connection connection(admin_url);
    pqxx::nontransaction txn(connection);  // autocommit: a failed drop spoils nothing
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    std::string last_error;
    while (true) {
      txn.exec_params(
          "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
          "WHERE database = $1 AND active_pid IS NOT NULL",
          name);
      const pqxx::result slots = txn.exec_params(
          "SELECT slot_name::text FROM pg_replication_slots WHERE database = $1", name);
      if (slots.empty()) return absl::OkStatus();
      for (const auto& row : slots) {
        try {
          // Fails while the terminated holder has not let go yet, or when the
          // slot went in the meantime: the next round sees.
          txn.exec_params("SELECT pg_drop_replication_slot($1)", row[0].as<std::string>());
        } catch (const pqxx::sql_error& e) {
          last_error = e.what();
        }
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("replication slots on ", name, " still there after 5 s: ", last_error));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  const char* admin_url = std::getenv(kUrlVariable);
  if (admin_url == nullptr || *admin_url == '\0') {
    return absl::FailedPreconditionError(absl::StrCat(
        kUrlVariable,
        " is not set: these tests need a running PostgreSQL; run them via deploy/test.sh, "
        "which starts one and sets it (e.g. postgresql://postgres@127.0.0.1:55401/postgres)"));
  }
  static std::atomic<int> counter{0};
  const std::string name = absl::StrCat("profiles_test_", getpid(), "_",
                                        absl::ToUnixMicros(absl::Now()), "_", counter.fetch_add(1));
  absl::StatusOr<std::string> url = WithDatabase(admin_url, name);
  if (!url.ok()) return url.status();
  if (absl::Status status = RunOn(admin_url, absl::StrCat("CREATE DATABASE ", name), false);
      !status.ok()) {
    return status;
  }
  auto database = std::unique_ptr<TestDatabase>(new TestDatabase(admin_url, name, *url));
  if (absl::Status status = ApplyMigrations(database->url()); !status.ok()) return status;
  return database;
}

TestDatabase::~TestDatabase() {
  // The slots first: DROP DATABASE fails while one on it is active.
  if (absl::Status status = DropReplicationSlots(admin_url_, name_); !status.ok()) {
    std::cerr << "replication slots of test database " << name_ << " not dropped: " << status
              << "\n";
  }
  const absl::Status status =
      RunOn(admin_url_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"), false);
  if (!status.ok()) std::cerr << "test database " << name_ << " not dropped: " << status << "\n";
}

std::string RandomUuid() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* const gen = new absl::BitGen;
  uint64_t high, low;
  {
    absl::MutexLock lock(&mu);
    high = absl::Uniform<uint64_t>(*gen);
    low = absl::Uniform<uint64_t>(*gen);
  }
  high = (high & ~uint64_t{0xf000}) | 0x4000;                    // version 4
  low = (low & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xffff,
                         high & 0xffff, low >> 48, low & 0xffffffffffff);
}

absl::Status TestDatabase::ExecuteSql(const std::string& sql) const {
  return RunOn(url_, sql, /*in_transaction=*/true);
}

absl::StatusOr<std::vector<std::string>> TestDatabase::InsertProfilesInOneTransaction(
    int count, const std::string& name) const {
  std::vector<std::string> ids;
  std::string sql;
  for (int i = 0; i < count; ++i) {
    ids.push_back(RandomUuid());
    absl::StrAppend(&sql, "INSERT INTO profiles (id, name, email, version) VALUES ('", ids.back(),
                    "', '", name, " ", i, "', 'plain@example.com', 1);");
  }
  if (absl::Status inserted = ExecuteSql(sql); !inserted.ok()) return inserted;
  return ids;
}

}  // namespace profiles::testing
