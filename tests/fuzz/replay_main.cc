// A main() for the fuzz targets in builds without libFuzzer (GCC, the
// sanitizer build): runs LLVMFuzzerTestOneInput once over every file named
// on the command line or found (not recursively) in a directory named there,
// in name order. It finds no new inputs; it checks that every input kept in
// a corpus, the crashes found by fuzzing among them, still passes. A failing
// input aborts inside the target (a CHECK or a sanitizer report); the file
// being run is printed first so the report names it.
//
//   ./rest_request_fuzz_replay tests/fuzz/corpus/rest_request
//
// Exit code: 0 when every input ran, 1 when a path could not be read or
// nothing was found to run (a corpus that went missing must not pass).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool ReadFile(const std::filesystem::path& path, std::string* bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  bytes->assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  return !file.bad();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      std::vector<std::filesystem::path> found;
      for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
        if (entry.is_regular_file()) found.push_back(entry.path());
      }
      if (error) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], error.message().c_str());
        return 1;
      }
      // Name order, so that a run is reproducible.
      std::sort(found.begin(), found.end());
      inputs.insert(inputs.end(), found.begin(), found.end());
    } else {
      inputs.push_back(path);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (usage: %s DIR_OR_FILE...)\n", argv[0]);
    return 1;
  }
  std::string bytes;
  for (const std::filesystem::path& input : inputs) {
    if (!ReadFile(input, &bytes)) {
      std::fprintf(stderr, "replay: cannot read %s\n", input.c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", input.c_str(), bytes.size());
    // A copy of exactly the input's size, so that a read past its end is
    // caught by AddressSanitizer as it is under libFuzzer.
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(copy.data(), copy.size());
  }
  std::fprintf(stderr, "replay: %zu input(s) passed\n", inputs.size());
  return 0;
}
