#include "services/profile/grpc/profile_service.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/profile/domain/status_details.h"
#include "services/profile/domain/validation.h"
#include "services/profile/grpc/grpc_status.h"

namespace profiles {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Catch-up pages are bounded by kDefaultPageBytes as well, so a watcher
// catching up on large avatars holds a few MiB at a time.
constexpr int kCatchUpPageSize = 500;
// How often a watch stream looks up from waiting to notice a cancelled call
// or a shutting-down server.
constexpr absl::Duration kWatchWakeInterval = absl::Milliseconds(250);

// Unexpected failures are logged once, with a request id, where the adapter
// maps them for the caller (ForCaller() in grpc_status.h); naming the method
// in an internal error's text puts it in that log line too.
grpc::Status Reply(std::string_view method, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    absl::Status annotated(status.code(),
                           absl::StrCat(std::string(method), ": ", status.message()));
    status.ForEachPayload([&annotated](absl::string_view type_url, const absl::Cord& payload) {
      annotated.SetPayload(type_url, payload);
    });
    return ToGrpcStatus(annotated);
  }
  return ToGrpcStatus(status);
}

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) {
    FieldViolations violations;
    violations.Add("page_size", "must not be negative");
    return violations.ToStatus();
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

profile::v1::ProfileEvent ToEvent(const ProfileChange& change, bool include_avatar) {
  profile::v1::ProfileEvent event;
  *event.mutable_profile() = change.profile;
  if (!include_avatar) event.mutable_profile()->clear_avatar();
  event.set_cursor(change.cursor.ToString());
  return event;
}

}  // namespace

ProfileServiceImpl::ProfileServiceImpl(ProfileRepository* repository, ChangeFeed* feed)
    : repository_(repository), feed_(feed) {}

grpc::Status ProfileServiceImpl::GetProfile(grpc::ServerContext* /*context*/,
                                            const profile::v1::GetProfileRequest* request,
                                            profile::v1::Profile* response) {
  absl::StatusOr<std::string> id = ParseProfileId(request->id());
  if (!id.ok()) return Reply("GetProfile", id.status());
  absl::StatusOr<profile::v1::Profile> profile = repository_->Get(*id);
  if (!profile.ok()) return Reply("GetProfile", profile.status());
  *response = *std::move(profile);
  return grpc::Status::OK;
}

grpc::Status ProfileServiceImpl::UpdateProfile(grpc::ServerContext* context,
                                               const profile::v1::UpdateProfileRequest* request,
                                               profile::v1::Profile* response) {
  absl::StatusOr<ProfileWrite> write = ParseUpdateRequest(*request);
  if (!write.ok()) return Reply("UpdateProfile", write.status());
  if (absl::Status allowed = AuthorizeWrite(*context, write->id); !allowed.ok()) {
    return Reply("UpdateProfile", allowed);
  }
  absl::StatusOr<profile::v1::Profile> written = repository_->Apply(*write);
  if (!written.ok()) return Reply("UpdateProfile", WithoutConflictAvatar(written.status()));
  *response = *std::move(written);
  return grpc::Status::OK;
}

grpc::Status ProfileServiceImpl::ListProfiles(grpc::ServerContext* /*context*/,
                                              const profile::v1::ListProfilesRequest* request,
                                              profile::v1::ListProfilesResponse* response) {
  absl::StatusOr<int> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return Reply("ListProfiles", page_size.status());
  // A page token is a cursor, so it continues a listing or a delta alike.
  const bool continues = !request->page_token().empty();
  absl::StatusOr<ChangeCursor> after =
      ChangeCursor::Parse(continues ? request->page_token() : request->since_cursor(),
                          continues ? "page_token" : "since_cursor");
  if (!after.ok()) return Reply("ListProfiles", after.status());
  absl::StatusOr<ChangePage> page =
      repository_->ChangesAfter(*after, *page_size, request->include_avatars(), kDefaultPageBytes);
  if (!page.ok()) return Reply("ListProfiles", page.status());
  for (ProfileChange& change : page->changes) {
    *response->add_profiles() = std::move(change.profile);
  }
  response->set_cursor(page->end.ToString());
  if (page->more) response->set_next_page_token(page->end.ToString());
  return grpc::Status::OK;
}

grpc::Status ProfileServiceImpl::WatchProfiles(
    grpc::ServerContext* context, const profile::v1::WatchProfilesRequest* request,
    grpc::ServerWriter<profile::v1::ProfileEvent>* writer) {
  absl::StatusOr<ChangeCursor> cursor =
      ChangeCursor::Parse(request->since_cursor(), "since_cursor");
  if (!cursor.ok()) return Reply("WatchProfiles", cursor.status());
  const bool include_avatars = request->include_avatars();

  // Subscribe before catching up (see change_feed.h): whatever the catch-up
  // does not see is then published to this subscription.
  const std::unique_ptr<ChangeFeed::Subscription> subscription = feed_->Subscribe();
  auto send = [&](const ProfileChange& change) {
    if (change.cursor <= *cursor) return true;
    *cursor = change.cursor;
    return writer->Write(ToEvent(change, include_avatars));
  };

  bool catch_up = true;
  while (!context->IsCancelled()) {
    if (stopping_.load()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server is shutting down; resume from the last cursor received");
    }
    if (catch_up) {
      for (bool more = true; more;) {
        absl::StatusOr<ChangePage> page = repository_->ChangesAfter(
            *cursor, kCatchUpPageSize, include_avatars, kDefaultPageBytes);
        if (!page.ok()) return Reply("WatchProfiles", page.status());
        for (const ProfileChange& change : page->changes) {
          if (!send(change)) return grpc::Status::CANCELLED;
        }
        *cursor = std::max(*cursor, page->end);
        more = page->more;
      }
      catch_up = false;
    }
    absl::StatusOr<std::vector<ProfileChange>> batch =
        subscription->Wait(absl::Now() + kWatchWakeInterval);
    if (absl::IsResourceExhausted(batch.status())) {
      catch_up = true;
      continue;
    }
    if (!batch.ok()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "change feed stopped; resume from the last cursor received");
    }
    for (const ProfileChange& change : *batch) {
      if (!send(change)) return grpc::Status::CANCELLED;
    }
  }
  return grpc::Status::CANCELLED;
}

void ProfileServiceImpl::StopWatches() { stopping_.store(true); }

absl::Status ProfileServiceImpl::AuthorizeWrite(const grpc::ServerContext& /*context*/,
                                                std::string_view /*profile_id*/) {
  // Single seam for the planned bearer-token check (a caller may write only
  // their own profile): it will read the `authorization` metadata from the
  // context and return UNAUTHENTICATED or PERMISSION_DENIED.
  return absl::OkStatus();
}

}  // namespace profiles
