#include "apps/qml-client/core/record_log.h"

#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QLoggingCategory>
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/record_io.h"

namespace profiles::client {
namespace {

Q_LOGGING_CATEGORY(lcLog, "profiles.client.store")

using profile::client::v1::FileHeader;
using profile::client::v1::JournalRecord;

// Snapshots and generations exist since version 2; version 2 and 3 files hold
// a subset of version 4's records.
constexpr uint32_t kFirstSnapshotSchemaVersion = 2;
// A snapshot is written in pieces of about this size, not built whole.
constexpr size_t kSnapshotChunkBytes = 1 << 20;

std::string HeaderBytes(const FileHeader& header) {
  std::string bytes(kFileMagic);
  bytes += EncodeFrame(header.SerializeAsString());
  return bytes;
}

const char* Describe(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kEnd:
      return "end of file";
    case FrameStatus::kTorn:
      return "torn record";
    case FrameStatus::kCorrupt:
      return "corrupt record";
    case FrameStatus::kUnreadable:
      return "read error";
  }
  return "?";
}

// Reads one store file as a stream: the magic and the header first, then the
// records.
class StoreFileReader {
 public:
  StoreFileReader(QIODevice* file, const QString& path) : file_(file), path_(path), reader_(file) {}

  // False (with `problem()` set) if the magic or header is unreadable.
  bool ReadHeader(FileHeader* header) {
    const qint64 magic_size = static_cast<qint64>(kFileMagic.size());
    if (file_->size() < magic_size) return Fail("bad magic");
    const QByteArray magic = file_->read(magic_size);
    if (magic.size() != magic_size) return Unreadable();
    if (magic != QByteArray(kFileMagic.data(), magic_size)) return Fail("bad magic");
    reader_ = FrameReader(file_);
    std::string payload;
    const FrameStatus status = reader_.Next(&payload);
    if (status == FrameStatus::kUnreadable) return Unreadable();
    if (status != FrameStatus::kOk) return Fail(std::string("header: ") + Describe(status));
    if (!header->ParseFromString(payload)) return Fail("header: unparsable");
    good_end_ = reader_.good_end();
    return true;
  }

  // Reads the next record. At the end, or at a bad record, returns false and
  // sets `problem()` for a bad one.
  bool Next(JournalRecord* record) {
    const FrameStatus status = reader_.Next(&payload_);
    if (status == FrameStatus::kEnd) return false;
    if (status == FrameStatus::kUnreadable) return Unreadable();
    if (status != FrameStatus::kOk) return Fail(Describe(status));
    if (!record->ParseFromString(payload_)) return Fail("unparsable record");
    if (record->kind_case() == JournalRecord::KIND_NOT_SET) return Fail("record of no known kind");
    good_end_ = reader_.good_end();
    return true;
  }

  // Not OK if the disk failed to give bytes: then the file is not known to
  // be torn or damaged, and must not be repaired (cut or set aside).
  const absl::Status& read_error() const { return read_error_; }

  // The end of the last record returned by Next() (or of the header).
  int64_t good_end() const { return good_end_; }
  int64_t size() const { return file_->size(); }
  const std::string& problem() const { return problem_; }

  // The bytes from `offset` to the end of the file.
  std::string BytesFrom(int64_t offset) {
    if (!file_->seek(offset)) return {};
    return file_->readAll().toStdString();
  }

 private:
  bool Fail(std::string problem) {
    problem_ = std::move(problem);
    return false;
  }

  bool Unreadable() {
    // A short read without an error from the device leaves errorString()
    // at "Unknown error"; the offset says more.
    read_error_ =
        absl::InternalError(absl::StrCat("cannot read ", path_.toStdString(), " at offset ",
                                         file_->pos(), ": ", file_->errorString().toStdString()));
    return false;
  }

  QIODevice* file_;
  QString path_;
  FrameReader reader_;
  // Kept between records so that its capacity is reused.
  std::string payload_;
  int64_t good_end_ = 0;
  std::string problem_;
  absl::Status read_error_;
};

absl::Status NewerRelease(uint32_t schema_version) {
  return absl::FailedPreconditionError(
      absl::StrCat("the local store was written by a newer release (schema ", schema_version, ")"));
}

}  // namespace

RecordLog::RecordLog(const QString& directory, StoreFiles* files)
    : directory_(directory), files_(files) {}

RecordLog::~RecordLog() = default;

absl::StatusOr<std::unique_ptr<RecordLog>> RecordLog::Open(
    const QString& directory, StoreFiles* files, const std::function<void(uint64_t)>& start,
    const Apply& apply) {
  std::unique_ptr<RecordLog> log(new RecordLog(directory, files));
  bool needs_reset = false;
  if (absl::Status status = log->LoadSnapshot(start, apply); !status.ok()) return status;
  if (absl::Status status = log->LoadJournal(apply, &needs_reset); !status.ok()) return status;
  // A compaction resets the journal anyway.
  if (needs_reset && !log->needs_compaction_) {
    if (absl::Status status = log->ResetJournal(); !status.ok()) return status;
  }
  return log;
}

QString RecordLog::PathOf(const char* name) const { return QDir(directory_).filePath(name); }

absl::Status RecordLog::Quarantine(const QString& path, const std::string& why) {
  const QString aside = path + ".corrupt-" + QString::number(QDateTime::currentMSecsSinceEpoch());
  qCWarning(lcLog) << "store file" << path << "unreadable:" << why.c_str() << "- moving it to"
                   << aside;
  // Never start over on top of a file that could not be set aside.
  if (absl::Status status = files_->Rename(path, aside); !status.ok()) {
    return absl::InternalError("cannot set aside the unreadable " + path.toStdString() + ": " +
                               std::string(status.message()));
  }
  report_.problems.push_back(QFileInfo(path).fileName().toStdString() + ": " + why + "; moved to " +
                             QFileInfo(aside).fileName().toStdString());
  return absl::OkStatus();
}

absl::Status RecordLog::LoadSnapshot(const std::function<void(uint64_t)>& start,
                                     const Apply& apply) {
  const QString path = PathOf(kSnapshotFileName);
  absl::StatusOr<std::unique_ptr<QIODevice>> file = files_->OpenForReading(path);
  if (absl::IsNotFound(file.status())) {
    start(0);
    return absl::OkStatus();
  }
  if (!file.ok()) return file.status();
  StoreFileReader reader(file->get(), path);
  FileHeader header;
  if (!reader.ReadHeader(&header)) {
    if (!reader.read_error().ok()) return reader.read_error();
    start(0);
    return Quarantine(path, reader.problem());
  }
  if (header.schema_version() > kSchemaVersion) return NewerRelease(header.schema_version());
  if (header.schema_version() < kFirstSnapshotSchemaVersion ||
      header.kind() != FileHeader::KIND_SNAPSHOT) {
    start(0);
    return Quarantine(path, "not a snapshot");
  }
  // An older (but compatible) snapshot is rewritten in the current version.
  if (header.schema_version() != kSchemaVersion) needs_compaction_ = true;
  generation_ = header.generation();
  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> places =
      files_->OpenForRandomAccess(path);
  if (!places.ok()) return places.status();
  start(header.next_sequence());
  JournalRecord record;
  for (int64_t at = reader.good_end(); reader.Next(&record); at = reader.good_end()) {
    apply(record, RecordPlace{*places, at, reader.good_end() - at});
  }
  if (!reader.read_error().ok()) return reader.read_error();
  if (!reader.problem().empty()) {
    // Snapshots are renamed into place whole; damage here is the disk's.
    // Keep what is readable and write a sound snapshot of it.
    needs_compaction_ = true;
    report_.problems.push_back(std::string("snapshot: ") + reader.problem());
    qCWarning(lcLog) << "snapshot damaged at offset" << reader.good_end() << ":"
                     << reader.problem().c_str();
  }
  snapshot_bytes_ = reader.size();
  return absl::OkStatus();
}

absl::Status RecordLog::LoadJournal(const Apply& apply, bool* needs_reset) {
  const QString path = PathOf(kJournalFileName);
  absl::StatusOr<std::unique_ptr<QIODevice>> file = files_->OpenForReading(path);
  if (absl::IsNotFound(file.status())) {
    *needs_reset = true;
    return absl::OkStatus();
  }
  if (!file.ok()) return file.status();
  StoreFileReader reader(file->get(), path);
  FileHeader header;
  if (!reader.ReadHeader(&header)) {
    if (!reader.read_error().ok()) return reader.read_error();
    *needs_reset = true;
    return Quarantine(path, reader.problem());
  }
  if (header.schema_version() > kSchemaVersion) return NewerRelease(header.schema_version());
  if (header.schema_version() == 0 || (header.schema_version() >= kFirstSnapshotSchemaVersion &&
                                       header.kind() != FileHeader::KIND_JOURNAL)) {
    *needs_reset = true;
    return Quarantine(path, "not a journal");
  }
  if (header.generation() < generation_) {
    report_.stale_journal_discarded = true;
    qCInfo(lcLog) << "journal of generation" << header.generation()
                  << "already folded into snapshot" << generation_;
    *needs_reset = true;
    return absl::OkStatus();
  }
  if (header.generation() > generation_) {
    report_.problems.push_back("journal generation " + std::to_string(header.generation()) +
                               " is ahead of the snapshot's " + std::to_string(generation_));
    qCWarning(lcLog) << "snapshot of generation" << header.generation() << "missing";
    generation_ = header.generation();
    needs_compaction_ = true;
  }
  const bool upgrading = header.schema_version() == 1;
  if (upgrading) {
    // Version 1 had no created_at; the upgrade time is the best we know.
    report_.migrated_from_version = 1;
    needs_compaction_ = true;
    qCInfo(lcLog) << "upgrading the local store from schema 1 to" << kSchemaVersion;
  } else if (header.schema_version() != kSchemaVersion) {
    // Same records, newer kinds possible: rewrite the files as the current
    // version so an older release refuses them.
    report_.migrated_from_version = header.schema_version();
    needs_compaction_ = true;
  }
  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> places =
      files_->OpenForRandomAccess(path);
  if (!places.ok()) return places.status();
  const qint64 now_ms = QDateTime::currentMSecsSinceEpoch();
  JournalRecord record;
  for (int64_t at = reader.good_end(); reader.Next(&record); at = reader.good_end()) {
    if (upgrading && record.has_mutation_enqueued()) {
      auto* created_at = record.mutable_mutation_enqueued()->mutable_created_at();
      created_at->set_seconds(now_ms / 1000);
      created_at->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
    }
    apply(record, RecordPlace{*places, at, reader.good_end() - at});
  }
  if (!reader.read_error().ok()) return reader.read_error();
  const int64_t good_end = reader.good_end();
  const int64_t size = reader.size();
  if (!reader.problem().empty()) {
    qCWarning(lcLog) << "journal:" << reader.problem().c_str() << "at offset" << good_end << "of"
                     << size << "- dropping the rest";
    report_.problems.push_back("journal: " + reader.problem() + " at offset " +
                               std::to_string(good_end));
  }
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> journal = files_->OpenForAppend(path);
  if (!journal.ok()) return journal.status();
  if (good_end < size) {
    // Keep the dropped bytes for a post-mortem; they are never replayed.
    // Best effort: the repair matters, the copy only helps.
    const std::string dropped = reader.BytesFrom(good_end);
    if (absl::Status status =
            WriteFile(PathOf(kDroppedFileName),
                      [&dropped](WritableStoreFile* file) { return file->Append(dropped); });
        !status.ok()) {
      qCWarning(lcLog) << "cannot keep the dropped bytes:" << status.ToString().c_str();
    }
    absl::Status status = (*journal)->Truncate(good_end);
    if (status.ok()) status = (*journal)->Sync();
    if (!status.ok()) {
      return absl::InternalError("cannot truncate the journal: " + std::string(status.message()));
    }
    report_.dropped_journal_bytes = size - good_end;
  }
  journal_ = *std::move(journal);
  journal_reader_ = *std::move(places);
  journal_bytes_ = good_end;
  return absl::OkStatus();
}

absl::Status RecordLog::WriteFile(
    const QString& path, const std::function<absl::Status(WritableStoreFile* file)>& fill) {
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> file = files_->Create(path);
  if (!file.ok()) return file.status();
  absl::Status status = fill(file->get());
  if (status.ok()) status = (*file)->Sync();
  return status;
}

absl::Status RecordLog::ResetJournal() {
  journal_.reset();
  journal_reader_.reset();
  // A snapshot renamed into place must be durable before the journal it
  // replaces goes away.
  if (absl::Status status = files_->SyncDirectory(directory_); !status.ok()) return status;
  FileHeader header;
  header.set_schema_version(kSchemaVersion);
  header.set_kind(FileHeader::KIND_JOURNAL);
  header.set_generation(generation_);
  const std::string bytes = HeaderBytes(header);
  const QString path = PathOf(kJournalFileName);
  const QString temporary = path + ".new";
  absl::Status status =
      WriteFile(temporary, [&bytes](WritableStoreFile* file) { return file->Append(bytes); });
  if (status.ok()) status = files_->Rename(temporary, path);
  if (status.ok()) status = files_->SyncDirectory(directory_);
  if (!status.ok()) return absl::InternalError("cannot start the journal: " + status.ToString());
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> journal = files_->OpenForAppend(path);
  if (!journal.ok()) return journal.status();
  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> reader =
      files_->OpenForRandomAccess(path);
  if (!reader.ok()) return reader.status();
  journal_ = *std::move(journal);
  journal_reader_ = *std::move(reader);
  journal_bytes_ = static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status RecordLog::Append(const std::vector<Record>& records,
                               std::vector<RecordPlace>* places) {
  if (broken_) {
    return absl::FailedPreconditionError(
        "the journal could not be repaired after a failed write; reopen the store");
  }
  // The frames are built in place in one buffer: serializing each record to
  // a string of its own, framing it in another and appending that to a
  // growing buffer copied a first sync's pictures three times over.
  size_t total = 0;
  for (const Record& record : records) {
    const size_t size = record.ByteSizeLong();
    if (size > kMaxFramePayload) {
      return absl::InvalidArgumentError("record too large: " + std::to_string(size));
    }
    total += kFrameHeaderBytes + size;
  }
  // Kept between appends at the largest size seen (a page of pictures, a
  // few MiB): a fresh buffer per page cost its allocation, zeroing and page
  // faults, a quarter of a first sync's sync thread.
  if (append_buffer_.size() < total) append_buffer_.resize(total);
  const std::string_view bytes(append_buffer_.data(), total);
  char* frame = append_buffer_.data();
  for (const Record& record : records) {
    const size_t size = record.GetCachedSize();
    char* payload = frame + kFrameHeaderBytes;
    record.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
    WriteFrameHeader(std::string_view(payload, size), frame);
    frame = payload + size;
  }
  if (journal_ == nullptr) {
    // A compaction installed its snapshot but could not start the journal.
    if (absl::Status status = ResetJournal(); !status.ok()) return status;
  }
  absl::Status status = journal_->Append(bytes);
  if (status.ok()) status = journal_->Sync();
  if (!status.ok()) {
    // Cut the partial write off, or later appends would sit behind garbage
    // that Open() stops at.
    absl::Status undone = journal_->Truncate(journal_bytes_);
    if (undone.ok()) undone = journal_->Sync();
    if (!undone.ok()) {
      broken_ = true;
      qCCritical(lcLog) << "a failed append could not be undone:" << undone.ToString().c_str();
    }
    return absl::InternalError("cannot write the journal: " + std::string(status.message()));
  }
  if (places != nullptr) {
    places->clear();
    places->reserve(records.size());
    int64_t at = journal_bytes_;
    for (const Record& record : records) {
      const int64_t frame = static_cast<int64_t>(kFrameHeaderBytes + record.GetCachedSize());
      places->push_back(RecordPlace{journal_reader_, at, frame});
      at += frame;
    }
  }
  journal_bytes_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status RecordLog::Compact(uint64_t next_sequence, const SnapshotWriter& write) {
  FileHeader header;
  header.set_schema_version(kSchemaVersion);
  header.set_kind(FileHeader::KIND_SNAPSHOT);
  header.set_generation(generation_ + 1);
  header.set_next_sequence(next_sequence);
  const QString path = PathOf(kSnapshotFileName);
  const QString temporary = path + ".new";
  int64_t snapshot_bytes = 0;
  absl::Status status = WriteFile(temporary, [&](WritableStoreFile* file) {
    // The same file (inode) the rename puts in place, for the places.
    absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> reader =
        files_->OpenForRandomAccess(temporary);
    if (!reader.ok()) return reader.status();
    std::string chunk = HeaderBytes(header);
    absl::Status written;
    write([&](const Record& record) {
      RecordPlace place{*reader, snapshot_bytes + static_cast<int64_t>(chunk.size()),
                        static_cast<int64_t>(kFrameHeaderBytes + record.ByteSizeLong())};
      chunk += EncodeFrame(record.SerializeAsString());
      if (chunk.size() >= kSnapshotChunkBytes && written.ok()) {
        written = file->Append(chunk);
        snapshot_bytes += static_cast<int64_t>(chunk.size());
        chunk.clear();
      }
      return place;
    });
    if (!written.ok()) return written;
    snapshot_bytes += static_cast<int64_t>(chunk.size());
    return file->Append(chunk);
  });
  if (status.ok()) status = files_->Rename(temporary, path);
  if (!status.ok()) {
    // The old snapshot and journal are untouched and hold everything.
    return absl::InternalError("cannot write a snapshot: " + std::string(status.message()));
  }
  // From here on the snapshot is the one on disk: appends must go to a
  // journal of its generation, which ResetJournal starts (after making the
  // rename durable) now or, failing that, before the next append.
  generation_ += 1;
  snapshot_bytes_ = snapshot_bytes;
  needs_compaction_ = false;
  return ResetJournal();
}

}  // namespace profiles::client
