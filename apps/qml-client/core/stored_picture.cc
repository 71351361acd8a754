#include "apps/qml-client/core/stored_picture.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/core/record_io.h"

namespace profiles::client {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using profile::client::v1::JournalRecord;
using profile::v1::Profile;

// Calls `visit` for every profile::v1::Profile within `message`, however
// deeply nested, with the field holding it. By reflection rather than a list
// of record kinds, so that a record kind added later cannot carry pictures
// past the store unnoticed; but a server copy, most of a store's records,
// directly: reflection over each of 10,000 records was a tenth of an open.
void ForEachProfile(Message* message,
                    const std::function<void(Profile*, const FieldDescriptor*)>& visit,
                    const FieldDescriptor* holder = nullptr) {
  if (message->GetDescriptor() == Profile::descriptor()) {
    visit(static_cast<Profile*>(message), holder);
    return;
  }
  if (message->GetDescriptor() == JournalRecord::descriptor()) {
    auto* record = static_cast<JournalRecord*>(message);
    if (record->has_profile_cached()) {
      static const FieldDescriptor* const kCachedProfile =
          profile::client::v1::ProfileCached::descriptor()->FindFieldByName("profile");
      visit(record->mutable_profile_cached()->mutable_profile(), kCachedProfile);
      return;
    }
  }
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int count = reflection->FieldSize(*message, field);
      for (int i = 0; i < count; ++i) {
        ForEachProfile(reflection->MutableRepeatedMessage(message, field, i), visit, field);
      }
    } else {
      ForEachProfile(reflection->MutableMessage(message, field), visit, field);
    }
  }
}

}  // namespace

StoredPicture StoredPicture::InMemory(std::string bytes) {
  StoredPicture picture;
  picture.size_ = static_cast<int64_t>(bytes.size());
  picture.bytes_ = std::make_shared<const std::string>(std::move(bytes));
  return picture;
}

absl::StatusOr<std::string> StoredPicture::Read(const std::string& sha256) const {
  if (bytes_ != nullptr) return *bytes_;
  if (place_.file == nullptr) return absl::NotFoundError("no picture");
  absl::StatusOr<std::string> frame =
      place_.file->ReadAt(place_.offset, static_cast<size_t>(place_.bytes));
  if (!frame.ok()) return frame.status();
  std::string_view payload;
  if (DecodeFrame(*frame, &payload) != FrameStatus::kOk) {
    return absl::DataLossError(
        absl::StrCat("the record holding picture ", sha256, " no longer reads back whole"));
  }
  JournalRecord record;
  if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat("the record holding picture ", sha256, " is garbled"));
  }
  std::string bytes;
  ForEachProfile(&record, [&](Profile* profile, const FieldDescriptor*) {
    if (bytes.empty() && !profile->avatar().empty() && AvatarShaOf(*profile) == sha256) {
      bytes = std::move(*profile->mutable_avatar());
    }
  });
  if (bytes.empty()) {
    return absl::DataLossError(absl::StrCat("the record read back lacks picture ", sha256));
  }
  return bytes;
}

bool PictureShelf::Contains(const std::string& sha256) const {
  std::lock_guard lock(mutex_);
  return pictures_.contains(sha256);
}

StoredPicture PictureShelf::Find(const std::string& sha256) const {
  std::lock_guard lock(mutex_);
  const auto it = pictures_.find(sha256);
  return it == pictures_.end() ? StoredPicture() : it->second;
}

absl::StatusOr<std::string> PictureShelf::Read(const std::string& sha256) const {
  // Read outside the lock: a picture read from disk must not hold up the
  // sync thread's appends.
  const StoredPicture picture = Find(sha256);
  if (!picture.known()) return absl::NotFoundError("picture " + sha256 + " is not on this device");
  return picture.Read(sha256);
}

bool PictureShelf::Add(const std::string& sha256, const StoredPicture& picture) {
  std::lock_guard lock(mutex_);
  return pictures_.try_emplace(sha256, picture).second;
}

void PictureShelf::ReplaceWith(PictureShelf&& other) {
  absl::flat_hash_map<std::string, StoredPicture> taken;
  {
    std::lock_guard lock(other.mutex_);
    taken.swap(other.pictures_);
  }
  std::lock_guard lock(mutex_);
  pictures_.swap(taken);
}

size_t PictureShelf::size() const {
  std::lock_guard lock(mutex_);
  return pictures_.size();
}

int TakePictures(JournalRecord* record, const RecordPlace& place, PictureShelf* pictures) {
  int added = 0;
  ForEachProfile(record, [&](Profile* profile, const FieldDescriptor*) {
    if (profile->avatar().empty()) return;
    if (profile->avatar_sha256().empty())
      profile->set_avatar_sha256(AvatarSha256(profile->avatar()));
    if (pictures->Add(profile->avatar_sha256(),
                      StoredPicture(place, static_cast<int64_t>(profile->avatar().size())))) {
      ++added;
    }
    // Released, not just cleared: a cleared string keeps its capacity, and
    // the profile is kept for as long as it is cached.
    std::string().swap(*profile->mutable_avatar());
  });
  return added;
}

absl::Status PutPicturesBack(const PictureShelf& pictures, JournalRecord* record,
                             std::set<std::string>* written) {
  absl::Status status;
  ForEachProfile(record, [&](Profile* profile, const FieldDescriptor* holder) {
    // A merge base names the picture the user saw and never holds it.
    static const FieldDescriptor* const kMergeBase =
        profile::client::v1::PendingMutation::descriptor()->FindFieldByName("base_fields");
    const std::string& sha = profile->avatar_sha256();
    if (sha.empty() || !profile->avatar().empty() || written->contains(sha) ||
        holder == kMergeBase) {
      return;
    }
    const StoredPicture picture = pictures.Find(sha);
    if (!picture.known()) return;
    absl::StatusOr<std::string> bytes = picture.Read(sha);
    if (!bytes.ok()) {
      if (status.ok()) status = bytes.status();
      return;
    }
    profile->set_avatar(*std::move(bytes));
    written->insert(sha);
  });
  return status;
}

}  // namespace profiles::client
