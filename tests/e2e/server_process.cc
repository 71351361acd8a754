#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace profiles::testing {
namespace {

// The value of `key` in a log line, JSON ("key":"value") or text
// (key=value), or empty.
std::string LogValue(std::string_view line, std::string_view key) {
  const std::string json_key = std::string("\"").append(key).append("\":\"");
  if (size_t at = line.find(json_key); at != std::string_view::npos) {
    const size_t start = at + json_key.size();
    return std::string(line.substr(start, line.find('"', start) - start));
  }
  const std::string text_key = std::string(" ").append(key).append("=");
  if (size_t at = line.find(text_key); at != std::string_view::npos) {
    const size_t start = at + text_key.size();
    return std::string(line.substr(start, line.find(' ', start) - start));
  }
  return "";
}

// Reads the child's output line by line until both addresses are known (the
// "listening" line) and, if `wait_for_database`, the database is open. The
// output is echoed to our stderr so a failing test shows the server log.
absl::Status ReadAddresses(int fd, absl::Time deadline, bool wait_for_database,
                           std::string& grpc_address, std::string& http_address) {
  std::string pending;
  constexpr std::string_view kDatabaseReady = "database ready";
  bool database_ready = !wait_for_database;
  while (grpc_address.empty() || http_address.empty() || !database_ready) {
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) return absl::DeadlineExceededError("profile_server did not become ready");
    pollfd descriptor{fd, POLLIN, 0};
    if (poll(&descriptor, 1, static_cast<int>(wait_ms)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return absl::InternalError("profile_server exited before it was ready");
    std::cerr.write(buffer, n);
    pending.append(buffer, static_cast<size_t>(n));
    for (size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
      const std::string_view line(pending.data(), end);
      if (std::string address = LogValue(line, "grpc_address"); !address.empty()) {
        grpc_address = std::move(address);
      }
      if (std::string address = LogValue(line, "http_address"); !address.empty()) {
        http_address = std::move(address);
      }
      if (line.find(kDatabaseReady) != std::string::npos) database_ready = true;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& database_url, absl::Duration ready_timeout, bool wait_for_database,
    const std::vector<std::string>& extra_flags) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));

  std::vector<std::string> args = {PROFILE_SERVER_BINARY,
                                   "--database-url=" + database_url,
                                   "--grpc-address=127.0.0.1:0",
                                   "--http-address=127.0.0.1:0",
                                   "--pool-size=8",
                                   "--auth=off",
                                   "--reads-per-second=0",
                                   "--writes-per-second=0"};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // fork and exec rather than posix_spawn, which cannot ask the kernel to
  // kill the server when the test dies: a test that crashes (or is killed by
  // ctest's timeout) must not leave servers holding ports, connections and
  // CPU for the rest of the suite. Between fork and exec the child calls only
  // async-signal-safe functions.
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::InternalError(absl::StrCat("cannot start profile_server: ", std::strerror(error)));
  }
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    if (dup2(pipe_fds[1], STDOUT_FILENO) < 0 || dup2(pipe_fds[1], STDERR_FILENO) < 0) _exit(127);
    execve(argv[0], argv.data(), environ);
    constexpr char kExecFailed[] = "ServerProcess: cannot execute " PROFILE_SERVER_BINARY "\n";
    [[maybe_unused]] const ssize_t written =
        write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
    _exit(127);
  }
  close(pipe_fds[1]);
  std::unique_ptr<ServerProcess> server(new ServerProcess(pid, pipe_fds[0]));
  if (absl::Status ready =
          ReadAddresses(server->output_fd_, absl::Now() + ready_timeout, wait_for_database,
                        server->grpc_address_, server->http_address_);
      !ready.ok()) {
    return ready;
  }
  server->log_copier_ = std::thread([fd = server->output_fd_] {
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) std::cerr.write(buffer, n);
  });
  return server;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) StopWith(SIGKILL);
  if (log_copier_.joinable()) log_copier_.join();
  close(output_fd_);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments arguments;
  // A separate connection per channel, as separate devices or services would have.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(grpc_address_, grpc::InsecureChannelCredentials(), arguments);
}

std::unique_ptr<profile::v1::ProfileService::Stub> ServerProcess::NewStub() const {
  return profile::v1::ProfileService::NewStub(NewChannel());
}

int ServerProcess::StopWith(int signal) {
  int wait_status = 0;
  if (pid_ <= 0) return wait_status;
  kill(pid_, signal);
  while (waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
  return wait_status;
}

}  // namespace profiles::testing
