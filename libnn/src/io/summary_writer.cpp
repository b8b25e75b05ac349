// TensorBoard event files (summary_writer.hpp). The few protocol-buffer messages needed are
// encoded by hand; the field numbers are those of tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto:
//   Event         { double wall_time = 1; int64 step = 2; string file_version = 3;
//                   Summary summary = 5; SessionLog session_log = 7; }
//   Summary       { repeated Value value = 1; }
//   Summary.Value { string tag = 1; float simple_value = 2; Image image = 4; }
//   Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//                   bytes encoded_image_string = 4; }
//   SessionLog    { SessionStatus status = 1; }   // START = 1
#include "libnn/io/summary_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "libnn/io/checksum.hpp"

namespace nn::io {

namespace {

namespace fs = std::filesystem;

// --- protocol buffer encoding ------------------------------------------------------------

enum WireType : std::uint8_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Proto {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    bytes_.push_back(static_cast<std::uint8_t>(v));
  }
  void key(int field, WireType type) { varint(static_cast<std::uint64_t>(field) << 3 | type); }

  // int32 and int64 fields: negative values are 10-byte two's-complement varints.
  void int_field(int field, std::int64_t v) {
    key(field, kVarint);
    varint(static_cast<std::uint64_t>(v));
  }
  void double_field(int field, double v) {
    key(field, kFixed64);
    little_endian(std::bit_cast<std::uint64_t>(v), 8);
  }
  void float_field(int field, float v) {
    key(field, kFixed32);
    little_endian(std::bit_cast<std::uint32_t>(v), 4);
  }
  void bytes_field(int field, std::span<const std::uint8_t> data) {
    key(field, kLengthDelimited);
    varint(data.size());
    bytes_.insert(bytes_.end(), data.begin(), data.end());
  }
  void string_field(int field, std::string_view s) {
    bytes_field(field, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  }
  void message_field(int field, const Proto& message) { bytes_field(field, message.bytes_); }

  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  void little_endian(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> bytes_;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// An Event with its wall time and step, plus `summary` or `session_log` when given.
std::vector<std::uint8_t> event(std::int64_t step, const Proto* summary, const Proto* session_log) {
  Proto e;
  e.double_field(1, now_seconds());
  e.int_field(2, step);
  if (summary) e.message_field(5, *summary);
  if (session_log) e.message_field(7, *session_log);
  return e.bytes();
}

Proto summary_of(const Proto& value) {
  Proto summary;
  summary.message_field(1, value);
  return summary;
}

// The seconds field of an event file's name (events.out.tfevents.<seconds>.<...>), or -1.
long long name_seconds(const std::string& name) {
  static constexpr std::string_view kPrefix = "events.out.tfevents.";
  if (name.rfind(kPrefix, 0) != 0) return -1;
  long long seconds = 0;
  std::size_t i = kPrefix.size(), digits = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 18; ++i, ++digits)
    seconds = seconds * 10 + (name[i] - '0');
  return digits > 0 ? seconds : -1;
}

// The next file name: the current time, raised above every event file already in `dir`.
fs::path next_file_name(const fs::path& dir) {
  long long seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const long long existing = name_seconds(entry.path().filename().string());
    if (existing >= seconds) seconds = existing + 1;
  }
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') std::strcpy(host.data(), "localhost");
  static std::atomic<int> counter{0};  // writers opened by this process
  return dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host.data() + "." +
                std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)));
}

}  // namespace

std::uint32_t masked_crc32c(std::span<const std::uint8_t> bytes) {
  const std::uint32_t crc = crc32c(std::as_bytes(bytes));
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::vector<std::uint8_t> tfrecord(std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> record;
  record.reserve(data.size() + 16);
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) record.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  put(data.size(), 8);
  put(masked_crc32c(std::span(record.data(), 8)), 4);
  record.insert(record.end(), data.begin(), data.end());
  put(masked_crc32c(data), 4);
  return record;
}

SummaryWriter::SummaryWriter(const fs::path& log_dir) {
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) throw std::system_error(ec, log_dir.string() + ": cannot create the TensorBoard log folder");
  path_ = next_file_name(log_dir);
  file_ = std::fopen(path_.c_str(), "wbx");  // x: never append to another writer's file
  if (!file_) throw std::system_error(errno, std::generic_category(), path_.string() + ": cannot create");
  Proto version;
  version.double_field(1, now_seconds());
  version.string_field(3, "brain.Event:2");
  write_event(version.bytes());
  flush();
}

SummaryWriter::~SummaryWriter() {
  if (file_) std::fclose(file_);  // flushes; a failure here has nowhere to be reported
}

void SummaryWriter::write_event(const std::vector<std::uint8_t>& data) {
  const auto record = tfrecord(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    throw std::system_error(errno, std::generic_category(), path_.string() + ": write failed");
}

void SummaryWriter::flush() {
  if (std::fflush(file_) != 0)
    throw std::system_error(errno, std::generic_category(), path_.string() + ": write failed");
}

void SummaryWriter::add_scalar(std::string_view tag, double value, std::int64_t step) {
  Proto v;
  v.string_field(1, tag);
  v.float_field(2, static_cast<float>(value));
  const Proto summary = summary_of(v);
  write_event(event(step, &summary, nullptr));
}

void SummaryWriter::add_image_png(std::string_view tag, std::span<const std::uint8_t> png, int width,
                                  int height, std::int64_t step, int channels) {
  static constexpr std::array<std::uint8_t, 8> kSignature{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("add_image_png(" + std::string(tag) + "): the size must be positive, found " +
                                std::to_string(width) + "x" + std::to_string(height));
  if (channels != 1 && channels != 3 && channels != 4)
    throw std::invalid_argument("add_image_png(" + std::string(tag) + "): channels must be 1, 3 or 4, found " +
                                std::to_string(channels));
  if (png.size() < kSignature.size() || !std::equal(kSignature.begin(), kSignature.end(), png.begin()))
    throw std::invalid_argument("add_image_png(" + std::string(tag) + "): the bytes are not a PNG file "
                                "(no PNG signature)");
  Proto image;
  image.int_field(1, height);
  image.int_field(2, width);
  image.int_field(3, channels);
  image.bytes_field(4, png);
  Proto v;
  v.string_field(1, tag);
  v.message_field(4, image);
  const Proto summary = summary_of(v);
  write_event(event(step, &summary, nullptr));
}

void SummaryWriter::add_session_start(std::int64_t step) {
  Proto log;
  log.int_field(1, 1);  // SessionLog.START
  write_event(event(step, nullptr, &log));
}

}  // namespace nn::io
