#ifndef PROFILES_TESTS_SUPPORT_TEST_DATABASE_H_
#define PROFILES_TESTS_SUPPORT_TEST_DATABASE_H_

// A fresh, migrated PostgreSQL database for one test fixture.
//
// Create() reads PROFILES_TEST_DATABASE_URL, the admin URL of a running
// cluster (deploy/test.sh starts one and sets it), creates a database with a
// unique name, applies the embedded migrations to it, and the destructor
// drops it again (WITH (FORCE), so connections still open do not keep it).
// Before that the destructor drops every replication slot on the database
// (the change feed's logical slot, "profiles_<database oid>", made by a
// server under test), ending first the walsender or backend that holds an
// active one: DROP DATABASE fails while an active logical slot is on it, and
// FORCE does not end walsenders. It gives up after 5 s (and says so on
// stderr); no slots is the usual case and costs one query.
// Tests must fail, not skip, when it is unavailable:
//
//   absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
//   ASSERT_TRUE(db.ok()) << db.status();
//   auto repository = PgProfileRepository::Create({.database_url = (*db)->url()});
//
// Thread-safe after construction (url() and ExecuteSql() may be called from
// many threads).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles::testing {

class TestDatabase {
 public:
  // The environment variable holding the admin URL.
  static constexpr char kUrlVariable[] = "PROFILES_TEST_DATABASE_URL";

  // FAILED_PRECONDITION when PROFILES_TEST_DATABASE_URL is not set;
  // UNAVAILABLE when the cluster cannot be reached; INTERNAL when the
  // migrations fail.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();

  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase();

  // A connection string for the new database.
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

  // Runs `sql` (one or more statements) in its own transaction on a new
  // connection to this database; INTERNAL with the server's message if it
  // fails. For test setup and for probing the schema.
  absl::Status ExecuteSql(const std::string& sql) const;

  // Inserts `count` profiles ("<name> 0", "<name> 1", ...) with plain SQL,
  // not through the service: one INSERT each, all in one transaction, so the
  // WAL sequencer gives them that transaction's commit position and their
  // order in it (idx 0, 1, ...), as it does for every writer. Their ids, in
  // that order.
  absl::StatusOr<std::vector<std::string>> InsertProfilesInOneTransaction(
      int count, const std::string& name) const;

 private:
  TestDatabase(std::string admin_url, std::string name, std::string url)
      : admin_url_(std::move(admin_url)), name_(std::move(name)), url_(std::move(url)) {}

  const std::string admin_url_;
  const std::string name_;
  const std::string url_;
};

// A random (version 4) UUID in canonical lowercase form. Thread-safe.
std::string RandomUuid();

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_TEST_DATABASE_H_
