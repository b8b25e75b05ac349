// The Standard MIDI File writer, and the atomic file replacement save() relies on.
//
// Writing is also repair: a track without End of Track gets one at its last tick, and End of
// Track events that are not the last event of their track are dropped (a reader stops at the
// first one, so anything after it would be lost). Everything else is written as given, with the
// shortest encodings (minimal variable-length quantities, running status when asked), so a file
// this writer produced reads back and rewrites to the same bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "libmidi/io.hpp"

namespace midi {
namespace {

constexpr std::uint32_t kMaxVlq = 0x0FFFFFFF;  // 28 bits: the most 4 VLQ bytes can hold

class ByteWriter {
 public:
  std::vector<std::uint8_t> bytes;

  void u8(std::uint8_t b) { bytes.push_back(b); }
  void be16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void be32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>(v >> shift));
  }
  void le32(std::uint32_t v) {
    for (int shift = 0; shift <= 24; shift += 8) u8(static_cast<std::uint8_t>(v >> shift));
  }
  void id(const char* four) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(four[i]));
  }
  void append(std::span<const std::uint8_t> b) { bytes.insert(bytes.end(), b.begin(), b.end()); }

  // Big-endian groups of 7 bits, the continuation bit set on all but the last; no leading
  // 0x80 groups, so each value has exactly one encoding.
  void vlq(std::uint32_t v) {
    std::uint8_t groups[4];
    int n = 0;
    do {
      groups[n++] = static_cast<std::uint8_t>(v & 0x7F);
      v >>= 7;
    } while (v != 0);
    while (n > 1) u8(static_cast<std::uint8_t>(groups[--n] | 0x80));
    u8(groups[0]);
  }

  // Writes a 32-bit big-endian length placeholder and returns where it is.
  std::size_t begin_chunk(const char* four) {
    id(four);
    const std::size_t at = bytes.size();
    be32(0);
    return at;
  }
  void end_chunk(std::size_t length_at, const char* what) {
    const std::size_t length = bytes.size() - length_at - 4;
    if (length > UINT32_MAX)
      throw std::invalid_argument(std::string{what} + " is " + std::to_string(length) +
                                  " bytes, more than a chunk length (32 bits) can hold");
    for (int i = 0; i < 4; ++i)
      bytes[length_at + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  }
};

std::string where(std::size_t track, std::size_t event) {
  return "track " + std::to_string(track) + ", event " + std::to_string(event) + ": ";
}

std::uint32_t checked_length(std::size_t size, std::size_t track, std::size_t event) {
  if (size > kMaxVlq)
    throw std::invalid_argument(where(track, event) + "payload of " + std::to_string(size) +
                                " bytes is longer than a variable-length quantity can hold (0x0FFFFFFF)");
  return static_cast<std::uint32_t>(size);
}

std::string hex(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string{"0x"} + kDigits[b >> 4] + kDigits[b & 15];
}

void check_data_byte(std::uint8_t b, std::uint8_t status, std::size_t track, std::size_t event) {
  if (b > 0x7F)
    throw std::invalid_argument(where(track, event) + "data byte of status " + hex(status) +
                                " must be 0..127, got " + hex(b));
}

void write_track(ByteWriter& out, const Track& track, std::size_t index, const WriteOptions& options) {
  const std::size_t length_at = out.begin_chunk("MTrk");
  std::uint64_t latest_tick = 0;   // of all events so far, for the order check
  std::uint64_t written_tick = 0;  // of the last event written, for delta times
  std::uint8_t running = 0;        // channel status that may be omitted next; 0 = none in effect
  bool wrote_end_of_track = false;

  const auto delta_to = [&](std::uint64_t tick, std::size_t event) {
    const std::uint64_t delta = tick - written_tick;
    if (delta > kMaxVlq)
      throw std::invalid_argument(where(index, event) + "delta time of " + std::to_string(delta) +
                                  " ticks is more than a variable-length quantity can hold (0x0FFFFFFF)");
    out.vlq(static_cast<std::uint32_t>(delta));
    written_tick = tick;
  };

  const std::size_t count = track.events.size();
  for (std::size_t i = 0; i < count; ++i) {
    const Event& e = track.events[i];
    if (e.tick < latest_tick)
      throw std::invalid_argument(where(index, i) + "tick " + std::to_string(e.tick) + " comes after tick " +
                                  std::to_string(latest_tick) + "; ticks must not decrease");
    latest_tick = e.tick;
    if (e.is_meta(meta::kEndOfTrack) && i + 1 != count) continue;
    if (e.is_meta() || e.is_sysex()) {
      if (std::size_t{e.data_offset} + e.data_size > track.payload.size())
        throw std::invalid_argument(where(index, i) + "payload range is outside the track's payload buffer");
      const auto data = track.data(e);
      delta_to(e.tick, i);
      out.u8(e.status);
      if (e.is_meta()) out.u8(e.meta_type());
      out.vlq(checked_length(data.size(), index, i));
      out.append(data);
      running = 0;  // meta and SysEx events cancel running status (SMF 1.0)
      wrote_end_of_track = e.is_meta(meta::kEndOfTrack);
      continue;
    }
    if (e.status < 0x80)
      throw std::invalid_argument(where(index, i) + "status " + hex(e.status) +
                                  " is a data byte, not a status byte");
    const int n = data_length(e.status);
    if (n >= 1) check_data_byte(e.data1, e.status, index, i);
    if (n == 2) check_data_byte(e.data2, e.status, index, i);
    delta_to(e.tick, i);
    if (e.is_channel()) {
      if (!options.running_status() || e.status != running) out.u8(e.status);
      running = e.status;
    } else {
      // A stray system status (F1..FE): written back as found. Readers disagree on whether it
      // cancels running status, so the next channel message always gets its status byte.
      out.u8(e.status);
      running = 0;
    }
    if (n >= 1) out.u8(e.data1);
    if (n == 2) out.u8(e.data2);
  }
  if (!wrote_end_of_track) {
    out.vlq(0);  // at the last event's tick
    out.u8(kMeta);
    out.u8(meta::kEndOfTrack);
    out.u8(0);
  }
  out.end_chunk(length_at, ("track " + std::to_string(index)).c_str());
}

void write_unknown_chunk(ByteWriter& out, const UnknownChunk& chunk) {
  // Only the first chunk is the header, so a later 'MThd' (two files glued together) reads
  // back as an unknown chunk; an 'MTrk' would read back as a track.
  if (std::memcmp(chunk.id.data(), "MTrk", 4) == 0)
    throw std::invalid_argument("an unknown chunk may not have the id 'MTrk': a reader would take it for a track");
  // Readers (ours included) find chunks by a printable ASCII id; any other id reads as garbage.
  for (const char c : chunk.id)
    if (c < 0x20 || c > 0x7E)
      throw std::invalid_argument("an unknown chunk's id must be 4 printable ASCII characters");
  const std::size_t at = out.begin_chunk(chunk.id.data());
  out.append(chunk.data);
  out.end_chunk(at, "unknown chunk");
}

std::vector<std::uint8_t> write_smf(const MidiFile& file, const WriteOptions& options) {
  if (file.format < 0 || file.format > 2)
    throw std::invalid_argument("format must be 0, 1 or 2, got " + std::to_string(file.format));
  if (file.format == 0 && file.tracks.size() != 1)
    throw std::invalid_argument("a format 0 file holds exactly one track, this one has " +
                                std::to_string(file.tracks.size()));
  if (file.tracks.size() > 0xFFFF)
    throw std::invalid_argument("a MIDI file holds at most 65535 tracks, this one has " +
                                std::to_string(file.tracks.size()));

  // One allocation for most files: channel events take at most 4 bytes (delta time < 2^21).
  std::size_t estimate = 14;
  for (const Track& t : file.tracks) estimate += 12 + 4 * t.events.size() + t.payload.size();
  ByteWriter out;
  out.bytes.reserve(estimate);
  out.id("MThd");
  out.be32(6);
  out.be16(static_cast<std::uint16_t>(file.format));
  out.be16(static_cast<std::uint16_t>(file.tracks.size()));
  out.be16(file.division.raw());  // throws for a division a reader would refuse

  const auto chunks_before = [&](std::size_t track) {
    if (!options.keep_unknown_chunks()) return;
    for (const UnknownChunk& c : file.unknown_chunks)
      if (c.before_track == track) write_unknown_chunk(out, c);
  };
  for (std::size_t t = 0; t < file.tracks.size(); ++t) {
    chunks_before(t);
    write_track(out, file.tracks[t], t, options);
  }
  // Chunks that came after the last track (before_track == the track count, or beyond it).
  if (options.keep_unknown_chunks())
    for (const UnknownChunk& c : file.unknown_chunks)
      if (c.before_track >= file.tracks.size()) write_unknown_chunk(out, c);
  return std::move(out.bytes);
}

// RIFF RMID: "RIFF" <size> "RMID" "data" <size> <SMF> [pad byte]; RIFF sizes are little-endian
// and chunks are padded to even length (the pad byte is not counted in the data chunk's size).
std::vector<std::uint8_t> wrap_rmid(const std::vector<std::uint8_t>& smf) {
  const std::size_t pad = smf.size() & 1;
  const std::size_t riff_size = 4 + 8 + smf.size() + pad;
  if (riff_size > UINT32_MAX) throw std::invalid_argument("file too large for a RIFF container");
  ByteWriter out;
  out.bytes.reserve(8 + riff_size);
  out.id("RIFF");
  out.le32(static_cast<std::uint32_t>(riff_size));
  out.id("RMID");
  out.id("data");
  out.le32(static_cast<std::uint32_t>(smf.size()));
  out.append(smf);
  if (pad) out.u8(0);
  return std::move(out.bytes);
}

[[noreturn]] void fail(int error, const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(error, std::generic_category(), what + " " + path.string());
}

// Closes (if still open) and removes the temporary file, then throws.
[[noreturn]] void abandon_temporary(int fd, const std::filesystem::path& temp, int error, const char* what,
                                    const std::filesystem::path& path) {
  if (fd >= 0) ::close(fd);
  ::unlink(temp.c_str());
  fail(error, what, path);
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

}  // namespace

std::vector<std::uint8_t> write(const MidiFile& file, const WriteOptions& options) {
  std::vector<std::uint8_t> smf = write_smf(file, options);
  return options.rmid() ? wrap_rmid(smf) : smf;
}

void save(const MidiFile& file, const std::filesystem::path& path, const WriteOptions& options) {
  write_file_atomically(path, write(file, options));
}

// POSIX only: the rename over the target is what makes the replacement atomic, and the two
// fsyncs (file, then folder) make it durable before we return.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  if (path.empty() || !path.has_filename())
    throw std::system_error(EINVAL, std::generic_category(), "cannot write to '" + path.string() + "'");
  std::filesystem::path folder = path.parent_path();
  if (folder.empty()) folder = ".";

  std::filesystem::path temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = temporary_path_for(path);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) fail(errno, "cannot create a temporary file next to", path);
  }
  if (fd < 0) fail(EEXIST, "cannot find a free temporary file name next to", path);

  // From here on, any failure removes the temporary file before throwing.
  const auto abandon = [&](int error, const char* what) {
    abandon_temporary(fd, temp, error, what, path);
  };

  // Keep the permissions of the file being replaced (the new one would otherwise get 0666 & ~umask).
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0 && ::fchmod(fd, existing.st_mode & 07777) != 0)
    abandon(errno, "cannot set permissions of the temporary file for");

  const std::uint8_t* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon_temporary(fd, temp, errno, "cannot write", path);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon(errno, "cannot flush");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon(errno, "cannot close");
  if (::rename(temp.c_str(), path.c_str()) != 0) abandon(errno, "cannot rename the temporary file onto");

  // Make the rename itself durable. Some file systems cannot fsync a folder (EINVAL); the data
  // is already safe there, so only real I/O errors count.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    const int synced = ::fsync(dir);
    const int error = errno;
    ::close(dir);
    if (synced != 0 && error != EINVAL && error != ENOTSUP)
      throw std::system_error(error, std::generic_category(), "cannot flush the folder of " + path.string());
  }
}

}  // namespace midi
