#include "run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace musegen {

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "an unknown host";
  return name;
}

std::string holder_description(const std::string& command) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char since[32] = {};
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::ostringstream text;
  text << "command " << command << "\npid " << ::getpid() << "\nhost " << host_name()
       << "\nsince " << since << "\n";
  return text.str();
}

// "musegen train, pid 1234 on studio, since ..." from the lock file, as far as it can be read:
// the holder writes it just after taking the lock, so it may still be empty.
std::string read_holder(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    if (space != std::string::npos) fields[line.substr(0, space)] = line.substr(space + 1);
  }
  if (!fields.contains("pid")) return "another process (which has not written its name yet)";
  const auto field = [&](const char* key, const char* unknown) {
    return fields.contains(key) ? fields[key] : std::string(unknown);
  };
  return field("command", "a process") + ", pid " + fields["pid"] + " on " +
         field("host", "an unknown host") + ", since " + field("since", "an unknown time");
}

// "<digits>-<digits>-<digits>": the suffix after ".tmp-" of an atomic write's temporary file.
bool is_temporary_suffix(const std::string& suffix) {
  int dashes = 0;
  bool digit_before = false;
  for (const char c : suffix) {
    if (c == '-') {
      if (!digit_before) return false;
      ++dashes;
      digit_before = false;
    } else if (c >= '0' && c <= '9') {
      digit_before = true;
    } else {
      return false;
    }
  }
  return dashes == 2 && digit_before;
}

}  // namespace

RunLock::RunLock(const RunDir& run, const std::string& command) {
  const std::filesystem::path file = run.lock();
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot open the lock file " + file.string());
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw std::runtime_error(run.root.string() + " is in use by " + read_holder(file) +
                               " (one `musegen train` at a time per run folder; " + file.string() +
                               " is locked while it runs)");
    }
    throw std::system_error(error, std::generic_category(), "cannot lock " + file.string());
  }
  // The description is for the message above only: failing to write it must not stop a run.
  const std::string text = holder_description(command);
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, text.data(), text.size(), 0);
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

int remove_stale_temporaries(const RunDir& run) {
  const std::string own[] = {RunDir::kState, RunDir::kWeights, RunDir::kBest, RunDir::kMetrics};
  int removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(run.root)) {
    const std::string name = entry.path().filename().string();
    for (const std::string& target : own) {
      const std::string prefix = target + ".tmp-";
      if (name.starts_with(prefix) && is_temporary_suffix(name.substr(prefix.size())) &&
          entry.is_regular_file()) {
        std::filesystem::remove(entry.path());
        ++removed;
        break;
      }
    }
  }
  return removed;
}

}  // namespace musegen
