#ifndef PROFILES_APPS_QML_CLIENT_CORE_RECORD_LOG_H_
#define PROFILES_APPS_QML_CLIENT_CORE_RECORD_LOG_H_

// RecordLog: the store's two files and their rules, knowing nothing of what
// the records mean (store_state.h) — framing (record_io.h), recovery of a
// torn or corrupt tail, generations, schema upgrades and compaction.
//
//   profiles.snapshot  "PRFS", a FileHeader of KIND_SNAPSHOT, then records
//                      describing the whole state at the last compaction;
//                      replaced atomically (temporary file + rename)
//   profiles.journal   "PRFS", a FileHeader of KIND_JOURNAL, then the records
//                      appended since that snapshot
//
// Recovery: Open() replays the snapshot, then the journal. A journal record
// that is torn or corrupt ends the replay: its bytes and everything after
// them are copied to profiles.journal.dropped and truncated away. A journal
// of an older generation than the snapshot was already folded into it (a
// compaction was interrupted before it reset the journal) and is discarded.
// An unreadable header makes that file be renamed aside, never deleted.
//
// Compaction writes a snapshot of generation + 1 from the records the caller
// gives, makes it durable (fsync, rename, fsync of the folder), and only then
// resets the journal; whichever step fails or is interrupted, the files on
// disk still hold every appended record.
//
// All file access goes through StoreFiles, so tests can inject faults.
//
// Thread safety: not thread-safe; used by the one thread owning the store.

#include <QtCore/QString>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/store_files.h"
#include "profile/client/v1/local_store.pb.h"

namespace profiles::client {

inline constexpr uint32_t kSchemaVersion = 4;
inline constexpr char kSnapshotFileName[] = "profiles.snapshot";
inline constexpr char kJournalFileName[] = "profiles.journal";
inline constexpr char kDroppedFileName[] = "profiles.journal.dropped";

// Where one record's frame is in a store file: what a picture's bytes are
// read back from (stored_picture.h). The handle keeps the file readable
// after a compaction replaced it.
struct RecordPlace {
  std::shared_ptr<const ReadableStoreFile> file;
  int64_t offset = 0;  // of the frame's header
  int64_t bytes = 0;   // the whole frame
};

// What opening the files had to repair; all zero/false/empty for a clean
// open.
struct StoreOpenReport {
  // Bytes of a torn or corrupt journal tail that were truncated away.
  int64_t dropped_journal_bytes = 0;
  // A journal of an older generation than the snapshot was discarded.
  bool stale_journal_discarded = false;
  // The schema version the files were upgraded from, or 0.
  uint32_t migrated_from_version = 0;
  // Human-readable descriptions of anything unexpected (also logged).
  std::vector<std::string> problems;
};

class RecordLog {
 public:
  using Record = profile::client::v1::JournalRecord;
  // Calls its argument once per record of a snapshot; it returns where the
  // record will be once Compact() succeeds.
  using SnapshotWriter = std::function<void(const std::function<RecordPlace(const Record&)>& add)>;
  // Takes one record read back and where it is; may change the record (it
  // is not used again).
  using Apply = std::function<void(Record& record, const RecordPlace& place)>;

  // Opens the files in `directory` (which must exist), calling `apply` for
  // every record kept, in order, with its place, after
  // `start(next_sequence)` with the
  // snapshot's next sequence (0 without a snapshot). `files` must outlive the
  // log. FAILED_PRECONDITION for files of a newer schema (left untouched);
  // INTERNAL if a file cannot be read, repaired or created. If
  // needs_compaction() is then true, the caller must Compact() before
  // relying on the files' format.
  static absl::StatusOr<std::unique_ptr<RecordLog>> Open(
      const QString& directory, StoreFiles* files,
      const std::function<void(uint64_t next_sequence)>& start, const Apply& apply);

  RecordLog(const RecordLog&) = delete;
  RecordLog& operator=(const RecordLog&) = delete;
  ~RecordLog();

  // Appends `records` to the journal and fsyncs it. On an error the journal
  // is cut back to where it was; if even that fails, the log is broken and
  // every later Append() fails (FAILED_PRECONDITION) until it is reopened,
  // which recovers every record appended before. INVALID_ARGUMENT (nothing
  // written) for a record above kMaxFramePayload. On success, `places` (if
  // not null) holds where each record was written, in order.
  absl::Status Append(const std::vector<Record>& records,
                      std::vector<RecordPlace>* places = nullptr);

  // Writes a snapshot of the records `write` adds, as generation + 1, then
  // starts an empty journal. `next_sequence` goes into its header. On an
  // error before the snapshot's rename, the old files stay as they were; on
  // one after it, the next Append() starts the journal first.
  absl::Status Compact(uint64_t next_sequence, const SnapshotWriter& write);

  // The files are of an older schema or inconsistent and must be rewritten.
  bool needs_compaction() const { return needs_compaction_; }
  const StoreOpenReport& open_report() const { return report_; }
  uint64_t generation() const { return generation_; }
  int64_t journal_bytes() const { return journal_bytes_; }
  int64_t snapshot_bytes() const { return snapshot_bytes_; }
  bool broken() const { return broken_; }

 private:
  RecordLog(const QString& directory, StoreFiles* files);

  absl::Status LoadSnapshot(const std::function<void(uint64_t)>& start, const Apply& apply);
  absl::Status LoadJournal(const Apply& apply, bool* needs_reset);
  // Replaces the journal with an empty one of `generation_`, opened for
  // appending.
  absl::Status ResetJournal();
  // Creates `path` with what `fill` appends, fsync'ed and closed.
  absl::Status WriteFile(const QString& path,
                         const std::function<absl::Status(WritableStoreFile* file)>& fill);
  // Renames an unreadable store file aside (never deletes it).
  absl::Status Quarantine(const QString& path, const std::string& why);
  QString PathOf(const char* name) const;

  const QString directory_;
  StoreFiles* const files_;
  StoreOpenReport report_;
  // Null while no journal of generation_ exists (a compaction could not
  // start one) or after a failed open.
  std::unique_ptr<WritableStoreFile> journal_;
  // The same journal, for the places of its records.
  std::shared_ptr<const ReadableStoreFile> journal_reader_;
  uint64_t generation_ = 0;
  int64_t journal_bytes_ = 0;
  int64_t snapshot_bytes_ = 0;
  bool needs_compaction_ = false;
  // Set when a failed append could not be undone.
  bool broken_ = false;
  // Append()'s frames are built here (see there).
  std::string append_buffer_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_RECORD_LOG_H_
