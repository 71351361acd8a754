#include "tests/fault/invariants.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <exception>
#include <pqxx/pqxx>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace profiles::testing {
namespace {

using profile::v1::Profile;

constexpr int kReadAttempts = 5;

std::string Show(const Profile& profile) {
  return absl::StrCat("v", profile.version(), " '", profile.name(), "' <", profile.email(), ">");
}

bool SameState(const Profile& a, const Profile& b) {
  return a.id() == b.id() && a.version() == b.version() && a.name() == b.name() &&
         a.email() == b.email() && a.avatar_sha256() == b.avatar_sha256();
}

// Calls `call` (which returns a grpc::Status) until it succeeds, at most
// kReadAttempts times; the last status.
template <typename Call>
grpc::Status WithRetries(Call call) {
  grpc::Status status;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    status = call(context);
    if (status.ok()) return status;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return status;
}

// Every page of a listing that starts with `first`; false (and a line in
// `errors`) if a page could not be read.
bool ListAll(profile::v1::ProfileService::Stub& stub, profile::v1::ListProfilesRequest first,
             const std::string& what, std::vector<Profile>& out, std::vector<std::string>& errors) {
  profile::v1::ListProfilesRequest request = std::move(first);
  for (int pages = 0; pages < 10000; ++pages) {
    profile::v1::ListProfilesResponse page;
    const grpc::Status status = WithRetries([&](grpc::ClientContext& context) {
      page.Clear();
      return stub.ListProfiles(&context, request, &page);
    });
    if (!status.ok()) {
      errors.push_back(absl::StrCat(what, " failed: ", status.error_message()));
      return false;
    }
    for (Profile& profile : *page.mutable_profiles()) out.push_back(std::move(profile));
    if (page.next_page_token().empty()) return true;
    request.set_since_cursor("");
    request.set_page_token(page.next_page_token());
  }
  errors.push_back(absl::StrCat(what, " did not end"));
  return false;
}

void ReadDatabase(const std::string& database_url, Observed& observed) {
  std::string error;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    try {
      pqxx::connection connection(database_url);
      pqxx::read_transaction txn(connection);
      observed.applied.clear();
      observed.table.clear();
      for (const auto& row : txn.exec(
               "SELECT caller, mutation_id::text, profile_id::text, result_version, "
               "coalesce(result_name, ''), coalesce(result_email, '') FROM applied_mutations")) {
        observed.applied.push_back({.caller = row[0].as<std::string>(),
                                    .mutation_id = row[1].as<std::string>(),
                                    .profile_id = row[2].as<std::string>(),
                                    .version = row[3].is_null() ? 0 : row[3].as<int64_t>(),
                                    .name = row[4].as<std::string>(),
                                    .email = row[5].as<std::string>()});
      }
      for (const auto& row :
           txn.exec("SELECT id::text, version, name, email, avatar_sha256 FROM profiles")) {
        Profile profile;
        profile.set_id(row[0].as<std::string>());
        profile.set_version(row[1].as<int64_t>());
        profile.set_name(row[2].as<std::string>());
        profile.set_email(row[3].as<std::string>());
        profile.set_avatar_sha256(row[4].as<std::string>());
        observed.table[profile.id()] = std::move(profile);
      }
      return;
    } catch (const std::exception& e) {
      error = e.what();
      absl::SleepFor(absl::Milliseconds(500));
    }
  }
  observed.errors.push_back(absl::StrCat("reading the database failed: ", error));
}

}  // namespace

Observed Observe(const std::string& database_url, profile::v1::ProfileService::Stub& stub,
                 const std::vector<std::string>& profile_ids, const std::string& start_cursor) {
  Observed observed;
  ReadDatabase(database_url, observed);
  for (const std::string& id : profile_ids) {
    profile::v1::GetProfileRequest request;
    request.set_id(id);
    Profile profile;
    const grpc::Status status = WithRetries([&](grpc::ClientContext& context) {
      profile.Clear();
      return stub.GetProfile(&context, request, &profile);
    });
    if (status.ok()) {
      observed.got[id] = std::move(profile);
    } else {
      observed.errors.push_back(
          absl::StrCat("GetProfile ", id, " failed: ", status.error_message()));
    }
  }
  // Small pages, so that paging itself is part of what must agree.
  profile::v1::ListProfilesRequest full;
  full.set_page_size(1);
  ListAll(stub, full, "ListProfiles", observed.listed, observed.errors);
  profile::v1::ListProfilesRequest delta;
  delta.set_page_size(2);
  delta.set_since_cursor(start_cursor);
  ListAll(stub, delta, "ListProfiles since the start cursor", observed.delta, observed.errors);
  return observed;
}

std::vector<Violation> Check(const std::vector<std::string>& profile_ids,
                             const std::vector<SentMutation>& setup,
                             const std::vector<ClientReport>& reports, const Observed& observed) {
  std::vector<Violation> violations;
  auto fail = [&](std::string invariant, auto&&... parts) {
    violations.push_back({std::move(invariant), absl::StrCat(parts...)});
  };
  for (const std::string& error : observed.errors) fail("reads", error);

  std::vector<const SentMutation*> sent;
  for (const SentMutation& mutation : setup) sent.push_back(&mutation);
  for (const ClientReport& report : reports) {
    for (const SentMutation& mutation : report.sent) sent.push_back(&mutation);
  }
  std::map<std::string, const SentMutation*> sent_by_id;
  for (const SentMutation* mutation : sent) {
    if (!sent_by_id.emplace(mutation->mutation_id, mutation).second) {
      fail("test", "mutation id ", mutation->mutation_id, " sent for two writes");
    }
  }
  std::map<std::string, const Observed::Applied*> applied_by_id;
  // (profile id, version) -> the applied row that made that version.
  std::map<std::pair<std::string, int64_t>, const Observed::Applied*> version_rows;
  // "name <email>" -> the rows that wrote it
  std::map<std::string, std::vector<const Observed::Applied*>> applied_by_content;
  for (const Observed::Applied& row : observed.applied) {
    if (!row.caller.empty()) {
      fail("exactly once", "mutation ", row.mutation_id, " is recorded for caller '", row.caller,
           "' (authentication is off: every caller is '')");
    }
    applied_by_id[row.mutation_id] = &row;
    version_rows[{row.profile_id, row.version}] = &row;
    applied_by_content[absl::StrCat(row.name, " <", row.email, ">")].push_back(&row);
  }

  // Acknowledged, refused, given up, odd answers; exactly once per queued write.
  std::map<std::pair<int, int>, std::vector<const Observed::Applied*>> applied_by_write;
  for (const SentMutation* mutation : sent) {
    const std::string& profile_id = profile_ids[static_cast<size_t>(mutation->profile)];
    const std::string name = WriteName(mutation->client, mutation->sequence);
    const std::string email = WriteEmail(mutation->client, mutation->sequence);
    auto applied = applied_by_id.find(mutation->mutation_id);
    const Observed::Applied* row = applied == applied_by_id.end() ? nullptr : applied->second;
    if (row != nullptr) applied_by_write[{mutation->client, mutation->sequence}].push_back(row);
    for (const std::string& odd : mutation->odd_answers) {
      fail("odd answers", Describe(*mutation), " was answered ", odd,
           " (the same request was sent again)");
    }
    switch (mutation->outcome) {
      case SentMutation::Outcome::kAcknowledged: {
        const Profile& answer = mutation->answer;
        if (row == nullptr) {
          fail("acknowledged", "lost: ", Describe(*mutation), " was acknowledged as ", Show(answer),
               " but applied_mutations has no record of it");
          break;
        }
        if (row->profile_id != profile_id || row->version != answer.version() ||
            row->name != name || row->email != email) {
          fail("acknowledged", "differs from its record: ", Describe(*mutation),
               " was acknowledged as ", Show(answer), " but is recorded as version ", row->version,
               " of ", row->profile_id, " '", row->name, "' <", row->email, ">");
        }
        if (answer.id() != profile_id || answer.name() != name || answer.email() != email ||
            answer.version() != mutation->expected_version + 1) {
          fail("acknowledged", "wrong answer: ", Describe(*mutation), " was acknowledged with ",
               answer.id(), " ", Show(answer), "; expected v", mutation->expected_version + 1, " '",
               name, "' <", email, ">");
        }
        break;
      }
      case SentMutation::Outcome::kAborted:
        if (row != nullptr) {
          fail("refused", Describe(*mutation), " was answered ABORTED but is ",
               "applied as version ", row->version);
        }
        if (!mutation->carried_profile) {
          fail("conflicts", "no current profile in the ABORTED for ", Describe(*mutation));
        } else if (mutation->answer.id() != profile_id ||
                   mutation->answer.version() <= mutation->expected_version) {
          fail("conflicts", "wrong profile in the ABORTED for ", Describe(*mutation), " carried ",
               mutation->answer.id(), " ", Show(mutation->answer));
        } else {
          auto state = version_rows.find({profile_id, mutation->answer.version()});
          if (state == version_rows.end()) {
            fail("conflicts", "a version never applied in the ABORTED for ", Describe(*mutation),
                 " carried ", Show(mutation->answer));
          } else if (state->second->name != mutation->answer.name() ||
                     state->second->email != mutation->answer.email()) {
            fail("conflicts", "a state the profile never had in the ABORTED for ",
                 Describe(*mutation), " carried ", Show(mutation->answer), " but that version is '",
                 state->second->name, "' <", state->second->email, ">");
          }
        }
        break;
      case SentMutation::Outcome::kRejected:
        fail("liveness", "given up: ", Describe(*mutation), " was answered ", mutation->rejection);
        break;
      case SentMutation::Outcome::kUnresolved:
        break;  // liveness, below
    }
  }
  for (const auto& [write, rows] : applied_by_write) {
    if (rows.size() < 2) continue;
    std::vector<std::string> versions;
    for (const Observed::Applied* row : rows) {
      versions.push_back(absl::StrCat(row->mutation_id, " as version ", row->version));
    }
    fail("exactly once", "client ", write.first, " write ", write.second, " applied ", rows.size(),
         " times: ", absl::StrJoin(versions, ", "));
  }
  for (const auto& [content, rows] : applied_by_content) {
    if (rows.size() < 2) continue;
    std::vector<std::string> versions;
    for (const Observed::Applied* row : rows) {
      versions.push_back(absl::StrCat(row->mutation_id, " as version ", row->version));
    }
    fail("exactly once", "'", content, "' applied ", rows.size(),
         " times: ", absl::StrJoin(versions, ", "));
  }
  for (const Observed::Applied& row : observed.applied) {
    if (!sent_by_id.contains(row.mutation_id)) {
      fail("exactly once", "unknown mutation ", row.mutation_id, " applied to profile ",
           row.profile_id, " as version ", row.version, " '", row.name, "'");
    }
  }

  // Gapless version chains, and convergence of every way to read a profile.
  auto index_of = [&fail](const std::vector<Profile>& profiles, const std::string& what) {
    std::map<std::string, const Profile*> by_id;
    for (const Profile& profile : profiles) {
      if (!by_id.emplace(profile.id(), &profile).second) {
        fail("convergence", what, " returned profile ", profile.id(), " twice");
      }
    }
    return by_id;
  };
  const auto listed = index_of(observed.listed, "ListProfiles");
  const auto delta = index_of(observed.delta, "the delta ListProfiles");
  if (listed.size() != profile_ids.size() || delta.size() != profile_ids.size() ||
      observed.table.size() != profile_ids.size()) {
    fail("convergence", "the table holds ", observed.table.size(),
         " profiles, ListProfiles returned ", listed.size(), ", the delta ", delta.size(),
         "; expected ", profile_ids.size());
  }
  for (size_t p = 0; p < profile_ids.size(); ++p) {
    const std::string& id = profile_ids[p];
    auto row = observed.table.find(id);
    if (row == observed.table.end()) {
      fail("convergence", "profile ", p, " (", id, ") is not in the profiles table");
      continue;
    }
    const Profile& stored = row->second;
    std::vector<int64_t> versions;
    for (const Observed::Applied& applied : observed.applied) {
      if (applied.profile_id == id) versions.push_back(applied.version);
    }
    std::sort(versions.begin(), versions.end());
    std::vector<int64_t> expected(static_cast<size_t>(std::max<int64_t>(stored.version(), 0)));
    for (size_t v = 0; v < expected.size(); ++v) expected[v] = static_cast<int64_t>(v) + 1;
    if (versions != expected) {
      std::vector<int64_t> missing;
      std::vector<int64_t> extra;
      std::set_difference(expected.begin(), expected.end(), versions.begin(), versions.end(),
                          std::back_inserter(missing));
      std::set_difference(versions.begin(), versions.end(), expected.begin(), expected.end(),
                          std::back_inserter(extra));
      fail("gapless", "version chain of profile ", p, " (", id, ", at version ", stored.version(),
           ") is not 1..", stored.version(), ": missing [", absl::StrJoin(missing, ","),
           "], duplicated or beyond [", absl::StrJoin(extra, ","), "]");
    }
    auto last = version_rows.find({id, stored.version()});
    if (last == version_rows.end() || last->second->name != stored.name() ||
        last->second->email != stored.email()) {
      fail("convergence", "profile ", p, " is ", Show(stored), " but its highest applied write is ",
           last == version_rows.end()
               ? std::string("missing")
               : absl::StrCat("'", last->second->name, "' <", last->second->email, ">"));
    }
    auto compare = [&](const std::map<std::string, const Profile*>& source,
                       const std::string& what) {
      auto found = source.find(id);
      if (found == source.end()) {
        fail("convergence", what, " is missing profile ", p, " (", id, ")");
      } else if (!SameState(*found->second, stored)) {
        fail("convergence", what, " returned ", Show(*found->second), " for profile ", p,
             ", the database holds ", Show(stored));
      }
    };
    std::map<std::string, const Profile*> got;
    for (const auto& [got_id, profile] : observed.got) got[got_id] = &profile;
    compare(got, "GetProfile");
    compare(listed, "ListProfiles");
    compare(delta, "ListProfiles since the start cursor");
  }

  // Per-client order and liveness.
  for (size_t c = 0; c < reports.size(); ++c) {
    std::map<int, int64_t> last_version;
    for (const SentMutation& mutation : reports[c].sent) {
      if (mutation.outcome != SentMutation::Outcome::kAcknowledged) continue;
      int64_t& last = last_version[mutation.profile];
      if (mutation.answer.version() <= last) {
        fail("client order", Describe(mutation), " was acknowledged as version ",
             mutation.answer.version(), " after an earlier write of the same client got version ",
             last);
      }
      last = mutation.answer.version();
    }
    if (!reports[c].drained) {
      const SentMutation* stuck = reports[c].sent.empty() ? nullptr : &reports[c].sent.back();
      fail("liveness", "client ", c, " did not drain its queue in time: ", reports[c].acknowledged,
           " writes acknowledged",
           stuck != nullptr && stuck->outcome == SentMutation::Outcome::kUnresolved
               ? absl::StrCat(", waiting for an answer to ", Describe(*stuck))
               : "");
    }
  }
  return violations;
}

}  // namespace profiles::testing
