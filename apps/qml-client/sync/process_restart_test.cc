// A real process restart (issue 8): a separate app-core process
// (profiles_edit_burst) on one data folder is killed with SIGKILL at random
// moments during bursts of edits, 50 times, with the server reachable, not
// reachable, down, or killed too; then one more run drains the queue. Every
// edit the process reported as saved must reach the server exactly once.
//
// What the server keeps makes "exactly once" checkable: every write with a
// mutation id leaves a row in applied_mutations, in the same statement,
// holding the version and the name the write produced
// (services/profile/storage/migrations/0001_init.sql). Every create and edit
// writes a name unique to it, so the rows tell which edits were applied, how
// often, and in which order.
//
// Deletes (issue 12) are in the mix: some runs make every few changes a
// delete. A delete keeps the profile's row as its tombstone and erases the
// names its idempotency records held, so for a deleted profile the rows tell
// how many changes were applied (one per version, the last one the delete)
// rather than which; and a profile whose delete was reported saved must end
// deleted on the server and absent from the drained client: never back.
//
// Needs PROFILES_TEST_DATABASE_URL; skipped without it. The seed is printed;
// PROFILES_RESTART_SEED=<seed> replays a run's choices (the timing of kills
// still varies). On failure the data folder is kept and its path printed.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

extern char** environ;

namespace profiles::client {
namespace {

using profiles::testing::ServerProcess;
using profiles::testing::TestDatabase;

constexpr int kRuns = 50;
constexpr int kProfiles = 4;
// Longest any one child may take; a run never gets near it unless stuck.
constexpr absl::Duration kChildTimeout = absl::Seconds(60);

// A running profiles_edit_burst with its stdout on a pipe. Killed (SIGKILL)
// and reaped by the destructor if still there, and by the kernel if the
// thread that started it dies (PR_SET_PDEATHSIG), so no exit path of the
// test leaves one running.
class BurstProcess {
 public:
  static absl::StatusOr<std::unique_ptr<BurstProcess>> Start(std::vector<std::string> args) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));
    args.insert(args.begin(), EDIT_BURST_BINARY);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      const int error = errno;
      close(fds[0]);
      close(fds[1]);
      return absl::InternalError(std::strerror(error));
    }
    if (pid == 0) {
      // Async-signal-safe calls only until execve.
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
      if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
      execve(argv[0], argv.data(), environ);
      constexpr char kExecFailed[] = "BurstProcess: cannot execute " EDIT_BURST_BINARY "\n";
      [[maybe_unused]] const ssize_t written =
          write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
      _exit(127);
    }
    close(fds[1]);
    return std::unique_ptr<BurstProcess>(new BurstProcess(pid, fds[0]));
  }

  ~BurstProcess() {
    Kill();
    close(fd_);
  }
  BurstProcess(const BurstProcess&) = delete;
  BurstProcess& operator=(const BurstProcess&) = delete;

  enum class Read { kLine, kEnd, kTimeout };
  // The next whole line of output (without its newline), waiting on the
  // pipe until `deadline` at most; kEnd once the process has closed it.
  Read NextLine(absl::Time deadline, std::string& line) {
    for (;;) {
      if (const size_t end = buffer_.find('\n'); end != std::string::npos) {
        line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return Read::kLine;
      }
      if (ended_) return Read::kEnd;
      const absl::Duration wait = deadline - absl::Now();
      if (wait <= absl::ZeroDuration()) return Read::kTimeout;
      // ppoll rather than poll: kill moments are drawn in microseconds.
      const timespec timeout = absl::ToTimespec(wait);
      pollfd descriptor{fd_, POLLIN, 0};
      const int ready = ppoll(&descriptor, 1, &timeout, nullptr);
      if (ready < 0 && errno != EINTR) return Read::kEnd;
      if (ready <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ended_ = true;  // a partial last line cannot happen: lines are single writes
        continue;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // 0 once reaped.
  pid_t pid() const { return pid_; }

  // SIGKILLs the process if it still runs and reaps it; returns its wait
  // status (a normal exit if it ended first).
  int Kill() {
    if (pid_ <= 0) return wait_status_;
    kill(pid_, SIGKILL);
    return Reap();
  }

  // Reaps the process after its output ended; returns its wait status.
  int Wait() { return pid_ > 0 ? Reap() : wait_status_; }

 private:
  BurstProcess(pid_t pid, int fd) : pid_(pid), fd_(fd) {}

  int Reap() {
    while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
    return wait_status_;
  }

  pid_t pid_;
  const int fd_;
  std::string buffer_;
  bool ended_ = false;
  int wait_status_ = 0;
};

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// The folder's lock files (profiles.lock and QLockFile's helpers), with
// their sizes and first lines: when a child cannot open the folder after a
// kill, they tell which lock was left behind and in what state.
std::string DescribeLockFiles(const QString& directory) {
  std::string description;
  const QDir folder(directory);
  for (const QFileInfo& file :
       folder.entryInfoList({QStringLiteral("profiles.lock*")}, QDir::Files, QDir::Name)) {
    QFile lock(file.filePath());
    QByteArray first_line;
    if (lock.open(QIODevice::ReadOnly)) first_line = lock.readLine().trimmed();
    absl::StrAppend(&description, description.empty() ? "" : "; ", file.fileName().toStdString(),
                    " (", file.size(), " bytes",
                    first_line.isEmpty() ? "" : ", first line " + first_line.toStdString(), ")");
  }
  return description.empty() ? "none" : description;
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// One create, edit or delete the child began, in the order it began them.
struct Attempt {
  std::string name;        // unique to this change
  std::string profile_id;  // empty for a create whose "created" never came
  bool create = false;
  bool deletes = false;
  bool saved = false;  // reported saved: must be on the server exactly once
  int run = 0;
};

// What the children said, over all runs.
class Ledger {
 public:
  // Records one line of run `run`; false (with a test failure) on a line
  // that breaks the child's protocol.
  bool Take(int run, const std::string& line) {
    if (line == "opened" || line == "edits done" || line == "drained") return true;
    const std::vector<std::string> words = Words(line);
    if (words.empty()) return Fail(run, line);
    const std::string& kind = words[0];
    if (kind == "profile" && words.size() == 6) {
      listed_.push_back(
          {words[1], std::stoll(words[2]), words[3], words[4] == "merge-note", words[5]});
      return true;
    }
    if (kind == "creating" && words.size() == 2) return Begin(run, words[1], "", true, line);
    if (kind == "editing" && words.size() == 3) return Begin(run, words[2], words[1], false, line);
    if (kind == "deleting" && words.size() == 3) {
      return Begin(run, words[2], words[1], false, line, /*deletes=*/true);
    }
    if ((kind == "created" || kind == "saved" || kind == "deleted") && words.size() == 3) {
      const auto it = by_name_.find(words[2]);
      if (it == by_name_.end()) return Fail(run, line);
      Attempt& attempt = attempts_[it->second];
      if (attempt.saved || attempt.run != run || attempt.create != (kind == "created") ||
          attempt.deletes != (kind == "deleted") ||
          (!attempt.create && attempt.profile_id != words[1])) {
        return Fail(run, line);
      }
      attempt.profile_id = words[1];
      attempt.saved = true;
      return true;
    }
    return Fail(run, line);
  }

  // Run `run` is over. Its child makes one change at a time, so at most its
  // last attempt may be unsaved, and only if it was killed: that one may or
  // may not have reached the disk (and so the server).
  void EndRun(int run, bool killed) {
    std::vector<size_t> unsaved;
    size_t last = attempts_.size();
    for (size_t i = 0; i < attempts_.size(); ++i) {
      if (attempts_[i].run != run) continue;
      last = i;
      if (!attempts_[i].saved) unsaved.push_back(i);
    }
    if (unsaved.empty()) return;
    EXPECT_TRUE(killed) << "run " << run << " ended by itself with an unsaved change "
                        << attempts_[unsaved[0]].name;
    EXPECT_EQ(unsaved.size(), 1u) << "run " << run << " had several changes unsaved at once";
    EXPECT_EQ(unsaved.back(), last) << "run " << run << ": an unsaved change is not its last";
    may_be_lost_.insert(unsaved.begin(), unsaved.end());
  }

  struct Listed {
    std::string id;
    int64_t version;
    std::string state;
    bool merge_note;
    std::string name;
  };

  const std::vector<Attempt>& attempts() const { return attempts_; }
  // Index into attempts() by name.
  const std::map<std::string, size_t>& by_name() const { return by_name_; }
  // Attempts that were in progress when their child was killed.
  const std::set<size_t>& may_be_lost() const { return may_be_lost_; }
  // The profiles the last --drain (or --wait-drained) run listed.
  const std::vector<Listed>& listed() const { return listed_; }
  void ClearListed() { listed_.clear(); }

 private:
  bool Begin(int run, const std::string& name, const std::string& id, bool create,
             const std::string& line, bool deletes = false) {
    if (!by_name_.emplace(name, attempts_.size()).second) return Fail(run, line);
    attempts_.push_back({name, id, create, deletes, false, run});
    return true;
  }

  bool Fail(int run, const std::string& line) {
    ADD_FAILURE() << "run " << run << ": unexpected line from profiles_edit_burst: " << line;
    return false;
  }

  std::vector<Attempt> attempts_;
  std::map<std::string, size_t> by_name_;
  std::set<size_t> may_be_lost_;
  std::vector<Listed> listed_;
};

// How the server looks to one run.
enum class Network {
  kOnline,        // up the whole run: the kill may land while draining
  kUnreachable,   // an address nobody listens on: the edits queue up
  kServerDown,    // the server was SIGKILLed before the run, restarted after
  kServerKilled,  // SIGKILLed during the run (answers lost), restarted after
};

// When the child is SIGKILLed.
enum class KillAt {
  kNever,       // runs to its end
  kAfterLines,  // right after the parent read its n-th created/saved line
  kAfterDelay,  // a random number of microseconds after it was started
  kWhileDrain,  // a random delay after "edits done" (online, --wait-drained)
};

const char* NetworkName(Network network) {
  switch (network) {
    case Network::kOnline:
      return "online";
    case Network::kUnreachable:
      return "unreachable";
    case Network::kServerDown:
      return "server-down";
    case Network::kServerKilled:
      return "server-killed";
  }
  return "?";
}

const char* KillAtName(KillAt at) {
  switch (at) {
    case KillAt::kNever:
      return "never";
    case KillAt::kAfterLines:
      return "after-lines";
    case KillAt::kAfterDelay:
      return "after-delay";
    case KillAt::kWhileDrain:
      return "while-draining";
  }
  return "?";
}

class ProcessRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Like every end-to-end test: without a database it fails, never skips.
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    StartServer();
    ASSERT_TRUE(data_dir_.isValid());
    // Bound but never listening: connecting is refused at once, like a
    // server that is not there, and nobody else can take the port meanwhile.
    unreachable_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(unreachable_fd_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(bind(unreachable_fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(getsockname(unreachable_fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    unreachable_address_ = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  }

  void TearDown() override {
    if (unreachable_fd_ >= 0) close(unreachable_fd_);
    // The folder the children left is the evidence of a failure: keep it.
    if (HasFailure() && data_dir_.isValid()) {
      data_dir_.setAutoRemove(false);
      std::cout << "the data folder is kept: " << data_dir_.path().toStdString() << std::endl;
    }
  }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(database_->url());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_address_ = server_->grpc_address();
  }

  std::vector<std::string> ChildFlags(const std::string& server, const std::string& label) {
    return {"--data-dir=" + data_dir_.path().toStdString(), "--server=" + server,
            "--run-label=" + label, absl::StrCat("--profiles=", kProfiles),
            absl::StrCat("--timeout-seconds=", absl::ToInt64Seconds(kChildTimeout))};
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;  // null while the server is down
  // The last server's address; refused once it is down.
  std::string server_address_;
  QTemporaryDir data_dir_;
  int unreachable_fd_ = -1;
  std::string unreachable_address_;
};

TEST_F(ProcessRestartTest, EverySavedEditReachesTheServerExactlyOnce) {
  const char* seed_text = std::getenv("PROFILES_RESTART_SEED");
  const uint32_t seed =
      seed_text != nullptr ? static_cast<uint32_t>(std::stoul(seed_text)) : std::random_device()();
  std::cout << "PROFILES_RESTART_SEED=" << seed << std::endl;
  RecordProperty("seed", std::to_string(seed));
  std::mt19937 random(seed);
  auto uniform = [&random](int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(random);
  };

  Ledger ledger;
  // Scales of the random delays, measured on run 0 (a whole online run).
  absl::Duration run_length = absl::Milliseconds(500);
  absl::Duration drain_length = absl::Milliseconds(50);
  int kills = 0;
  int kills_while_sending = 0;
  std::map<std::string, int> plans;

  for (int run = 0; run < kRuns; ++run) {
    SCOPED_TRACE(absl::StrCat("run ", run, ", seed ", seed));
    const std::string label = absl::StrCat("r", run);
    Network network = Network::kOnline;
    KillAt kill_at = KillAt::kNever;
    const int64_t edits = uniform(5, 40);
    if (run > 0) {
      const int64_t n = uniform(0, 99);
      network = n < 50   ? Network::kOnline
                : n < 70 ? Network::kUnreachable
                : n < 85 ? Network::kServerDown
                         : Network::kServerKilled;
      const int64_t k = uniform(0, 99);
      kill_at = k < 10   ? KillAt::kNever
                : k < 45 ? KillAt::kAfterLines
                : k < 80 ? KillAt::kAfterDelay
                         : KillAt::kWhileDrain;
      if (kill_at == KillAt::kWhileDrain && network != Network::kOnline) {
        kill_at = KillAt::kAfterDelay;
      }
    }
    // The n-th created/saved line after which the child dies (0: right
    // after "opened"); the delay after its start, or after "edits done".
    const int64_t kill_after_lines = uniform(0, edits);
    const absl::Duration kill_delay =
        kill_at == KillAt::kWhileDrain
            ? absl::Microseconds(uniform(0, absl::ToInt64Microseconds(drain_length)))
            : absl::Microseconds(uniform(0, absl::ToInt64Microseconds(run_length)));
    // The server dies right after the n-th created/saved line.
    const int64_t server_kill_after_lines = uniform(0, edits / 2);
    // About half the runs delete too: every few changes, a profile.
    const int64_t delete_every = uniform(0, 1) == 0 ? 0 : uniform(3, 9);
    ++plans[absl::StrCat(NetworkName(network), "/", KillAtName(kill_at))];

    if (network == Network::kServerDown && server_ != nullptr) {
      server_->StopWith(SIGKILL);
      server_.reset();
    }
    if (network != Network::kServerDown && server_ == nullptr) StartServer();
    std::vector<std::string> flags = ChildFlags(
        network == Network::kUnreachable ? unreachable_address_ : server_address_, label);
    flags.push_back(absl::StrCat("--edits=", edits));
    flags.push_back(absl::StrCat("--delete-every=", delete_every));
    // Online, the child stays until the queue is drained, so kills land in
    // the middle of sending too, not only in the middle of editing.
    if (network == Network::kOnline) flags.push_back("--wait-drained");

    const absl::Time started = absl::Now();
    absl::StatusOr<std::unique_ptr<BurstProcess>> child = BurstProcess::Start(flags);
    ASSERT_TRUE(child.ok()) << child.status();
    const pid_t pid = (*child)->pid();
    const absl::Time give_up = started + kChildTimeout + absl::Seconds(10);
    std::optional<absl::Time> kill_time;
    if (kill_at == KillAt::kAfterDelay) kill_time = started + kill_delay;
    int acknowledgements = 0;
    bool killed = false;
    std::optional<absl::Time> edits_done;
    for (;;) {
      std::string line;
      const BurstProcess::Read read = (*child)->NextLine(kill_time.value_or(give_up), line);
      if (read == BurstProcess::Read::kEnd) break;
      if (read == BurstProcess::Read::kTimeout) {
        ASSERT_TRUE(kill_time.has_value()) << "profiles_edit_burst hangs";
        (*child)->Kill();
        killed = true;
        break;
      }
      ASSERT_TRUE(ledger.Take(run, line));
      const bool acknowledgement = line.rfind("saved ", 0) == 0 || line.rfind("created ", 0) == 0 ||
                                   line.rfind("deleted ", 0) == 0;
      if (acknowledgement) ++acknowledgements;
      if (network == Network::kServerKilled && server_ != nullptr &&
          (acknowledgement || line == "opened") && acknowledgements >= server_kill_after_lines) {
        server_->StopWith(SIGKILL);
        server_.reset();
      }
      if (kill_at == KillAt::kAfterLines && (acknowledgement || line == "opened") &&
          acknowledgements >= kill_after_lines) {
        (*child)->Kill();
        killed = true;
        break;
      }
      if (line == "edits done") {
        edits_done = absl::Now();
        if (kill_at == KillAt::kWhileDrain) kill_time = *edits_done + kill_delay;
      }
    }
    const int status = (*child)->Wait();
    // Whatever it wrote before it died is in the pipe: every line counts,
    // saved lines read after the kill as much as those read before.
    for (std::string line; (*child)->NextLine(give_up, line) == BurstProcess::Read::kLine;) {
      ASSERT_TRUE(ledger.Take(run, line));
    }
    // A kill that came after the child's own end changes nothing.
    killed = killed && WIFSIGNALED(status);
    // One line per run, so a failure can be read against the runs before it.
    std::cout << "run " << run << " (pid " << pid << "): " << NetworkName(network) << ", kill "
              << KillAtName(kill_at) << ", " << edits << " edits, " << acknowledgements
              << " created/saved lines read live; " << DescribeWaitStatus(status) << std::endl;
    if (killed) {
      ++kills;
    } else {
      // Including "cannot open": a folder that a kill left unopenable is an
      // app that will not start after a crash.
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "profiles_edit_burst (" << NetworkName(network) << ", kill " << KillAtName(kill_at)
          << ") ended with " << DescribeWaitStatus(status)
          << " (its stderr is above); the data folder's lock files: "
          << DescribeLockFiles(data_dir_.path());
    }
    ledger.EndRun(run, killed);
    // Did the kill land while sending? Edits saved but not on the server
    // yet while it was reachable say so (a self-check of the plans).
    if (killed && (network == Network::kOnline || network == Network::kServerKilled)) {
      pqxx::connection connection(database_->url());
      pqxx::read_transaction transaction(connection);
      std::set<std::string> on_server;
      std::set<std::string> tombstones;
      for (const pqxx::row& row :
           transaction.exec("SELECT id::text FROM profiles WHERE deleted_at IS NOT NULL")) {
        tombstones.insert(row[0].as<std::string>());
      }
      // Names of deleted profiles' records are erased (NULL).
      for (const pqxx::row& row : transaction.exec(
               "SELECT result_name FROM applied_mutations WHERE result_name IS NOT NULL")) {
        on_server.insert(row[0].as<std::string>());
      }
      for (const Attempt& attempt : ledger.attempts()) {
        if (attempt.saved && !attempt.deletes && on_server.count(attempt.name) == 0 &&
            tombstones.count(attempt.profile_id) == 0) {
          ++kills_while_sending;
          break;
        }
      }
    }
    if (run == 0) {
      run_length = absl::Now() - started;
      if (edits_done) drain_length = std::max(absl::Now() - *edits_done, absl::Milliseconds(1));
      std::cout << "run 0 took " << run_length << ", draining " << drain_length << std::endl;
    }
    // A server killed during or before the run comes back for the next one.
    if (network == Network::kServerKilled && server_ != nullptr) {
      server_->StopWith(SIGKILL);
      server_.reset();
    }
    if (server_ == nullptr && network != Network::kServerDown) StartServer();
  }
  std::cout << kills << " of " << kRuns << " runs killed, " << kills_while_sending
            << " with saved edits not yet sent; plans:";
  for (const auto& [plan, count] : plans) std::cout << " " << plan << "=" << count;
  std::cout << std::endl;
  // The plans make about 35 kills of 50 (28 seen); a test that kills little
  // proves little, but a bound near the mean would fail by chance.
  EXPECT_GE(kills, kRuns / 3);
  EXPECT_GE(kills_while_sending, 1);

  // One more run drains what the killed ones left queued.
  if (server_ == nullptr) StartServer();
  ledger.ClearListed();
  {
    std::vector<std::string> flags = ChildFlags(server_address_, "drain");
    flags.push_back("--drain");
    absl::StatusOr<std::unique_ptr<BurstProcess>> child = BurstProcess::Start(flags);
    ASSERT_TRUE(child.ok()) << child.status();
    bool drained = false;
    for (std::string line; (*child)->NextLine(absl::Now() + kChildTimeout + absl::Seconds(10),
                                              line) == BurstProcess::Read::kLine;) {
      ASSERT_TRUE(ledger.Take(kRuns, line));
      drained |= line == "drained";
    }
    const int status = (*child)->Wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0 && drained)
        << "the drain run ended with " << DescribeWaitStatus(status);
  }

  // What the server holds.
  struct Applied {
    std::string profile_id;
    int64_t version;
    std::string name;  // empty once erased by the profile's delete
    bool deletes;
  };
  struct ServerRow {
    int64_t version;
    std::string name;
    bool deleted;  // a tombstone
  };
  std::map<std::string, ServerRow> server_profiles;
  std::vector<Applied> applied;  // by profile, then version
  {
    pqxx::connection connection(database_->url());
    pqxx::read_transaction transaction(connection);
    for (const pqxx::row& row :
         transaction.exec("SELECT id::text, version, coalesce(name, ''), deleted_at IS NOT NULL "
                          "FROM profiles")) {
      server_profiles[row[0].as<std::string>()] = {row[1].as<int64_t>(), row[2].as<std::string>(),
                                                   row[3].as<bool>()};
    }
    for (const pqxx::row& row : transaction.exec(
             "SELECT profile_id::text, result_version, coalesce(result_name, ''), result_deleted "
             "FROM applied_mutations ORDER BY profile_id, result_version")) {
      applied.push_back({row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<std::string>(),
                         row[3].as<bool>()});
    }
  }
  const std::vector<Attempt>& attempts = ledger.attempts();
  int saved = 0;
  int deletes_saved = 0;
  for (const Attempt& attempt : attempts) {
    saved += attempt.saved ? 1 : 0;
    deletes_saved += attempt.saved && attempt.deletes ? 1 : 0;
  }
  std::cout << attempts.size() << " changes begun, " << saved << " reported saved ("
            << deletes_saved << " deletes), " << ledger.may_be_lost().size()
            << " in progress at a kill; " << applied.size() << " applied on the server"
            << std::endl;

  // Each applied write with a name is one change the children began,
  // applied once: the names are unique per change, so a name twice is a
  // change applied twice. (Records of deleted profiles have no name left.)
  std::map<std::string, const Applied*> applied_by_name;
  for (const Applied& write : applied) {
    if (write.name.empty()) {
      EXPECT_TRUE(server_profiles.count(write.profile_id) != 0 &&
                  server_profiles.at(write.profile_id).deleted)
          << "a record without a name, of a profile that is not deleted: " << write.profile_id;
      continue;
    }
    EXPECT_TRUE(applied_by_name.emplace(write.name, &write).second)
        << "change " << write.name << " was applied more than once";
    EXPECT_EQ(ledger.by_name().count(write.name), 1u)
        << "the server applied " << write.name << ", which no run began";
  }

  // Per profile: the changes reported saved, and those in progress at a
  // kill, by profile.
  std::map<std::string, int> saved_of, lost_of;
  // Creates in progress at a kill before their id was told: any profile's.
  int lost_without_id = 0;
  for (size_t i = 0; i < attempts.size(); ++i) {
    if (attempts[i].profile_id.empty()) {
      lost_without_id += ledger.may_be_lost().count(i) != 0 ? 1 : 0;
      continue;
    }
    if (attempts[i].saved) ++saved_of[attempts[i].profile_id];
    if (ledger.may_be_lost().count(i) != 0) ++lost_of[attempts[i].profile_id];
  }

  // Every change reported saved reached the server (exactly once, above);
  // the only changes allowed to be missing are those in progress at a kill.
  // A deleted profile's are counted below instead (their names are erased).
  for (size_t i = 0; i < attempts.size(); ++i) {
    const Attempt& attempt = attempts[i];
    const auto server = server_profiles.find(attempt.profile_id);
    if (attempt.deletes) {
      if (attempt.saved) {
        ASSERT_TRUE(server != server_profiles.end()) << attempt.name;
        EXPECT_TRUE(server->second.deleted)
            << "delete " << attempt.name << " of profile " << attempt.profile_id
            << " was reported saved, but the profile is not deleted on the server";
      }
      continue;
    }
    if (server != server_profiles.end() && server->second.deleted) continue;
    const auto found = applied_by_name.find(attempt.name);
    if (attempt.saved) {
      ASSERT_TRUE(found != applied_by_name.end())
          << (attempt.create ? "create " : "edit ") << attempt.name << " of profile "
          << attempt.profile_id << " was reported saved but never reached the server";
      EXPECT_EQ(found->second->profile_id, attempt.profile_id) << attempt.name;
    } else if (found == applied_by_name.end()) {
      EXPECT_EQ(ledger.may_be_lost().count(i), 1u)
          << attempt.name << " is missing on the server but was not in progress at a kill";
    }
  }

  // Per profile: versions 1..V each come from exactly one recorded change
  // (so V == 1 + the number of applied edits, and nothing was written
  // without an idempotency record), version 1 by its create, and the
  // changes were applied in the order they were made.
  std::map<std::string, std::vector<const Applied*>> applied_by_profile;
  for (const Applied& write : applied) applied_by_profile[write.profile_id].push_back(&write);
  size_t live = 0;
  for (const auto& [id, row] : server_profiles) live += row.deleted ? 0 : 1;
  EXPECT_LE(live, static_cast<size_t>(kProfiles));
  EXPECT_EQ(applied_by_profile.size(), server_profiles.size());
  for (const auto& [id, row] : server_profiles) {
    SCOPED_TRACE("profile " + id);
    const std::vector<const Applied*>& writes = applied_by_profile[id];
    ASSERT_EQ(writes.size(), static_cast<size_t>(row.version))
        << "the final version is not the number of applied changes";
    for (size_t v = 0; v < writes.size(); ++v) {
      EXPECT_EQ(writes[v]->version, static_cast<int64_t>(v + 1));
      // Only the last change of a deleted profile is its delete: nothing
      // was written to it after (no resurrection), nor deleted twice.
      EXPECT_EQ(writes[v]->deletes, row.deleted && v + 1 == writes.size()) << "version " << v + 1;
    }
    if (row.deleted) {
      // Every change of it reported saved was applied, and at most those
      // in progress at a kill besides.
      EXPECT_GE(static_cast<int>(writes.size()), saved_of[id]);
      EXPECT_LE(static_cast<int>(writes.size()), saved_of[id] + lost_of[id] + lost_without_id);
      continue;
    }
    std::optional<size_t> previous;
    for (size_t v = 0; v < writes.size(); ++v) {
      const auto attempt = ledger.by_name().find(writes[v]->name);
      if (attempt == ledger.by_name().end()) continue;  // reported above
      EXPECT_EQ(attempts[attempt->second].create, v == 0) << writes[v]->name;
      if (!attempts[attempt->second].create) {
        EXPECT_EQ(attempts[attempt->second].profile_id, id) << writes[v]->name;
      }
      if (previous) {
        EXPECT_GT(attempt->second, *previous)
            << writes[v]->name << " was applied after a later change";
      }
      previous = attempt->second;
    }
    EXPECT_EQ(writes.back()->name, row.name);
    // The final name is the last edit made of this profile, except that
    // edits after it may have been lost, each in progress at a kill (and a
    // delete in progress at a kill that was lost).
    for (size_t i = attempts.size(); i-- > 0;) {
      if (attempts[i].create || attempts[i].profile_id != id) continue;
      if (applied_by_name.count(attempts[i].name) != 0) {
        EXPECT_EQ(attempts[i].name, row.name) << "the final name is not the last applied edit";
        break;
      }
      EXPECT_EQ(ledger.may_be_lost().count(i), 1u) << attempts[i].name;
    }
  }

  // The drained client shows exactly the live profiles the server holds, all
  // synced, and none that was deleted.
  EXPECT_EQ(ledger.listed().size(), live);
  int merge_notes = 0;
  for (const Ledger::Listed& listed : ledger.listed()) {
    merge_notes += listed.merge_note ? 1 : 0;
    const auto found = server_profiles.find(listed.id);
    ASSERT_TRUE(found != server_profiles.end()) << "the client shows " << listed.id;
    EXPECT_FALSE(found->second.deleted) << "the client shows deleted profile " << listed.id;
    EXPECT_EQ(listed.version, found->second.version) << listed.id;
    EXPECT_EQ(listed.name, found->second.name) << listed.id;
    EXPECT_EQ(listed.state, "synced") << listed.id;
  }
  // Nobody else writes, so a note "merged with a change made elsewhere" is
  // about this device's own edits; told, not asserted (no data is wrong).
  std::cout << merge_notes << " of " << ledger.listed().size()
            << " profiles show a merge note after the drain" << std::endl;
}

}  // namespace
}  // namespace profiles::client
