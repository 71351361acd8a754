#include "services/profile/storage/pg_profile_repository.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <optional>
#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/storage/pg_status.h"
#include "services/profile/storage/wal_sequencer.h"

namespace profiles {
namespace {

// The columns RowToProfile() reads; updated_at as microseconds since the
// Unix epoch (timestamptz has microsecond precision).
// A tombstone's name and e-mail are NULL (erased), read as empty.
constexpr char kProfileColumns[] =
    "id::text, coalesce(name, ''), coalesce(email, ''), avatar, avatar_sha256, version, "
    "floor(extract(epoch FROM updated_at) * 1000000)::bigint, deleted_at IS NOT NULL";
constexpr char kProfileColumnsWithoutAvatar[] =
    "id::text, coalesce(name, ''), coalesce(email, ''), ''::bytea, avatar_sha256, version, "
    "floor(extract(epoch FROM updated_at) * 1000000)::bigint, deleted_at IS NOT NULL";

constexpr char kGet[] = "profile_get";
constexpr char kApply[] = "profile_apply";
constexpr char kChanges[] = "profile_changes";
constexpr char kChangesWithoutAvatars[] = "profile_changes_without_avatars";
constexpr char kStreamState[] = "profile_stream_state";

// What a row counts against a page's byte budget (see ChangesAfter() in
// profile_repository.h).
// A tombstone's name and e-mail are NULL: counted as empty, since a NULL
// here would make the running total NULL and the page's byte filter drop
// the tombstone (a skipped change) or fail the read.
std::string RowBytes(bool include_avatar) {
  return absl::StrCat(include_avatar ? "octet_length(p.avatar) + " : "",
                      "coalesce(octet_length(p.name), 0) + coalesce(octet_length(p.email), 0) + ",
                      kProfileFixedWireBytes);
}

// Columns after the profile's: the change position (epoch, commit LSN as a
// decimal text, since pg_lsn and numeric have no libpqxx conversion, index
// within the transaction) and the page's running byte total up to and
// including the row.
constexpr int kEpochColumn = 8;
constexpr int kLsnColumn = 9;
constexpr int kIdxColumn = 10;
constexpr int kRunningBytesColumn = 11;

std::string ChangesQuery(const char* columns, const std::string& row_bytes) {
  // Positions are final once written (change_cursor.h): the sequencer stamps
  // whole transactions in commit order, one stamping transaction after
  // another, so a snapshot sees a prefix of the stream and nothing stamped
  // later can sort before what it saw.
  //
  // $1 is the cursor's epoch; the start (epoch 0) reads the current epoch.
  // The row comparison starts at the index's first column, so the index
  // serves it. $6 false leaves tombstones out (the first page of a listing
  // from the start).
  //
  // A cursor below the change stream's horizon (tombstones after it were
  // purged) gets no rows, so the empty page's check refuses it
  // (CheckCursorContinues()).
  //
  // The outer query keeps the rows that start within the byte budget ($5):
  // those that fit, plus at most one that crosses it, which ChangesAfter()
  // leaves out but which tells it that more changes exist; and always the
  // first two rows, so a first row larger than the budget is returned and
  // its successor still shows that more exist.
  return absl::StrCat(
      "SELECT ", columns,
      ", page.epoch, (page.commit_lsn - '0/0'::pg_lsn)::text, page.idx, page.running_bytes "
      "FROM (SELECT p.*, pp.epoch, pp.commit_lsn, pp.idx, "
      "row_number() OVER (ORDER BY pp.commit_lsn, pp.idx) AS row_number, ",
      row_bytes, " AS row_bytes, sum(", row_bytes,
      ") OVER (ORDER BY pp.commit_lsn, pp.idx ROWS UNBOUNDED PRECEDING) AS running_bytes "
      "FROM profile_positions pp JOIN profiles p ON p.id = pp.profile_id, "
      "(SELECT coalesce(nullif($1::bigint, 0), (SELECT epoch FROM change_sequencer_state)) "
      "AS epoch) wanted "
      "WHERE pp.epoch = wanted.epoch AND (pp.epoch, pp.commit_lsn, pp.idx) > "
      "(wanted.epoch, '0/0'::pg_lsn + $2::numeric, $3::int) "
      "AND ($6::boolean OR p.deleted_at IS NULL) "
      "AND NOT EXISTS (SELECT 1 FROM change_stream_horizon h WHERE $1::bigint <> 0 "
      "AND h.epoch = $1::bigint AND (h.commit_lsn, h.idx) > ('0/0'::pg_lsn + $2::numeric, "
      "$3::int)) "
      "ORDER BY pp.commit_lsn, pp.idx LIMIT $4) page "
      "WHERE page.row_number <= 2 OR page.running_bytes - page.row_bytes <= $5::bigint "
      "ORDER BY page.commit_lsn, page.idx");
}

void PrepareStatements(pqxx::connection& connection) {
  connection.prepare(kGet,
                     absl::StrCat("SELECT ", kProfileColumns, " FROM profiles WHERE id = $1"));
  connection.prepare(kApply,
                     "SELECT outcome, r_id::text, coalesce(r_name, ''), coalesce(r_email, ''), "
                     "coalesce(r_avatar, ''::bytea), coalesce(r_avatar_sha256, ''), "
                     "r_version, floor(extract(epoch FROM r_updated_at) * 1000000)::bigint, "
                     "r_deleted FROM profiles_apply_write("
                     "$1::uuid, $2::bigint, $3::text, $4::text, "
                     "CASE WHEN $5::boolean THEN $6::bytea END, $7::uuid, $8::text, $9::boolean)");
  // The current epoch (NULL until a sequencer has set up its slot), how far
  // the WAL has come (every position this database issued lies below), and
  // the horizon below which tombstones were purged (NULLs when none were).
  connection.prepare(kStreamState,
                     "SELECT (SELECT epoch FROM change_sequencer_state), "
                     "(pg_current_wal_lsn() - '0/0'::pg_lsn)::text, h.epoch, "
                     "(h.commit_lsn - '0/0'::pg_lsn)::text, h.idx "
                     "FROM (SELECT 1) AS one LEFT JOIN change_stream_horizon h ON true");
  connection.prepare(kChanges, ChangesQuery(kProfileColumns, RowBytes(true)));
  connection.prepare(kChangesWithoutAvatars,
                     ChangesQuery(kProfileColumnsWithoutAvatar, RowBytes(false)));
}

// Reads the eight profile columns starting at `first`.
profile::v1::Profile RowToProfile(const pqxx::row& row, int first) {
  profile::v1::Profile profile;
  profile.set_id(row[first].as<std::string>());
  profile.set_name(row[first + 1].as<std::string>());
  profile.set_email(row[first + 2].as<std::string>());
  profile.set_avatar(pqxx::binarystring(row[first + 3]).str());
  profile.set_avatar_sha256(row[first + 4].as<std::string>());
  profile.set_version(row[first + 5].as<int64_t>());
  *profile.mutable_updated_at() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(row[first + 6].as<int64_t>());
  profile.set_deleted(row[first + 7].as<bool>());
  return profile;
}

const char* NullableText(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

absl::StatusOr<AppliedWrite> ApplyOutcome(const ProfileWrite& write, const pqxx::row& row) {
  const std::string outcome = row[0].as<std::string>();
  if (outcome == "applied" || outcome == "replayed") {
    return AppliedWrite{.profile = RowToProfile(row, 1), .replayed = outcome == "replayed"};
  }
  if (outcome == "conflict") {
    profile::v1::Profile current = RowToProfile(row, 1);
    const std::string message =
        write.creates() ? absl::StrCat("profile ", write.id, " already exists at version ",
                                       current.version(), ", the write would have created it")
                        : absl::StrCat("profile ", write.id, " is at version ", current.version(),
                                       ", the write was based on version ", write.expected_version);
    return VersionConflict(message, current);
  }
  if (outcome == "not_found") {
    return absl::NotFoundError(absl::StrCat("profile ", write.id, " does not exist"));
  }
  if (outcome == "deleted") {
    profile::v1::Profile tombstone = RowToProfile(row, 1);
    return ProfileDeleted(
        write.id,
        absl::StrCat("profile ", write.id, " was deleted at version ", tombstone.version(),
                     write.deletes ? "" : "; create it anew (expected_version 0) to bring it back"),
        tombstone);
  }
  if (outcome == "erased") {
    std::optional<profile::v1::Profile> tombstone;
    if (!row[6].is_null()) tombstone = RowToProfile(row, 1);
    const std::string profile_id = row[1].as<std::string>();
    return ProfileDeleted(
        profile_id,
        absl::StrCat("mutation ", write.mutation_id, " was applied to profile ", profile_id,
                     ", which has since been deleted; its result was erased "
                     "with the profile's data"),
        tombstone);
  }
  if (outcome == "mutation_reused") return MutationIdReused(write.mutation_id);
  return absl::InternalError(absl::StrCat("profiles_apply_write returned outcome ", outcome));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgProfileRepository>> PgProfileRepository::Create(
    const Options& options) {
  if (options.database_url.empty()) {
    return absl::InvalidArgumentError("the database URL is empty");
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the pool size must be at least 1, not ", options.pool_size));
  }
  return std::unique_ptr<PgProfileRepository>(new PgProfileRepository(options));
}

PgProfileRepository::PgProfileRepository(const Options& options)
    : pool_(ConnectionPool::Options{.database_url = options.database_url,
                                    .size = options.pool_size,
                                    .acquire_timeout = options.acquire_timeout,
                                    .prepare = PrepareStatements}) {}

namespace {

// Whether an operation may run a second time after its connection was lost
// while it ran. The pool has already replaced every connection it could see
// was dead before handing it out (connection_pool.h), so what is left is a
// connection that broke while the statement was on its way or running: it
// may or may not have been executed.
enum class Retry {
  kNever,            // a write that cannot be recognised when replayed
  kOnNewConnection,  // a read, or a write that carries a mutation id
};

// Runs `body(connection)` on a pooled connection and turns its exceptions
// into a status. A connection that failed is discarded; with
// Retry::kOnNewConnection the body then runs once more on a newly opened
// connection (not another pooled one, which may have died the same way).
template <typename T, typename Body>
absl::StatusOr<T> RunOnPool(ConnectionPool& pool, std::string_view what, Retry retry, Body& body) {
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<ConnectionPool::Lease> lease =
        pool.Acquire(attempt == 1 ? ConnectionPool::Reuse::kPooled : ConnectionPool::Reuse::kNever);
    if (!lease.ok()) return lease.status();
    try {
      return body(**lease);
    } catch (const std::exception& e) {
      // libpq marks the connection bad when it sees the server go, but
      // libpqxx does not always throw broken_connection for it.
      const bool lost = storage_internal::IsConnectionFailure(e) || !(*lease)->is_open();
      if (!lost) return storage_internal::StatusFromException(what, e);
      lease->MarkBroken();
      if (retry == Retry::kNever || attempt == 2) {
        return storage_internal::UnreachableStatus(what, e);
      }
    }
  }
}

}  // namespace

template <typename T, typename Body>
absl::StatusOr<T> PgProfileRepository::Run(std::string_view what, Body body) {
  // Every caller but Apply() only reads: running it twice is harmless.
  return RunOnPool<T>(pool_, what, Retry::kOnNewConnection, body);
}

absl::StatusOr<profile::v1::Profile> PgProfileRepository::Get(std::string_view id) {
  if (!CanonicalUuid(id).has_value()) {
    FieldViolations violations;
    violations.Add("id", "must be a UUID");
    return violations.ToStatus();
  }
  return Run<profile::v1::Profile>(
      "get profile", [&](pqxx::connection& connection) -> absl::StatusOr<profile::v1::Profile> {
        pqxx::nontransaction txn(connection);
        const pqxx::result result = txn.exec_prepared(kGet, std::string(id));
        if (result.empty()) {
          return absl::NotFoundError(absl::StrCat("no profile has id ", std::string(id)));
        }
        return RowToProfile(result[0], 0);
      });
}

absl::StatusOr<AppliedWrite> PgProfileRepository::ApplyWrite(const ProfileWrite& write) {
  // A write whose connection broke under it may have been applied. Sent
  // again with its mutation id, it is recognised and its first result
  // returned (the idempotency record commits with the write), so it is safe
  // to retry; without one it could be applied twice, so the caller gets
  // UNAVAILABLE and decides.
  const Retry retry = write.mutation_id.empty() ? Retry::kNever : Retry::kOnNewConnection;
  auto body = [&](pqxx::connection& connection) -> absl::StatusOr<AppliedWrite> {
    const pqxx::binarystring avatar(write.avatar.value_or(std::string()));
    const char* mutation_id = write.mutation_id.empty() ? nullptr : write.mutation_id.c_str();
    for (int attempt = 1;; ++attempt) {
      try {
        // Autocommit: the statement is its own transaction, one round trip.
        pqxx::nontransaction txn(connection);
        const pqxx::result result =
            txn.exec_prepared(kApply, write.id, write.expected_version, NullableText(write.name),
                              NullableText(write.email), write.avatar.has_value(), avatar,
                              mutation_id, write.caller, write.deletes);
        if (result.size() != 1) {
          return absl::InternalError("profiles_apply_write returned no row");
        }
        return ApplyOutcome(write, result[0]);
      } catch (const pqxx::unique_violation&) {
        // A concurrent first application of the same mutation id won;
        // the second call finds its record and replays it.
        if (attempt == 2 || mutation_id == nullptr) throw;
      }
    }
  };
  return RunOnPool<AppliedWrite>(pool_, "apply profile write", retry, body);
}

namespace {

absl::Status ParseLsn(const pqxx::field& field, uint64_t& lsn) {
  if (absl::SimpleAtoi(field.c_str(), &lsn)) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("unexpected LSN ", field.c_str()));
}

// Why an empty page after `after` may hide a cursor this database cannot
// continue (profile_repository.h); OK when it does not.
absl::Status CheckCursorContinues(pqxx::nontransaction& txn, const ChangeCursor& after) {
  if (after.is_start()) return absl::OkStatus();
  const pqxx::row state = txn.exec_prepared1(kStreamState);
  uint64_t wal_end = 0;
  if (absl::Status parsed = ParseLsn(state[1], wal_end); !parsed.ok()) return parsed;
  const std::optional<int64_t> epoch =
      state[0].is_null() ? std::nullopt : std::optional<int64_t>(state[0].as<int64_t>());
  if (epoch.has_value() && after.epoch < *epoch) {
    return CursorExpired("", absl::StrCat("the cursor belongs to epoch ", after.epoch,
                                          " of the change stream, and this database is at "
                                          "epoch ",
                                          *epoch,
                                          ": its replication slot was replaced and changes in "
                                          "between were never ordered; list again from the start"));
  }
  if (!state[2].is_null() && state[2].as<int64_t>() == after.epoch) {
    ChangeCursor horizon{.epoch = after.epoch, .lsn = 0, .idx = state[4].as<int64_t>()};
    if (absl::Status parsed = ParseLsn(state[3], horizon.lsn); !parsed.ok()) return parsed;
    if (after < horizon) {
      return CursorExpired(
          "",
          "the cursor is older than the tombstone retention window: profiles deleted after it "
          "may no longer be listed as deleted; list again from the start");
    }
  }
  if (!epoch.has_value() || after.epoch > *epoch || after.lsn > wal_end) {
    return CursorAheadOfDatabase(
        absl::StrCat("the cursor names commit ", after.lsn, " of epoch ", after.epoch,
                     ", which this database has not reached: it was restored from a backup taken "
                     "before the cursor was issued; list again from the start"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ChangePage> PgProfileRepository::ChangesAfter(const ChangeCursor& after, int limit,
                                                             bool include_avatars,
                                                             int64_t max_bytes,
                                                             bool include_tombstones) {
  if (limit < 1) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be at least 1, not ", limit));
  }
  if (max_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes must be at least 1, not ", max_bytes));
  }
  // Epoch 0 is the start, whatever else the cursor says.
  const ChangeCursor from = after.is_start() ? ChangeCursor::Start() : after;
  return Run<ChangePage>(
      "read changes", [&](pqxx::connection& connection) -> absl::StatusOr<ChangePage> {
        pqxx::nontransaction txn(connection);
        const pqxx::result result = txn.exec_prepared(
            include_avatars ? kChanges : kChangesWithoutAvatars, from.epoch,
            std::to_string(from.lsn), from.idx, int64_t{limit} + 1, max_bytes, include_tombstones);
        ChangePage page;
        page.end = after;
        page.changes.reserve(std::min(result.size(), static_cast<size_t>(limit)));
        for (const pqxx::row& row : result) {
          // The first change always fits, so a walk never stalls on a large one.
          const bool fits =
              page.changes.empty() || (page.changes.size() < static_cast<size_t>(limit) &&
                                       row[kRunningBytesColumn].as<int64_t>() <= max_bytes);
          if (!fits) break;
          ProfileChange change;
          change.profile = RowToProfile(row, 0);
          change.cursor.epoch = row[kEpochColumn].as<int64_t>();
          if (absl::Status parsed = ParseLsn(row[kLsnColumn], change.cursor.lsn); !parsed.ok()) {
            return parsed;
          }
          change.cursor.idx = row[kIdxColumn].as<int64_t>();
          page.end = change.cursor;
          page.changes.push_back(std::move(change));
        }
        page.more = page.changes.size() < result.size();
        // Only an empty page can hide a cursor of an older epoch (its
        // positions were all restamped) or from a longer history: any change
        // after it would have a larger position.
        if (page.changes.empty()) {
          if (absl::Status continues = CheckCursorContinues(txn, from); !continues.ok()) {
            return continues;
          }
        }
        return page;
      });
}

absl::StatusOr<std::string> PgProfileRepository::DatabaseId() {
  {
    absl::MutexLock lock(&database_id_mu_);
    if (!database_id_.empty()) return database_id_;
  }
  absl::StatusOr<std::string> id = Run<std::string>(
      "read the database id", [](pqxx::connection& connection) -> absl::StatusOr<std::string> {
        pqxx::nontransaction txn(connection);
        return txn
            .exec1(
                "SELECT s.system_identifier::text || '-' || d.oid::text "
                "FROM pg_control_system() s, pg_database d WHERE d.datname = current_database()")[0]
            .as<std::string>();
      });
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&database_id_mu_);
  database_id_ = *id;
  return database_id_;
}

absl::StatusOr<ChangeStreamState> PgProfileRepository::ReadChangeStreamState() {
  // pg_locks shows a bigint advisory key as its high and low 32 bits.
  const uint64_t key = static_cast<uint64_t>(WalSequencer::kSequencerLockKey);
  const int64_t key_high = static_cast<int64_t>(key >> 32);
  const int64_t key_low = static_cast<int64_t>(key & 0xffffffffu);
  return Run<ChangeStreamState>(
      "read the change stream's state",
      [&](pqxx::connection& connection) -> absl::StatusOr<ChangeStreamState> {
        pqxx::nontransaction txn(connection);
        const pqxx::row row = txn.exec_params1(
            "SELECT st.epoch IS NOT NULL, s.slot_name IS NOT NULL, coalesce(s.wal_status, ''),"
            "       coalesce((pg_current_wal_lsn() - s.restart_lsn)::bigint, 0),"
            "       EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            "                WHERE d.datname = current_database() AND l.locktype = 'advisory'"
            "                  AND l.granted AND l.classid::bigint = $1"
            "                  AND l.objid::bigint = $2 AND l.objsubid = 1)"
            "  FROM (SELECT 1) AS one"
            "  LEFT JOIN change_sequencer_state st ON true"
            "  LEFT JOIN pg_replication_slots s ON s.slot_name = st.slot_name",
            key_high, key_low);
        return ChangeStreamState{.has_epoch = row[0].as<bool>(),
                                 .slot_exists = row[1].as<bool>(),
                                 .wal_status = row[2].as<std::string>(),
                                 .lag_bytes = row[3].as<int64_t>(),
                                 .sequencer_elected = row[4].as<bool>()};
      });
}

absl::Status PgProfileRepository::Ping() {
  return Run<int>("ping",
                  [](pqxx::connection& connection) -> absl::StatusOr<int> {
                    pqxx::nontransaction txn(connection);
                    return txn.exec1("SELECT 1")[0].as<int>();
                  })
      .status();
}

}  // namespace profiles
