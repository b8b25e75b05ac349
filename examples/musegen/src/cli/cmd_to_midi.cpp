// musegen to-midi: a tokens file (or one sequence of a dataset file) → a playable .mid.
#include <cstring>
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "libmidi/io.hpp"
#include "libmidi/notes.hpp"
#include "outputs.hpp"
#include "tokens_file.hpp"

namespace musegen {

namespace {

bool is_dataset_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  return in.gcount() == 8 && std::memcmp(magic, "MGSTATE", 8) == 0;
}

}  // namespace

int cmd_to_midi(Args args) {
  std::string input, out, split = "train";
  DecodeOptions d;
  std::int64_t program = d.program, velocity = d.velocity, index = 0;
  bool quiet = false;
  cli::Parser p("to-midi", "TOKENS [options]",
                "Turns a tokens file (written by musegen generate) into a playable Standard MIDI\n"
                "File: format 1, a tempo track and a note track, programs and velocities set,\n"
                "drums on channel 10. Given a dataset file instead, it writes one of its\n"
                "sequences (--split, --index), to hear what the model learns from.");
  p.positional("TOKENS", input, "a tokens file, or a dataset file (.mgds)")
      .option("out", out, "FILE", "the MIDI file to write (default: TOKENS with the extension .mid)")
      .option("tempo", d.tempo_bpm, "BPM", "tempo written to the file; notes and roll are played at it",
              cli::range(kMinTempoBpm, kMaxTempoBpm))
      .option("program", program, "N", "General MIDI program before any program token; 0 = piano", cli::range(0, 127))
      .option("velocity", velocity, "V", "velocity before any velocity token (notes, roll: all notes)",
              cli::range(1, 127))
      .option("split", split, "NAME", "dataset input: train, valid or test")
      .option("index", index, "I", "dataset input: which sequence of the split (checked against its size)",
              cli::range(0, 100'000'000))
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen to-midi out.tokens                      # writes out.mid\n"
          "  musegen to-midi out.tokens --out song.mid --tempo 90 --program 40\n"
          "  musegen to-midi jsb.mgds --split test --index 3 --out chorale.mid\n\n"
          "The tokens file is described in docs/formats.md.");
  if (!p.parse(args)) return 0;
  d.program = static_cast<int>(program);
  d.velocity = static_cast<int>(velocity);
  if (out.empty()) out = std::filesystem::path(input).replace_extension(".mid").string();
  cli::OutputCheck().input("the input", input).output("--out", out);

  midi::MidiFile file;
  if (is_dataset_file(input)) {
    const Dataset dataset = load_dataset(input);
    const std::vector<Sequence>* chosen = split == "train" ? &dataset.train
                                          : split == "valid" ? &dataset.valid
                                          : split == "test"  ? &dataset.test
                                                             : nullptr;
    if (!chosen) throw cli::UsageError("--split: expected train, valid or test, found \"" + split + "\"");
    if (index >= static_cast<std::int64_t>(chosen->size()))
      throw cli::UsageError("--index: expected 0.." + std::to_string(static_cast<std::int64_t>(chosen->size()) - 1) +
                            " (the " + split + " split has " + std::to_string(chosen->size()) +
                            " sequences), found " + std::to_string(index));
    file = dataset.codec.decode((*chosen)[static_cast<std::size_t>(index)], d);
  } else {
    auto [codec, sequence] = load_tokens(input);
    file = codec.decode(sequence, d);
  }
  midi::save(file, out);
  if (!quiet) {
    const midi::Performance performance = midi::extract_notes(file);
    double seconds = 0;
    for (const midi::Note& n : performance.notes) seconds = std::max(seconds, n.end_seconds);
    std::cout << "wrote " << out << ": " << performance.notes.size() << " notes, " << seconds
              << " s at " << d.tempo_bpm << " bpm\n";
  }
  return 0;
}

}  // namespace musegen
