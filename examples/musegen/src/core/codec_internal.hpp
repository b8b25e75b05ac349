// What codec.cpp shares with the three encodings' files (codec_events.cpp, codec_roll.cpp,
// codec_notes.cpp). Not part of the interface: include codec.hpp instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec.hpp"

namespace musegen::detail {

// Round half up: the rounding every grid uses, written once so the oracles can copy it.
inline std::int64_t round_half_up(double x) { return static_cast<std::int64_t>(std::floor(x + 0.5)); }

// events
std::vector<std::string> events_vocabulary(const CodecParams& params);
std::vector<std::int32_t> encode_events(const CodecParams& params, const Piece& piece,
                                        EncodeStats* stats);
Piece decode_events(const CodecParams& params, std::span<const std::int32_t> tokens,
                    const DecodeOptions& options);

// roll
std::vector<std::string> roll_vocabulary();
std::vector<std::uint8_t> encode_roll(const CodecParams& params, const Piece& piece,
                                      EncodeStats* stats);
Piece decode_roll(const CodecParams& params, std::span<const std::uint8_t> frames,
                  const DecodeOptions& options);

// notes
struct NotesToken {
  bool wait = false;
  std::vector<int> pitches;  // ascending, distinct; empty for a wait
  int units = 0;             // duration (or time advance) in grid units
};
// Parses a notes token of these parameters; false for anything else.
bool parse_notes_token(const CodecParams& params, std::string_view name, NotesToken& out);
std::string notes_token_name(const CodecParams& params, const NotesToken& token);
// The durations a note may have (see codec_notes.cpp), and the nearest one to `units`.
bool is_note_duration(const CodecParams& params, int units);
int snap_note_duration(const CodecParams& params, std::int64_t units);
std::vector<std::string> encode_notes_names(const CodecParams& params, const Piece& piece,
                                            EncodeStats* stats);
Piece decode_notes(const CodecParams& params, const std::vector<const std::string*>& names,
                   const DecodeOptions& options);

}  // namespace musegen::detail
