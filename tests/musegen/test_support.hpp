// What the musegen tests share: where the data is, running a command (the Python oracles)
// with its output captured, and a fresh temporary folder per test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace musegen::test {

// MUSEGEN_DATA_DIR, or "" when it is not set (tests that need data then skip).
inline std::string data_dir() {
  const char* d = std::getenv("MUSEGEN_DATA_DIR");
  return d ? d : "";
}

// Runs a shell command; its standard output goes to `output`. True when it exited with 0.
inline bool run_capture(const std::string& command, std::string& output) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return false;
  std::array<char, 65536> buffer{};
  output.clear();
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) output.append(buffer.data(), n);
  return ::pclose(pipe.release()) == 0;
}

// Whether Debian's /usr/bin/python3 (the oracles' interpreter) can import `module`.
inline bool python_has(const std::string& module) {
  std::string out;
  return run_capture("/usr/bin/python3 -c 'import " + module + "' 2>/dev/null", out);
}

// An empty folder named after the running test (and the process), created anew.
inline std::filesystem::path fresh_temp_dir(const std::string& prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
      (prefix + "_" + (info ? std::string(info->name()) : "") + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace musegen::test
