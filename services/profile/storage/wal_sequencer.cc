#include "services/profile/storage/wal_sequencer.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

constexpr char kChangeChannel[] = "profile_changes";
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
// For what only an operator can fix (wal_level, the plugin, the schema):
// trying more often only fills the log.
constexpr absl::Duration kSlowRetry = absl::Minutes(1);
// The output plugin's options: wal2json 2.5, format-version 2 (one JSON
// object per row, with B/C rows from include-transaction), only
// public.profiles (add-tables: the sequencer's own writes to
// profile_positions are never decoded), without type names and timestamps
// (smaller rows).
const std::vector<std::pair<std::string, std::string>>& PluginOptions() {
  static const auto* const options =
      new std::vector<std::pair<std::string, std::string>>{{"format-version", "2"},
                                                           {"include-transaction", "true"},
                                                           {"add-tables", "public.profiles"},
                                                           {"include-types", "false"},
                                                           {"include-timestamp", "false"}};
  return *options;
}

// One wal2json row, reduced to what sequencing needs: its action (B, I, U,
// D, C, M, T) and, for I/U/D, the profile's id, e.g.
//   {"action":"I","schema":"public","table":"profiles","columns":[{"name":"id","value":"..."},...
//   {"action":"D","schema":"public","table":"profiles","identity":[{"name":"id","value":"..."}]}
// Why not a JSON parser: a row carries the whole profile, its picture as up
// to 512 KB of hex, and only these two fields are needed. wal2json writes
// them in this fixed compact form, id is the table's first column (so it
// comes first, in "columns" or "identity"), and a JSON string cannot hold an
// unescaped quote, so the first {"name":"id","value":" is the id's.
struct DecodedRow {
  char action = 0;
  std::string id;  // empty unless I/U/D
};

DecodedRow ParseRow(std::string_view data) {
  constexpr std::string_view kAction = "{\"action\":\"";
  constexpr std::string_view kId = "{\"name\":\"id\",\"value\":\"";
  DecodedRow row;
  if (data.substr(0, kAction.size()) != kAction || data.size() <= kAction.size()) return row;
  row.action = data[kAction.size()];
  if (row.action != 'I' && row.action != 'U' && row.action != 'D') return row;
  const size_t at = data.find(kId);
  if (at == std::string_view::npos) return row;
  const size_t start = at + kId.size();
  const size_t end = data.find('"', start);
  if (end != std::string_view::npos) row.id = std::string(data.substr(start, end - start));
  return row;
}

std::string LsnText(uint64_t lsn) { return absl::StrFormat("%X/%X", lsn >> 32, lsn & 0xffffffffu); }

// Moves a position only forward, so decoding a transaction again (after a
// crash between stamping and advancing, or by a successor) changes nothing.
constexpr char kStampSql[] =
    "INSERT INTO profile_positions (profile_id, epoch, commit_lsn, idx)"
    " SELECT u.id, $1, u.lsn, u.idx FROM unnest($2::uuid[], $3::pg_lsn[], $4::int[])"
    "   AS u(id, lsn, idx)"
    " ON CONFLICT (profile_id) DO UPDATE"
    "   SET epoch = excluded.epoch, commit_lsn = excluded.commit_lsn, idx = excluded.idx"
    " WHERE (excluded.epoch, excluded.commit_lsn, excluded.idx)"
    "     > (profile_positions.epoch, profile_positions.commit_lsn, profile_positions.idx)";

// Appends " wal sequencer" to the session's application_name, so that in
// pg_stat_activity an operator (or a test) can tell this connection apart.
void NameAsSequencer(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  txn.exec(
      "SELECT set_config('application_name', ltrim(left(current_setting('application_name'), "
      "50) || ' wal sequencer'), false)");
  // Commits of this session (stamps, flush messages) are flushed at once,
  // whatever the server's default: see the flush message in Sequence().
  txn.exec("SET synchronous_commit = local");
}

class WakeOnNotify final : public pqxx::notification_receiver {
 public:
  explicit WakeOnNotify(pqxx::connection_base& connection)
      : pqxx::notification_receiver(connection, kChangeChannel) {}
  void operator()(const std::string&, int) override {}
};

std::string DefaultSlotNameOn(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  return txn
      .exec1("SELECT 'profiles_' || oid FROM pg_database WHERE datname = current_database()")[0]
      .as<std::string>();
}

}  // namespace

struct WalSequencer::Session {
  explicit Session(const std::string& database_url) : connection(database_url) {}

  pqxx::connection connection;
  std::string slot_name;
  int64_t epoch = 0;
  std::unique_ptr<WakeOnNotify> receiver;  // declared after `connection`: destroyed before it
};

absl::StatusOr<std::unique_ptr<WalSequencer>> WalSequencer::Start(Options options) {
  if (options.database_url.empty() || options.poll_interval <= absl::ZeroDuration() ||
      options.batch_changes < 1) {
    return absl::InvalidArgumentError(
        "WalSequencer needs a database URL, a positive poll interval and batches of at least "
        "one change");
  }
  int wake_pipe[2];
  if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  std::unique_ptr<WalSequencer> sequencer =
      absl::WrapUnique(new WalSequencer(std::move(options), wake_pipe));
  sequencer->thread_ = std::thread([raw = sequencer.get()] { raw->Run(); });
  return sequencer;
}

WalSequencer::WalSequencer(Options options, const int wake_pipe[2])
    : options_(std::move(options)), wake_read_fd_(wake_pipe[0]), wake_write_fd_(wake_pipe[1]) {}

WalSequencer::~WalSequencer() {
  int backend_pid;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    backend_pid = backend_pid_;
  }
  [[maybe_unused]] const ssize_t written = write(wake_write_fd_, "x", 1);
  // A statement can block for long (creating a slot waits for every running
  // transaction of the cluster): cancel it rather than wait.
  if (!exited_.WaitForNotificationWithTimeout(absl::Milliseconds(200)) && backend_pid != 0) {
    try {
      pqxx::connection connection(options_.database_url);
      pqxx::nontransaction txn(connection);
      txn.exec_params("SELECT pg_cancel_backend($1)", backend_pid);
    } catch (const std::exception&) {
      // Best effort: the thread finishes its statement and then sees stopping_.
    }
  }
  thread_.join();
  close(wake_read_fd_);
  close(wake_write_fd_);
}

WalSequencer::Progress WalSequencer::Lag() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

absl::StatusOr<std::string> WalSequencer::DefaultSlotName(const std::string& database_url) {
  try {
    pqxx::connection connection(database_url);
    return DefaultSlotNameOn(connection);
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("reading the database oid", e);
  }
}

absl::Status WalSequencer::DropSlot(const std::string& database_url, std::string slot_name) {
  try {
    pqxx::connection connection(database_url);
    if (slot_name.empty()) slot_name = DefaultSlotNameOn(connection);
    pqxx::nontransaction txn(connection);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    for (;;) {
      try {
        // In a subtransaction-free autocommit statement: a failed attempt
        // spoils nothing for the next.
        txn.exec_params(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = $1",
            slot_name);
        return absl::OkStatus();
      } catch (const pqxx::sql_error& e) {
        // 55006 object_in_use: a sequencer is reading it right now.
        if (e.sqlstate() != "55006") throw;
        if (absl::Now() > deadline) {
          return absl::FailedPreconditionError(
              absl::StrCat("replication slot ", slot_name, " stays in use: ", e.what()));
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("dropping the replication slot", e);
  }
}

absl::Status WalSequencer::AwaitSequenced(const std::string& database_url, absl::Time deadline,
                                          std::string slot_name) {
  try {
    pqxx::connection connection(database_url);
    if (slot_name.empty()) slot_name = DefaultSlotNameOn(connection);
    std::string barrier;
    {
      pqxx::work txn(connection);
      // Flushed at once, so that the replication stream (which sends only
      // flushed WAL) carries it now, not after the WAL writer's next flush.
      txn.exec("SET LOCAL synchronous_commit = local");
      barrier = txn.exec1(
                       "SELECT pg_logical_emit_message(true, 'profiles_wal_sequencer', "
                       "'barrier')::text")[0]
                    .as<std::string>();
      txn.exec(absl::StrCat("NOTIFY ", kChangeChannel));
      txn.commit();
    }
    pqxx::nontransaction txn(connection);
    for (;;) {
      const pqxx::result passed = txn.exec_params(
          "SELECT confirmed_flush_lsn > $2::pg_lsn FROM pg_replication_slots"
          " WHERE slot_name = $1",
          slot_name, barrier);
      if (!passed.empty() && passed[0][0].as<bool>(false)) return absl::OkStatus();
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "changes committed before ", barrier, " were not all sequenced in time (slot ",
            slot_name, passed.empty() ? " does not exist" : " is behind", ")"));
      }
      // Polled: the sequencer announces nothing when a batch held no
      // profile change, as this one may not.
      absl::SleepFor(absl::Milliseconds(2));
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("awaiting the wal sequencer", e);
  }
}

absl::Status WalSequencer::CheckServerConfiguration(const std::string& database_url) {
  try {
    pqxx::connection connection(database_url);
    pqxx::nontransaction txn(connection);
    const pqxx::row row = txn.exec1(
        "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int,"
        "       (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user),"
        "       current_user");
    const std::string wal_level = row[0].as<std::string>();
    if (wal_level != "logical") {
      return absl::FailedPreconditionError(absl::StrCat(
          "PostgreSQL runs with wal_level = ", wal_level,
          "; the change feed reads committed changes from the write-ahead log through logical "
          "decoding and needs wal_level = logical: set it in postgresql.conf (or -c "
          "wal_level=logical) and restart PostgreSQL (see deploy/README.md)"));
    }
    if (row[1].as<int>() < 1) {
      return absl::FailedPreconditionError(
          "PostgreSQL runs with max_replication_slots = 0; the change feed needs one logical "
          "replication slot per database: set max_replication_slots and restart PostgreSQL");
    }
    if (!row[2].as<bool>(false)) {
      return absl::FailedPreconditionError(
          absl::StrCat("role ", row[3].as<std::string>(),
                       " may not use replication slots, which the change feed reads: ALTER ROLE ",
                       row[3].as<std::string>(), " REPLICATION"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("checking the server's configuration", e);
  }
}

bool WalSequencer::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool WalSequencer::SleepUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithDeadline(absl::Condition(&stopping_), deadline);
}

void WalSequencer::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

void WalSequencer::Run() {
  absl::Duration backoff = kFirstBackoff;
  absl::Duration retry = options_.poll_interval;
  std::string last_reason;
  while (!stopping()) {
    absl::Status status;
    bool was_elected = false;
    {
      std::unique_ptr<Session> session;
      try {
        session = std::make_unique<Session>(options_.database_url);
        NameAsSequencer(session->connection);
        session->slot_name = options_.slot_name.empty() ? DefaultSlotNameOn(session->connection)
                                                        : options_.slot_name;
        {
          absl::MutexLock lock(&mu_);
          backend_pid_ = session->connection.backendpid();
        }
        status = Sequence(*session);
      } catch (const pqxx::sql_error& e) {
        // 42501: a role without REPLICATION; 58P01: no wal2json on the server.
        // Only an operator can fix either: wait like for wal_level.
        if (e.sqlstate() == "42501" || e.sqlstate() == "58P01") {
          status = absl::FailedPreconditionError(absl::StrCat(
              "cannot use a logical replication slot (the role needs REPLICATION and the server "
              "the wal2json plugin, package postgresql-15-wal2json): ",
              e.what()));
        } else {
          status = storage_internal::StatusFromException("wal sequencer", e);
        }
      } catch (const std::exception& e) {
        status = storage_internal::StatusFromException("wal sequencer", e);
      }
      absl::MutexLock lock(&mu_);
      was_elected = progress_.elected;
      progress_.elected = false;
      progress_.lag_bytes = -1;
      backend_pid_ = 0;
      // The session closes here, which releases the lock.
    }
    if (stopping()) break;
    if (was_elected) {
      backoff = kFirstBackoff;
      retry = options_.poll_interval;
      Log(absl::StrCat("wal sequencer: no longer sequencing: ", status.message()));
    }
    absl::Duration wait;
    if (absl::IsUnavailable(status)) {
      wait = backoff;
      backoff = std::min(backoff * 2, kMaxBackoff);
    } else if (absl::IsFailedPrecondition(status)) {
      wait = kSlowRetry;
    } else {
      wait = retry;
      retry = std::min(retry * 2, kSlowRetry);
    }
    // A database that stays away, or a wal_level nobody changes, is worth
    // one line, not one per attempt.
    if (std::string reason(status.message()); reason != last_reason) {
      last_reason = std::move(reason);
      if (!was_elected) {
        Log(absl::StrCat("wal sequencer: ", status.message(), "; retrying every ",
                         absl::FormatDuration(wait)));
      }
    }
    if (!SleepUntil(absl::Now() + wait)) break;
  }
  exited_.Notify();
}

absl::Status WalSequencer::Sequence(Session& session) {
  // 1. Election. The lock is the connection's: whatever ends the connection
  //    (this process dying included) frees it for another replica.
  for (;;) {
    if (stopping()) return absl::OkStatus();
    pqxx::nontransaction txn(session.connection);
    if (txn.exec_params1("SELECT pg_try_advisory_lock($1)", kSequencerLockKey)[0].as<bool>()) {
      break;
    }
    if (!SleepUntil(absl::Now() + options_.poll_interval)) return absl::OkStatus();
  }
  // 2. Slot and epoch.
  if (absl::Status status = EnsureSlot(session); !status.ok()) return status;
  {
    absl::MutexLock lock(&mu_);
    progress_.elected = true;
    progress_.epoch = session.epoch;
  }
  Log(absl::StrCat("wal sequencer: sequencing changes through slot ", session.slot_name, ", epoch ",
                   session.epoch));
  // 3. Stream the slot, stamping at transaction boundaries.
  session.receiver = std::make_unique<WakeOnNotify>(session.connection);
  absl::StatusOr<std::unique_ptr<LogicalStream>> stream =
      LogicalStream::Open({.database_url = options_.database_url,
                           .slot_name = session.slot_name,
                           .plugin_options = PluginOptions(),
                           .application_name_suffix = " wal sequencer stream"});
  if (!stream.ok()) return stream.status();
  Decoded decoded;
  absl::Time next_lag_check = absl::InfinitePast();
  bool notified = false;
  for (;;) {
    if (stopping()) return absl::OkStatus();
    if (notified) {
      // A walsender sends only WAL flushed to disk: with synchronous_commit
      // off the writer's commit is flushed by the WAL writer up to 3 x
      // wal_writer_delay later, and changes were 200 ms late. A commit of
      // our own, flushed at once (synchronous_commit = local on this
      // session), comes after the notified one in the WAL and so flushes it
      // too. Only when something is unflushed: with synchronous_commit on,
      // the writer's commit already was, and this writes nothing.
      pqxx::nontransaction txn(session.connection);
      txn.exec(
          "SELECT CASE WHEN pg_current_wal_insert_lsn() > pg_current_wal_flush_lsn()"
          " THEN pg_logical_emit_message(true, 'profiles_wal_sequencer', 'flush') END");
    }
    // Everything received so far, stamped a batch at a time.
    for (;;) {
      absl::StatusOr<std::optional<LogicalStream::Message>> message = (*stream)->Read();
      if (!message.ok()) return message.status();
      if (!message->has_value()) break;
      Decode(**message, decoded);
      if (!decoded.open && decoded.rows >= options_.batch_changes) {
        if (absl::Status done = StampAndConfirm(session, **stream, decoded); !done.ok()) {
          return done;
        }
      }
    }
    if (!decoded.open) {
      if (absl::Status done = StampAndConfirm(session, **stream, decoded); !done.ok()) return done;
    }
    notified = false;
    if (absl::Now() >= next_lag_check) {
      next_lag_check = absl::Now() + options_.poll_interval;
      pqxx::nontransaction txn(session.connection);
      const pqxx::result lag = txn.exec_params(
          "SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots"
          " WHERE slot_name = $1",
          session.slot_name);
      absl::MutexLock lock(&mu_);
      progress_.lag_bytes = lag.empty() || lag[0][0].is_null() ? -1 : lag[0][0].as<int64_t>();
    }
    // A notification that came while this connection ran a statement of
    // ours was read off the socket by libpq then, so poll(2) would not see
    // it: take those first, and wait only when there are none.
    notified = session.connection.get_notifs() > 0;
    if (!notified) {
      pollfd fds[3] = {{wake_read_fd_, POLLIN, 0},
                       {session.connection.sock(), POLLIN, 0},
                       {(*stream)->socket(), POLLIN, 0}};
      const timespec limit = absl::ToTimespec(options_.poll_interval);
      ppoll(fds, 3, &limit, nullptr);
      notified = session.connection.get_notifs() > 0;
    }
    if (!session.connection.is_open()) {
      throw pqxx::broken_connection("the wal sequencer's connection closed");
    }
  }
}

absl::Status WalSequencer::EnsureSlot(Session& session) {
  pqxx::connection& connection = session.connection;
  std::string wal_level;
  bool migrated;
  std::optional<std::pair<int64_t, std::string>> state;     // epoch, slot name
  std::optional<std::pair<std::string, std::string>> slot;  // wal_status, confirmed_flush_lsn
  {
    pqxx::nontransaction txn(connection);
    const pqxx::row settings = txn.exec1(
        "SELECT current_setting('wal_level'), to_regclass('change_sequencer_state') IS NOT NULL");
    wal_level = settings[0].as<std::string>();
    migrated = settings[1].as<bool>();
    if (wal_level != "logical") {
      return absl::FailedPreconditionError(absl::StrCat(
          "wal_level must be logical for commit-ordered change positions (it is ", wal_level,
          "); set wal_level = logical in postgresql.conf and restart PostgreSQL"));
    }
    if (!migrated) {
      return absl::FailedPreconditionError(
          "the schema has no change_sequencer_state yet (migration 0005 not applied)");
    }
    const pqxx::result state_rows = txn.exec("SELECT epoch, slot_name FROM change_sequencer_state");
    if (!state_rows.empty()) {
      state.emplace(state_rows[0][0].as<int64_t>(), state_rows[0][1].as<std::string>());
    }
    const pqxx::result slot_rows = txn.exec_params(
        "SELECT coalesce(wal_status, ''), coalesce(confirmed_flush_lsn::text, ''), plugin,"
        "       database = current_database()"
        "  FROM pg_replication_slots WHERE slot_name = $1",
        session.slot_name);
    if (!slot_rows.empty()) {
      if (!slot_rows[0][3].as<bool>(false) || slot_rows[0][2].as<std::string>("") != "wal2json") {
        return absl::FailedPreconditionError(
            absl::StrCat("replication slot ", session.slot_name,
                         " exists but is not a wal2json slot of this database; name another "
                         "slot for the sequencer"));
      }
      slot.emplace(slot_rows[0][0].as<std::string>(), slot_rows[0][1].as<std::string>());
    }
    if (slot.has_value() && slot->first == "lost") {
      Log(absl::StrCat("wal sequencer: replication slot ", session.slot_name,
                       " is LOST (PostgreSQL removed WAL it had not read, see "
                       "max_slot_wal_keep_size); changes since its last position were never "
                       "sequenced: dropping it and starting a new epoch"));
      txn.exec_params("SELECT pg_drop_replication_slot($1)", session.slot_name);
      slot.reset();
    }
  }
  if (slot.has_value() && state.has_value() && state->second == session.slot_name) {
    session.epoch = state->first;
    return absl::OkStatus();
  }

  std::string consistent_point;
  if (slot.has_value()) {
    // Created by a sequencer that died before its backfill committed: the
    // slot was never advanced (that only happens after the backfill), so
    // its confirmed position is still its consistent point.
    consistent_point = slot->second;
  } else {
    // Waits until every transaction running in the cluster has finished
    // (the destructor cancels it).
    pqxx::nontransaction txn(connection);
    consistent_point =
        txn.exec_params1("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'wal2json')",
                         session.slot_name)[0]
            .as<std::string>();
  }
  const int64_t epoch = state.has_value() ? state->first + 1 : 1;
  if (state.has_value()) {
    Log(absl::StrCat("wal sequencer: LOST CHANGE STREAM: the slot of epoch ", state->first, " (",
                     state->second, ") is gone; starting epoch ", epoch, " on slot ",
                     session.slot_name,
                     " and stamping every profile again. Clients holding "
                     "positions of an older epoch must list again"));
  }
  // The backfill: everything committed before the consistent point is
  // visible to this transaction's snapshot, and everything committed after
  // it will be decoded (at a higher position, which then wins).
  pqxx::work txn(connection);
  const pqxx::result stamped = txn.exec_params(
      "INSERT INTO profile_positions (profile_id, epoch, commit_lsn, idx)"
      " SELECT id, $1, $2::pg_lsn, (row_number() OVER (ORDER BY id))::int FROM profiles"
      " ON CONFLICT (profile_id) DO UPDATE"
      "   SET epoch = excluded.epoch, commit_lsn = excluded.commit_lsn, idx = excluded.idx"
      " WHERE profile_positions.epoch < excluded.epoch",
      epoch, consistent_point);
  // Positions of profiles deleted under an older epoch mean nothing in this one.
  txn.exec_params("DELETE FROM profile_positions WHERE epoch < $1", epoch);
  txn.exec_params(
      "INSERT INTO change_sequencer_state (epoch, slot_name) VALUES ($1, $2)"
      " ON CONFLICT (singleton) DO UPDATE SET epoch = excluded.epoch, slot_name = "
      "excluded.slot_name",
      epoch, session.slot_name);
  txn.exec("NOTIFY profile_positions");
  txn.commit();
  session.epoch = epoch;
  Log(absl::StrCat("wal sequencer: epoch ", epoch, " begins at ", consistent_point, " on slot ",
                   session.slot_name, "; ", stamped.affected_rows(), " existing profiles stamped"));
  return absl::OkStatus();
}

void WalSequencer::Decode(const LogicalStream::Message& message, Decoded& decoded) const {
  const DecodedRow row = ParseRow(message.data);
  ++decoded.rows;
  switch (row.action) {
    case 'B':
      decoded.open = true;
      decoded.in_transaction.clear();
      break;
    case 'I':
    case 'U':
    case 'D':
      if (!row.id.empty()) decoded.in_transaction.push_back(row.id);
      break;
    case 'C':
      // A commit's LSN is the end of its record: unique per transaction
      // and increasing in commit order. Later commits overwrite.
      for (size_t i = 0; i < decoded.in_transaction.size(); ++i) {
        decoded.latest[decoded.in_transaction[i]] =
            Decoded::Stamp{.commit_lsn = message.lsn, .idx = static_cast<int>(i)};
      }
      decoded.in_transaction.clear();
      decoded.last_commit = std::max(decoded.last_commit, message.lsn);
      decoded.open = false;
      break;
    case 'T':
      Log("wal sequencer: TRUNCATE of profiles decoded; truncated profiles get no position");
      break;
    default:
      // M (logical messages, e.g. our flush): nothing to stamp.
      break;
  }
}

absl::Status WalSequencer::StampAndConfirm(Session& session, LogicalStream& stream,
                                           Decoded& decoded) {
  if (!decoded.latest.empty()) {
    std::vector<std::string> ids, lsns, idxs;
    for (const auto& [id, stamp] : decoded.latest) {
      ids.push_back(id);
      lsns.push_back(LsnText(stamp.commit_lsn));
      idxs.push_back(absl::StrCat(stamp.idx));
    }
    // uuid, pg_lsn and int texts need no quoting inside an array literal.
    pqxx::work txn(session.connection);
    txn.exec_params(kStampSql, session.epoch, absl::StrCat("{", absl::StrJoin(ids, ","), "}"),
                    absl::StrCat("{", absl::StrJoin(lsns, ","), "}"),
                    absl::StrCat("{", absl::StrJoin(idxs, ","), "}"));
    txn.exec("NOTIFY profile_positions");
    txn.commit();
    decoded.latest.clear();
    absl::MutexLock lock(&mu_);
    ++progress_.batches;
  }
  decoded.rows = 0;
  if (options_.testing_never_advance) return absl::OkStatus();
  // Only now that the stamps are committed: confirming first could lose
  // them to a crash in between (a successor streams from the confirmed
  // position). Every message read so far is stamped and no transaction is
  // open, so what the server says it has decoded may be confirmed too: it
  // moves the slot past WAL that holds nothing for us (other databases').
  return stream.Confirm(std::max(decoded.last_commit, stream.decoded_up_to()));
}

}  // namespace profiles
