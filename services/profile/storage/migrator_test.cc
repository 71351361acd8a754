#include "services/profile/storage/migrator.h"

#include <latch>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/profile/logging/log_capture.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::RandomUuid;
using ::profiles::testing::TestDatabase;

// Removes everything the migrations created.
constexpr char kEmptySchema[] = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;";

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

  size_t SchemaMigrationCount() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT count(*) FROM schema_migrations")[0].as<size_t>();
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
  ASSERT_TRUE(database_->ExecuteSql(kEmptySchema).ok());
  LogCapture capture;
  const absl::Status status = ApplyMigrations(database_->url());
  ASSERT_TRUE(status.ok()) << status;
  for (const Migration& migration : EmbeddedMigrations()) {
    EXPECT_NE(capture.Text().find(R"("msg":"migration applied","migration":")" + migration.name +
                                  "\"}\n"),
              std::string::npos)
        << capture.Text();
  }
  EXPECT_EQ(SchemaMigrationCount(), EmbeddedMigrations().size());
}

TEST_F(MigratorTest, ReplicasStartingTogetherApplyEachMigrationOnce) {
  ASSERT_TRUE(database_->ExecuteSql(kEmptySchema).ok());
  constexpr int kReplicas = 4;
  std::vector<absl::Status> statuses(kReplicas);
  {
    std::latch start(kReplicas);
    std::vector<std::thread> replicas;
    for (int i = 0; i < kReplicas; ++i) {
      replicas.emplace_back([&, i] {
        start.arrive_and_wait();
        statuses[i] = ApplyMigrations(database_->url());
      });
    }
    for (std::thread& replica : replicas) replica.join();
  }
  for (const absl::Status& status : statuses) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(SchemaMigrationCount(), EmbeddedMigrations().size());
}

TEST_F(MigratorTest, SecondRunAppliesNothing) {
  pqxx::connection connection(database_->url());
  const auto applied = [&connection] {
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT count(*), max(applied_at)::text FROM schema_migrations");
  };
  const pqxx::row before = applied();
  EXPECT_EQ(before[0].as<size_t>(), EmbeddedMigrations().size());

  LogCapture capture;
  const absl::Status status = ApplyMigrations(database_->url());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(capture.Text(), "");
  const pqxx::row after = applied();
  EXPECT_EQ(after[0].as<size_t>(), EmbeddedMigrations().size());
  EXPECT_EQ(after[1].as<std::string>(), before[1].as<std::string>());
}

TEST_F(MigratorTest, SchemaNewerThanThisBuildIsRefusedAndLeftAlone) {
  const Migration& newest = EmbeddedMigrations().back();
  const std::string future_name = absl::StrCat(newest.version + 1, "_from_a_newer_build");
  ASSERT_TRUE(
      database_
          ->ExecuteSql(absl::StrCat("INSERT INTO schema_migrations (version, name) VALUES (",
                                    newest.version + 1, ", '", future_name, "')"))
          .ok());

  LogCapture capture;
  const absl::Status status = ApplyMigrations(database_->url());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find(future_name), std::string::npos) << status;
  EXPECT_NE(status.message().find(newest.name), std::string::npos) << status;
  EXPECT_EQ(capture.Text(), "");
  EXPECT_EQ(SchemaMigrationCount(), EmbeddedMigrations().size() + 1);
}

// A database the previous build migrated (every migration but the newest),
// holding profiles with 192 KiB pictures and an idempotency record, upgrades
// with every profile as it was: the record still replays, and writes go on
// from the versions the profiles had.
TEST_F(MigratorTest, TheNewestMigrationUpgradesADatabaseOfThePreviousBuildLosingNothing) {
  ASSERT_TRUE(database_->ExecuteSql(kEmptySchema).ok());
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_GE(migrations.size(), 2u);
  const std::vector<Migration> previous(migrations.begin(), migrations.end() - 1);
  ASSERT_TRUE(ApplyMigrations(database_->url(), previous).ok());

  pqxx::connection connection(database_->url());
  const auto exec = [&connection](const std::string& sql) {
    pqxx::work txn(connection);
    pqxx::result result = txn.exec(sql);
    txn.commit();
    return result;
  };
  exec(
      "INSERT INTO profiles (id, name, email, avatar, version) "
      "SELECT gen_random_uuid(), 'Profile ' || g, 'p' || g || '@example.com', "
      "convert_to(repeat(md5(g::text), 6144), 'UTF8'), 1 FROM generate_series(1, 300) g");
  const std::string id =
      exec("SELECT id FROM profiles ORDER BY name LIMIT 1")[0][0].as<std::string>();
  const std::string mutation = RandomUuid();
  const std::string write = absl::StrCat("SELECT outcome, r_version FROM profiles_apply_write('",
                                         id, "', 1, 'Renamed', NULL, NULL, '", mutation, "', '')");
  ASSERT_EQ(exec(write)[0][0].as<std::string>(), "applied");
  // Every profile's columns, as a count and a digest (a failure prints one
  // line, not every profile).
  const std::string everything =
      "SELECT count(*) || ' ' || md5(string_agg(concat_ws(' ', id, name, email, avatar_sha256, "
      "md5(avatar), version), ',' ORDER BY id)) FROM profiles";
  const std::string before = exec(everything)[0][0].as<std::string>();

  LogCapture capture;
  ASSERT_TRUE(ApplyMigrations(database_->url()).ok());
  ASSERT_EQ(capture.Lines().size(), 1u)
      << "only the newest migration is applied: " << capture.Text();
  EXPECT_NE(capture.Text().find(absl::StrCat(R"("msg":"migration applied","migration":")",
                                             migrations.back().name, "\"}")),
            std::string::npos)
      << capture.Text();

  EXPECT_EQ(exec(everything)[0][0].as<std::string>(), before);
  const pqxx::result replayed = exec(write);
  EXPECT_EQ(replayed[0][0].as<std::string>(), "replayed");
  EXPECT_EQ(replayed[0][1].as<int64_t>(), 2);
  const pqxx::result next =
      exec(absl::StrCat("SELECT outcome, r_version FROM profiles_apply_write('", id,
                        "', 2, 'Again', NULL, NULL, NULL)"));
  EXPECT_EQ(next[0][0].as<std::string>(), "applied");
  EXPECT_EQ(next[0][1].as<int64_t>(), 3);
  EXPECT_EQ(SchemaMigrationCount(), migrations.size());
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
