// The atomic replace and the whole-file read behind every checkpoint write and read.
//
// POSIX only (open/fsync/rename): the rename over the target is what makes the replacement
// atomic; the fsync of the file before it and of the folder after it make it durable
// before we return. The same recipe as libmidi's save(), kept separate so that libnn does
// not depend on libmidi.
#include "libnn/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>

namespace nn::io {
namespace {

[[noreturn]] void fail(int error, const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(error, std::generic_category(), what + " '" + path.string() + "'");
}

// "<name>.tmp-<pid>-<counter>-<clock>": unique per process and call; O_EXCL catches the rest.
std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  const auto clock = std::chrono::steady_clock::now().time_since_epoch().count();
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
          std::to_string(static_cast<unsigned long long>(clock) & 0xFFFFFF);
  return temp;
}

// Owns the temporary file until it has been renamed: any exit before that (an error, an
// exception) closes and removes it.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::filesystem::path& target) {
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      path_ = temporary_path_for(target);
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) fail(errno, "cannot create a temporary file next to", target);
    }
    if (fd_ < 0) fail(EEXIST, "cannot find a free temporary file name next to", target);
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }

  int fd() const { return fd_; }
  // Returns close()'s result; errno tells why it failed.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }
  int rename_onto(const std::filesystem::path& target) {
    const int result = ::rename(path_.c_str(), target.c_str());
    renamed_ = result == 0;
    return result;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool renamed_ = false;
};

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  if (path.empty() || !path.has_filename())
    throw std::system_error(EINVAL, std::generic_category(), "cannot write to '" + path.string() + "'");
  std::filesystem::path folder = path.parent_path();
  if (folder.empty()) folder = ".";

  TemporaryFile temp(path);

  // Keep the permissions of the file being replaced (the new one would otherwise get
  // 0666 & ~umask).
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode) &&
      ::fchmod(temp.fd(), existing.st_mode & 07777) != 0)
    fail(errno, "cannot set the permissions of the temporary file for", path);

  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(temp.fd(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "cannot write", path);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(temp.fd()) != 0) fail(errno, "cannot flush", path);
  if (temp.close() != 0) fail(errno, "cannot close the temporary file for", path);
  if (temp.rename_onto(path) != 0) fail(errno, "cannot rename the temporary file onto", path);

  // Make the rename itself durable. Some file systems cannot fsync a folder (EINVAL); the
  // data is already safe there, so only real I/O errors count.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const int synced = ::fsync(dir);
    const int error = errno;
    ::close(dir);
    if (synced != 0 && error != EINVAL && error != ENOTSUP) fail(error, "cannot flush the folder of", path);
  }
}

std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "cannot open", path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat info {};
  if (::fstat(fd, &info) != 0) fail(errno, "cannot stat", path);
  if (!S_ISREG(info.st_mode)) fail(EISDIR, "not a regular file:", path);

  // The size comes from the file system, not from anything the file declares; one byte
  // more is asked for so that a file that grew meanwhile is noticed rather than cut.
  std::vector<std::byte> bytes(static_cast<std::size_t>(info.st_size) + 1);
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "cannot read", path);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != static_cast<std::size_t>(info.st_size)) fail(EIO, "the file changed size while being read:", path);
  bytes.resize(got);
  return bytes;
}

}  // namespace nn::io
