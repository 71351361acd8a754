#include "services/profile/storage/retention_pruner.h"

#include <algorithm>
#include <exception>
#include <iostream>
#include <pqxx/pqxx>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// Key of the session advisory lock held by the process that prunes.
constexpr int64_t kPruneLockKey = 0x7072756e656d7574;  // "prunemut"

constexpr absl::Duration kRetryAfterFailure = absl::Minutes(1);

}  // namespace

absl::StatusOr<std::unique_ptr<RetentionPruner>> RetentionPruner::Start(Options options) {
  if (options.database_url.empty() || options.retention <= absl::ZeroDuration() ||
      options.tombstone_retention <= absl::ZeroDuration() ||
      options.interval <= absl::ZeroDuration() || options.batch_rows < 1) {
    return absl::InvalidArgumentError(
        "RetentionPruner needs a database URL, positive retentions and interval, and batches "
        "of at least one record");
  }
  std::unique_ptr<RetentionPruner> pruner =
      absl::WrapUnique(new RetentionPruner(std::move(options)));
  pruner->thread_ = std::thread([raw = pruner.get()] { raw->Run(); });
  return pruner;
}

RetentionPruner::~RetentionPruner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

namespace {

// What one batch did: rows it counts, and whether it was full (so another
// may follow).
struct Batch {
  int64_t counted = 0;
  bool full = false;
};

// Runs `run_batch(txn)` until a batch is not full, on a connection of its
// own that holds the pruning lock, and returns the rows counted. 0 when
// another process holds the lock, or before the migrations that made
// `table`. Each batch is one statement that commits on its own
// (nontransaction), so it holds its rows' locks only while it runs.
template <typename RunBatch>
absl::StatusOr<int64_t> RunLockedBatches(const std::string& database_url, const char* table,
                                         std::string_view what, RunBatch run_batch) {
  std::string step = "connect";
  try {
    pqxx::connection connection(database_url);
    pqxx::nontransaction txn(connection);
    step = "lock";
    if (!txn.exec_params1("SELECT pg_try_advisory_lock($1)", kPruneLockKey)[0].as<bool>()) {
      return 0;
    }
    if (txn.exec_params1("SELECT to_regclass($1) IS NULL", table)[0].as<bool>()) return 0;
    step = std::string(what);
    int64_t counted = 0;
    for (;;) {
      const Batch batch = run_batch(txn);
      counted += batch.counted;
      if (!batch.full) return counted;
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException(absl::StrCat(std::string(what), ": ", step), e);
  }
}

}  // namespace

absl::StatusOr<int64_t> RetentionPruner::PruneOnce(const std::string& database_url,
                                                   absl::Duration retention, int batch_rows) {
  return RunLockedBatches(
      database_url, "applied_mutations", "pruning idempotency records",
      [&](pqxx::nontransaction& txn) {
        const pqxx::result deleted = txn.exec_params(
            "DELETE FROM applied_mutations WHERE ctid = ANY(ARRAY("
            "  SELECT ctid FROM applied_mutations"
            "   WHERE applied_at < now() - make_interval(secs => $1) LIMIT $2))",
            absl::ToDoubleSeconds(retention), batch_rows);
        const auto rows = static_cast<int64_t>(deleted.affected_rows());
        return Batch{.counted = rows, .full = rows >= batch_rows};
      });
}

absl::StatusOr<int64_t> RetentionPruner::PurgeTombstones(const std::string& database_url,
                                                         absl::Duration retention, int batch_rows) {
  return RunLockedBatches(
      database_url, "change_stream_horizon", "purging tombstones", [&](pqxx::nontransaction& txn) {
        // The positions are matched by value, not only by id: if the
        // profile is created anew while this runs, the WAL sequencer moves
        // its position, the delete re-checks the row it waited for, and the
        // new position stays. The horizon rises in the same statement as
        // the purge, so no reader ever sees a tombstone gone without its
        // cursor being refused.
        const pqxx::row batch = txn.exec_params1(
            "WITH old AS ("
            "  SELECT pp.profile_id, pp.epoch, pp.commit_lsn, pp.idx"
            "    FROM profiles p JOIN profile_positions pp ON pp.profile_id = p.id"
            "   WHERE p.deleted_at < now() - make_interval(secs => $1) LIMIT $2),"
            " purged AS ("
            "  DELETE FROM profile_positions pp"
            "   WHERE (pp.profile_id, pp.epoch, pp.commit_lsn, pp.idx) IN (SELECT * FROM old)"
            "  RETURNING pp.epoch, pp.commit_lsn, pp.idx),"
            " horizon AS ("
            "  INSERT INTO change_stream_horizon (epoch, commit_lsn, idx)"
            "  SELECT epoch, commit_lsn, idx FROM purged"
            "   ORDER BY epoch DESC, commit_lsn DESC, idx DESC LIMIT 1"
            "  ON CONFLICT (singleton) DO UPDATE"
            "    SET epoch = excluded.epoch, commit_lsn = excluded.commit_lsn, idx = excluded.idx"
            "  WHERE (excluded.epoch, excluded.commit_lsn, excluded.idx) >"
            "        (change_stream_horizon.epoch, change_stream_horizon.commit_lsn,"
            "         change_stream_horizon.idx))"
            " SELECT (SELECT count(*) FROM purged), (SELECT count(*) FROM old)",
            absl::ToDoubleSeconds(retention), batch_rows);
        return Batch{.counted = batch[0].as<int64_t>(),
                     .full = batch[1].as<int64_t>() >= batch_rows};
      });
}

void RetentionPruner::Run() {
  for (;;) {
    const absl::StatusOr<int64_t> deleted =
        PruneOnce(options_.database_url, options_.retention, options_.batch_rows);
    const absl::StatusOr<int64_t> purged =
        PurgeTombstones(options_.database_url, options_.tombstone_retention, options_.batch_rows);
    absl::Duration wait = options_.interval;
    for (const absl::Status& status : {deleted.status(), purged.status()}) {
      if (status.ok()) continue;
      wait = std::min(options_.interval, kRetryAfterFailure);
      Log(absl::StrCat(status.message(), "; next try in ", absl::FormatDuration(wait)));
    }
    if (deleted.ok() && *deleted > 0) {
      Log(absl::StrCat("pruned ", *deleted, " idempotency records older than ",
                       absl::FormatDuration(options_.retention)));
    }
    if (purged.ok() && *purged > 0) {
      Log(absl::StrCat("removed ", *purged,
                       " tombstones from the change stream, deleted longer ago than ",
                       absl::FormatDuration(options_.tombstone_retention)));
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), wait)) return;
  }
}

void RetentionPruner::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

}  // namespace profiles
