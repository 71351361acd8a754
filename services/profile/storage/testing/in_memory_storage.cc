#include "services/profile/storage/testing/in_memory_storage.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/sha.h>

#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/profile_contract/profile_fields.h"
#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool SameWrite(const ProfileWrite& a, const ProfileWrite& b) {
  return a.id == b.id && a.deletes == b.deletes && a.name == b.name && a.email == b.email &&
         a.avatar == b.avatar && a.expected_version == b.expected_version;
}

int64_t WireBytes(const profile::v1::Profile& profile, bool include_avatar) {
  return static_cast<int64_t>(profile.name().size() + profile.email().size() +
                              (include_avatar ? profile.avatar().size() : 0)) +
         kProfileFixedWireBytes;
}

}  // namespace

struct InMemoryStorage::State {
  struct Queue {
    absl::Mutex mu;
    std::vector<ProfileChange> changes ABSL_GUARDED_BY(mu);
    bool woken ABSL_GUARDED_BY(mu) = false;
  };
  struct Row {
    profile::v1::Profile profile;
    ChangeCursor cursor;
  };
  struct Record {
    ProfileWrite write;
    profile::v1::Profile result;
    // Cleared by a later delete of the profile, as PostgreSQL's are.
    bool erased = false;
  };

  mutable absl::Mutex mu;
  bool available ABSL_GUARDED_BY(mu) = true;
  bool writes_blocked ABSL_GUARDED_BY(mu) = false;
  int blocked_writes ABSL_GUARDED_BY(mu) = 0;
  int get_calls ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_lsn ABSL_GUARDED_BY(mu) = 1;
  absl::flat_hash_map<std::string, Row> rows ABSL_GUARDED_BY(mu);
  std::map<ChangeCursor, std::string> by_cursor ABSL_GUARDED_BY(mu);
  std::string database_id ABSL_GUARDED_BY(mu) = "memory-1";
  // Keyed by (caller, mutation id): records are scoped to their caller.
  absl::flat_hash_map<std::pair<std::string, std::string>, Record> records ABSL_GUARDED_BY(mu);
  ChangeFeed::Health health ABSL_GUARDED_BY(mu) = {.live = true, .generation = 1};
  std::vector<std::weak_ptr<Queue>> queues ABSL_GUARDED_BY(mu);

  // Appends `change` (or, when null, only a wake-up) to every subscription.
  void Publish(const ProfileChange* change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const std::weak_ptr<Queue>& weak : queues) {
      if (std::shared_ptr<Queue> queue = weak.lock()) {
        absl::MutexLock lock(&queue->mu);
        if (change != nullptr) queue->changes.push_back(*change);
        queue->woken = true;
      }
    }
  }
};

class InMemoryStorage::Repository final : public ProfileRepository {
 public:
  explicit Repository(std::shared_ptr<State> state) : state_(std::move(state)) {}

  absl::StatusOr<profile::v1::Profile> Get(std::string_view id) override {
    absl::MutexLock lock(&state_->mu);
    ++state_->get_calls;
    if (!state_->available) return Unavailable();
    auto row = state_->rows.find(std::string(id));
    if (row == state_->rows.end()) {
      return absl::NotFoundError(absl::StrCat("no profile has id ", std::string(id)));
    }
    return row->second.profile;
  }

  absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) override {
    State& s = *state_;
    absl::MutexLock lock(&s.mu);
    ++s.blocked_writes;
    s.mu.Await(absl::Condition(
        +[](bool* blocked) { return !*blocked; }, &s.writes_blocked));
    --s.blocked_writes;
    if (!s.available) return Unavailable();
    if (!write.mutation_id.empty()) {
      auto record = s.records.find(std::make_pair(write.caller, write.mutation_id));
      if (record != s.records.end()) {
        if (record->second.erased) {
          const std::string& profile_id = record->second.write.id;
          auto deleted = s.rows.find(profile_id);
          std::optional<profile::v1::Profile> tombstone;
          if (deleted != s.rows.end() && deleted->second.profile.deleted()) {
            tombstone = deleted->second.profile;
          }
          return ProfileDeleted(profile_id,
                                absl::StrCat("mutation ", write.mutation_id,
                                             " was applied to a profile since deleted"),
                                tombstone);
        }
        if (!SameWrite(record->second.write, write)) return MutationIdReused(write.mutation_id);
        return AppliedWrite{.profile = record->second.result, .replayed = true};
      }
    }
    auto row = s.rows.find(write.id);
    const bool tombstone = row != s.rows.end() && row->second.profile.deleted();
    if (tombstone && !write.creates()) {
      return ProfileDeleted(write.id,
                            absl::StrCat("profile ", write.id, " was deleted at version ",
                                         row->second.profile.version()),
                            row->second.profile);
    }
    if (write.creates() && row != s.rows.end() && !tombstone) {
      return VersionConflict(
          absl::StrCat("profile ", write.id, " already exists at version ",
                       row->second.profile.version(), ", the write would have created it"),
          row->second.profile);
    }
    if (!write.creates()) {
      if (row == s.rows.end()) {
        return absl::NotFoundError(absl::StrCat("profile ", write.id, " does not exist"));
      }
      if (row->second.profile.version() != write.expected_version) {
        return VersionConflict(
            absl::StrCat("profile ", write.id, " is at version ", row->second.profile.version(),
                         ", the write was based on version ", write.expected_version),
            row->second.profile);
      }
    }
    profile::v1::Profile profile =
        row == s.rows.end() ? profile::v1::Profile() : row->second.profile;
    profile.set_id(write.id);
    profile.set_deleted(write.deletes);
    if (write.deletes) {
      profile.clear_name();
      profile.clear_email();
      profile.clear_avatar();
      profile.clear_avatar_sha256();
      for (auto& [key, record] : s.records) {
        if (record.write.id == write.id && !record.write.deletes) record.erased = true;
      }
    }
    for (const ProfileField& field : WritableFields()) {
      const std::optional<std::string>& value = field.Of(write);
      if (!value.has_value()) continue;
      field.Set(&profile, *value);
      if (field.is_avatar()) profile.set_avatar_sha256(value->empty() ? "" : Sha256Hex(*value));
    }
    profile.set_version(profile.version() + 1);
    const int64_t micros = absl::ToUnixMicros(absl::Now());
    *profile.mutable_updated_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(micros);

    const ChangeCursor cursor{.epoch = 1, .lsn = s.next_lsn++, .idx = 0};
    if (row != s.rows.end()) s.by_cursor.erase(row->second.cursor);
    s.rows[write.id] = {profile, cursor};
    s.by_cursor[cursor] = write.id;
    if (!write.mutation_id.empty()) s.records[{write.caller, write.mutation_id}] = {write, profile};
    const ProfileChange change{.profile = profile, .cursor = cursor};
    s.Publish(&change);
    return AppliedWrite{.profile = std::move(profile), .replayed = false};
  }

  absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                          bool include_avatars, int64_t max_bytes,
                                          bool include_tombstones) override {
    absl::MutexLock lock(&state_->mu);
    if (!state_->available) return Unavailable();
    ChangePage page;
    page.end = after;
    int64_t bytes = 0;
    for (auto it = state_->by_cursor.upper_bound(after); it != state_->by_cursor.end(); ++it) {
      const State::Row& row = state_->rows.at(it->second);
      if (!include_tombstones && row.profile.deleted()) continue;
      const int64_t row_bytes = WireBytes(row.profile, include_avatars);
      if (static_cast<int>(page.changes.size()) == limit ||
          (!page.changes.empty() && bytes + row_bytes > max_bytes)) {
        page.more = true;
        break;
      }
      bytes += row_bytes;
      ProfileChange change{.profile = row.profile, .cursor = row.cursor};
      if (!include_avatars) change.profile.clear_avatar();
      page.changes.push_back(std::move(change));
      page.end = row.cursor;
    }
    if (page.changes.empty() && !after.is_start() &&
        (after.epoch > 1 || after.lsn >= state_->next_lsn)) {
      return CursorAheadOfDatabase(absl::StrCat("the cursor names commit ", after.lsn,
                                                ", which this database has "
                                                "not reached; list again from the start"));
    }
    return page;
  }

  absl::StatusOr<std::string> DatabaseId() override {
    absl::MutexLock lock(&state_->mu);
    if (!state_->available) return Unavailable();
    return state_->database_id;
  }

  absl::Status Ping() override {
    absl::MutexLock lock(&state_->mu);
    return state_->available ? absl::OkStatus() : Unavailable();
  }

 private:
  static absl::Status Unavailable() {
    return absl::UnavailableError("in-memory storage is set unavailable");
  }

  const std::shared_ptr<State> state_;
};

class InMemoryStorage::Feed final : public ChangeFeed {
 public:
  explicit Feed(std::shared_ptr<State> state) : state_(std::move(state)) {}

  std::unique_ptr<Subscription> Subscribe() override {
    auto queue = std::make_shared<State::Queue>();
    absl::MutexLock lock(&state_->mu);
    state_->queues.push_back(queue);
    return std::make_unique<SubscriptionImpl>(std::move(queue));
  }

  Health health() const override {
    absl::MutexLock lock(&state_->mu);
    return state_->health;
  }

 private:
  class SubscriptionImpl final : public Subscription {
   public:
    explicit SubscriptionImpl(std::shared_ptr<State::Queue> queue) : queue_(std::move(queue)) {}

    absl::StatusOr<std::vector<ProfileChange>> Wait(absl::Time deadline) override {
      absl::MutexLock lock(&queue_->mu);
      queue_->mu.AwaitWithDeadline(absl::Condition(&queue_->woken), deadline);
      queue_->woken = false;
      return std::exchange(queue_->changes, {});
    }

   private:
    const std::shared_ptr<State::Queue> queue_;
  };

  const std::shared_ptr<State> state_;
};

InMemoryStorage::InMemoryStorage()
    : state_(std::make_shared<State>()),
      repository_(std::make_unique<Repository>(state_)),
      feed_(std::make_unique<Feed>(state_)) {}

InMemoryStorage::~InMemoryStorage() = default;

ProfileRepository* InMemoryStorage::repository() { return repository_.get(); }
ChangeFeed* InMemoryStorage::feed() { return feed_.get(); }

void InMemoryStorage::SetDatabaseId(std::string id) {
  absl::MutexLock lock(&state_->mu);
  state_->database_id = std::move(id);
}

void InMemoryStorage::SetAvailable(bool available) {
  absl::MutexLock lock(&state_->mu);
  state_->available = available;
}

void InMemoryStorage::SetFeedLive(bool live) {
  absl::MutexLock lock(&state_->mu);
  state_->health.live = live;
  ++state_->health.generation;
  state_->Publish(nullptr);
}

void InMemoryStorage::BlockWrites() {
  absl::MutexLock lock(&state_->mu);
  state_->writes_blocked = true;
}

void InMemoryStorage::UnblockWrites() {
  absl::MutexLock lock(&state_->mu);
  state_->writes_blocked = false;
}

int InMemoryStorage::blocked_writes() const {
  absl::MutexLock lock(&state_->mu);
  return state_->blocked_writes;
}

int InMemoryStorage::get_calls() const {
  absl::MutexLock lock(&state_->mu);
  return state_->get_calls;
}

}  // namespace profiles
