// The text rules of libs/profile_contract/validation.h and the CHECK
// constraints of the schema (migrations/0002_text_rules.sql) must agree: a
// name or e-mail address the service accepts must be stored, and one the
// table refuses must have been refused by the service first, or the caller
// gets an internal error instead of a field violation.
//
// This walks code points through both: every code point of the ranges where
// the rules draw a line (controls, Latin-1, the Arabic and Syriac format
// characters, General Punctuation, the ideographic space, the specials and
// noncharacters, the astral format characters, tags, the end of every plane)
// and a sample every 499 code points across all seventeen planes, each in
// leading, trailing, inner and sole position of a name and in the local part
// and the domain of an address. Each string is judged by NameProblem() or
// EmailProblem() and by a real INSERT into the profiles table of a freshly
// migrated database.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/storage/migrator.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using testing::TestDatabase;

std::string Label(char32_t c) {
  return absl::StrCat("U+", absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad4));
}

// A JSON string literal; the test's own minimal encoder, as PostgreSQL's JSON
// parser reads it (controls escaped, everything else as UTF-8).
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (byte < 0x20) {
      absl::StrAppend(&out, "\\u", absl::Hex(byte, absl::kZeroPad4));
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

// The code points walked (U+0000 cannot be sent in a PostgreSQL text value
// at all; the validator's verdict on it is checked on its own).
std::vector<char32_t> CodePointsOfInterest() {
  std::set<char32_t> points;
  auto add_range = [&points](char32_t first, char32_t last) {
    for (char32_t c = first; c <= last; ++c) points.insert(c);
  };
  add_range(0x0001, 0x0900);    // C0, ASCII, C1, Latin-1 (U+0085, U+00A0, U+00AD), Arabic Cf
  add_range(0x1670, 0x1690);    // U+1680 OGHAM SPACE MARK
  add_range(0x1800, 0x1810);    // U+180E
  add_range(0x1FF0, 0x2110);    // General Punctuation: spaces, ZW*, bidi, separators
  add_range(0x2FF0, 0x3010);    // U+3000, U+3002
  add_range(0xD7F0, 0xD7FF);    // just below the surrogates
  add_range(0xE000, 0xE010);    // private use
  add_range(0xFDC0, 0xFFFF);    // noncharacters, BOM, specials, fullwidth forms
  add_range(0x10000, 0x10010);  // first astral code points
  add_range(0x110B0, 0x110D0);  // Kaithi format characters
  add_range(0x13420, 0x13450);  // Egyptian hieroglyph format controls
  add_range(0x1BC90, 0x1BCB0);  // shorthand format controls
  add_range(0x1D170, 0x1D180);  // musical symbol format controls
  add_range(0x1F600, 0x1F610);  // emoji
  add_range(0xE0000, 0xE0082);  // tags
  for (char32_t plane = 0; plane <= 0x10; ++plane) {
    add_range((plane << 16) | 0xFFFC, (plane << 16) | 0xFFFF);
  }
  for (char32_t c = 0x0001; c <= 0x10FFFF; c += 499) points.insert(c);
  std::vector<char32_t> result;
  for (char32_t c : points) {
    if (c < 0xD800 || c > 0xDFFF) result.push_back(c);
  }
  return result;
}

struct Candidate {
  char32_t code_point;
  std::string where;  // e.g. "name, leading"
  bool is_name;
  std::string value;
};

std::vector<Candidate> Candidates() {
  std::vector<Candidate> candidates;
  for (char32_t c : CodePointsOfInterest()) {
    const std::string s = EncodeUtf8(c);
    for (auto [where, value] :
         std::vector<std::pair<std::string, std::string>>{{"leading", s + "Ada"},
                                                          {"trailing", "Ada" + s},
                                                          {"inner", "Ad" + s + "a"},
                                                          {"sole", s}}) {
      candidates.push_back({c, "name, " + where, true, value});
      // What the service stores: the trimmed value.
      const std::string trimmed = TrimWhitespace(value);
      if (trimmed != value) candidates.push_back({c, "name, trimmed " + where, true, trimmed});
    }
    for (auto [where, value] : std::vector<std::pair<std::string, std::string>>{
             {"local part inner", "a" + s + "b@example.com"},
             {"local part leading", s + "ab@example.com"},
             {"domain inner", "ab@ex" + s + "ample.com"},
             {"top-level domain", "ab@example.co" + s}}) {
      candidates.push_back({c, "email, " + where, false, value});
    }
  }
  return candidates;
}

class TextRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = database->release();
    // One round trip for thousands of INSERTs: each in its own
    // subtransaction, so a refused one is reported and the rest go on. Any
    // error other than a CHECK violation propagates and fails the test.
    const absl::Status created = database_->ExecuteSql(R"sql(
      CREATE FUNCTION text_rules_refused(candidates json)
      RETURNS TABLE (refused_at int, constraint_name text)
      LANGUAGE plpgsql AS $$
      DECLARE
        i int := 0;
        pair json;
        failed text;
      BEGIN
        FOR pair IN SELECT * FROM json_array_elements(candidates) LOOP
          BEGIN
            INSERT INTO profiles (id, name, email, version)
              VALUES (gen_random_uuid(), pair->>0, pair->>1, 1);
          EXCEPTION WHEN check_violation THEN
            GET STACKED DIAGNOSTICS failed = CONSTRAINT_NAME;
            refused_at := i;
            constraint_name := failed;
            RETURN NEXT;
          END;
          i := i + 1;
        END LOOP;
      END;
      $$)sql");
    ASSERT_TRUE(created.ok()) << created;
  }

  static void TearDownTestSuite() {
    delete database_;
    database_ = nullptr;
  }

  // The positions of `pairs` (name, email) that the table refuses, with the
  // constraint that refused each.
  static std::map<size_t, std::string> Refused(
      const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::string json = "[";
    for (size_t i = 0; i < pairs.size(); ++i) {
      absl::StrAppend(&json, i == 0 ? "" : ",", "[", JsonString(pairs[i].first), ",",
                      JsonString(pairs[i].second), "]");
    }
    json += "]";
    std::map<size_t, std::string> refused;
    pqxx::connection connection(database_->url());
    pqxx::work txn(connection);
    for (const pqxx::row& row : txn.exec_params(
             "SELECT refused_at, constraint_name FROM text_rules_refused($1::json)", json)) {
      refused[row[0].as<size_t>()] = row[1].as<std::string>();
    }
    txn.commit();
    return refused;
  }

  static TestDatabase* database_;
};

TestDatabase* TextRulesTest::database_ = nullptr;

TEST_F(TextRulesTest, ValidatorAndTableAgreeOnEveryCharacterClass) {
  const std::vector<Candidate> candidates = Candidates();
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(candidates.size());
  for (const Candidate& candidate : candidates) {
    pairs.emplace_back(candidate.is_name ? candidate.value : "Ada",
                       candidate.is_name ? "ada@example.com" : candidate.value);
  }
  const std::map<size_t, std::string> refused = Refused(pairs);

  int disagreements = 0;
  size_t name_refusals = 0;
  size_t email_refusals = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& candidate = candidates[i];
    const bool table_refuses = refused.contains(i);
    const char32_t c = candidate.code_point;
    if (table_refuses) {
      EXPECT_EQ(refused.at(i), candidate.is_name ? "profiles_name_valid" : "profiles_email_valid");
      (candidate.is_name ? name_refusals : email_refusals)++;
    }
    std::string disagreement;
    if (candidate.is_name) {
      // Names: exactly the same verdict.
      const std::optional<std::string> problem = NameProblem(candidate.value);
      if (problem.has_value() != table_refuses) {
        disagreement = absl::StrCat("validator says ", problem.value_or("OK"), "; table ",
                                    table_refuses ? "refuses" : "stores");
      }
    } else {
      // Addresses: the table checks only the characters (and a coarse shape
      // that every candidate has), so it refuses exactly the forbidden
      // characters and whitespace, and the validator, which also checks the
      // syntax, refuses everything the table refuses.
      const std::optional<std::string> problem = EmailProblem(candidate.value);
      const bool character_refused = IsForbiddenCharacter(c) || IsWhitespace(c);
      if (table_refuses != character_refused || (table_refuses && !problem.has_value())) {
        disagreement = absl::StrCat("validator says ", problem.value_or("OK"), "; table ",
                                    table_refuses ? "refuses" : "stores");
      }
    }
    if (!disagreement.empty() && ++disagreements <= 40) {
      ADD_FAILURE() << Label(c) << " (" << candidate.where << "): " << disagreement;
    }
  }
  EXPECT_EQ(disagreements, 0) << "of " << candidates.size() << " strings";
  // Not vacuous: both constraints refused something, and most was stored.
  EXPECT_GT(name_refusals, 100u);
  EXPECT_GT(email_refusals, 100u);
  EXPECT_LT(refused.size(), candidates.size() / 4);
}

TEST_F(TextRulesTest, KnownVerdicts) {
  struct Case {
    std::string name;
    bool stored;
  };
  const std::vector<Case> cases = {
      {"Zoë", true},
      {"José\xE2\x80\x8D", true},                              // trailing ZWJ
      {"\xD9\x85\xE2\x80\x8C\xD8\xA7", true},                  // ZWNJ between Arabic letters
      {"\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB", true},  // woman technologist
      {"Ada\xC2\xA0Lovelace", true},                           // inner no-break space
      {"Ada\xE2\x80\xA8Lovelace", false},                      // U+2028
      {"Ada\xE2\x80\xA9", false},                              // U+2029
      {"Ada\xC2\x85", false},                                  // U+0085
      {"Ada\xE2\x80\x8B", false},                              // U+200B
      {"\xE2\x80\xAEnimda", false},                            // U+202E
      {"Ada\xE2\x81\xA0", false},                              // U+2060
      {"\xEF\xBB\xBF"
       "Ada",
       false},                 // U+FEFF
      {"Ada\xC2\xAD", false},  // U+00AD
      {"Ada\xC2\xA0", false},  // trailing no-break space
      {"\xE3\x80\x80"
       "Ada",
       false},                         // leading ideographic space
      {"Ada\xEF\xBF\xBF", false},      // U+FFFF
      {"Ada\xF3\xA0\x80\x81", false},  // U+E0001
  };
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const Case& c : cases) pairs.emplace_back(c.name, "ada@example.com");
  const std::map<size_t, std::string> refused = Refused(pairs);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(!refused.contains(i), cases[i].stored) << cases[i].name;
    EXPECT_EQ(!NameProblem(cases[i].name).has_value(), cases[i].stored) << cases[i].name;
  }
  EXPECT_TRUE(NameProblem(std::string("A\0b", 3)).has_value());
}

TEST_F(TextRulesTest, InternationalAddressesAreStored) {
  const std::vector<std::string> addresses = {
      "josé@example.com",         "zoe@exämple.com",      "用户@例子.广告",
      "δοκιμή@παράδειγμα.δοκιμή", "x@xn--exmple-cua.com", "o'brien+tag@sub.example.co.uk"};
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& address : addresses) {
    EXPECT_EQ(EmailProblem(address), std::nullopt) << address;
    pairs.emplace_back("Ada", address);
  }
  EXPECT_TRUE(Refused(pairs).empty());
}

// 0002 must apply to a database that already holds rows 0001 allowed and
// the new rule refuses: they are cleaned (and get a new version), not left to
// fail every later write, and the migration does not fail.
TEST_F(TextRulesTest, MigrationCleansRowsWrittenUnderTheOldRule) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_GE(migrations.size(), 2u);
  ASSERT_EQ(migrations[1].name, "0002_text_rules");
  // Both migrations again, in a schema of their own, with data in between.
  const absl::Status status = database_->ExecuteSql(absl::StrCat(
      "CREATE SCHEMA legacy; SET LOCAL search_path = legacy, public;", migrations[0].sql,
      R"sql(;
      INSERT INTO profiles (id, name, email, version) VALUES
        ('00000000-0000-4000-8000-000000000001', E'Ada\u200b Love\u00a0', 'ada@example.com', 3),
        ('00000000-0000-4000-8000-000000000002', E'\u202e', E'b\u00a0o@example.com', 1),
        ('00000000-0000-4000-8000-000000000003', 'Fine', 'fine@example.com', 7);
      )sql",
      migrations[1].sql, R"sql(;
      CREATE TABLE public.legacy_result AS
        SELECT id::text, name, email, version FROM legacy.profiles ORDER BY id;
      DROP SCHEMA legacy CASCADE;
      )sql"));
  ASSERT_TRUE(status.ok()) << status;
  pqxx::connection connection(database_->url());
  pqxx::work txn(connection);
  const pqxx::result rows = txn.exec("SELECT name, email, version FROM legacy_result");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][0].as<std::string>(), "Ada Love");
  EXPECT_EQ(rows[0][2].as<int>(), 4);
  EXPECT_EQ(rows[1][0].as<std::string>(), "Unnamed");
  EXPECT_EQ(rows[1][1].as<std::string>(), "bo@example.com");
  EXPECT_EQ(rows[1][2].as<int>(), 2);
  EXPECT_EQ(rows[2][0].as<std::string>(), "Fine");
  EXPECT_EQ(rows[2][2].as<int>(), 7);
}

}  // namespace
}  // namespace profiles
