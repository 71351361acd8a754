#include "tests/e2e/nginx_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace profiles::testing {
namespace {

// nginx's ports come from here up to the start of the kernel's ephemeral
// range (32768): there no client connection of another test takes the port
// as its local one between our check and nginx's bind. run_command_test.sh
// scans upward from 25432, 26051 and 26080.
constexpr int kFirstPort = 27000;
constexpr int kLastPort = 32767;
// Ports taken by another process between our check and nginx's bind.
constexpr int kAttempts = 8;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::Status WriteWhole(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Whether nginx could listen on 127.0.0.1:`port` now (SO_REUSEADDR as
// nginx sets it, so a port in TIME_WAIT counts as free).
bool PortIsFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool free =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && listen(fd, 1) == 0;
  close(fd);
  return free;
}

// A free port in [kFirstPort, kLastPort] other than `taken`; random, so that
// test processes started together (ctest -j) rarely try the same one.
absl::StatusOr<int> PickPort(std::mt19937& random, int taken) {
  std::uniform_int_distribution<int> ports(kFirstPort, kLastPort);
  for (int tries = 0; tries < 1000; ++tries) {
    const int port = ports(random);
    if (port != taken && PortIsFree(port)) return port;
  }
  return absl::UnavailableError("no free port for nginx below the ephemeral range");
}

bool Connects(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return connected;
}

// Runs `argv` and waits for it; for short helpers (setsid -f returns at once).
void RunAndWait(std::vector<std::string> args, bool silent) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (silent) {
    // Holding ctest's output pipe open would make it wait for the watchdog.
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
    }
  }
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  posix_spawn_file_actions_destroy(&actions);
}

// Starts nginx on `prefix` in a process group of its own (so its workers can
// be killed with it); its stdout and stderr go to prefix/nginx.out.
absl::StatusOr<pid_t> SpawnNginx(const std::string& prefix) {
  std::vector<std::string> args = {NginxProcess::kBinary, "-p", prefix + "/", "-c",
                                   prefix + "/profiles.conf"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int output =
      open((prefix + "/nginx.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (output < 0) return absl::InternalError(std::strerror(errno));

  // fork and exec (not posix_spawn) to ask the kernel to kill nginx's master
  // when the test dies; between fork and exec only async-signal-safe calls.
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(output);
    return absl::InternalError(absl::StrCat("cannot start nginx: ", std::strerror(error)));
  }
  if (pid == 0) {
    if (setpgid(0, 0) != 0) _exit(127);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    const int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0) _exit(127);
    if (dup2(output, STDOUT_FILENO) < 0 || dup2(output, STDERR_FILENO) < 0) _exit(127);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  close(output);
  return pid;
}

enum class Outcome { kReady, kAddressInUse, kFailed };

// Waits until nginx `pid` on `prefix` has bound its ports and started its
// workers, woken by every change to its directory (inotify) rather than by
// a timer. kAddressInUse when another process took a port; kFailed (with
// `error` set) when nginx exited or did not start in time. Reaps `pid` if
// it exited.
Outcome WaitUntilListening(pid_t pid, const std::string& prefix, int grpc_port, int http_port,
                           absl::Time deadline, std::string& error) {
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch >= 0) inotify_add_watch(watch, prefix.c_str(), IN_CREATE | IN_MODIFY);
  Outcome outcome = Outcome::kFailed;
  for (;;) {
    const std::string log = ReadWhole(prefix + "/nginx.out") + ReadWhole(prefix + "/error.log");
    if (absl::StrContains(log, "Address already in use")) {
      outcome = Outcome::kAddressInUse;
      break;
    }
    if (absl::StrContains(log, "start worker process")) {
      if (Connects(grpc_port) && Connects(http_port)) {
        outcome = Outcome::kReady;
      } else {
        error = absl::StrCat("nginx started but does not accept connections:\n", log);
      }
      break;
    }
    int wait_status = 0;
    if (waitpid(pid, &wait_status, WNOHANG) == pid) {
      error =
          absl::StrCat("nginx exited (wait status ", wait_status, ") before it listened:\n", log);
      close(watch);
      return Outcome::kFailed;  // reaped: the caller must not kill it
    }
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) {
      error = absl::StrCat("nginx did not start in time:\n", log);
      break;
    }
    // Woken by the next change in the directory; the bound also notices
    // an exit that wrote nothing.
    pollfd descriptor{watch, POLLIN, 0};
    poll(&descriptor, 1, static_cast<int>(std::min<int64_t>(wait_ms, 200)));
    char events[4096];
    while (watch >= 0 && read(watch, events, sizeof events) > 0) {
    }
  }
  close(watch);
  if (outcome != Outcome::kReady) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  return outcome;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NginxProcess>> NginxProcess::Start(
    const std::vector<Replica>& replicas, absl::Duration ready_timeout) {
  if (access(kBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kBinary, " is missing: install nginx (deploy/setup.sh does)"));
  }
  const std::string config = ReadWhole(PROFILES_NGINX_CONF);
  if (config.empty()) return absl::InternalError("cannot read " PROFILES_NGINX_CONF);
  std::string grpc_upstreams;
  std::string http_upstreams;
  // One failure puts a replica aside for 10 s (passive health check); a
  // test's replicas are either up or killed.
  for (const Replica& replica : replicas) {
    absl::StrAppend(&grpc_upstreams, "server ", replica.grpc_address,
                    " max_fails=1 fail_timeout=10s;\n");
    absl::StrAppend(&http_upstreams, "server ", replica.http_address,
                    " max_fails=1 fail_timeout=10s;\n");
  }

  std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  const absl::Time deadline = absl::Now() + ready_timeout;
  std::string last_error;
  for (int attempt = 0; attempt < kAttempts && absl::Now() < deadline; ++attempt) {
    absl::StatusOr<int> grpc_port = PickPort(random, 0);
    if (!grpc_port.ok()) return grpc_port.status();
    absl::StatusOr<int> http_port = PickPort(random, *grpc_port);
    if (!http_port.ok()) return http_port.status();

    std::string prefix = std::filesystem::temp_directory_path() / "profiles-nginx.XXXXXX";
    if (mkdtemp(prefix.data()) == nullptr) return absl::InternalError(std::strerror(errno));
    // As root nginx's workers run as `nobody`, which must reach its
    // temporary directories inside.
    chmod(prefix.c_str(), 0755);
    std::unique_ptr<NginxProcess> nginx(new NginxProcess());
    nginx->prefix_ = prefix;  // from here on the destructor removes it

    std::error_code copy_error;
    std::filesystem::copy_file(PROFILES_NGINX_CONF, prefix + "/profiles.conf", copy_error);
    if (copy_error) return absl::InternalError(copy_error.message());
    for (const auto& [name, contents] : std::vector<std::pair<std::string, std::string>>{
             {"profiles-listen-grpc.conf",
              absl::StrCat("listen 127.0.0.1:", *grpc_port, " http2;\n")},
             {"profiles-listen-rest.conf", absl::StrCat("listen 127.0.0.1:", *http_port, ";\n")},
             {"profiles-grpc-upstreams.conf", grpc_upstreams},
             {"profiles-rest-upstreams.conf", http_upstreams}}) {
      if (absl::Status written = WriteWhole(prefix + "/" + name, contents); !written.ok()) {
        return written;
      }
    }

    absl::StatusOr<pid_t> pid = SpawnNginx(prefix);
    if (!pid.ok()) return pid.status();
    // The watchdog: once this process is gone, however it ended, kill
    // nginx's process group and remove its directory, unless the
    // destructor did (it removes the directory). bash: dash's kill cannot
    // signal a process group.
    RunAndWait({"/usr/bin/setsid", "-f", "/bin/bash", "-c",
                "tail --pid=\"$1\" -f /dev/null; if [ -d \"$3\" ]; then kill -KILL -- \"-$2\"; "
                "rm -rf \"$3\"; fi",
                "nginx_watchdog", std::to_string(getpid()), std::to_string(*pid), prefix},
               /*silent=*/true);
    const Outcome outcome =
        WaitUntilListening(*pid, prefix, *grpc_port, *http_port, deadline, last_error);
    if (outcome == Outcome::kReady) {
      nginx->pid_ = *pid;
      nginx->grpc_address_ = absl::StrCat("127.0.0.1:", *grpc_port);
      nginx->http_address_ = absl::StrCat("127.0.0.1:", *http_port);
      return nginx;
    }
    if (outcome == Outcome::kFailed) return absl::InternalError(last_error);
    last_error = absl::StrCat("port ", *grpc_port, " or ", *http_port, " taken");
    std::cerr << "NginxProcess: " << last_error << ", trying other ports\n";
  }
  return absl::UnavailableError(absl::StrCat("nginx did not start: ", last_error));
}

NginxProcess::~NginxProcess() {
  Stop();
  if (!prefix_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(prefix_, ignored);
  }
}

void NginxProcess::Stop() {
  if (pid_ <= 0) return;
  // SIGTERM: the master stops its workers (SIGKILL after a second if they
  // linger) and exits. Wait for it without reaping it, so its process group
  // cannot be another's yet, and kill whatever is left in the group.
  kill(pid_, SIGTERM);
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  kill(-pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

std::string NginxProcess::ReadFile(const std::string& name) const {
  return ReadWhole(prefix_ + "/" + name);
}

std::shared_ptr<grpc::Channel> NginxProcess::NewChannel() const {
  grpc::ChannelArguments arguments;
  // A separate connection per channel, as separate devices would have.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(grpc_address_, grpc::InsecureChannelCredentials(), arguments);
}

std::unique_ptr<profile::v1::ProfileService::Stub> NginxProcess::NewStub() const {
  return profile::v1::ProfileService::NewStub(NewChannel());
}

}  // namespace profiles::testing
