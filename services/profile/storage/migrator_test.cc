#include "services/profile/storage/migrator.h"

#include <iostream>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::RandomUuid;
using ::profiles::testing::TestDatabase;

// Captures what is written to std::cerr while alive.
class CerrCapture {
 public:
  CerrCapture() : previous_(std::cerr.rdbuf(captured_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(previous_); }
  std::string text() const { return captured_.str(); }

 private:
  std::ostringstream captured_;
  std::streambuf* previous_;
};

class MigratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  // An INSERT of one profile with the given SQL expressions.
  std::string InsertProfile(const std::string& name, const std::string& email,
                            const std::string& avatar = "''::bytea") {
    return absl::StrCat("INSERT INTO profiles (id, name, email, avatar, version) VALUES ('",
                        RandomUuid(), "', ", name, ", ", email, ", ", avatar, ", 1)");
  }

  std::unique_ptr<TestDatabase> database_;
};

TEST_F(MigratorTest, EmbeddedMigrationsAreNumberedFromOneInOrder) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i + 1)) << migrations[i].name;
    EXPECT_FALSE(migrations[i].sql.empty());
  }
  EXPECT_EQ(migrations[0].name, "0001_init");
}

TEST_F(MigratorTest, FirstRunAppliesAndLogsEveryMigration) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> fresh = TestDatabase::Create();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE((*fresh)
                  ->ExecuteSql("DROP TABLE schema_migrations, profiles, applied_mutations; "
                               "DROP SEQUENCE profile_change_seq; "
                               "DROP FUNCTION profiles_apply_write, profiles_write_fingerprint, "
                               "profiles_notify_change")
                  .ok());
  CerrCapture capture;
  const absl::Status status = ApplyMigrations((*fresh)->url());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_NE(capture.text().find("migrate: applied 0001_init"), std::string::npos) << capture.text();
}

TEST_F(MigratorTest, SecondRunAppliesNothing) {
  pqxx::connection connection(database_->url());
  const auto applied = [&connection] {
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT count(*), max(applied_at)::text FROM schema_migrations");
  };
  const pqxx::row before = applied();
  EXPECT_EQ(before[0].as<size_t>(), EmbeddedMigrations().size());

  CerrCapture capture;
  const absl::Status status = ApplyMigrations(database_->url());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(capture.text(), "");
  const pqxx::row after = applied();
  EXPECT_EQ(after[0].as<size_t>(), EmbeddedMigrations().size());
  EXPECT_EQ(after[1].as<std::string>(), before[1].as<std::string>());
}

TEST_F(MigratorTest, UnreachableDatabaseIsUnavailable) {
  const absl::Status status =
      ApplyMigrations("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST_F(MigratorTest, SchemaAcceptsAValidProfile) {
  const absl::Status status = database_->ExecuteSql(
      InsertProfile("'Zoë'", "'zoe@example.com'", "decode(repeat('00', 262144), 'hex')"));
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(MigratorTest, SchemaRejectsBadNames) {
  for (const std::string& name : {std::string("repeat('a', 101)"), std::string("''"),
                                  std::string("' padded '"), std::string("E'tab\\there'")}) {
    const absl::Status status = database_->ExecuteSql(InsertProfile(name, "'a@example.com'"));
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << name;
    EXPECT_NE(status.message().find("profiles_name_valid"), absl::string_view::npos) << status;
  }
}

TEST_F(MigratorTest, SchemaRejectsBadEmails) {
  for (const std::string& email :
       {std::string("'no-at-sign.example.com'"), std::string("'a@nodot'"),
        std::string("repeat('a', 250) || '@b.co'"), std::string("'a b@example.com'")}) {
    const absl::Status status = database_->ExecuteSql(InsertProfile("'Ann'", email));
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << email;
    EXPECT_NE(status.message().find("profiles_email_valid"), absl::string_view::npos) << status;
  }
}

TEST_F(MigratorTest, SchemaRejectsAvatarsOver256KiB) {
  const absl::Status status = database_->ExecuteSql(
      InsertProfile("'Ann'", "'a@example.com'", "decode(repeat('00', 262145), 'hex')"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("profiles_avatar_size"), absl::string_view::npos) << status;
}

TEST_F(MigratorTest, SchemaRejectsVersionZero) {
  const absl::Status status = database_->ExecuteSql(
      absl::StrCat("INSERT INTO profiles (id, name, email, version) VALUES ('", RandomUuid(),
                   "', 'Ann', 'a@example.com', 0)"));
  EXPECT_NE(status.message().find("profiles_version_positive"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace profiles
