// profiles_edit_burst: the app's core without its UI, for the process restart
// test (process_restart_test.cc), which SIGKILLs it at random moments.
//
// It opens a SyncManager on --data-dir, creates profiles until the store has
// --profiles of them, then makes --edits name edits (every --delete-every-th
// of them a delete of the profile instead), one at a time, and says
// on stdout what it is doing, one line per event, each written with a single
// write(2) so that a line is either wholly in the pipe or not at all when the
// process is killed:
//
//   opened                       the store is open
//   creating <name>              createProfile() is about to be called
//   created <id> <name>          it returned: the create is on disk
//   editing <id> <name>          editProfile() is about to be called
//   saved <id> <name>            a snapshot shows the edit: it is on disk
//   deleting <id> <name>         deleteProfile() is about to be called
//   deleted <id> <name>          a snapshot no longer shows the profile: the
//                                delete is on disk (<name> only names it)
//   edits done
//   profile <id> <version> <state> <merge-note|-> <name>
//                                (--drain and --wait-drained: the snapshot)
//   drained                      nothing pending, and the server reached
//
// "saved" is printed at the moment the app would show the edit as saved (the
// contract of sync_manager.h), so the parent may count exactly those edits
// as acknowledged. Edits are made one at a time so that at most one edit is
// ever in progress and unacknowledged when the process dies.
//
// Names are "<run-label>-c<i>" for creates, "<run-label>-e<k>" for edits and
// "<run-label>-d<k>" for deletes (which write no name):
// unique per edit, so the server's idempotency records (which keep the name
// each write produced) tell which edits were applied and how often.

#include <unistd.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QEventLoop>
#include <QTimer>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/qml-client/sync/sync_manager.h"

namespace profiles::client {
namespace {

using namespace std::chrono_literals;

// Writes `line` and a newline to stdout with one write(2): no stdio buffer
// can hold back a line the parent must see before it kills us.
void Say(const std::string& line) {
  const std::string text = line + "\n";
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone; nothing left to tell
    done += static_cast<size_t>(n);
  }
}

const char* StateName(SyncState state) {
  switch (state) {
    case SyncState::kSynced:
      return "synced";
    case SyncState::kPending:
      return "pending";
    case SyncState::kSyncing:
      return "syncing";
    case SyncState::kRejected:
      return "rejected";
    case SyncState::kConflict:
      return "conflict";
  }
  return "unknown";
}

const ProfileView* Find(const ClientSnapshot& snapshot, const std::string& id) {
  for (const ProfileView& view : snapshot.profiles) {
    if (view.profile->id() == id) return &view;
  }
  return nullptr;
}

// Runs the event loop until `condition` holds for the manager's snapshot
// (woken by snapshotChanged, which is queued to this thread and so cannot be
// missed between the check and exec()), a local operation fails, or
// `deadline` passes. On failure `error` says why.
bool WaitFor(SyncManager& manager, const std::function<bool(const ClientSnapshot&)>& condition,
             const QDeadlineTimer& deadline, std::string& error) {
  QEventLoop loop;
  QTimer timer;
  timer.setSingleShot(true);
  QString failure;
  QObject::connect(&manager, &SyncManager::snapshotChanged, &loop, &QEventLoop::quit);
  QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
  QObject::connect(&manager, &SyncManager::operationFailed, &loop,
                   [&loop, &failure](const QString& message) {
                     failure = message;
                     loop.quit();
                   });
  while (!condition(*manager.snapshot())) {
    if (!failure.isEmpty()) {
      error = "local operation failed: " + failure.toStdString();
      return false;
    }
    if (deadline.hasExpired()) {
      error = "timed out";
      return false;
    }
    timer.start(std::max<qint64>(deadline.remainingTime(), 1));
    loop.exec();
  }
  return true;
}

struct Flags {
  QString data_dir;
  QString server;
  int profiles = 3;
  int edits = 20;
  QString run_label = QStringLiteral("r");
  bool drain = false;
  bool wait_drained = false;
  int timeout_seconds = 60;
  // Every n-th change is a delete (0: none).
  int delete_every = 0;
};

// Nothing is pending (parked edits are not counted) and the last pass
// reached the server and pulled after sending.
bool Drained(const ClientSnapshot& snapshot) {
  return snapshot.pending_count == 0 && snapshot.connection == ConnectionState::kOnline;
}

int WaitDrained(SyncManager& manager, const QDeadlineTimer& deadline) {
  std::string error;
  if (!WaitFor(manager, Drained, deadline, error)) {
    const auto snapshot = manager.snapshot();
    std::fprintf(stderr, "profiles_edit_burst: not drained (%s): %zu pending, last error: %s\n",
                 error.c_str(), snapshot->pending_count, snapshot->last_error.c_str());
    return 1;
  }
  // The parent compares this with the server's rows. The snapshot is held
  // in a variable: a range-for over snapshot()->profiles iterates after the
  // temporary shared_ptr is gone, and once the worker publishes the next
  // snapshot nothing owns the old one (this crashed, seen here).
  const std::shared_ptr<const ClientSnapshot> snapshot = manager.snapshot();
  for (const ProfileView& view : snapshot->profiles) {
    Say("profile " + view.profile->id() + " " + std::to_string(view.profile->version()) + " " +
        StateName(view.state) + " " + (view.merged_with ? "merge-note" : "-") + " " +
        view.profile->name());
  }
  Say("drained");
  return 0;
}

int Burst(SyncManager& manager, const Flags& flags, const QDeadlineTimer& deadline) {
  const std::string label = flags.run_label.toStdString();
  // The profiles this store already holds, from earlier runs (even ones
  // whose "created" line the parent never read), in a stable order.
  std::vector<std::string> ids;
  const std::shared_ptr<const ClientSnapshot> opened = manager.snapshot();
  for (const ProfileView& view : opened->profiles) ids.push_back(view.profile->id());
  std::sort(ids.begin(), ids.end());

  for (int i = static_cast<int>(ids.size()); i < flags.profiles; ++i) {
    const std::string name = label + "-c" + std::to_string(i);
    Say("creating " + name);
    // Returns after the durable append; the id is the durable point.
    const QString id = manager.createProfile(
        QString::fromStdString(name), QStringLiteral("p%1@example.com").arg(i), QByteArray());
    if (id.isEmpty()) {
      std::fprintf(stderr, "profiles_edit_burst: cannot create a profile\n");
      return 1;
    }
    ids.push_back(id.toStdString());
    Say("created " + id.toStdString() + " " + name);
  }
  const QStringList name_mask = {QStringLiteral("name")};
  for (int k = 0; k < flags.edits && !ids.empty(); ++k) {
    const size_t which = static_cast<size_t>(k) % ids.size();
    const std::string id = ids[which];
    if (flags.delete_every > 0 && (k + 1) % flags.delete_every == 0) {
      const std::string name = label + "-d" + std::to_string(k);
      Say("deleting " + id + " " + name);
      manager.deleteProfile(QString::fromStdString(id));
      // As for an edit: on disk once a published snapshot no longer shows
      // the profile.
      std::string error;
      if (!WaitFor(
              manager,
              [&](const ClientSnapshot& snapshot) { return Find(snapshot, id) == nullptr; },
              deadline, error)) {
        std::fprintf(stderr, "profiles_edit_burst: delete of %s not saved: %s\n", id.c_str(),
                     error.c_str());
        return 1;
      }
      Say("deleted " + id + " " + name);
      ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(which));
      continue;
    }
    const std::string name = label + "-e" + std::to_string(k);
    Say("editing " + id + " " + name);
    manager.editProfile(QString::fromStdString(id), QString::fromStdString(name), QString(),
                        QByteArray(), name_mask);
    // editProfile() returns before the append; the edit is on disk once a
    // published snapshot shows it (the worker appends, then publishes). The
    // name is unique to this edit, so nothing else can make it appear.
    std::string error;
    if (!WaitFor(
            manager,
            [&](const ClientSnapshot& snapshot) {
              const ProfileView* view = Find(snapshot, id);
              return view != nullptr && view->profile->name() == name;
            },
            deadline, error)) {
      std::fprintf(stderr, "profiles_edit_burst: edit %s of %s not saved: %s\n", name.c_str(),
                   id.c_str(), error.c_str());
      return 1;
    }
    Say("saved " + id + " " + name);
  }
  Say("edits done");
  return flags.wait_drained ? WaitDrained(manager, deadline) : 0;
}

bool ParseFlags(const QCoreApplication& app, Flags& flags) {
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral(
      "Makes a burst of profile edits through SyncManager on a data folder and reports each "
      "one on stdout once it is saved locally; or (--drain) waits until every saved edit "
      "reached the server. For the process restart test, which kills it at random moments."));
  parser.addHelpOption();
  const QCommandLineOption data_dir(QStringLiteral("data-dir"),
                                    QStringLiteral("Folder of the local store (required)."),
                                    QStringLiteral("DIR"));
  const QCommandLineOption server(QStringLiteral("server"),
                                  QStringLiteral("host:port of the profile service (required)."),
                                  QStringLiteral("ADDRESS"));
  const QCommandLineOption profiles(
      QStringLiteral("profiles"),
      QStringLiteral("Create profiles until the store holds this many (default 3)."),
      QStringLiteral("N"), QStringLiteral("3"));
  const QCommandLineOption edits(QStringLiteral("edits"),
                                 QStringLiteral("Name edits to make, round-robin over the "
                                                "store's profiles (default 20)."),
                                 QStringLiteral("N"), QStringLiteral("20"));
  const QCommandLineOption run_label(
      QStringLiteral("run-label"),
      QStringLiteral("Prefix of the names this run writes; must differ between runs."),
      QStringLiteral("LABEL"), QStringLiteral("r"));
  const QCommandLineOption drain(
      QStringLiteral("drain"),
      QStringLiteral("Make no edits: wait until nothing is pending and the server was "
                     "reached, list the profiles, print \"drained\" and exit 0."));
  const QCommandLineOption wait_drained(
      QStringLiteral("wait-drained"),
      QStringLiteral("After the edits, wait as --drain does before exiting."));
  const QCommandLineOption delete_every(
      QStringLiteral("delete-every"),
      QStringLiteral("Make every N-th change a delete of the profile (default 0: none)."),
      QStringLiteral("N"), QStringLiteral("0"));
  const QCommandLineOption timeout(QStringLiteral("timeout-seconds"),
                                   QStringLiteral("Give up (exit 1) after this long (default 60)."),
                                   QStringLiteral("S"), QStringLiteral("60"));
  parser.addOptions(
      {data_dir, server, profiles, edits, run_label, drain, wait_drained, timeout, delete_every});
  parser.process(app);  // exits on --help and on unknown flags

  flags.data_dir = parser.value(data_dir);
  flags.server = parser.value(server);
  flags.run_label = parser.value(run_label);
  flags.drain = parser.isSet(drain);
  flags.wait_drained = parser.isSet(wait_drained);
  bool ok_profiles = false, ok_edits = false, ok_timeout = false, ok_delete_every = false;
  flags.delete_every = parser.value(delete_every).toInt(&ok_delete_every);
  flags.profiles = parser.value(profiles).toInt(&ok_profiles);
  flags.edits = parser.value(edits).toInt(&ok_edits);
  flags.timeout_seconds = parser.value(timeout).toInt(&ok_timeout);
  if (flags.data_dir.isEmpty() || flags.server.isEmpty() || !ok_profiles || flags.profiles < 0 ||
      !ok_edits || flags.edits < 0 || !ok_timeout || flags.timeout_seconds <= 0 ||
      !ok_delete_every || flags.delete_every < 0 || flags.run_label.isEmpty() ||
      flags.run_label.contains(QLatin1Char(' '))) {
    std::fprintf(stderr,
                 "profiles_edit_burst: --data-dir and --server are required; --profiles, "
                 "--edits >= 0, --timeout-seconds > 0, --run-label without spaces (--help)\n");
    return false;
  }
  return true;
}

int Main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  Flags flags;
  if (!ParseFlags(app, flags)) return 2;
  const QDeadlineTimer deadline(std::chrono::seconds(flags.timeout_seconds));

  SyncManager::Options options;
  options.data_dir = flags.data_dir;
  options.server_address = flags.server;
  // Short delays, as in the sync tests: a restarted server is found quickly.
  options.backoff = {.initial = 20ms, .max = 250ms};
  options.poll_interval = 500ms;
  options.call_timeout = 5s;
  options.connect_timeout = 1s;
  absl::StatusOr<std::unique_ptr<SyncManager>> manager = SyncManager::Open(std::move(options));
  if (!manager.ok()) {
    std::fprintf(stderr, "profiles_edit_burst: cannot open %s: %s\n", qPrintable(flags.data_dir),
                 manager.status().ToString().c_str());
    return 1;
  }
  Say("opened");
  return flags.drain ? WaitDrained(**manager, deadline) : Burst(**manager, flags, deadline);
}

}  // namespace
}  // namespace profiles::client

int main(int argc, char** argv) { return profiles::client::Main(argc, argv); }
