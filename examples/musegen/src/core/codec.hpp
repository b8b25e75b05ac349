// The four ways musegen turns music into sequences a model can learn, and back:
//
//   notes   note and chord tokens on a grid of quarter-note fractions ("C4.E4.G4:1/2"), with
//           explicit time advances ("wait:1/4"); the vocabulary is built from the data.
//   events  performance events (Oore et al. 2018, as in Magenta): note-on and note-off per
//           pitch, time shifts of 10 ms up to 1 s, 32 velocity bins, plus program tokens so
//           several instruments share one sequence; a fixed vocabulary of 517 tokens.
//   roll    piano-roll frames of the 88 piano keys at a grid of frames per quarter note (the
//           JSB chorales' representation), for models with 88 independent outputs per step.
//           The only encoding whose steps are frames rather than tokens (StepKind).
//   multitrack  several instruments in one sequence: the ensemble first ("inst:violin"), then
//           each note as one token that names its part and pitch ("t0:C5") with its duration
//           on a grid ("dur:2"), parts in order at each onset, and time advances ("wait:1").
//           Fixed vocabulary; codec_multitrack.cpp and docs/musegen.md say why this design.
//
// A Codec is one encoding with its parameters (and, for notes, its vocabulary). Every
// encoding works on a Piece, the notes of a file with their times in quarter notes and in
// seconds; MIDI files become Pieces through libmidi's note extraction, the JSB chorales
// through jsb.hpp. The grammar of each encoding's tokens is written down in docs/formats.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libmidi/midi_file.hpp"
#include "libmidi/notes.hpp"

namespace musegen {

enum class Encoding { notes, events, roll, multitrack };

// "notes", "events", "roll", "multitrack".
std::string_view encoding_name(Encoding encoding);
// Throws std::invalid_argument naming the choices for anything else.
Encoding parse_encoding(std::string_view name);

inline constexpr int kRollKeys = 88, kRollLowestPitch = 21;  // A0 .. C8

// "C4" for 60, "C#4" for 61, "A0" for 21 (sharps only; MIDI 60 is C4). Pitches 0..127.
std::string pitch_name(int pitch);
// The inverse of pitch_name (also accepts flats, "Bb3"); -1 for anything else.
int parse_pitch_name(std::string_view name);

// What one step of a sequence is: a token id, or a frame of `size` values (0 or 1) that are
// predicted independently. Which one an encoding uses decides the model's input layer and head
// (an embedding and a softmax over tokens; a linear projection and `size` sigmoids for frames).
enum class StepKind { token, frame };

struct StepFormat {
  StepKind kind = StepKind::token;
  std::int64_t size = 0;  // token: the vocabulary size; frame: the values per frame
};

// One piece of music as a model sees it. A sequence knows its kind and, for frames, its width;
// steps() follows the kind and never guesses from which vector is filled.
struct Sequence {
  std::string source;                 // the file (and piece index) it came from
  StepKind kind = StepKind::token;
  std::int64_t width = 1;             // values per step: 1 for tokens, the frame size for frames
  std::vector<std::int32_t> tokens;   // kind token: token ids
  std::vector<std::uint8_t> frames;   // kind frame: steps × width (row-major), 1 = sounding

  static Sequence of_tokens(std::string source, std::vector<std::int32_t> tokens = {});
  // Throws std::invalid_argument when frames.size() is not a multiple of width (>= 1).
  static Sequence of_frames(std::string source, std::int64_t width, std::vector<std::uint8_t> frames = {});
  // An empty sequence of the steps a codec or model uses.
  static Sequence empty_of(const StepFormat& format, std::string source = {});

  bool is_frames() const { return kind == StepKind::frame; }
  std::int64_t steps() const;
  // Keeps the first `steps` steps (all of them when there are fewer).
  void truncate(std::int64_t steps);
  // Adds the steps of `other`, which must have the same kind and width (std::invalid_argument).
  void append(const Sequence& other);
  // Whether this sequence's steps fit `format` (kind, and width for frames).
  bool matches(const StepFormat& format) const;
};

// One note of a Piece. Times are kept both in quarter notes (for the grid encodings) and in
// seconds (for events), so a file with tempo changes keeps both its notation and its timing.
struct PieceNote {
  double start_quarters = 0, end_quarters = 0;
  double start_seconds = 0, end_seconds = 0;
  int pitch = 60;     // 0..127
  int velocity = 80;  // 1..127
  int program = 0;    // 0..127; meaningless for drums
  bool drum = false;  // played on MIDI channel 10
  int track = -1;     // index into Piece::tracks; -1 when the piece has no parts
};

// One part of a piece: a (MIDI track, channel) pair that has notes, in file order.
struct PieceTrack {
  std::string name;   // the track's name (meta event 3), or empty
  int program = 0;    // of the part's first note
  bool drum = false;  // channel 10
  int midi_track = -1, channel = -1;  // where piece_from_midi found it (-1: not from a file)
};

struct Piece {
  std::vector<PieceNote> notes;
  // The parts, when the piece knows them (read from MIDI, decoded from multitrack); empty
  // for a piece that is one stream of notes (JSB frames, events, notes, roll).
  std::vector<PieceTrack> tracks;
};

// The notes of a MIDI file (libmidi's pairing rules; docs/midi.md), with its parts: every
// (track, channel) pair with notes is one PieceTrack. SMPTE files, which have no quarter
// notes, are read as if at 120 bpm. `options` is libmidi's: the sustain pedal (CC64) and
// the reading of notes of no length written off-first (docs/midi.md).
Piece piece_from_midi(const midi::MidiFile& file, const midi::NoteOptions& options = {});

// Augmentations. transpose_piece: every pitched note moved by `semitones` (drums stay);
// returns false, leaving `piece` untouched, when a note would leave 0..127.
// stretch_piece: every time multiplied by `factor` (> 0), in quarters and in seconds.
bool transpose_piece(Piece& piece, int semitones);
void stretch_piece(Piece& piece, double factor);

// The parameters of all encodings; each encoding reads only its own.
// The limits validate_params() enforces (each parameter is at least 1), shared with the
// command line's ranges.
inline constexpr int kMaxFramesPerQuarter = 96;
inline constexpr int kMaxStepMs = 1000;
inline constexpr int kMaxShiftSteps = 1000;
inline constexpr int kMaxVelocityBins = 127;
inline constexpr int kMaxGrid = 48;
inline constexpr int kMaxDurationGrids = 64;  // max_duration is at most this many quarters
inline constexpr int kMaxTracks = 16;

struct CodecParams {
  // roll
  int frames_per_quarter = 4;  // frame grid: 4 = sixteenth notes
  // events
  int step_ms = 10;            // one time-shift step
  int max_shift_steps = 100;   // longest single shift token (100 × 10 ms = 1 s)
  int velocity_bins = 32;      // velocities 1..127 in this many bins
  // notes
  int grid = 4;                // offsets and durations are multiples of 1/grid quarter note
  int max_duration = 16;       // longest duration and longest wait token, in grid units
  // multitrack (also grid and max_duration)
  int tracks = 6;        // parts a sequence may have (t0..t{tracks-1})
  int instruments = 27;  // the first N rows of instruments() are in the vocabulary
};

// A decoded tempo's range: a MIDI tempo is at most 0xFFFFFF microseconds per quarter
// (3.58 bpm), and past 1000 bpm no note is heard as one.
inline constexpr double kMinTempoBpm = 4, kMaxTempoBpm = 1000;

struct DecodeOptions {
  double tempo_bpm = 120;  // the tempo written to the file (and the pace of grid encodings)
  int program = 0;         // instrument before any program token (notes, roll: throughout)
  int velocity = 80;       // velocity before any velocity token (notes, roll: throughout)
};

// What an encoding left out of a piece (reported by preprocess).
struct EncodeStats {
  std::int64_t notes = 0;            // notes read
  std::int64_t notes_dropped = 0;    // out of the encoding's range (roll: not a piano key; drums)
  std::int64_t tokens_dropped = 0;   // tokens unknown to the vocabulary
};

namespace detail {
class CodecImpl;
}

// One encoding with its parameters, a cheap value handle over one of the encodings' classes
// (detail::RollCodec, EventsCodec, NotesCodec in codec_roll.cpp, codec_events.cpp,
// codec_notes.cpp), all behind one interface: encode, decode, the vocabulary or frame width,
// and the step format that decides the model's head. Adding an encoding adds one file and one
// row of the table in codec.cpp; nothing outside core/codec* branches on the encoding for how
// to encode, decode, batch or score a sequence.
class Codec {
 public:
  Codec();  // events with default parameters
  static Codec roll(int frames_per_quarter);
  static Codec events(const CodecParams& params);
  // Notes with a vocabulary built from the data (build_notes_vocabulary). Throws
  // std::invalid_argument for a token that is not a notes token of these parameters.
  static Codec notes(const CodecParams& params, std::vector<std::string> vocabulary);
  // Any encoding from its parameters; `vocabulary` is used by notes only.
  static Codec make(Encoding encoding, const CodecParams& params,
                    std::vector<std::string> vocabulary = {});

  Encoding encoding() const;
  const CodecParams& params() const;
  // What one step is: a token of a vocab_size() vocabulary, or a frame of vocab_size() values.
  StepFormat step() const;
  bool frames() const { return step().kind == StepKind::frame; }
  // The tokens, or for frames the names of the frame's columns (roll: keys "A0".."C8").
  std::int64_t vocab_size() const;
  const std::string& token(std::int32_t id) const;
  const std::vector<std::string>& vocabulary() const;
  // The id of a token name, or -1.
  std::int32_t find(std::string_view name) const;
  // One line, e.g. "events: 10 ms steps up to 1 s, 32 velocity bins, 517 tokens".
  std::string describe() const;
  // The parameters this encoding uses, as name/value pairs (file headers; describe()).
  std::vector<std::pair<std::string, std::int64_t>> parameter_list() const;

  // MIDI → sequence with this codec (used for a generation primer). Tokens unknown to the
  // vocabulary are dropped and counted in *dropped when given.
  Sequence encode(const midi::MidiFile& file, std::string source,
                  std::int64_t* dropped = nullptr) const;
  Sequence encode(const Piece& piece, std::string source, EncodeStats* stats = nullptr) const;
  // Whether `piece` moved by `semitones` still fits the encoding: every pitch within 0..127,
  // and for multitrack every part within its instrument's range (augmentation keeps only
  // transpositions for which this holds).
  bool transposable(const Piece& piece, int semitones) const;

  // Notes only: the token names of a piece before any vocabulary is applied (what
  // build_notes_vocabulary counts). Chords are kept whole.
  std::vector<std::string> notes_token_names(const Piece& piece, EncodeStats* stats = nullptr) const;

  // Sequence → a playable MIDI file: format 1, tempo track then one note track, programs set
  // on their channels, drums on channel 10 (multitrack: one track per part, named, with its
  // program and a channel of its own). Token ids out of range throw std::out_of_range; a
  // sequence of the other step kind or width throws std::invalid_argument.
  midi::MidiFile decode(const Sequence& sequence, const DecodeOptions& options = {}) const;
  Piece decode_piece(const Sequence& sequence, const DecodeOptions& options = {}) const;

 private:
  explicit Codec(std::shared_ptr<const detail::CodecImpl> impl);
  std::shared_ptr<const detail::CodecImpl> impl_;
};

// The kind of step an encoding's sequences have (roll: frames; notes, events: tokens).
StepKind step_kind(Encoding encoding);
// Whether an encoding's vocabulary is built from the data (notes) or fixed by its parameters.
bool vocabulary_from_data(Encoding encoding);
// What one step of a tokens file holds in this encoding, for error messages: "an events token
// (note_on:60, ...)", "piano key names A0..C8 separated by single spaces".
std::string token_grammar(Encoding encoding, const CodecParams& params);

// The parameters an encoding uses, by name, as pointers into `params` (for the file readers
// and writers): roll frames_per_quarter; events step_ms, max_shift_steps, velocity_bins;
// notes grid, max_duration.
std::vector<std::pair<std::string, int*>> encoding_parameters(Encoding encoding, CodecParams& params);

// Checks the parameters of one encoding (ranges, documented in docs/formats.md); throws
// std::invalid_argument naming the parameter, what is allowed and what was given.
void validate_params(Encoding encoding, const CodecParams& params);

// The notes vocabulary of a corpus: every wait token 1..max_duration, then the tokens seen,
// most frequent first (ties by name). Chords seen fewer than `min_chord_count` times are
// not in it; encode() spells them as their single notes instead (same sound, no new token).
std::vector<std::string> build_notes_vocabulary(
    const CodecParams& params, const std::vector<std::vector<std::string>>& pieces,
    std::int64_t min_chord_count);

// One part of a piece as a MIDI track: its name, program change and notes on `channel`, at
// `ticks_per_quarter` (notes of no part belong to part 0). piece_to_midi writes parts so;
// accompaniment adds written parts to a file so.
midi::Track part_to_track(const Piece& piece, int part, int channel, int ticks_per_quarter);

// The piece a sequence describes written as MIDI (shared by all decoders). A piece with
// tracks gets one MIDI track per part (named, with its program on a channel of its own,
// drums on channel 10, channels shared round-robin past 15 parts); one without gets a single
// note track whose channels follow the programs.
midi::MidiFile piece_to_midi(const Piece& piece, const DecodeOptions& options);

}  // namespace musegen
