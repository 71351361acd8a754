#include "tests/fault/invariants.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::testing {
namespace {

using profile::v1::Profile;

constexpr int kReadAttempts = 5;

std::string Show(const Profile& profile) {
  if (profile.deleted()) {
    return absl::StrCat(
        "v", profile.version(), " (tombstone)",
        profile.name().empty() && profile.email().empty() && profile.avatar_sha256().empty()
            ? ""
            : absl::StrCat(" holding '", profile.name(), "' <", profile.email(), "> picture '",
                           profile.avatar_sha256(), "'"));
  }
  return absl::StrCat("v", profile.version(), " '", profile.name(), "' <", profile.email(), ">");
}

std::string Show(const Observed::Applied& row) {
  if (row.deleted) return absl::StrCat("version ", row.version, " (a delete)");
  if (row.erased()) return absl::StrCat("version ", row.version, " (erased)");
  return absl::StrCat("version ", row.version, " '", row.name, "' <", row.email, ">");
}

bool SameState(const Profile& a, const Profile& b) {
  return a.id() == b.id() && a.version() == b.version() && a.name() == b.name() &&
         a.email() == b.email() && a.avatar_sha256() == b.avatar_sha256() &&
         a.deleted() == b.deleted();
}

// Calls `call` (which returns a grpc::Status) until it succeeds or is
// answered NOT_FOUND (a deleted profile), at most kReadAttempts times; the
// last status.
template <typename Call>
grpc::Status WithRetries(Call call) {
  grpc::Status status;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    status = call(context);
    if (status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND) return status;
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
      observed.tombstone_holds.clear();
      for (const auto& row :
           txn.exec("SELECT caller, mutation_id::text, profile_id::text, result_version, "
                    "coalesce(result_name, ''), coalesce(result_email, ''), result_deleted, "
                    "fingerprint IS NOT NULL, result_name IS NOT NULL, result_email IS NOT NULL, "
                    "result_avatar_sha256 IS NOT NULL, coalesce(result_avatar_sha256, '') "
                    "FROM applied_mutations")) {
        observed.applied.push_back({.caller = row[0].as<std::string>(),
                                    .mutation_id = row[1].as<std::string>(),
                                    .profile_id = row[2].as<std::string>(),
                                    .version = row[3].is_null() ? 0 : row[3].as<int64_t>(),
                                    .name = row[4].as<std::string>(),
                                    .email = row[5].as<std::string>(),
                                    .deleted = row[6].as<bool>(),
                                    .has_fingerprint = row[7].as<bool>(),
                                    .has_name = row[8].as<bool>(),
                                    .has_email = row[9].as<bool>(),
                                    .has_avatar_sha256 = row[10].as<bool>(),
                                    .avatar_sha256 = row[11].as<std::string>()});
      }
      for (const auto& row : txn.exec(
               "SELECT id::text, version, coalesce(name, ''), coalesce(email, ''), "
               "avatar_sha256, deleted_at IS NOT NULL, concat_ws(', ', "
               "CASE WHEN name IS NOT NULL THEN 'name ' || quote_literal(name) END, "
               "CASE WHEN email IS NOT NULL THEN 'email ' || quote_literal(email) END, "
               "CASE WHEN octet_length(avatar) > 0 THEN 'a picture of ' || octet_length(avatar) "
               "|| ' bytes' END) FROM profiles")) {
        Profile profile;
        profile.set_id(row[0].as<std::string>());
        profile.set_version(row[1].as<int64_t>());
        profile.set_name(row[2].as<std::string>());
        profile.set_email(row[3].as<std::string>());
        profile.set_avatar_sha256(row[4].as<std::string>());
        profile.set_deleted(row[5].as<bool>());
        const std::string holds = row[6].as<std::string>();
        if (profile.deleted() && !holds.empty()) observed.tombstone_holds[profile.id()] = holds;
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
                 const std::vector<std::string>& profile_ids, const std::string& start_cursor,
                 const std::string& created_cursor) {
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
    const absl::Status answer = FromGrpcStatus(status);
    std::optional<Profile> tombstone =
        IsProfileDeleted(answer) ? ConflictingProfile(answer) : std::nullopt;
    if (status.ok() && profile.deleted()) {
      observed.errors.push_back(absl::StrCat("GetProfile ", id, " answered OK with a tombstone ",
                                             Show(profile), " (a deleted profile is NOT_FOUND)"));
    } else if (status.ok()) {
      observed.got[id] = std::move(profile);
    } else if (tombstone.has_value()) {
      observed.got[id] = *std::move(tombstone);
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
  // Pages of the default size: a page of many changes, tombstones among them.
  profile::v1::ListProfilesRequest after_creates;
  after_creates.set_since_cursor(created_cursor);
  ListAll(stub, after_creates, "ListProfiles since the creates", observed.delta_after_creates,
          observed.errors);
  return observed;
}

std::vector<Violation> Check(const std::vector<std::string>& profile_ids,
                             const std::vector<SentMutation>& setup,
                             const std::vector<ClientReport>& reports, const Observed& observed) {
  using Kind = SentMutation::Kind;
  using Outcome = SentMutation::Outcome;
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
  // "name <email>" -> the rows that still hold it
  std::map<std::string, std::vector<const Observed::Applied*>> applied_by_content;
  // profile id -> the versions its deletes made
  std::map<std::string, std::set<int64_t>> delete_versions;
  for (const Observed::Applied& row : observed.applied) {
    if (!row.caller.empty()) {
      fail("exactly once", "mutation ", row.mutation_id, " is recorded for caller '", row.caller,
           "' (authentication is off: every caller is '')");
    }
    applied_by_id[row.mutation_id] = &row;
    version_rows[{row.profile_id, row.version}] = &row;
    if (row.deleted) {
      delete_versions[row.profile_id].insert(row.version);
    } else if (row.has_name || row.has_email) {
      applied_by_content[absl::StrCat(row.name, " <", row.email, ">")].push_back(&row);
    }
  }
  // The first delete of `profile_id` at a version in (after, before); 0 if none.
  auto delete_between = [&](const std::string& profile_id, int64_t after, int64_t before) {
    auto deletes = delete_versions.find(profile_id);
    if (deletes == delete_versions.end()) return int64_t{0};
    auto next = deletes->second.upper_bound(after);
    return next != deletes->second.end() && *next < before ? *next : int64_t{0};
  };
  auto deleted_above = [&](const std::string& profile_id, int64_t version) {
    return delete_between(profile_id, version, std::numeric_limits<int64_t>::max());
  };

  // Erasure of the idempotency records, whoever wrote them.
  for (const Observed::Applied& row : observed.applied) {
    const SentMutation* mutation =
        sent_by_id.contains(row.mutation_id) ? sent_by_id[row.mutation_id] : nullptr;
    const std::string whose =
        mutation != nullptr ? Describe(*mutation) : absl::StrCat("mutation ", row.mutation_id);
    if (row.deleted) {
      if (row.has_name || row.has_email || !row.avatar_sha256.empty()) {
        fail("erasure", "the record of ", whose, ", a delete, holds '", row.name, "' <", row.email,
             "> picture '", row.avatar_sha256, "'");
      }
      continue;
    }
    const int64_t later_delete = deleted_above(row.profile_id, row.version);
    std::vector<std::string> kept;
    std::vector<std::string> lost;
    (row.has_fingerprint ? kept : lost).push_back("fingerprint");
    (row.has_name ? kept : lost).push_back("result_name");
    (row.has_email ? kept : lost).push_back("result_email");
    (row.has_avatar_sha256 ? kept : lost).push_back("result_avatar_sha256");
    if (later_delete != 0 && !row.erased()) {
      fail("erasure", "the record of ", whose, " (version ", row.version, " of ", row.profile_id,
           ") still holds ", absl::StrJoin(kept, ", "), " ('", row.name, "' <", row.email,
           ">) after the delete at version ", later_delete);
    } else if (later_delete == 0 && !row.intact()) {
      fail("erasure", "the record of ", whose, " (version ", row.version, " of ", row.profile_id,
           ") lost ", absl::StrJoin(lost, ", "), " but no delete of the profile followed it");
    }
  }
  for (const auto& [id, holds] : observed.tombstone_holds) {
    fail("erasure", "the tombstone of ", id, " still holds ", holds);
  }

  // Acknowledged, refused, given up, odd answers; exactly once per queued write.
  std::map<std::pair<int, int>, std::vector<const Observed::Applied*>> applied_by_write;
  // Whether the profile a PROFILE_DELETED or ABORTED carried is what that version held.
  auto check_carried = [&](const SentMutation& mutation, const std::string& profile_id,
                           const char* answered) {
    const Profile& carried = mutation.answer;
    const bool tombstone = mutation.outcome == Outcome::kProfileDeleted;
    // Above the write's base; a delete based on a tombstone may find that very tombstone.
    const int64_t lowest = mutation.expected_version + (mutation.base_deleted ? 0 : 1);
    if (carried.id() != profile_id || carried.version() < lowest ||
        carried.deleted() != tombstone ||
        (tombstone && (!carried.name().empty() || !carried.email().empty() ||
                       !carried.avatar_sha256().empty()))) {
      fail("conflicts", "wrong profile in the ", answered, " for ", Describe(mutation), ": ",
           carried.id(), " ", Show(carried));
      return;
    }
    auto state = version_rows.find({profile_id, carried.version()});
    if (state == version_rows.end()) {
      fail("conflicts", "a version never applied in the ", answered, " for ", Describe(mutation),
           ": ", Show(carried));
    } else if (state->second->deleted != tombstone ||
               (state->second->has_name && (state->second->name != carried.name() ||
                                            state->second->email != carried.email()))) {
      fail("conflicts", "a state the profile never had in the ", answered, " for ",
           Describe(mutation), ": ", Show(carried), " but that version is ", Show(*state->second));
    }
  };
  for (const SentMutation* mutation : sent) {
    const std::string& profile_id = profile_ids[static_cast<size_t>(mutation->profile)];
    const std::string name = WriteName(mutation->client, mutation->sequence);
    const std::string email = WriteEmail(mutation->client, mutation->sequence);
    const bool deletes = mutation->kind == Kind::kDelete;
    auto applied = applied_by_id.find(mutation->mutation_id);
    const Observed::Applied* row = applied == applied_by_id.end() ? nullptr : applied->second;
    if (row != nullptr) applied_by_write[{mutation->client, mutation->sequence}].push_back(row);
    for (const std::string& odd : mutation->odd_answers) {
      fail("odd answers", Describe(*mutation), " was answered ", odd,
           " (the same request was sent again)");
    }
    switch (mutation->outcome) {
      case Outcome::kAcknowledged: {
        const Profile& answer = mutation->answer;
        if (row == nullptr) {
          fail("acknowledged", "lost: ", Describe(*mutation), " was acknowledged as ", Show(answer),
               " but applied_mutations has no record of it");
          break;
        }
        // Content is compared where the record still holds it (erasure checks the rest).
        if (row->profile_id != profile_id || row->version != answer.version() ||
            row->deleted != deletes ||
            (!deletes && row->has_name && (row->name != name || row->email != email))) {
          fail("acknowledged", "differs from its record: ", Describe(*mutation),
               " was acknowledged as ", Show(answer), " but is recorded as ", Show(*row), " of ",
               row->profile_id);
        }
        bool right = answer.id() == profile_id && answer.deleted() == deletes;
        if (deletes) {
          right = right && answer.name().empty() && answer.email().empty() &&
                  answer.avatar_sha256().empty() &&
                  answer.version() == mutation->expected_version + 1;
        } else {
          right = right && answer.name() == name && answer.email() == email;
        }
        if (mutation->kind == Kind::kEdit) {
          right = right && answer.version() == mutation->expected_version + 1;
        }
        if (mutation->kind == Kind::kCreate) {
          // A new profile, or one that continues a tombstone's versions.
          auto before = version_rows.find({profile_id, answer.version() - 1});
          right = right && (answer.version() == 1 ||
                            (before != version_rows.end() && before->second->deleted));
        }
        if (!right) {
          fail("acknowledged", "wrong answer: ", Describe(*mutation), " was acknowledged with ",
               answer.id(), " ", Show(answer), "; expected ",
               deletes ? absl::StrCat("the tombstone v", mutation->expected_version + 1)
               : mutation->kind == Kind::kCreate
                   ? absl::StrCat("'", name, "' <", email, "> right after a tombstone")
                   : absl::StrCat("v", mutation->expected_version + 1, " '", name, "' <", email,
                                  ">"));
        }
        break;
      }
      case Outcome::kAborted:
        if (row != nullptr) {
          fail("refused", Describe(*mutation), " was answered ABORTED but is ",
               "applied as version ", row->version);
        }
        if (!mutation->carried_profile) {
          fail("conflicts", "no current profile in the ABORTED for ", Describe(*mutation));
        } else {
          check_carried(*mutation, profile_id, "ABORTED");
        }
        break;
      case Outcome::kProfileDeleted:
        // An edit or create answered PROFILE_DELETED may be a replay of its own first
        // application, which a later delete erased; nothing else answered so is applied.
        if (row != nullptr && (deletes || !row->erased() || row->deleted ||
                               deleted_above(profile_id, row->version) == 0)) {
          fail("refused", Describe(*mutation), " was answered PROFILE_DELETED but is applied as ",
               Show(*row));
        }
        if (mutation->carried_profile) {
          check_carried(*mutation, profile_id, "PROFILE_DELETED");
        } else if (row == nullptr) {
          // Only the replay of an erased mutation of a profile re-created since has no
          // tombstone to carry.
          fail("conflicts", "no tombstone in the PROFILE_DELETED for ", Describe(*mutation));
        }
        break;
      case Outcome::kRejected:
        fail("liveness", "given up: ", Describe(*mutation), " was answered ", mutation->rejection);
        break;
      case Outcome::kUnresolved:
        break;  // liveness, below
    }
  }
  // A queued write is applied once; again only after the client was told a delete erased its
  // earlier application (PROFILE_DELETED) and chose to recreate, with that delete in between.
  for (auto& [write, rows] : applied_by_write) {
    if (rows.size() < 2) continue;
    std::sort(rows.begin(), rows.end(), [](const Observed::Applied* a, const Observed::Applied* b) {
      return a->version < b->version;
    });
    bool fine = true;
    for (size_t i = 0; i + 1 < rows.size(); ++i) {
      const SentMutation* mutation = sent_by_id[rows[i]->mutation_id];
      fine = fine && mutation->kind != Kind::kDelete &&
             mutation->outcome == Outcome::kProfileDeleted &&
             rows[i]->profile_id == rows[i + 1]->profile_id &&
             delete_between(rows[i]->profile_id, rows[i]->version, rows[i + 1]->version) != 0;
    }
    if (fine) continue;
    std::vector<std::string> versions;
    for (const Observed::Applied* row : rows) {
      const SentMutation* mutation = sent_by_id[row->mutation_id];
      versions.push_back(absl::StrCat(
          row->mutation_id, " as ", Show(*row),
          mutation->outcome == Outcome::kProfileDeleted ? " (answered PROFILE_DELETED)" : ""));
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
         " times and still recorded: ", absl::StrJoin(versions, ", "));
  }
  for (const Observed::Applied& row : observed.applied) {
    if (!sent_by_id.contains(row.mutation_id)) {
      fail("exactly once", "unknown mutation ", row.mutation_id, " applied to profile ",
           row.profile_id, " as ", Show(row));
    }
  }

  // Gapless version chains, nothing resurrected, and convergence of every way to read a profile.
  auto index_of = [&](const std::vector<Profile>& profiles, const std::string& what) {
    std::map<std::string, const Profile*> by_id;
    for (const Profile& profile : profiles) {
      if (!by_id.emplace(profile.id(), &profile).second) {
        fail("convergence", what, " returned profile ", profile.id(), " twice");
      }
      if (std::find(profile_ids.begin(), profile_ids.end(), profile.id()) == profile_ids.end()) {
        fail("convergence", what, " returned ", profile.id(), ", not a profile of this run");
      }
    }
    return by_id;
  };
  const auto listed = index_of(observed.listed, "ListProfiles");
  const auto delta = index_of(observed.delta, "the delta ListProfiles");
  const auto after_creates = index_of(observed.delta_after_creates, "the delta since the creates");
  if (observed.table.size() != profile_ids.size()) {
    fail("convergence", "the table holds ", observed.table.size(), " profiles; expected ",
         profile_ids.size(), " (a tombstone keeps its row)");
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
    const Observed::Applied* highest = nullptr;
    for (const Observed::Applied& applied : observed.applied) {
      if (applied.profile_id == id && (highest == nullptr || applied.version > highest->version)) {
        highest = &applied;
      }
    }
    if (highest != nullptr && stored.deleted() &&
        (!highest->deleted || highest->version != stored.version())) {
      fail("resurrection", "profile ", p, " (", id, ") is a tombstone at ", Show(stored),
           " but its highest applied write is ", Show(*highest));
    } else if (highest != nullptr && !stored.deleted() && highest->deleted) {
      fail("resurrection", "profile ", p, " (", id, ") is live at ", Show(stored),
           " but its highest applied write is ", Show(*highest));
    }
    auto last = version_rows.find({id, stored.version()});
    if (!stored.deleted() && (last == version_rows.end() || last->second->name != stored.name() ||
                              last->second->email != stored.email())) {
      fail("convergence", "profile ", p, " is ", Show(stored), " but its highest applied write is ",
           last == version_rows.end() ? std::string("missing") : Show(*last->second));
    }
    auto compare = [&](const std::map<std::string, const Profile*>& source, const std::string& what,
                       bool may_be_missing) {
      auto found = source.find(id);
      if (found == source.end()) {
        if (!may_be_missing) {
          fail("convergence", what, " is missing profile ", p, " (", id, "), the database holds ",
               Show(stored));
        }
      } else if (!SameState(*found->second, stored)) {
        fail("convergence", what, " returned ", Show(*found->second), " for profile ", p,
             ", the database holds ", Show(stored));
      }
    };
    std::map<std::string, const Profile*> got;
    for (const auto& [got_id, profile] : observed.got) got[got_id] = &profile;
    compare(got, "GetProfile", false);
    // A listing from an empty cursor leaves tombstones out of its first page, and may list
    // them on later pages.
    compare(listed, "ListProfiles", stored.deleted());
    compare(delta, "ListProfiles since the start cursor (issued by the empty database)", false);
    // Every profile changed after its create (version 1) is in the delta since the creates.
    compare(after_creates, "ListProfiles since the creates", stored.version() == 1);
  }

  // Per-client order and liveness.
  for (size_t c = 0; c < reports.size(); ++c) {
    std::map<int, int64_t> last_version;
    for (const SentMutation& mutation : reports[c].sent) {
      if (mutation.outcome != Outcome::kAcknowledged) continue;
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
           stuck != nullptr && stuck->outcome == Outcome::kUnresolved
               ? absl::StrCat(", waiting for an answer to ", Describe(*stuck))
               : "");
    }
  }
  return violations;
}

}  // namespace profiles::testing
