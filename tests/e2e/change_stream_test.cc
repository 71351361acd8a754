// End-to-end tests of the change stream read from PostgreSQL's write-ahead
// log (issue 11; services/profile/storage/wal_sequencer.h): real
// profile_server processes, a real PostgreSQL with wal_level=logical, gRPC
// and REST clients over real sockets.
//
//   - a transaction holding an xid in ANOTHER database of the cluster no
//     longer delays watches or delta sync (the issue's measurement, as a test);
//   - changes made by plain SQL (the schema's write function, an operator's
//     raw INSERT and UPDATE) reach watchers and delta sync like the service's
//     own, in commit order;
//   - SIGKILLing the replica that runs the WAL sequencer (twice, each replica
//     once) under writers and a watcher loses no acknowledged write, repeats
//     no cursor, starts no new epoch and leaves exactly one replication slot;
//   - a PostgreSQL restart likewise (on a cluster of the test's own), with the
//     slot's WAL retention bounded.
//
// Waits are for events: streams are read with deadlines and conditions
// polled up to a deadline, never fixed sleeps.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <compare>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "tests/e2e/grpc_writes.h"
#include "tests/e2e/postgres_cluster.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

using profile::v1::ListProfilesRequest;
using profile::v1::ListProfilesResponse;
using profile::v1::Profile;
using profile::v1::ProfileEvent;
using profile::v1::ProfileService;
using profile::v1::UpdateProfileRequest;
using profile::v1::WatchProfilesRequest;

// The issue's bound: a change reaches watchers and delta sync within this,
// whatever else runs in the cluster.
constexpr absl::Duration kPromptly = absl::Seconds(3);
// For recovery after a kill or a restart (an election takes up to the
// sequencer's 1 s poll; reconnections back off up to 5 s): a correctness
// bound, not a speed target.
constexpr absl::Duration kRecovery = absl::Seconds(30);

// A change position, from a cursor's text "c3.<database id>.<epoch>.<lsn>.<idx>"
// (change_cursor.h), read from the right so the database id's form does not matter.
struct Position {
  int64_t epoch = 0;
  uint64_t lsn = 0;
  int64_t idx = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const Position&, const Position&) = default;
  friend std::ostream& operator<<(std::ostream& out, const Position& position) {
    return out << "(epoch " << position.epoch << ", lsn " << position.lsn << ", idx "
               << position.idx << ")";
  }
};

std::optional<Position> ParsePosition(const std::string& cursor) {
  const std::vector<std::string> parts = absl::StrSplit(cursor, '.');
  Position position;
  if (parts.size() < 5 || parts[0] != "c3" ||
      !absl::SimpleAtoi(parts[parts.size() - 3], &position.epoch) ||
      !absl::SimpleAtoi(parts[parts.size() - 2], &position.lsn) ||
      !absl::SimpleAtoi(parts[parts.size() - 1], &position.idx)) {
    return std::nullopt;
  }
  return position;
}

// Whether a failed write may be retried (with the same mutation id): the
// server or its database was away.
bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Every profile changed after `since`, all pages followed, and the last
// page's cursor.
struct Listing {
  grpc::Status status;
  std::vector<Profile> profiles;  // in commit order
  std::string cursor;
};

Listing ListAll(ProfileService::Stub& stub, const std::string& since) {
  Listing listing;
  std::string token;
  for (;;) {
    ListProfilesRequest request;
    request.set_since_cursor(since);
    request.set_page_token(token);
    request.set_page_size(1000);
    ListProfilesResponse page;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    listing.status = stub.ListProfiles(&context, request, &page);
    if (!listing.status.ok()) return listing;
    listing.profiles.insert(listing.profiles.end(), page.profiles().begin(), page.profiles().end());
    listing.cursor = page.cursor();
    token = page.next_page_token();
    if (token.empty()) return listing;
  }
}

// Whether `listing` holds profile `id` at `version`.
bool Lists(const Listing& listing, const std::string& id, int64_t version) {
  for (const Profile& profile : listing.profiles) {
    if (profile.id() == id && profile.version() == version) return true;
  }
  return false;
}

// One event as a watcher received it.
struct Event {
  std::string id;
  int64_t version = 0;
  std::string name;
  std::string cursor;
  absl::Time received;
  int stream = 0;  // the Watcher's stream (0, 1, ...) that delivered it
};

// A WatchProfiles client on its own thread that resumes from its last cursor
// whenever its stream ends, as a real client does: stream n (0, 1, ...) goes
// to address(n), so a caller can send a resumed stream to another replica.
// Every event and every stream's end is recorded for the test to check.
class Watcher {
 public:
  Watcher(std::function<std::string(int)> address, std::string since)
      : address_(std::move(address)), cursor_(std::move(since)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() { Stop(); }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  // The first event (in order of arrival) for which `match` holds, waiting
  // up to `timeout` for it.
  std::optional<Event> Await(const std::function<bool(const Event&)>& match,
                             absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    std::optional<Event> found;
    const auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const Event& event : events_) {
        if (match(event)) {
          found = event;
          return true;
        }
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
    return found;
  }

  std::optional<Event> AwaitVersion(const std::string& id, int64_t version,
                                    absl::Duration timeout) {
    return Await([&](const Event& e) { return e.id == id && e.version == version; }, timeout);
  }

  std::vector<Event> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  // How each stream but a cancelled last one ended.
  std::vector<grpc::Status> stream_ends() const {
    absl::MutexLock lock(&mu_);
    return ends_;
  }

 private:
  void Run() {
    for (int n = 0;; ++n) {
      const std::string address = address_(n);
      auto stub =
          ProfileService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      WatchProfilesRequest request;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        context_ = &context;
        request.set_since_cursor(cursor_);
      }
      auto stream = stub->WatchProfiles(&context, request);
      ProfileEvent event;
      while (stream->Read(&event)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(Event{.id = event.profile().id(),
                                .version = event.profile().version(),
                                .name = event.profile().name(),
                                .cursor = event.cursor(),
                                .received = absl::Now(),
                                .stream = n});
        cursor_ = event.cursor();
      }
      const grpc::Status status = stream->Finish();
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      if (stopping_) return;
      ends_.push_back(status);
      // A short pause before resuming, unless told to stop: the server may
      // be gone for a while.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(50));
    }
  }

  const std::function<std::string(int)> address_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string cursor_ ABSL_GUARDED_BY(mu_);
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::Status> ends_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // started last, joined first
};

// What every watcher must show, whatever happened meanwhile: cursors
// strictly increasing across every stream (a resumed stream continues right
// after its last event), all of one epoch (nothing forced clients to list
// again), and no profile going back to an older version. Returns the
// number of events that repeated an (id, version) already delivered (at a
// later position; a client deduplicating by version drops them).
int ExpectOrderedOneEpoch(const std::vector<Event>& events) {
  std::optional<Position> previous;
  std::map<std::string, int64_t> latest;
  int repeats = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& event = events[i];
    const std::optional<Position> position = ParsePosition(event.cursor);
    EXPECT_TRUE(position.has_value()) << "event " << i << ": cursor " << event.cursor;
    if (!position.has_value()) continue;
    if (previous.has_value()) {
      EXPECT_GT(*position, *previous)
          << "event " << i << " (" << event.id << " v" << event.version << ", stream "
          << event.stream << ") at " << event.cursor << " after " << events[i - 1].cursor;
      EXPECT_EQ(position->epoch, previous->epoch) << "event " << i << ": a new epoch began";
    }
    previous = position;
    auto [it, inserted] = latest.emplace(event.id, event.version);
    if (!inserted) {
      EXPECT_GE(event.version, it->second) << "event " << i << ": " << event.id << " went back";
      if (event.version == it->second) ++repeats;
      it->second = std::max(it->second, event.version);
    }
  }
  return repeats;
}

// A connection to a database, for plain SQL.
int64_t QueryInt(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  return txn.exec1(sql)[0].as<int64_t>();
}

std::string QueryText(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  return txn.exec1(sql)[0].as<std::string>("");
}

// Replication slots on the database of `url`.
int64_t SlotsOf(const std::string& url) {
  return QueryInt(url,
                  "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()");
}

std::unique_ptr<httplib::Client> HttpClient(const std::string& address) {
  const size_t colon = address.rfind(':');
  auto client = std::make_unique<httplib::Client>(address.substr(0, colon),
                                                  std::stoi(address.substr(colon + 1)));
  client->set_read_timeout(10, 0);
  return client;
}

class ChangeStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  // Starts a server whose PostgreSQL sessions carry application_name `name`
  // (its sequencer's: "<name> wal sequencer").
  std::unique_ptr<ServerProcess> StartServer(const std::string& name) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(absl::StrCat(database_->url(), " application_name=", name));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // The application names of the sessions holding the sequencer's election
  // lock (WalSequencer::kSequencerLockKey, 0x77616c7365717565: classid is
  // its high half, objid its low half) on the test database.
  std::vector<std::string> SequencerHolders() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    std::vector<std::string> names;
    for (const pqxx::row& row : txn.exec(
             "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
             " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 2002873459"
             "   AND l.objid = 1701934437 AND l.objsubid = 1"
             "   AND l.database = (SELECT oid FROM pg_database WHERE datname = "
             "current_database())")) {
      names.push_back(row[0].as<std::string>(""));
    }
    return names;
  }

  std::unique_ptr<TestDatabase> database_;
};

// The issue's measurement as a test. Before the change stream was read from
// the WAL, positions were handed out only below the cluster-wide snapshot
// xmin, so one transaction holding an xid ANYWHERE in the cluster (here: in
// another database, which the service never touches) held back every watch
// and every delta sync for as long as it stayed open. Now a write reaches a
// watcher and a delta listing within kPromptly while such a transaction is
// open, over gRPC and REST alike.
TEST_F(ChangeStreamTest, ATransactionInAnotherDatabaseDelaysNoWatchAndNoDelta) {
  std::unique_ptr<ServerProcess> server = StartServer("change_stream");
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();

  // A watch from the current cursor, shown live by a first write.
  const Listing start = ListAll(*stub, "");
  ASSERT_TRUE(start.status.ok()) << start.status.error_message();
  Watcher watcher([&](int) { return server->grpc_address(); }, start.cursor);
  Profile written;
  const std::string warm_up = Uuid(1, 0);
  ASSERT_TRUE(Call(*stub, Write(warm_up, 0, "Warm up", Uuid(2, 0)), &written).ok());
  const std::optional<Event> first = watcher.AwaitVersion(warm_up, 1, absl::Seconds(10));
  ASSERT_TRUE(first.has_value()) << "the watch never delivered the first write";

  // The foreign transaction: another database of the same cluster, an xid
  // taken, left open.
  absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  pqxx::connection foreign_connection((*other)->url());
  auto foreign = std::make_unique<pqxx::work>(foreign_connection);
  const std::string foreign_xid =
      foreign->exec1("SELECT pg_current_xact_id()")[0].as<std::string>();
  const int foreign_pid = foreign_connection.backendpid();
  const auto foreign_still_open = [&] {
    pqxx::connection connection((*other)->url());
    pqxx::nontransaction txn(connection);
    const pqxx::result row = txn.exec_params(
        "SELECT state, backend_xid::text FROM pg_stat_activity WHERE pid = $1", foreign_pid);
    return row.size() == 1 && row[0][0].as<std::string>("") == "idle in transaction" &&
           row[0][1].as<std::string>("") == foreign_xid;
  };
  ASSERT_TRUE(foreign_still_open());

  // A gRPC write: to the watcher, and to a delta from the cursor before it.
  const std::string before = first->cursor;
  const std::string id = Uuid(1, 1);
  ASSERT_TRUE(Call(*stub, Write(id, 0, "Grace Hopper", Uuid(2, 1)), &written).ok());
  const absl::Time acknowledged = absl::Now();
  const std::optional<Event> event = watcher.AwaitVersion(id, 1, kPromptly);
  ASSERT_TRUE(event.has_value()) << "the watch did not deliver the write within " << kPromptly
                                 << " while a transaction of another database was open";
  EXPECT_EQ(event->name, "Grace Hopper");
  const absl::Duration watch_delay = event->received - acknowledged;
  absl::Duration delta_delay;
  ASSERT_TRUE(Eventually(kPromptly,
                         [&] {
                           const Listing delta = ListAll(*stub, before);
                           EXPECT_TRUE(delta.status.ok()) << delta.status.error_message();
                           delta_delay = absl::Now() - acknowledged;
                           return Lists(delta, id, 1);
                         }))
      << "ListProfiles(since_cursor) did not list the write within " << kPromptly;

  // A REST write (PUT, no base: a create), to the same watcher and to the
  // REST delta (GET /user?since=).
  std::unique_ptr<httplib::Client> http = HttpClient(server->http_address());
  const std::string rest_id = Uuid(1, 2);
  const httplib::Result put = http->Put(
      absl::StrCat("/user/", rest_id).c_str(), httplib::Headers{{"Idempotency-Key", Uuid(2, 2)}},
      R"({"name":"Ada Lovelace","email":"ada@example.com"})", "application/json");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  ASSERT_EQ(put->status, 201) << put->body;
  const absl::Time rest_acknowledged = absl::Now();
  const std::optional<Event> rest_event = watcher.AwaitVersion(rest_id, 1, kPromptly);
  ASSERT_TRUE(rest_event.has_value())
      << "the watch did not deliver the REST write within " << kPromptly;
  EXPECT_EQ(rest_event->name, "Ada Lovelace");
  const absl::Duration rest_watch_delay = rest_event->received - rest_acknowledged;
  absl::Duration rest_delta_delay;
  EXPECT_TRUE(Eventually(kPromptly,
                         [&] {
                           const httplib::Result delta =
                               http->Get(absl::StrCat("/user?since=", before).c_str());
                           rest_delta_delay = absl::Now() - rest_acknowledged;
                           return delta && delta->status == 200 &&
                                  delta->body.find(rest_id) != std::string::npos &&
                                  delta->body.find(id) != std::string::npos;
                         }))
      << "GET /user?since= did not list the writes within " << kPromptly;

  // All of it while the foreign transaction stayed open, holding its xid.
  EXPECT_TRUE(foreign_still_open())
      << "the foreign transaction ended early: the test proves nothing";
  std::cerr << absl::StrFormat(
      "with a transaction (xid %s) open in another database: gRPC write -> watch %s, -> delta %s; "
      "REST write -> watch %s, -> REST delta %s\n",
      foreign_xid, absl::FormatDuration(watch_delay), absl::FormatDuration(delta_delay),
      absl::FormatDuration(rest_watch_delay), absl::FormatDuration(rest_delta_delay));
  foreign->abort();
  foreign.reset();
  EXPECT_EQ(ExpectOrderedOneEpoch(watcher.events()), 0);
  watcher.Stop();
  EXPECT_TRUE(watcher.stream_ends().empty());
}

// Changes the service never saw (plain SQL: the schema's own write function,
// an operator's raw INSERT and UPDATE) reach a watcher and a delta listing
// like the service's own writes: the sequencer reads every commit of the
// table from the WAL, whoever made it. Two profiles written in one
// transaction share its commit position and are ordered within it.
TEST_F(ChangeStreamTest, PlainSqlWritesReachWatchersAndDeltas) {
  std::unique_ptr<ServerProcess> server = StartServer("change_stream");
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  const Listing start = ListAll(*stub, "");
  ASSERT_TRUE(start.status.ok()) << start.status.error_message();
  Watcher watcher([&](int) { return server->grpc_address(); }, start.cursor);
  pqxx::connection sql(database_->url());

  // profiles_apply_write (migration 0003's signature; caller defaulted), no
  // mutation id: what the service runs, run by hand.
  const std::string id = Uuid(3, 1);
  {
    pqxx::work txn(sql);
    EXPECT_EQ(txn.exec_params1("SELECT outcome FROM profiles_apply_write($1::uuid, 0, "
                               "'Inserted by SQL', 'sql@example.com', NULL, NULL)",
                               id)[0]
                  .as<std::string>(),
              "applied");
    txn.commit();
  }
  const std::optional<Event> inserted = watcher.AwaitVersion(id, 1, absl::Seconds(10));
  ASSERT_TRUE(inserted.has_value()) << "a write by profiles_apply_write never reached the watch";
  EXPECT_EQ(inserted->name, "Inserted by SQL");

  // An operator's raw UPDATE, which sets neither the old change columns nor
  // anything else the service would.
  {
    pqxx::work txn(sql);
    txn.exec_params0(
        "UPDATE profiles SET name = 'Changed by an operator', version = version + 1 WHERE id = $1",
        id);
    txn.commit();
  }
  const std::optional<Event> updated = watcher.AwaitVersion(id, 2, absl::Seconds(10));
  ASSERT_TRUE(updated.has_value()) << "a raw UPDATE never reached the watch";
  EXPECT_EQ(updated->name, "Changed by an operator");

  // A raw INSERT and another UPDATE in one transaction.
  const std::string second = Uuid(3, 2);
  {
    pqxx::work txn(sql);
    txn.exec_params0(
        "INSERT INTO profiles (id, name, email, version) VALUES ($1, 'Inserted raw', "
        "'raw@example.com', 1)",
        second);
    txn.exec_params0(
        "UPDATE profiles SET name = 'Changed again', version = version + 1 WHERE id = $1", id);
    txn.commit();
  }
  const std::optional<Event> raw = watcher.AwaitVersion(second, 1, absl::Seconds(10));
  const std::optional<Event> again = watcher.AwaitVersion(id, 3, absl::Seconds(10));
  ASSERT_TRUE(raw.has_value()) << "a raw INSERT never reached the watch";
  ASSERT_TRUE(again.has_value()) << "an UPDATE in the same transaction never reached the watch";
  EXPECT_EQ(raw->name, "Inserted raw");
  EXPECT_EQ(again->name, "Changed again");
  const std::optional<Position> raw_at = ParsePosition(raw->cursor);
  const std::optional<Position> again_at = ParsePosition(again->cursor);
  ASSERT_TRUE(raw_at.has_value() && again_at.has_value()) << raw->cursor << " " << again->cursor;
  EXPECT_EQ(raw_at->lsn, again_at->lsn) << "one transaction, one commit position";
  EXPECT_EQ(raw_at->idx + 1, again_at->idx) << "ordered as written within the transaction";

  // Delta sync: from before the first SQL write, each profile once at its
  // latest state, in commit order; from the first event's cursor, the rest.
  const Listing all = ListAll(*stub, start.cursor);
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  ASSERT_EQ(all.profiles.size(), 2u);
  EXPECT_EQ(all.profiles[0].id(), second);
  EXPECT_EQ(all.profiles[1].id(), id);
  EXPECT_EQ(all.profiles[1].version(), 3);
  EXPECT_EQ(all.profiles[1].name(), "Changed again");
  const Listing after_insert = ListAll(*stub, inserted->cursor);
  ASSERT_TRUE(after_insert.status.ok()) << after_insert.status.error_message();
  EXPECT_TRUE(Lists(after_insert, second, 1) && Lists(after_insert, id, 3));
  EXPECT_EQ(after_insert.cursor, again->cursor);
  // And nothing after the last event.
  const Listing after_all = ListAll(*stub, again->cursor);
  ASSERT_TRUE(after_all.status.ok()) << after_all.status.error_message();
  EXPECT_TRUE(after_all.profiles.empty());

  EXPECT_EQ(ExpectOrderedOneEpoch(watcher.events()), 0);
  watcher.Stop();
  EXPECT_TRUE(watcher.stream_ends().empty());
}

// Two replicas, two writer threads writing through both alternately (a
// failed write retried with the same mutation id through the other
// replica), a watcher on B resuming from its cursor on whichever replica is
// up. The replica holding the sequencer's election is SIGKILLed under load,
// restarted, and then the new holder (the other replica, the watcher's)
// too. Afterwards: a full listing holds every acknowledged write once at its
// latest version; the watcher saw every profile at its latest version, with
// strictly increasing cursors of one epoch (the takeover resumed the same
// stream, it did not start a new one); exactly one replication slot is left
// (one per database, not per replica: a killed replica leaves none behind).
TEST_F(ChangeStreamTest, ReplicaKilledAndRestartedLosesAndRepeatsNothing) {
  constexpr int kThreads = 2;
  constexpr int kProfilesPerThread = 50;
  constexpr int kWritesPerThread = 2 * kProfilesPerThread;  // a create and an update each
  const std::array<std::string, 2> names = {"replica_a", "replica_b"};
  std::array<std::unique_ptr<ServerProcess>, 2> replicas;
  for (int i = 0; i < 2; ++i) {
    replicas[i] = StartServer(names[i]);
    ASSERT_NE(replicas[i], nullptr);
  }
  absl::Mutex mu;
  std::array<std::string, 2> addresses = {replicas[0]->grpc_address(), replicas[1]->grpc_address()};
  const auto address_of = [&](int replica) {
    absl::MutexLock lock(&mu);
    return addresses[replica];
  };

  // The watcher starts on B and alternates on every resumption.
  Watcher watcher([&](int n) { return address_of((1 + n) % 2); }, "");

  // Writers. Thread t owns profiles Uuid(4, t * kProfilesPerThread + k): it
  // creates them all, then updates each once. Writes alternate replicas; a
  // write is acknowledged when a call returns OK.
  // Guarded by mu, like addresses: writes each thread may start, writes acknowledged.
  int budget = 0;
  int acknowledged = 0;
  std::atomic<int> failed_over = 0;
  std::vector<std::string> writer_errors;  // guarded by mu
  const auto write_through_either = [&](int preferred, const UpdateProfileRequest& request,
                                        Profile* written) -> bool {
    std::map<std::string, std::unique_ptr<ProfileService::Stub>> stubs;
    const absl::Time deadline = absl::Now() + kRecovery;
    for (int attempt = 0;; ++attempt) {
      const std::string address = address_of((preferred + attempt) % 2);
      auto& stub = stubs[address];
      if (stub == nullptr) {
        stub = ProfileService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      }
      const grpc::Status status = Call(*stub, request, written);
      if (status.ok()) return true;
      if (attempt == 0) ++failed_over;
      if (!Retryable(status) || absl::Now() > deadline) {
        absl::MutexLock lock(&mu);
        writer_errors.push_back(absl::StrCat(request.profile().id(), " v",
                                             request.expected_version() + 1, ": ",
                                             status.error_code(), " ", status.error_message()));
        return false;
      }
    }
  };
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int step = 0; step < kWritesPerThread; ++step) {
        {
          absl::MutexLock lock(&mu);
          const auto allowed = [&] { return budget > step; };
          mu.Await(absl::Condition(&allowed));
        }
        const int k = t * kProfilesPerThread + step % kProfilesPerThread;
        const int64_t base = step < kProfilesPerThread ? 0 : 1;
        Profile written;
        if (!write_through_either((t + step) % 2,
                                  Write(Uuid(4, k), base, absl::StrCat("p", k, " v", base + 1),
                                        Uuid(5, t * kWritesPerThread + step)),
                                  &written)) {
          return;
        }
        absl::MutexLock lock(&mu);
        ++acknowledged;
      }
    });
  }
  const auto allow = [&](int writes_per_thread) {
    absl::MutexLock lock(&mu);
    budget = writes_per_thread;
  };
  // Joins the writers on every way out of the test, a failed ASSERT included.
  struct JoinWriters {
    std::function<void()> release;
    std::vector<std::thread>& threads;
    ~JoinWriters() {
      release();
      for (std::thread& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } join_writers{[&] { allow(kWritesPerThread); }, writers};
  const auto acknowledged_writes = [&] {
    absl::MutexLock lock(&mu);
    return acknowledged;
  };
  // Finds the replica holding the election, kills it as soon as
  // `after_acknowledged` writes are acknowledged (with more allowed, so
  // writes are in flight), waits for the other to take over, restarts the
  // killed one.
  const auto kill_holder_under_load = [&](int after_acknowledged) {
    std::vector<std::string> holders;
    ASSERT_TRUE(Eventually(kRecovery,
                           [&] {
                             holders = SequencerHolders();
                             return holders.size() == 1;
                           }))
        << holders.size() << " sequencers hold the election";
    const int victim = holders[0] == names[0] + " wal sequencer" ? 0 : 1;
    ASSERT_EQ(holders[0], names[victim] + " wal sequencer");
    int killed_at;
    int allowed;
    {
      absl::MutexLock lock(&mu);
      const auto reached = [&] { return acknowledged >= after_acknowledged; };
      ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&reached), kRecovery))
          << acknowledged << " writes acknowledged";
      killed_at = acknowledged;
      allowed = kThreads * budget;
    }
    replicas[victim]->StopWith(SIGKILL);
    EXPECT_LT(killed_at, allowed) << "every allowed write was done: not killed under load";
    // The survivor's sequencer takes over (it tries every second).
    ASSERT_TRUE(Eventually(kRecovery,
                           [&] {
                             holders = SequencerHolders();
                             return holders ==
                                    std::vector<std::string>{names[1 - victim] + " wal sequencer"};
                           }))
        << "no takeover by " << names[1 - victim];
    replicas[victim] = StartServer(names[victim]);
    ASSERT_NE(replicas[victim], nullptr);
    {
      absl::MutexLock lock(&mu);
      addresses[victim] = replicas[victim]->grpc_address();
    }
    std::cerr << names[victim] << " (sequencer) SIGKILLed at " << killed_at
              << " acknowledged writes, restarted at " << acknowledged_writes() << "\n";
  };

  allow(60);
  ASSERT_NO_FATAL_FAILURE(kill_holder_under_load(50));
  allow(90);
  ASSERT_NO_FATAL_FAILURE(kill_holder_under_load(130));
  allow(kWritesPerThread);
  for (std::thread& writer : writers) writer.join();
  writers.clear();
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(writer_errors.empty())
        << writer_errors.size() << " writes failed, first: " << writer_errors.front();
  }
  ASSERT_EQ(acknowledged_writes(), kThreads * kWritesPerThread);
  EXPECT_GT(failed_over, 0) << "no write met a killed replica: the kills were not under load";

  // The watcher: every profile at its latest version.
  constexpr int kProfiles = kThreads * kProfilesPerThread;
  for (int k = 0; k < kProfiles; ++k) {
    const std::optional<Event> event = watcher.AwaitVersion(Uuid(4, k), 2, kRecovery);
    ASSERT_TRUE(event.has_value()) << "the watcher never saw " << Uuid(4, k) << " v2";
    EXPECT_EQ(event->name, absl::StrCat("p", k, " v2"));
  }
  watcher.Stop();
  const std::vector<Event> events = watcher.events();
  const int repeats = ExpectOrderedOneEpoch(events);
  std::set<std::pair<std::string, int64_t>> seen;
  for (const Event& event : events) seen.emplace(event.id, event.version);
  int resumed = 0;
  for (const grpc::Status& end : watcher.stream_ends()) {
    // The only way a stream may end: its replica went away.
    EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE) << end.error_message();
    ++resumed;
  }
  EXPECT_GE(resumed, 1) << "the watcher's replica was killed: its stream must have ended";
  std::cerr << absl::StrFormat(
      "%d writes (%d failed over), watcher: %d events, %d distinct (id, version), %d repeats of an "
      "(id, version) already delivered, %d streams\n",
      kThreads * kWritesPerThread, failed_over.load(), events.size(), seen.size(), repeats,
      resumed + 1);

  // A full listing from the start: every profile exactly once, latest version.
  auto stub = replicas[0]->NewStub();
  const Listing all = ListAll(*stub, "");
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  std::map<std::string, int> times_listed;
  for (const Profile& profile : all.profiles) {
    ++times_listed[profile.id()];
    EXPECT_EQ(profile.version(), 2) << profile.id();
  }
  EXPECT_EQ(times_listed.size(), static_cast<size_t>(kProfiles));
  for (const auto& [id, times] : times_listed) EXPECT_EQ(times, 1) << id;
  // Its cursor is where the watcher ended: the same stream.
  EXPECT_EQ(all.cursor, events.back().cursor);

  // One slot for the database, and one sequencer.
  EXPECT_EQ(SlotsOf(database_->url()), 1);
  EXPECT_EQ(SequencerHolders().size(), 1u);
  EXPECT_EQ(QueryInt(database_->url(), "SELECT epoch FROM change_sequencer_state"), 1)
      << "a kill must not start a new epoch";
}

// A PostgreSQL of the test's own, restarted under a running server with a
// watcher open: every write acknowledged before and after (retried with its
// mutation id while PostgreSQL is away) is listed from the start and reaches
// the watcher (resumed from its cursor if its stream ended), a delta from a
// cursor taken before the restart lists exactly the later writes, nothing
// forces clients to list again (one epoch), and the database still has
// exactly one slot, with its WAL retention bounded.
class ChangeStreamPostgresRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Create();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_TRUE(cluster_->Start().ok());
  }

  // Declared first: destroyed after the server.
  std::unique_ptr<PostgresCluster> cluster_;
};

TEST_F(ChangeStreamPostgresRestartTest, PostgresRestartLosesNothingAndLeavesOneSlot) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> started =
      ServerProcess::Start(cluster_->url(), absl::Seconds(40), /*wait_for_database=*/true);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  auto stub = server->NewStub();
  Watcher watcher([&](int) { return server->grpc_address(); }, "");

  constexpr int kProfiles = 20;
  // Writes until acknowledged: UNAVAILABLE (PostgreSQL away) is retried with
  // the same mutation id.
  int retried = 0;
  const auto write = [&](const UpdateProfileRequest& request) {
    const absl::Time deadline = absl::Now() + kRecovery;
    for (;;) {
      Profile written;
      const grpc::Status status = Call(*stub, request, &written);
      if (status.ok()) return true;
      EXPECT_TRUE(Retryable(status)) << status.error_code() << " " << status.error_message();
      if (!Retryable(status) || absl::Now() > deadline) return false;
      ++retried;
      absl::SleepFor(absl::Milliseconds(20));  // a client's pause between retries
    }
  };
  for (int k = 0; k < kProfiles; ++k) {
    ASSERT_TRUE(write(Write(Uuid(6, k), 0, absl::StrCat("p", k, " v1"), Uuid(7, k))));
  }
  const std::optional<Event> before_restart =
      watcher.AwaitVersion(Uuid(6, kProfiles - 1), 1, absl::Seconds(10));
  ASSERT_TRUE(before_restart.has_value()) << "the watch never delivered the first writes";

  ASSERT_TRUE(cluster_->Stop().ok());
  ASSERT_TRUE(cluster_->Start().ok());
  // After the restart: an update of every first profile and as many new ones.
  for (int k = 0; k < kProfiles; ++k) {
    ASSERT_TRUE(write(Write(Uuid(6, k), 1, absl::StrCat("p", k, " v2"), Uuid(7, kProfiles + k))));
    ASSERT_TRUE(write(Write(Uuid(6, kProfiles + k), 0, absl::StrCat("p", kProfiles + k, " v1"),
                            Uuid(7, 2 * kProfiles + k))));
  }

  // The watcher: every profile at its latest version.
  for (int k = 0; k < 2 * kProfiles; ++k) {
    const int64_t version = k < kProfiles ? 2 : 1;
    const std::optional<Event> event = watcher.AwaitVersion(Uuid(6, k), version, kRecovery);
    ASSERT_TRUE(event.has_value()) << "the watcher never saw " << Uuid(6, k) << " v" << version;
    EXPECT_EQ(event->name, absl::StrCat("p", k, " v", version));
  }
  watcher.Stop();
  const std::vector<Event> events = watcher.events();
  const int repeats = ExpectOrderedOneEpoch(events);
  for (const grpc::Status& end : watcher.stream_ends()) {
    EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE) << end.error_message();
  }
  std::cerr << absl::StrFormat(
      "PostgreSQL restarted: %d write attempts retried, watcher: %d events (%d repeats), %d "
      "streams\n",
      retried, events.size(), repeats, watcher.stream_ends().size() + 1);

  // Listed from the start: each once, at its latest version.
  const Listing all = ListAll(*stub, "");
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  std::map<std::string, int64_t> listed;
  for (const Profile& profile : all.profiles) {
    EXPECT_TRUE(listed.emplace(profile.id(), profile.version()).second)
        << profile.id() << " listed twice";
  }
  ASSERT_EQ(listed.size(), static_cast<size_t>(2 * kProfiles));
  for (int k = 0; k < 2 * kProfiles; ++k) {
    EXPECT_EQ(listed[Uuid(6, k)], k < kProfiles ? 2 : 1) << Uuid(6, k);
  }
  // A delta from the cursor taken before the restart: exactly the later writes.
  const Listing delta = ListAll(*stub, before_restart->cursor);
  ASSERT_TRUE(delta.status.ok()) << delta.status.error_message();
  EXPECT_EQ(delta.profiles.size(), static_cast<size_t>(2 * kProfiles));
  for (const Profile& profile : delta.profiles) {
    EXPECT_TRUE(profile.version() == 2 || profile.id() >= Uuid(6, kProfiles)) << profile.id();
  }

  // One slot, its WAL retained within a bound.
  const std::string url = cluster_->url();
  EXPECT_EQ(SlotsOf(url), 1);
  const std::string wal_status = QueryText(
      url, "SELECT wal_status FROM pg_replication_slots WHERE database = current_database()");
  EXPECT_TRUE(wal_status == "reserved" || wal_status == "extended") << wal_status;
  EXPECT_NE(QueryText(url, "SHOW max_slot_wal_keep_size"), "-1");
  EXPECT_EQ(QueryInt(url, "SELECT epoch FROM change_sequencer_state"), 1)
      << "a restart must not start a new epoch";
}

// A slot that falls further behind than max_slot_wal_keep_size is lost:
// PostgreSQL removes WAL it has not read, and the changes in it were never
// sequenced. The sequencer starts a new epoch and stamps every profile
// again; a client holding a cursor of the old epoch is told CURSOR_EXPIRED
// (a listing and a watch alike) and finds everything by listing again:
// a resync, never a silent gap.
TEST(ChangeStreamLostSlotTest, ALostSlotStartsANewEpochAndClientsListAgain) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Create("-c max_slot_wal_keep_size=1MB");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->Start().ok());
  const std::string url = (*cluster)->url();

  std::string old_cursor;
  {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(url, absl::Seconds(40), /*wait_for_database=*/true);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    Profile written;
    ASSERT_TRUE(Call(*stub, Write(Uuid(9, 1), 0, "Before the loss", Uuid(10, 1)), &written).ok());
    ASSERT_TRUE(Eventually(kPromptly, [&] { return Lists(ListAll(*stub, ""), Uuid(9, 1), 1); }));
    old_cursor = ListAll(*stub, "").cursor;
    ASSERT_EQ(ParsePosition(old_cursor).value_or(Position{}).epoch, 1) << old_cursor;
  }
  // No server: nobody reads the slot. Its walsender goes with the killed
  // server's connection.
  ASSERT_TRUE(Eventually(kRecovery, [&] {
    return QueryInt(url, "SELECT count(*) FROM pg_replication_slots WHERE active") == 0;
  }));
  // A profile changed while nobody reads the slot, then more WAL than it
  // may keep: the change is never streamed.
  ASSERT_EQ(QueryInt(url,
                     "WITH changed AS (UPDATE profiles SET name = 'Changed unseen', "
                     "version = version + 1 RETURNING version) SELECT version FROM changed"),
            2);
  ASSERT_TRUE(Eventually(kRecovery, [&] {
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    txn.exec("CREATE TABLE IF NOT EXISTS filler (x int)");
    for (int i = 0; i < 4; ++i) {
      txn.exec("INSERT INTO filler SELECT generate_series(1, 1000)");
      txn.exec("SELECT pg_switch_wal()");
    }
    txn.exec("CHECKPOINT");
    return QueryText(url, "SELECT coalesce(wal_status, '') FROM pg_replication_slots") == "lost";
  })) << "the slot was never lost";

  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(url, absl::Seconds(40), /*wait_for_database=*/true);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->NewStub();
  ASSERT_TRUE(Eventually(kRecovery, [&] {
    return QueryInt(url, "SELECT epoch FROM change_sequencer_state") == 2;
  })) << "no new epoch";

  const auto expect_expired = [](const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(FromGrpcStatus(status));
    ASSERT_TRUE(info.has_value()) << status.error_message();
    EXPECT_EQ(info->reason(), kCursorExpiredReason);
  };
  expect_expired(ListAll(*stub, old_cursor).status);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    WatchProfilesRequest request;
    request.set_since_cursor(old_cursor);
    auto stream = stub->WatchProfiles(&context, request);
    ProfileEvent event;
    while (stream->Read(&event)) {
    }
    expect_expired(stream->Finish());
  }
  // Listing again finds the change made while the slot was lost.
  const Listing again = ListAll(*stub, "");
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_TRUE(Lists(again, Uuid(9, 1), 2)) << "the unseen change is missing";
  EXPECT_EQ(ParsePosition(again.cursor).value_or(Position{}).epoch, 2) << again.cursor;
  EXPECT_EQ(SlotsOf(url), 1);
}

}  // namespace
}  // namespace profiles::testing
