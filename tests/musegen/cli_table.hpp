// Running the musegen binary as a user does, from a table of cases: each case is a command
// line, the exit code it must end with, a fragment its message must contain, and the files it
// must leave untouched (compared by SHA-256 before and after). A crash (a signal, or an exit
// code other than 0, 1 and 2) fails every case, whatever it expected.
//
//   musegen::test::CliCase c{"generate onto its own weights",
//                            {"generate", "run", "--out", "run/best.safetensors"},
//                            1, "is a file of the run folder", {"run/best.safetensors"}};
//   musegen::test::expect_case(c, dir);   // runs in `dir`; relative paths are relative to it
//
// MUSEGEN_EXE (tests/CMakeLists.txt) is the path of the binary under test.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sha256.hpp"

extern char** environ;

namespace musegen::test {

struct CliResult {
  int exit_code = -1;  // the exit status, or -1 when it ended by a signal
  int signal = 0;      // the signal that ended it, or 0
  bool timed_out = false;
  std::string out, err;
  // What a user reads: standard error, then standard output.
  std::string text() const { return err + out; }
};

inline std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts MUSEGEN_EXE with `args` in `cwd` without waiting for it: standard input from
// /dev/null, standard output and error into the given files (or /dev/null). Environment: this
// process's. Returns the child's pid, or -1 with `error` set when it could not be started.
inline pid_t spawn_musegen(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                           const std::filesystem::path& out_path = "/dev/null",
                           const std::filesystem::path& err_path = "/dev/null", std::string* error = nullptr) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<std::string> argv_storage{MUSEGEN_EXE};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, MUSEGEN_EXE, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    if (error) *error = "posix_spawn failed: " + std::string(std::strerror(rc));
    return -1;
  }
  return pid;
}

// Runs MUSEGEN_EXE with `args` in `cwd` (as spawn_musegen) to the end, with a time limit
// (killed with SIGKILL when it runs over), and collects what it printed.
inline CliResult run_musegen(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                             double timeout_seconds = 120) {
  const std::filesystem::path out_path = cwd / ".cli_table.stdout", err_path = cwd / ".cli_table.stderr";
  CliResult result;
  const pid_t pid = spawn_musegen(args, cwd, out_path, err_path, &result.err);
  if (pid < 0) return result;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = read_all(out_path);
  result.err = read_all(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

// The SHA-256 of a file's bytes, or "absent" / "not a regular file".
inline std::string file_hash(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return "absent";
  if (!std::filesystem::is_regular_file(path, ec)) return "not a regular file";
  return sha256_file(path);
}

struct CliCase {
  std::string what;                     // one line: what a user tried
  std::vector<std::string> args;        // after "musegen"
  int exit_code = 1;                    // 0 success, 1 error, 2 usage error
  std::string message;                  // a fragment of stderr + stdout ("" to skip)
  std::vector<std::string> untouched;   // files (relative to the folder) that must not change
};

// True for an ending a user may see: exit 0, 1 or 2, no signal, in time.
inline bool clean_ending(const CliResult& r) {
  return !r.timed_out && r.signal == 0 && r.exit_code >= 0 && r.exit_code <= 2;
}

inline std::string describe(const CliCase& c) {
  std::string line = c.what + ": musegen";
  for (const std::string& a : c.args) line += " " + a;
  return line;
}

// Runs one case in `dir` and checks everything it states. Returns the result for more checks.
inline CliResult expect_case(const CliCase& c, const std::filesystem::path& dir, double timeout_seconds = 120) {
  std::map<std::string, std::string> before;
  for (const std::string& f : c.untouched) before[f] = file_hash(dir / f);
  const CliResult r = run_musegen(c.args, dir, timeout_seconds);
  const std::string where = describe(c);
  EXPECT_TRUE(clean_ending(r)) << where << "\n  ended with exit code " << r.exit_code << ", signal "
                               << r.signal << (r.timed_out ? " (timed out)" : "") << "\n" << r.text();
  EXPECT_EQ(r.exit_code, c.exit_code) << where << "\n" << r.text();
  if (!c.message.empty()) {
    EXPECT_NE(r.text().find(c.message), std::string::npos)
        << where << "\n  expected the message to contain: " << c.message << "\n  found:\n" << r.text();
  }
  for (const auto& [f, hash] : before) {
    EXPECT_EQ(file_hash(dir / f), hash) << where << "\n  changed " << f;
  }
  return r;
}

}  // namespace musegen::test
