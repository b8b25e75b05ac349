// Replays inputs through the fuzz target without libFuzzer, so the target is compiled and
// run in every build (gcc included): each argument is a file, or a folder whose regular
// files are replayed in name order. A crash or sanitizer report fails the run, as it would
// under the fuzzer; the target itself decides which exceptions are expected.
//
// usage: fuzz_reader_replay FILE_OR_DIR...
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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> expand(const std::vector<fs::path>& arguments) {
  std::vector<fs::path> files;
  for (const fs::path& argument : arguments) {
    if (!fs::is_directory(argument)) {
      files.push_back(argument);
      continue;
    }
    std::vector<fs::path> in_folder;
    for (const fs::directory_entry& entry : fs::directory_iterator(argument))
      if (entry.is_regular_file()) in_folder.push_back(entry.path());
    std::sort(in_folder.begin(), in_folder.end());
    files.insert(files.end(), in_folder.begin(), in_folder.end());
  }
  return files;
}

bool read_bytes(const fs::path& path, std::vector<std::uint8_t>& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 64;
  }
  const std::vector<fs::path> files = expand(std::vector<fs::path>(argv + 1, argv + argc));
  std::vector<std::uint8_t> bytes;
  for (const fs::path& file : files) {
    if (!read_bytes(file, bytes)) {
      std::fprintf(stderr, "fuzz_reader_replay: cannot read %s\n", file.c_str());
      return 2;
    }
    std::printf("%s (%zu bytes)\n", file.c_str(), bytes.size());
    std::fflush(stdout);  // so the file that crashes is the last one printed
    // A copy of exactly `size` bytes, as libFuzzer gives: ASan sees any read past the end.
    const std::vector<std::uint8_t> input(bytes);
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("fuzz_reader_replay: %zu input(s) replayed, no crash\n", files.size());
  return 0;
}
