// Bars of multitrack piano roll: what the piano-roll GAN (rollgan, MuseGAN's representation)
// learns and writes. One sample is a phrase of `bars` bars, a binary tensor
//
//   [tracks, steps, pitches]   tracks = ensemble.size(), steps = bars × steps_per_bar(),
//                              pitches = params.pitches from params.lowest_pitch up
//
// (row-major, 1 = the track's pitch sounds during that step), one channel per track.
//
// The grid (docs/musegen.md, "GANs"):
//   - steps_per_quarter steps per quarter note (4: sixteenth notes), quarters_per_bar quarters
//     per bar (4: 4/4 bars), so a 4/4 bar is 16 steps. Bar lines are every quarters_per_bar
//     quarters from the file's start: a file is used only when every time signature it has is
//     quarters_per_bar/4 (4/4, or 2/2 for 4 quarters), and a pickup bar is not realigned (MIDI
//     files do not say they start with one).
//   - A note covers the steps [round(start), round(end)) of its times in steps (round half
//     up), at least one step. Notes outside the pitch range are dropped and counted.
//   - A sounding roll has no onsets: two notes of one pitch that touch merge into one, as in
//     MuseGAN. Decoding makes each run of sounding steps of a pitch one note, so
//     roll → MIDI → roll is exact, and MIDI → roll → MIDI keeps the notes up to the grid and
//     such merges.
//
// Which part plays each track: the ensemble is a list of instruments (rows of instruments(),
// e.g. soprano, alto, tenor, bass, or violin, violin, viola, cello); slot k takes the first
// part of the piece, in file order, not taken by an earlier slot, whose instrument
// (instrument_for_track: its name first, then its program) is the slot's. A piece that has
// no part for some slot is skipped (other parts, e.g. a chorale's horns, are left out).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "codec.hpp"

namespace musegen {

struct RollBarsParams {
  std::vector<int> ensemble;  // the instrument of each track (rows of instruments())
  int steps_per_quarter = 4;  // 4: sixteenth notes
  int quarters_per_bar = 4;   // 4: 4/4 bars
  int bars = 4;               // bars per sample (a phrase)
  int lowest_pitch = 36;      // C2
  int pitches = 64;           // C2 .. D#7

  int tracks() const { return static_cast<int>(ensemble.size()); }
  int steps_per_bar() const { return steps_per_quarter * quarters_per_bar; }
  int steps() const { return bars * steps_per_bar(); }
  // Values in one sample: tracks × steps × pitches.
  std::int64_t sample_size() const {
    return static_cast<std::int64_t>(tracks()) * steps() * pitches;
  }
};

// The limits validate_roll_params() enforces (shared with the command line's ranges).
inline constexpr int kRollBarsMaxStepsPerQuarter = 24, kRollBarsMaxQuartersPerBar = 16,
                     kRollBarsMaxBars = 16, kRollBarsMaxTracks = 16;

// Throws std::invalid_argument naming the parameter, its range and the value: an empty or
// too long ensemble, an instrument index out of the table, a grid or pitch range outside
// its limits (the pitch range within 0..127).
void validate_roll_params(const RollBarsParams& params);

// The preset ensembles: "chorale" (soprano, alto, tenor, bass) and "quartet" (violin, violin,
// viola, cello); anything else is a comma-separated list of instruments (parse_instrument_list).
std::vector<int> parse_ensemble(std::string_view text);

// The part (index into piece.tracks) playing each ensemble slot, by the rule above; empty
// when some slot has none.
std::vector<int> ensemble_parts(const Piece& piece, const std::vector<int>& ensemble);

// Whether a file's bars are the grid's: "" when every time signature is quarters_per_bar/4
// (a file without one counts as 4/4), else what was found ("3/4 at tick 0").
std::string meter_mismatch(const midi::MidiFile& file, const RollBarsParams& params);
// The same for a list of (numerator, denominator) pairs: "" or the first that differs ("3/4").
std::string meter_mismatch(const std::vector<std::pair<int, int>>& signatures,
                           const RollBarsParams& params);

struct RollStats {
  std::int64_t notes = 0;          // notes of the ensemble's parts
  std::int64_t notes_dropped = 0;  // of those, outside the pitch range
};

// A whole piece as one roll [tracks, steps, pitches], steps covering whole bars up to the
// end of its last kept note (0 steps for a piece with none). `parts` as ensemble_parts gives.
std::vector<std::uint8_t> piece_to_roll(const Piece& piece, const std::vector<int>& parts,
                                        const RollBarsParams& params, std::int64_t* steps,
                                        RollStats* stats = nullptr);

// The roll of `steps` steps back to a piece: each run of sounding steps of a track's pitch is
// one note of velocity `velocity`, the tracks named and programmed after the ensemble
// ("Violin 1", "Violin 2" when an instrument is there twice). Times in quarters, and in
// seconds at `tempo_bpm`. Throws std::invalid_argument when roll.size() is not
// tracks × steps × pitches.
Piece roll_to_piece(std::span<const std::uint8_t> roll, std::int64_t steps,
                    const RollBarsParams& params, double tempo_bpm = 100, int velocity = 80);

// The same as a MIDI file: format 1, a tempo track, one track per ensemble slot with its
// name, program and channel (piece_to_midi).
midi::MidiFile roll_to_midi(std::span<const std::uint8_t> roll, std::int64_t steps,
                            const RollBarsParams& params, double tempo_bpm = 100,
                            int velocity = 80);

// A training set: phrases of params.bars bars cut from pieces, one after another from each
// piece's first bar (the last, shorter one padded with silence); phrases in which no track
// sounds are left out.
struct RollDataset {
  RollBarsParams params;
  std::vector<std::uint8_t> data;    // phrases × sample_size(), row-major
  std::vector<std::string> sources;  // each phrase: "file, bars A-B"
  std::int64_t files = 0, files_used = 0;
  std::vector<std::string> skipped;  // one line per file left out: "FILE: why"
  RollStats stats;

  std::int64_t phrases() const { return static_cast<std::int64_t>(sources.size()); }
  std::span<const std::uint8_t> phrase(std::int64_t i) const;
};

// Adds the phrases of one piece. Returns how many were added.
std::int64_t add_phrases(RollDataset& dataset, const Piece& piece, const std::string& source);

// Reads MIDI files into phrases, their notes as libmidi pairs them with `notes` (music21's
// files want zero_length_off_first: docs/midi.md). A file that cannot be read, is not in the
// grid's meter or lacks an ensemble part is skipped with the reason in `skipped`; throws
// std::runtime_error when no phrase results.
RollDataset load_roll_dataset(const std::vector<std::filesystem::path>& files,
                              const RollBarsParams& params, const midi::NoteOptions& notes = {});

}  // namespace musegen
