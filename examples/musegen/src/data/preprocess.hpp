// MIDI files and folders, and the JSB chorales JSON, turned into a Dataset: reading (with
// every skipped file and its reason kept), the train / validation split, augmentation of
// the training split, and encoding. `musegen preprocess` is a thin shell around this.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "codec.hpp"
#include "dataset.hpp"

namespace musegen {

// The augmentations' limits, shared by preprocess() and the command line's ranges.
inline constexpr int kMaxTranspose = 12;         // semitones each way
inline constexpr double kMinStretch = 0.25, kMaxStretch = 4;  // time factors

struct PreprocessOptions {
  Encoding encoding = Encoding::events;
  CodecParams params;            // roll: frames_per_quarter 0 = the JSB file's own, else 4
  double valid_fraction = 0.1;   // MIDI files held out for validation (the JSB keep theirs)
  std::uint64_t seed = 1;        // seed of the split of MIDI files
  int transpose = 0;             // train copies transposed by -N..+N semitones (0: none)
  std::vector<double> stretch;   // train copies with every time multiplied by each factor
  bool strict = false;           // refuse MIDI files that need a repair instead of repairing
  bool drums = true;             // keep drum notes (events only; the other encodings skip them)
  bool sustain_pedal = false;    // lengthen notes held by the sustain pedal (CC64)
  // A stray note-off then a note-on of its key in one tick is a note of no length (music21's
  // grace notes; midi::NoteOptions::zero_length_off_first).
  bool zero_length_off_first = false;
  // Every file as one part of one instrument (program 0): the single-instrument baseline a
  // multitrack model is compared with (docs/perf.md, "Several instruments").
  bool merge_parts = false;
  int jsb_frames_per_quarter = 0;  // 0: from the JSB file name (quarter, 8th, 16th)
  std::int64_t min_chord_count = 10;  // notes: rarer chords are spelled as single notes
};

struct PreprocessReport {
  struct Skipped {
    std::string file, reason;
  };
  std::int64_t midi_files = 0;          // MIDI files found
  std::int64_t midi_read = 0;           // read and encoded
  std::int64_t midi_repaired = 0;       // read with at least one repair
  std::int64_t repair_warnings = 0;     // repairs made in all
  std::vector<Skipped> skipped;         // files (or pieces) left out, with the reason
  std::int64_t jsb_pieces = 0;          // chorales read from JSB files
  std::int64_t augmented = 0;           // training copies added by augmentation
  std::int64_t augment_out_of_range = 0;  // transpositions left out (a note beyond 0..127, or
                                          // for multitrack beyond its instrument's range)
  EncodeStats stats;                    // over every piece encoded

  // The summary printed by preprocess and stored in the dataset file.
  std::string text(const Dataset& dataset) const;
};

// MIDI file paths under `inputs`: files as given, folders searched recursively for .mid,
// .midi, .kar and .rmi (any case), each list sorted by path. .json inputs are left out.
std::vector<std::filesystem::path> find_midi_files(const std::vector<std::filesystem::path>& inputs);

// The permutation of 0..n-1 a seed gives (Fisher-Yates over SplitMix64; the same on every
// platform, unlike std::shuffle).
std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed);

// Reads every input and builds the dataset. Throws std::invalid_argument for bad options,
// std::runtime_error for an input that does not exist, a malformed JSB file, or nothing
// usable at all. MIDI files that cannot be read are skipped and listed in `report`.
Dataset preprocess(const std::vector<std::filesystem::path>& inputs, const PreprocessOptions& options,
                   PreprocessReport* report = nullptr);

}  // namespace musegen
