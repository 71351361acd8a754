#include "services/profile/storage/mutation_pruner.h"

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

absl::StatusOr<std::unique_ptr<MutationPruner>> MutationPruner::Start(Options options) {
  if (options.database_url.empty() || options.retention <= absl::ZeroDuration() ||
      options.interval <= absl::ZeroDuration() || options.batch_rows < 1) {
    return absl::InvalidArgumentError(
        "MutationPruner needs a database URL, a positive retention and interval, and batches "
        "of at least one record");
  }
  std::unique_ptr<MutationPruner> pruner = absl::WrapUnique(new MutationPruner(std::move(options)));
  pruner->thread_ = std::thread([raw = pruner.get()] { raw->Run(); });
  return pruner;
}

MutationPruner::~MutationPruner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

absl::StatusOr<int64_t> MutationPruner::PruneOnce(const std::string& database_url,
                                                  absl::Duration retention, int batch_rows) {
  std::string step = "connect";
  try {
    pqxx::connection connection(database_url);
    pqxx::nontransaction txn(connection);
    step = "lock";
    if (!txn.exec_params1("SELECT pg_try_advisory_lock($1)", kPruneLockKey)[0].as<bool>()) {
      return 0;
    }
    if (txn.exec1("SELECT to_regclass('applied_mutations') IS NULL")[0].as<bool>()) return 0;
    step = "delete";
    int64_t deleted = 0;
    for (;;) {
      // Each statement commits on its own (nontransaction): a batch holds
      // its rows' locks only for its own short delete.
      const pqxx::result batch = txn.exec_params(
          "DELETE FROM applied_mutations WHERE ctid = ANY(ARRAY("
          "  SELECT ctid FROM applied_mutations"
          "   WHERE applied_at < now() - make_interval(secs => $1) LIMIT $2))",
          absl::ToDoubleSeconds(retention), batch_rows);
      deleted += batch.affected_rows();
      if (batch.affected_rows() < static_cast<pqxx::result::size_type>(batch_rows)) break;
    }
    return deleted;
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException(
        absl::StrCat("pruning idempotency records: ", step), e);
  }
}

void MutationPruner::Run() {
  for (;;) {
    const absl::StatusOr<int64_t> deleted =
        PruneOnce(options_.database_url, options_.retention, options_.batch_rows);
    absl::Duration wait = options_.interval;
    if (!deleted.ok()) {
      wait = std::min(options_.interval, kRetryAfterFailure);
      Log(absl::StrCat(deleted.status().message(), "; next try in ", absl::FormatDuration(wait)));
    } else if (*deleted > 0) {
      Log(absl::StrCat("pruned ", *deleted, " idempotency records older than ",
                       absl::FormatDuration(options_.retention)));
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), wait)) return;
  }
}

void MutationPruner::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

}  // namespace profiles
