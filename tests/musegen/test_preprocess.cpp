// The two commands end to end, called as main() calls them: preprocess on the JSB chorales
// and a MIDI folder, to-midi on a tokens file and on a dataset; --help; bad usage.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "test_support.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "libmidi/io.hpp"
#include "libmidi/notes.hpp"
#include "midi_files.hpp"
#include "preprocess.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

using test::data_dir;

fs::path temp_dir() { return test::fresh_temp_dir("musegen_preprocess_test"); }

// Runs a command with stdout captured.
int run(int (*command)(Args), std::vector<std::string> args, std::string* out = nullptr) {
  std::ostringstream captured;
  std::streambuf* old = std::cout.rdbuf(captured.rdbuf());
  int rc;
  try {
    rc = command(args);
  } catch (...) {
    std::cout.rdbuf(old);
    throw;
  }
  std::cout.rdbuf(old);
  if (out) *out = captured.str();
  return rc;
}

TEST(PreprocessCommand, HelpListsEveryOption) {
  std::string help;
  EXPECT_EQ(run(cmd_preprocess, {"--help"}, &help), 0);
  for (const char* option : {"--out", "--encoding", "--frames-per-quarter", "--step-ms", "--velocity-bins", "--grid",
                             "--max-duration", "--min-chord-count", "--valid-fraction", "--seed", "--transpose",
                             "--stretch", "--strict", "--drums", "--sustain", "examples:"})
    EXPECT_NE(help.find(option), std::string::npos) << option;
  EXPECT_EQ(run(cmd_to_midi, {"--help"}, &help), 0);
  for (const char* option : {"--out", "--tempo", "--program", "--velocity", "--split", "--index", "examples:"})
    EXPECT_NE(help.find(option), std::string::npos) << option;
}

TEST(PreprocessCommand, BadUsage) {
  EXPECT_THROW(run(cmd_preprocess, {"x.mid", "--encoding", "chords"}), cli::UsageError);
  EXPECT_THROW(run(cmd_preprocess, {"x.mid", "--stretch", "1,abc"}), cli::UsageError);
  EXPECT_THROW(run(cmd_preprocess, {"x.mid", "--encoding", "roll", "--frames-per-quarter", "200"}), cli::UsageError);
  EXPECT_THROW(run(cmd_preprocess, {}), cli::UsageError);
  EXPECT_THROW(run(cmd_preprocess, {"/nonexistent/folder", "--quiet"}), std::runtime_error);
  EXPECT_THROW(run(cmd_to_midi, {"x.tokens", "--program", "128"}), cli::UsageError);
}

TEST(PreprocessCommand, JsbRollThenToMidi) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const fs::path jsb = fs::path(data_dir()) / "jsb-chorales" / "jsb-chorales-quarter.json";
  if (!fs::exists(jsb)) GTEST_SKIP() << jsb << " is missing";
  const fs::path dir = temp_dir();
  const std::string out = (dir / "jsb.mgds").string();
  std::string summary;
  ASSERT_EQ(run(cmd_preprocess, {"--encoding", "roll", "--out", out, jsb.string()}, &summary), 0);
  EXPECT_NE(summary.find("JSB: read 382 chorales"), std::string::npos) << summary;
  EXPECT_NE(summary.find("train: 229 sequences, 13807 steps"), std::string::npos) << summary;
  EXPECT_NE(summary.find("test: 77 sequences, 4725 steps"), std::string::npos) << summary;
  const Dataset d = load_dataset(out);
  EXPECT_EQ(d.codec.encoding(), Encoding::roll);
  EXPECT_EQ(d.codec.params().frames_per_quarter, 1);
  EXPECT_EQ(d.train.size(), 229u);
  EXPECT_EQ(d.summary, summary.substr(0, summary.rfind("wrote ")));

  // One test chorale to MIDI: as many notes as runs in its frames, at the tempo asked.
  const std::string mid = (dir / "chorale.mid").string();
  ASSERT_EQ(run(cmd_to_midi, {out, "--split", "test", "--index", "3", "--out", mid, "--tempo", "90", "--quiet"}), 0);
  const midi::MidiFile f = midi::load(mid);
  EXPECT_TRUE(f.warnings.empty());
  const auto notes = midi::extract_notes(f).notes;
  const Sequence& s = d.test[3];
  std::size_t runs = 0;
  for (int k = 0; k < kRollKeys; ++k)
    for (std::int64_t t = 0; t < s.steps(); ++t)
      runs += s.frames[static_cast<std::size_t>(t * 88 + k)] && (t == 0 || !s.frames[static_cast<std::size_t>((t - 1) * 88 + k)]);
  EXPECT_EQ(notes.size(), runs);
  EXPECT_EQ(midi::TempoMap(f).tempo_at(0), 666667u);  // 60e6 / 90
  EXPECT_THROW(run(cmd_to_midi, {out, "--split", "test", "--index", "77", "--quiet"}), cli::UsageError);
  fs::remove_all(dir);
}

TEST(PreprocessCommand, MidiFolderEventsWithAugmentationThenTokensToMidi) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const fs::path edge = fs::path(data_dir()) / "midi-edge-cases" / "midi";
  if (!fs::exists(edge)) GTEST_SKIP() << edge << " is missing";
  const fs::path dir = temp_dir();
  const std::string out = (dir / "edge.mgds").string();
  std::string summary;
  ASSERT_EQ(run(cmd_preprocess, {edge.string(), "--out", out, "--transpose", "1", "--stretch", "2", "--seed", "9"}, &summary), 0);
  // Files libmidi refuses are listed with the byte and the reason.
  EXPECT_NE(summary.find("test-not-a-midi-file.mid: byte 0: not a Standard MIDI File"), std::string::npos) << summary;
  EXPECT_NE(summary.find("test-empty.mid: no notes"), std::string::npos) << summary;
  EXPECT_NE(summary.find("repaired"), std::string::npos) << summary;
  const Dataset d = load_dataset(out);
  EXPECT_TRUE(d.test.empty());
  std::size_t originals = 0, transposed = 0, stretched = 0;
  for (const Sequence& s : d.train) {
    const bool t = s.source.find(" transposed ") != std::string::npos;
    const bool x = s.source.find(" stretched x2") != std::string::npos;
    originals += !t && !x;
    transposed += t && !x;
    stretched += x;
  }
  EXPECT_GT(originals, 0u);
  EXPECT_EQ(transposed, 2 * originals);  // -1 and +1 (no note of these files reaches 0 or 127)
  EXPECT_EQ(stretched, 3 * originals);   // x2 of the original and of both transpositions
  for (const Sequence& s : d.valid) EXPECT_EQ(s.source.find(" transposed "), std::string::npos);

  // A sequence of the dataset through a tokens file to MIDI.
  const fs::path tokens = dir / "one.tokens";
  save_tokens(tokens, d.codec, d.train[0]);
  ASSERT_EQ(run(cmd_to_midi, {tokens.string(), "--quiet"}), 0);
  const midi::MidiFile f = midi::load(dir / "one.mid");
  EXPECT_EQ(d.codec.encode(f, "again").tokens, d.train[0].tokens);
  fs::remove_all(dir);
}

// One rule for what a MIDI file is: a folder holding .mid, .kar, .rmi and .MIDI files (and a
// text file) gives the same files to preprocess and to eval.
TEST(MidiFiles, PreprocessAndEvalFindTheSameFiles) {
  const fs::path dir = temp_dir();
  // A one-track SMF: one quarter note, C4.
  const std::vector<std::uint8_t> smf = {
      'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96,
      'M', 'T', 'r', 'k', 0, 0, 0, 12, 0, 0x90, 60, 100, 96, 0x80, 60, 0, 0, 0xFF, 0x2F, 0};
  // The same wrapped as RIFF RMID (the SMF in the "data" chunk).
  std::vector<std::uint8_t> rmi = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'R', 'M', 'I', 'D', 'd', 'a', 't', 'a',
                                   static_cast<std::uint8_t>(smf.size()), 0, 0, 0};
  rmi.insert(rmi.end(), smf.begin(), smf.end());
  rmi[4] = static_cast<std::uint8_t>(rmi.size() - 8);
  fs::create_directories(dir / "in" / "sub");
  midi::write_file_atomically(dir / "in" / "a.mid", smf);
  midi::write_file_atomically(dir / "in" / "b.KAR", smf);
  midi::write_file_atomically(dir / "in" / "c.rmi", rmi);
  midi::write_file_atomically(dir / "in" / "sub" / "d.midi", smf);
  { std::ofstream(dir / "in" / "notes.txt") << "not music"; }

  const std::vector<fs::path> for_preprocess = find_midi_files({dir / "in"});
  const std::vector<fs::path> for_eval = collect_midi_files(std::vector<std::string>{(dir / "in").string()});
  EXPECT_EQ(for_preprocess, for_eval);
  ASSERT_EQ(for_eval.size(), 4u);
  EXPECT_EQ(for_eval[1].filename(), "b.KAR");
  EXPECT_EQ(for_eval[2].filename(), "c.rmi");

  // And each command reads all four: preprocess puts them in the dataset, eval measures them.
  const std::string out = (dir / "four.mgds").string();
  ASSERT_EQ(run(cmd_preprocess, {(dir / "in").string(), "--out", out, "--valid-fraction", "0"}), 0);
  const Dataset d = load_dataset(out);
  EXPECT_EQ(d.train.size() + d.valid.size(), 4u);
  std::string text;
  ASSERT_EQ(run(cmd_eval, {(dir / "in").string(), "--per-file"}, &text), 0);
  EXPECT_NE(text.find("(4 files)"), std::string::npos) << text;
  EXPECT_EQ(text.find("could not be read"), std::string::npos) << text;
}

}  // namespace
}  // namespace musegen
