// What codec.cpp shares with the three encodings' files (codec_events.cpp, codec_roll.cpp,
// codec_notes.cpp). Not part of the interface: include codec.hpp instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "codec.hpp"

namespace musegen::detail {

// Round half up: the rounding every grid uses, written once so the oracles can copy it.
inline std::int64_t round_half_up(double x) { return static_cast<std::int64_t>(std::floor(x + 0.5)); }

// One encoding with its parameters and vocabulary: what a Codec handle points to. The base
// holds the vocabulary (for roll: the names of the frame's columns) and its lookup; each
// encoding's class says what a step is, and encodes and decodes.
class CodecImpl {
 public:
  CodecImpl(Encoding encoding, const CodecParams& params, std::vector<std::string> tokens);
  virtual ~CodecImpl() = default;
  CodecImpl(const CodecImpl&) = delete;
  CodecImpl& operator=(const CodecImpl&) = delete;

  Encoding encoding() const { return encoding_; }
  const CodecParams& params() const { return params_; }
  const std::vector<std::string>& tokens() const { return tokens_; }
  std::int32_t find(std::string_view name) const;
  const std::string& token(std::int32_t id) const;

  virtual StepFormat step() const = 0;
  virtual std::string describe() const = 0;
  virtual Sequence encode(const Piece& piece, std::string source, EncodeStats* stats) const = 0;
  // `sequence` has already been checked against step(): the right kind, and width for frames.
  virtual Piece decode(const Sequence& sequence, const DecodeOptions& options) const = 0;
  // Codec::transposable; the default checks 0..127 only.
  virtual bool transposable(const Piece& piece, int semitones) const;

 private:
  Encoding encoding_;
  CodecParams params_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int32_t> ids_;
};

// One row of the encodings' table in codec.cpp: everything the rest of codec.cpp needs to
// know about an encoding, so that no function there switches on it.
struct EncodingSpec {
  Encoding encoding;
  std::string_view name;
  StepKind step_kind;
  // True when the vocabulary is built from the data (notes), false when the parameters fix it.
  bool vocabulary_from_data;
  // What one step of a tokens file holds, as error messages say it (token_grammar()).
  std::string (*token_grammar)(const CodecParams& params);
  // The parameters it uses, by their names in file headers.
  std::vector<std::pair<std::string_view, int CodecParams::*>> parameters;
  // Throws std::invalid_argument naming the parameter, the allowed range and the value.
  void (*validate)(const CodecParams& params);
  // A codec; `vocabulary` is read by the encodings whose vocabulary comes from the data.
  std::shared_ptr<const CodecImpl> (*make)(const CodecParams& params, std::vector<std::string> vocabulary);
};
const EncodingSpec& roll_spec();
const EncodingSpec& events_spec();
const EncodingSpec& notes_spec();
const EncodingSpec& multitrack_spec();

// Throws std::invalid_argument "<encoding>: <name>: expected lo..hi, found value".
void check_param_range(std::string_view encoding, std::string_view name, std::int64_t value,
                       std::int64_t lo, std::int64_t hi);

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
