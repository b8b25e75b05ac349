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
#include <vector>

#include "libmidi/diagnostics.hpp"
#include "libmidi/midi_file.hpp"

namespace midi {

// Parse a file held in memory. Throws ParseError (with options.source_name() as source).
MidiFile read(std::span<const std::uint8_t> bytes, const ReadOptions& options = {});

// Read a file from disk. Throws ParseError naming the path; std::system_error on I/O failure.
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
