// ServerProcess itself: a server started by a test dies with that test, even
// when the test process is killed and runs no destructor.

#include "tests/e2e/server_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

// With its database open the server is idle and silent: nothing it does
// (such as writing a log line into the dead test's pipe) ends it by itself.
TEST(ServerProcessTest, AServerDiesWithTheTestProcessThatStartedIt) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t test_process = fork();
  ASSERT_GE(test_process, 0);
  if (test_process == 0) {
    // The "test process": starts a server, says which, and is killed.
    close(report[0]);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start((*database)->url());
    const pid_t server_pid = server.ok() ? (*server)->pid() : 0;
    if (write(report[1], &server_pid, sizeof server_pid) != sizeof server_pid) _exit(2);
    raise(SIGKILL);
  }
  close(report[1]);
  pid_t server_pid = 0;
  ASSERT_EQ(read(report[0], &server_pid, sizeof server_pid),
            static_cast<ssize_t>(sizeof server_pid));
  close(report[0]);
  ASSERT_GT(server_pid, 0) << "the server did not start";
  // Watch the server before its parent dies, so that its end cannot be missed.
  const int server = static_cast<int>(syscall(SYS_pidfd_open, server_pid, 0));
  ASSERT_GE(server, 0) << "pidfd_open: " << errno;

  int status = 0;
  ASSERT_EQ(waitpid(test_process, &status, 0), test_process);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  pollfd ended = {server, POLLIN, 0};
  EXPECT_EQ(poll(&ended, 1, /*timeout=*/10000), 1)
      << "profile_server " << server_pid << " outlived the test process that started it";
  close(server);
}

}  // namespace
}  // namespace profiles::testing
