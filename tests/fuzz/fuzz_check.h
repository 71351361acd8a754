#ifndef PROFILES_TESTS_FUZZ_FUZZ_CHECK_H_
#define PROFILES_TESTS_FUZZ_FUZZ_CHECK_H_

// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cc). Test-only.
//
// FUZZ_CHECK(condition) << "what"; aborts with the message when an invariant
// of the code under test does not hold. Unlike assert() it stays on in
// Release builds, where the corpus replay tests run, and libFuzzer reports
// the abort as a crash and keeps the input.

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace profiles::fuzz {

// Collects a failure message and aborts when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    message_ << file << ":" << line << ": FUZZ_CHECK failed: " << condition << ": ";
  }
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;
  [[noreturn]] ~CheckFailure() {
    std::fprintf(stderr, "%s\n", message_.str().c_str());
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    message_ << value;
    return *this;
  }

 private:
  std::ostringstream message_;
};

// Splits `input` at `separator` into at most `max_parts` parts (the last one
// keeps any further separators).
inline std::vector<std::string_view> SplitInput(std::string_view input, char separator,
                                                size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = input.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + 1);
  }
  parts.push_back(input);
  return parts;
}

}  // namespace profiles::fuzz

// `while` rather than `if` so that `FUZZ_CHECK(x) << y;` needs no braces; the
// failure's destructor never returns, so the loop runs at most once.
#define FUZZ_CHECK(condition) \
  while (!(condition)) ::profiles::fuzz::CheckFailure(__FILE__, __LINE__, #condition)

#endif  // PROFILES_TESTS_FUZZ_FUZZ_CHECK_H_
