// Reading and writing Standard MIDI Files.
//
// read()/load() accept SMF formats 0, 1 and 2, PPQ and SMPTE divisions, running status,
// RIFF RMID wrappers and unknown chunks, and repair or refuse each malformation according
// to ReadOptions (lenient by default). write()/save() produce SMF 0, 1 or 2; save() writes
// atomically (temporary file, fsync, rename), so a crash never leaves half a file behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "libmidi/diagnostics.hpp"
#include "libmidi/midi_file.hpp"

namespace midi {

// Parse a file held in memory. Throws ParseError (with options.source_name() as source).
MidiFile read(std::span<const std::uint8_t> bytes, const ReadOptions& options = {});

// The most bytes load() reads. A pipe or a device has no size to check before reading, and a
// path such as /dev/zero never ends, so load() reads in chunks and stops here. No MIDI file
// comes near it: the largest piano performances are a few MiB.
inline constexpr std::uint64_t kMaxLoadBytes = std::uint64_t{256} << 20;  // 256 MiB

// A file load() cannot read as bytes: a directory, a file past kMaxLoadBytes, one that cannot
// be opened or read. what() is the whole message, the path first ("x: is a directory, not a
// MIDI file"); code() the reason for a program (std::errc::is_a_directory, file_too_large, ...).
class FileError : public std::system_error {
 public:
  FileError(std::error_code code, std::string message)
      : std::system_error(code), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Read a file from disk: a regular file, or a pipe or device read to its end (a FIFO,
// /dev/stdin, the /dev/fd/N of a shell's <(...)). Throws ParseError naming the path;
// FileError (a std::system_error) for a directory, a file larger than kMaxLoadBytes, or
// when the file cannot be opened or read.
MidiFile load(const std::filesystem::path& path, ReadOptions options = {});

class WriteOptions {
 public:
  // Omit repeated channel status bytes (never across meta or SysEx events, per the spec).
  WriteOptions& running_status(bool on) {
    running_status_ = on;
    return *this;
  }
  bool running_status() const { return running_status_; }

  // Keep unknown chunks read from the source file (in their original places).
  WriteOptions& keep_unknown_chunks(bool on) {
    keep_unknown_chunks_ = on;
    return *this;
  }
  bool keep_unknown_chunks() const { return keep_unknown_chunks_; }

  // Wrap the SMF in a RIFF RMID container.
  WriteOptions& rmid(bool on) {
    rmid_ = on;
    return *this;
  }
  bool rmid() const { return rmid_; }

 private:
  bool running_status_ = true;
  bool keep_unknown_chunks_ = true;
  bool rmid_ = false;
};

// Serialize. Throws std::invalid_argument for a file that cannot be written as asked
// (format 0 with several tracks, decreasing ticks, a data byte > 127, ...).
std::vector<std::uint8_t> write(const MidiFile& file, const WriteOptions& options = {});

// Write to disk atomically. Throws std::system_error naming the path on failure.
void save(const MidiFile& file, const std::filesystem::path& path,
          const WriteOptions& options = {});

// Write bytes to a path atomically: temporary file in the same folder, fsync, rename.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

}  // namespace midi
