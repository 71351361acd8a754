// A real browser (Debian's Chromium, headless) calls the REST API from a web
// page on another origin, as web code does: the page of an origin given to
// --cors-origins creates a profile (If-None-Match: *), reads it with its
// ETag, edits it with If-Match and sees a stale edit refused with 412 and the
// current profile; the same page served from an origin not listed is stopped
// by the browser's preflight, and nothing is written.
//
// The page is tests/e2e/browser/cors_page.html, served by this test on two
// loopback ports (two origins). Chromium prints the page's DOM once its
// script has run (--dump-dom with a virtual time budget).

#include <httplib.h>
#include <stdio.h>

#include <array>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

// Serves the test page on a port of its own (an origin of its own).
class PageServer {
 public:
  explicit PageServer(std::string page) : page_(std::move(page)) {
    server_.Get("/page.html", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(page_, "text/html");
    });
    // Bound and listening on return: a connection made before the accept
    // loop runs waits in the backlog.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~PageServer() {
    server_.stop();
    thread_.join();
  }
  std::string origin() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  const std::string page_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// What the page wrote into <pre id="out"> after its script ran, or why
// Chromium could not be run.
std::string RunPage(const std::string& url) {
  char profile_dir[] = "/tmp/profiles-chromium-XXXXXX";
  if (mkdtemp(profile_dir) == nullptr) return "mkdtemp failed";
  const std::string command =
      absl::StrCat("chromium --headless --no-sandbox --disable-gpu --no-first-run ",
                   "--user-data-dir=", profile_dir, " --virtual-time-budget=10000 --dump-dom '",
                   url, "' 2>/dev/null; rm -rf ", profile_dir);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string dom;
  std::array<char, 4096> chunk;
  size_t read = 0;
  while ((read = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) dom.append(chunk.data(), read);
  const int status = pclose(pipe);
  const size_t start = dom.find("<pre id=\"out\">");
  const size_t end = dom.find("</pre>");
  if (start == std::string::npos || end == std::string::npos) {
    return absl::StrCat("no output from chromium (exit status ", status,
                        "; deploy/setup.sh installs it): ", dom.substr(0, 200));
  }
  return dom.substr(start + 14, end - start - 14);
}

TEST(BrowserCorsTest, APageOfAnAllowedOriginEditsWithIfMatchAndSeesA412AnotherIsStopped) {
  std::ifstream file(BROWSER_PAGE);
  ASSERT_TRUE(file) << "cannot read " << BROWSER_PAGE;
  std::stringstream page;
  page << file.rdbuf();
  PageServer allowed(page.str());
  PageServer other(page.str());

  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      (*database)->url(), absl::Seconds(30), true, {"--cors-origins=" + allowed.origin()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string api = "http://" + (*server)->http_address();

  const std::string id = RandomUuid();
  EXPECT_EQ(RunPage(absl::StrCat(allowed.origin(), "/page.html?api=", api, "&id=", id)),
            "create 201 etag=\"1\"\n"
            "get 200 etag=\"1\" name=Ann\n"
            "patch 200 etag=\"2\"\n"
            "stale patch 412 etag=\"2\" current=Ann B.");

  const std::string stopped = RandomUuid();
  EXPECT_EQ(RunPage(absl::StrCat(other.origin(), "/page.html?api=", api, "&id=", stopped)),
            "blocked: TypeError: Failed to fetch");
  const size_t colon = (*server)->http_address().rfind(':');
  httplib::Client client((*server)->http_address().substr(0, colon),
                         std::stoi((*server)->http_address().substr(colon + 1)));
  httplib::Result written = client.Get("/user/" + stopped);
  ASSERT_TRUE(written);
  EXPECT_EQ(written->status, 404) << "the page of an origin not allowed wrote nothing";
  httplib::Result edited = client.Get("/user/" + id);
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->get_header_value("ETag"), "\"2\"");
}

}  // namespace
}  // namespace profiles::testing
