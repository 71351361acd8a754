#include "tests/e2e/postgres_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace profiles::testing {
namespace {

// Runs `script` with bash after sourcing deploy/postgres.sh, with `args` as
// $1, $2, ...; returns its exit code (-1 if it could not run). Its output
// goes to our stderr, so a failing test shows postgres.sh's messages.
// `detach`: run it in a session of its own, in the background, silently.
int RunWithPostgresLibrary(const std::string& script, const std::vector<std::string>& args,
                           bool detach = false) {
  std::vector<std::string> argv_strings = {
      "/bin/bash", "-c",
      absl::StrCat(". '", PROFILES_SOURCE_DIR, "/deploy/postgres.sh' && ", script),
      "postgres_cluster"};
  if (detach) argv_strings.insert(argv_strings.begin(), {"/usr/bin/setsid", "-f"});
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (detach) {
    // Holding ctest's output pipe open would make it wait for the watchdog.
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
    }
  } else {
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  }
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    std::cerr << "postgres_cluster: cannot run bash: " << std::strerror(spawned) << "\n";
    return -1;
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

// A port nothing listens on now, chosen by the kernel.
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::InternalError(std::strerror(error));
  }
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Create(
    std::string server_options) {
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  // In the system temp dir: as root, postgres.sh hands the directory to the
  // `postgres` user, which must be able to reach it.
  std::string directory = "/tmp/profiles-pg-test.XXXXXX";
  if (mkdtemp(directory.data()) == nullptr) return absl::InternalError(std::strerror(errno));
  // The watchdog: once this process is gone, however it ended, stop the
  // cluster (if it ever started) and remove the directory.
  RunWithPostgresLibrary(
      "tail --pid=\"$1\" -f /dev/null; pg_cluster_stop \"$2\" >/dev/null 2>&1; rm -rf \"$2\"",
      {std::to_string(getpid()), directory}, /*detach=*/true);
  return std::unique_ptr<PostgresCluster>(
      new PostgresCluster(std::move(directory), *port, std::move(server_options)));
}

PostgresCluster::~PostgresCluster() {
  RunWithPostgresLibrary("pg_cluster_stop \"$1\" 2>/dev/null; rm -rf \"$1\"", {directory_});
}

absl::Status PostgresCluster::Start() {
  const int rc = RunWithPostgresLibrary(
      "pg_cluster_start \"$1\" \"$2\" \"-c fsync=off -c synchronous_commit=off "
      "-c full_page_writes=off $3\"",
      {directory_, std::to_string(port_), server_options_});
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("pg_cluster_start ", directory_, " ", port_, " failed (", rc, ")"));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::Stop() {
  const int rc = RunWithPostgresLibrary("pg_cluster_stop \"$1\"", {directory_});
  if (rc != 0) return absl::InternalError(absl::StrCat("pg_cluster_stop failed (", rc, ")"));
  return absl::OkStatus();
}

std::string PostgresCluster::url() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/postgres");
}

}  // namespace profiles::testing
