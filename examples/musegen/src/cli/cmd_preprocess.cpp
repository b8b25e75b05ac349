// musegen preprocess: the command-line face of preprocess() (preprocess.hpp).
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "outputs.hpp"
#include "preprocess.hpp"

namespace musegen {

namespace {

std::vector<double> parse_factors(const std::string& text) {
  std::vector<double> factors;
  if (text.empty()) return factors;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    const std::string factor = text.substr(begin, comma - begin);
    factors.push_back(cli::parse_double(factor, "--stretch"));
    cli::check_range(factors.back(), factor, cli::range(kMinStretch, kMaxStretch), "--stretch", "F");
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return factors;
}

}  // namespace

int cmd_preprocess(Args args) {
  PreprocessOptions o;
  std::vector<std::string> inputs;
  std::string out = "dataset.mgds", encoding = "events", stretch;
  // Ints on the command line; every range below fits an int.
  std::int64_t frames_per_quarter = 0, jsb_fpq = 0, step_ms = o.params.step_ms,
               max_shift = o.params.max_shift_steps, velocity_bins = o.params.velocity_bins,
               grid = o.params.grid, max_duration = o.params.max_duration, tracks = o.params.tracks,
               min_chord_count = o.min_chord_count, seed = static_cast<std::int64_t>(o.seed),
               transpose = o.transpose;
  bool quiet = false;
  cli::Parser p(
      "preprocess", "INPUT... [options]",
      "Reads MIDI files, folders of MIDI files (searched recursively for .mid, .midi, .kar,\n"
      ".rmi) and the JSB chorales JSON, and writes a dataset file: the token sequences in\n"
      "train / valid (/ test) splits, the encoding with its vocabulary, and a summary.\n\n"
      "Encodings:\n"
      "  notes   note and chord tokens with duration (\"C4.E4.G4:1/2\") and time advances\n"
      "          (\"wait:1/4\") on a grid of quarter-note fractions; vocabulary from the data.\n"
      "  events  performance events: note-on/off per pitch, 10 ms time shifts up to 1 s,\n"
      "          32 velocity bins, program tokens (drums on their own token): 517 tokens.\n"
      "  roll    piano-roll frames of the 88 keys at a grid of frames per quarter note.\n"
      "  multitrack  several instruments: the ensemble (\"inst:violin\"), then each note as its\n"
      "          part and pitch (\"t0:C5\") with a duration on the grid, and time advances;\n"
      "          one part per MIDI track (and channel), its instrument from the track name.\n\n"
      "MIDI files are split into train and valid by file, with a seed; the JSB chorales keep\n"
      "their published train / valid / test split. Files that cannot be read are skipped and\n"
      "listed with the reason; files that needed repairs are read and counted. Augmentation\n"
      "(transposition, time stretch) applies to the training split only.");
  p.positionals("INPUT", inputs, "MIDI files, folders, or a JSB chorales .json file", 1)
      .option("out", out, "FILE", "where to write the dataset file (written atomically)")
      .option("encoding", encoding, "NAME", "notes, events, roll or multitrack")
      .option(
          "frames-per-quarter", frames_per_quarter, "N", "roll: frames per quarter note",
          cli::range(1, kMaxFramesPerQuarter).or_value(0, "the JSB file's own resolution, else 4"))
      .option("step-ms", step_ms, "MS", "events: milliseconds per time-shift step",
              cli::range(1, kMaxStepMs))
      .option("max-shift-steps", max_shift, "N", "events: steps of the longest time-shift token",
              cli::range(1, kMaxShiftSteps))
      .option("velocity-bins", velocity_bins, "N", "events: velocity bins",
              cli::range(1, kMaxVelocityBins))
      .option("grid", grid, "N",
              "notes, multitrack: durations and offsets are multiples of 1/N quarter note",
              cli::range(1, kMaxGrid))
      .option("max-duration", max_duration, "N",
              "notes, multitrack: longest duration or wait token, in grid units (at most " +
                  std::to_string(kMaxDurationGrids) +
                  " quarter notes: " + std::to_string(kMaxDurationGrids) + " x --grid)",
              cli::range(1, kMaxDurationGrids * kMaxGrid))
      .option("tracks", tracks, "N",
              "multitrack: parts a piece may have (later tracks are left out)",
              cli::range(1, kMaxTracks))
      .option("min-chord-count", min_chord_count, "N",
              "notes: chords seen fewer than N times are spelled as their single notes",
              cli::range(0, 1'000'000'000))
      .option("jsb-frames-per-quarter", jsb_fpq, "N", "resolution of a JSB .json file",
              cli::range(1, kMaxFramesPerQuarter)
                  .or_value(0, "from its name: quarter 1, 8th 2, 16th 4"))
      .option("valid-fraction", o.valid_fraction, "F",
              "fraction of the MIDI files held out for validation", cli::range(0, 1).open_high())
      .option("seed", seed, "N", "seed of the train / validation split of MIDI files",
              cli::range(0, cli::kMaxSeed))
      .option("transpose", transpose, "N",
              "augment the training split with transpositions by -N..+N semitones",
              cli::range(0, kMaxTranspose))
      .option("stretch", stretch, "F,F,...",
              "augment the training split with every time multiplied by each factor (each " +
                  cli::range(kMinStretch, kMaxStretch).text("F") +
                  "), e.g. 0.95,1.05 (default: none)")
      .flag("strict", o.strict, "skip MIDI files that need any repair instead of repairing them")
      .flag("drums", o.drums,
            "keep drum notes (channel 10; used by events, left out by notes and roll)")
      .flag("sustain", o.sustain_pedal,
            "lengthen notes held by the sustain pedal (CC64), as Magenta does")
      .flag(
          "zero-length-off-first", o.zero_length_off_first,
          "read a note-off with nothing to end, then a note-on of its key in the same tick, as a\n"
          "note of no length (music21's grace notes; without it such a note lasts until its\n"
          "key's next release). Use it for music21-multitrack and other music21 exports")
      .flag("merge-parts", o.merge_parts,
            "read every file as one part played by one instrument (program 0): with multitrack,\n"
            "the single-instrument baseline of the same notes")
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen preprocess --encoding roll --out jsb.mgds "
          "$MUSEGEN_DATA_DIR/jsb-chorales/jsb-chorales-quarter.json\n"
          "  musegen preprocess --encoding events --out piano.mgds "
          "$MUSEGEN_DATA_DIR/classical-piano-composer/midi_songs\n"
          "  musegen preprocess --encoding notes --grid 4 --transpose 3 --out notes.mgds song1.mid "
          "song2.mid\n"
          "  musegen preprocess --encoding roll --frames-per-quarter 4 --valid-fraction 0.2 --seed "
          "7 midi/\n"
          "  musegen preprocess --encoding multitrack --zero-length-off-first --transpose 3 --out "
          "quartets.mgds\n"
          "      $MUSEGEN_DATA_DIR/music21-multitrack/quartets\n\n"
          "The dataset file is described in docs/formats.md; musegen train reads it.");
  if (!p.parse(args)) return 0;

  try {
    o.encoding = parse_encoding(encoding);
  } catch (const std::invalid_argument& e) {
    throw cli::UsageError(std::string("--") + e.what());
  }
  o.params.frames_per_quarter = static_cast<int>(frames_per_quarter);
  o.params.step_ms = static_cast<int>(step_ms);
  o.params.max_shift_steps = static_cast<int>(max_shift);
  o.params.velocity_bins = static_cast<int>(velocity_bins);
  o.params.grid = static_cast<int>(grid);
  o.params.max_duration = static_cast<int>(max_duration);
  o.params.tracks = static_cast<int>(tracks);
  o.jsb_frames_per_quarter = static_cast<int>(jsb_fpq);
  o.transpose = static_cast<int>(transpose);
  o.min_chord_count = min_chord_count;
  o.seed = static_cast<std::uint64_t>(seed);
  o.stretch = parse_factors(stretch);
  try {
    validate_params(o.encoding, [&] {
      CodecParams check = o.params;
      if (check.frames_per_quarter == 0) check.frames_per_quarter = 4;
      return check;
    }());
  } catch (const std::invalid_argument& e) {
    throw cli::UsageError(e.what());
  }

  std::vector<std::filesystem::path> paths(inputs.begin(), inputs.end());
  {
    cli::OutputCheck check;
    for (const auto& path : paths) check.input("the input", path);
    for (const auto& path : find_midi_files(paths)) check.input("the input", path);
    check.output("--out", out);
  }
  PreprocessReport report;
  Dataset dataset = preprocess(paths, o, &report);
  save_dataset(out, dataset);
  if (!quiet) std::cout << dataset.summary << "wrote " << out << "\n";
  return 0;
}

}  // namespace musegen
