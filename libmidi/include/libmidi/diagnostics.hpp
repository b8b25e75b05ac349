// Diagnostics: what can be wrong with a MIDI file, what the reader does about it, and the
// warning / error objects that carry the track and byte offset of each problem.
//
// Every malformation the reader knows has a Policy. Repair fixes the problem in a documented
// way and records a Diagnostic in MidiFile::warnings; Error throws a ParseError carrying the
// same Diagnostic. Problems no repair can fix (not a MIDI file, bad header) always throw.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace midi {

// One entry per malformation the reader can repair. docs/midi.md describes each repair.
enum class Malformation : std::uint8_t {
  DataByteOver127,                // a data byte has its top bit set; repaired by clamping to 127
  RunningStatusAfterMetaOrSysEx,  // running status used after a meta/SysEx event cancelled it
  NoRunningStatus,                // a data byte where a status byte is needed and none is running
  StrayStatusByte,                // system common/real-time status F1..FE inside a file
  MissingEndOfTrack,              // a track chunk ends without End of Track
  ChunkLengthMismatch,            // chunk length past the end of the file, or not where events end
  BadKeySignature,                // key signature outside -7..7 sharps or mode not 0/1
  BadMetaLength,                  // tempo/time-signature/key/SMPTE-offset meta of the wrong length
  TruncatedFile,                  // the file ends in the middle of a chunk or an event
  WrongTrackCount,                // header track count differs from the chunks present (or format 0 > 1 track)
  OverlongVlq,                    // variable-length quantity longer than 4 bytes
  TrailingBytes,                  // bytes after the last chunk that are not a chunk
  kCount
};

inline constexpr std::size_t kMalformationCount = static_cast<std::size_t>(Malformation::kCount);

// Stable identifier ("data-byte-over-127", ...), used in messages and on the command line.
std::string_view malformation_name(Malformation m);
std::optional<Malformation> malformation_from_name(std::string_view name);

enum class Policy : std::uint8_t {
  Error,   // throw ParseError
  Repair,  // repair, record a warning, go on
};

// One problem found in a file: where it is and what was done.
struct Diagnostic {
  std::optional<Malformation> kind;  // empty for fatal problems that have no repair
  int track = -1;                    // index of the track chunk, -1 for the header / file level
  std::uint64_t offset = 0;          // byte offset in the file where the problem starts
  std::string message;               // what was expected, what was found, what was done

  // "byte 1234, track 2: data byte expected (0..127), found 0x93; clamped to 127"
  std::string to_string() const;
};

// Thrown for unreadable files and for malformations whose policy is Error.
class ParseError : public std::runtime_error {
 public:
  ParseError(Diagnostic diagnostic, std::string source);
  const Diagnostic& diagnostic() const noexcept { return diagnostic_; }
  const std::string& source() const noexcept { return source_; }  // file name, or "<memory>"

 private:
  Diagnostic diagnostic_;
  std::string source_;
};

// Which malformations the reader repairs and which it refuses. Default-constructed = lenient.
class ReadOptions {
 public:
  ReadOptions() { policies_.fill(Policy::Repair); }

  // Repair everything repairable: what real datasets need.
  static ReadOptions lenient() { return ReadOptions{}; }
  // Refuse every malformation.
  static ReadOptions strict() {
    ReadOptions o;
    o.policies_.fill(Policy::Error);
    return o;
  }

  ReadOptions& on(Malformation m, Policy p) {
    policies_[static_cast<std::size_t>(m)] = p;
    return *this;
  }
  Policy policy(Malformation m) const { return policies_[static_cast<std::size_t>(m)]; }

  // Name used in error messages (the file path); load() sets it.
  ReadOptions& source_name(std::string name) {
    source_name_ = std::move(name);
    return *this;
  }
  const std::string& source_name() const { return source_name_; }

 private:
  std::array<Policy, kMalformationCount> policies_{};
  std::string source_name_ = "<memory>";
};

}  // namespace midi
