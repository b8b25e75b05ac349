#include "wav.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

#include "libmidi/io.hpp"

namespace musegen {

namespace {

void put_u16(std::vector<std::byte>& out, std::uint32_t v) {
  out.push_back(static_cast<std::byte>(v & 0xFF));
  out.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
}
void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  put_u16(out, v & 0xFFFF);
  put_u16(out, v >> 16);
}
void put_tag(std::vector<std::byte>& out, const char (&tag)[5]) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(tag[i]));
}

constexpr std::uint32_t kChannels = 2, kBytesPerSample = 2;

// The data size of `frames` stereo 16-bit frames, checked against RIFF's 32-bit sizes.
std::uint32_t data_bytes_of(std::int64_t frames, int sample_rate) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(frames, 0)) * kChannels * kBytesPerSample;
  if (bytes > std::numeric_limits<std::uint32_t>::max() - 36)
    throw std::length_error("the audio (" + std::to_string(static_cast<double>(frames) / sample_rate) +
                            " s) is too long for a WAV file (4 GiB at most: " +
                            std::to_string((std::numeric_limits<std::uint32_t>::max() - 36) /
                                           (kChannels * kBytesPerSample) / sample_rate) +
                            " s at " + std::to_string(sample_rate) + " Hz)");
  return static_cast<std::uint32_t>(bytes);
}

// The 44-byte canonical header.
void put_header(std::vector<std::byte>& out, std::uint32_t data_bytes, int sample_rate) {
  const auto rate = static_cast<std::uint32_t>(sample_rate);
  put_tag(out, "RIFF");
  put_u32(out, static_cast<std::uint32_t>(36 + data_bytes));
  put_tag(out, "WAVE");
  put_tag(out, "fmt ");
  put_u32(out, 16);                                          // fmt chunk size
  put_u16(out, 1);                                           // PCM
  put_u16(out, kChannels);
  put_u32(out, rate);
  put_u32(out, rate * kChannels * kBytesPerSample);          // byte rate
  put_u16(out, kChannels * kBytesPerSample);                 // block align
  put_u16(out, 16);                                          // bits per sample
  put_tag(out, "data");
  put_u32(out, data_bytes);
}

// A sample as 16-bit PCM: scaled by 32767, clamped, rounded to nearest.
std::uint16_t pcm16(float s) {
  const float scaled = std::clamp(s * 32767.0f, -32768.0f, 32767.0f);
  return static_cast<std::uint16_t>(static_cast<std::int16_t>(std::lrint(scaled)));
}

[[noreturn]] void fail(int error, const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(error, std::generic_category(), what + " " + path.string());
}

}  // namespace

std::vector<std::byte> encode_wav(const Audio& audio) {
  const std::uint32_t data_bytes = data_bytes_of(audio.frames(), audio.sample_rate);
  std::vector<std::byte> out;
  out.reserve(44 + static_cast<std::size_t>(data_bytes));
  put_header(out, data_bytes, audio.sample_rate);
  for (float s : audio.samples) put_u16(out, pcm16(s));
  return out;
}

void write_wav(const std::filesystem::path& path, const Audio& audio) {
  const std::vector<std::byte> bytes = encode_wav(audio);
  midi::write_file_atomically(
      path, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

WavWriter::WavWriter(const std::filesystem::path& path, int sample_rate, std::int64_t frames)
    : path_(path), frames_(frames) {
  const std::uint32_t data_bytes = data_bytes_of(frames, sample_rate);
  if (path.empty() || !path.has_filename()) fail(EINVAL, "cannot write to", path);
  // The naming of libmidi's write_file_atomically: "<name>.tmp-<pid>-<counter>-<clock>".
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    temp_ = path;
    temp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(static_cast<unsigned long long>(
                                std::chrono::steady_clock::now().time_since_epoch().count()) & 0xFFFFFF);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) fail(errno, "cannot create a temporary file next to", path);
  }
  if (fd_ < 0) fail(EEXIST, "cannot find a free temporary file name next to", path);
  std::vector<std::byte> header;
  put_header(header, data_bytes, sample_rate);
  for (std::byte b : header) buffer_.push_back(static_cast<std::uint8_t>(b));
}

WavWriter::~WavWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

void WavWriter::flush_buffer() {
  const std::uint8_t* p = buffer_.data();
  std::size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "cannot write", temp_);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

void WavWriter::write(std::span<const float> interleaved) {
  if (fd_ < 0) throw std::logic_error("WavWriter::write after commit");
  if (interleaved.size() % kChannels != 0) throw std::logic_error("WavWriter::write: half a stereo frame");
  const auto frames = static_cast<std::int64_t>(interleaved.size() / kChannels);
  if (written_ + frames > frames_)
    throw std::logic_error("WavWriter: more than the " + std::to_string(frames_) + " frames announced");
  for (float s : interleaved) {
    const std::uint16_t v = pcm16(s);
    buffer_.push_back(static_cast<std::uint8_t>(v & 0xFF));
    buffer_.push_back(static_cast<std::uint8_t>(v >> 8));
  }
  written_ += frames;
  if (buffer_.size() >= (1u << 20)) flush_buffer();
}

void WavWriter::commit() {
  if (fd_ < 0) throw std::logic_error("WavWriter::commit twice");
  if (written_ != frames_)
    throw std::logic_error("WavWriter: " + std::to_string(written_) + " frames written, " +
                           std::to_string(frames_) + " announced");
  flush_buffer();
  // Keep the permissions of a file being replaced, as write_file_atomically does.
  struct stat existing {};
  if (::stat(path_.c_str(), &existing) == 0 && ::fchmod(fd_, existing.st_mode & 07777) != 0)
    fail(errno, "cannot set permissions of the temporary file for", path_);
  if (::fsync(fd_) != 0) fail(errno, "cannot flush", temp_);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) {
    ::unlink(temp_.c_str());
    fail(errno, "cannot close", temp_);
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp_.c_str());
    fail(error, "cannot rename the temporary file onto", path_);
  }
}

}  // namespace musegen
