// The events encoding: the vocabulary's layout, a hand-made file whose tokens are written
// out by hand, every real file against an independent Python + mido implementation
// (events_oracle.py), and encode → decode → encode on real files.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "test_support.hpp"
#include "codec.hpp"
#include "libmidi/io.hpp"
#include "preprocess.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

using test::data_dir;

using test::run_capture;

std::vector<std::string> names(const Codec& c, const Sequence& s) {
  std::vector<std::string> out;
  for (std::int32_t id : s.tokens) out.push_back(c.token(id));
  return out;
}

TEST(EventsCodec, VocabularyLayout) {
  const Codec c;
  EXPECT_EQ(c.encoding(), Encoding::events);
  EXPECT_EQ(c.vocab_size(), 388 + 128 + 1);
  EXPECT_EQ(c.token(0), "note_on:0");
  EXPECT_EQ(c.token(127), "note_on:127");
  EXPECT_EQ(c.token(128), "note_off:0");
  EXPECT_EQ(c.token(256), "shift:10ms");
  EXPECT_EQ(c.token(355), "shift:1000ms");
  EXPECT_EQ(c.token(356), "velocity_bin:1");
  EXPECT_EQ(c.token(387), "velocity_bin:32");
  EXPECT_EQ(c.token(388), "program:0");
  EXPECT_EQ(c.token(515), "program:127");
  EXPECT_EQ(c.token(516), "drums");
  EXPECT_EQ(c.find("shift:20ms"), 257);
  EXPECT_EQ(c.find("shift:25ms"), -1);
  EXPECT_THROW(c.token(517), std::out_of_range);
  EXPECT_EQ(c.describe(), "events: 10 ms steps up to 1000 ms, 32 velocity bins, 517 tokens");
}

// 120 bpm, 480 ticks per quarter: 1 ms = 0.96 tick.
TEST(EventsCodec, HandMadeFile) {
  midi::MidiFile f;
  f.format = 1;
  f.division = midi::TimeDivision::ppq(480);
  f.tracks.resize(2);
  midi::Track& t = f.tracks[1];
  t.add_channel(0, 0x90, 60, 100);      // C4 at 0 ms, bin (100-1)/4+1 = 25
  t.add_channel(0, 0x90, 64, 100);      // E4 at 0 ms, same bin: no velocity token
  t.add_channel(480, 0x80, 60, 0);      // C4 ends at 500 ms
  t.add_channel(480, 0x90, 60, 1);      // C4 again at 500 ms, bin 1: off before on
  t.add_channel(485, 0x99, 36, 127);    // kick at 505.2 ms → step 51, bin 32
  t.add_channel(490, 0x99, 36, 0);      // 510.4 ms → step 51: lengthened to step 52
  t.add_channel(490, 0xC1, 40);         // violin on channel 2
  t.add_channel(490, 0x91, 67, 64);     // G4 at step 51, bin 16
  t.add_channel(2000, 0x80, 60, 0);     // 2083.3 ms → step 208
  t.add_channel(2000, 0x80, 64, 0);
  t.add_channel(2000, 0x81, 67, 0);
  t.add_end_of_track(2000);
  const std::vector<std::string> expected = {
      "velocity_bin:25", "note_on:60", "note_on:64",
      "shift:500ms", "note_off:60", "velocity_bin:1", "note_on:60",
      "shift:10ms", "program:40", "velocity_bin:16", "note_on:67", "drums", "velocity_bin:32", "note_on:36",
      "shift:10ms", "note_off:36",
      "shift:1000ms", "shift:560ms", "program:0", "note_off:60", "note_off:64", "program:40", "note_off:67"};
  const Codec c;
  std::int64_t dropped = -1;
  const Sequence s = c.encode(f, "hand.mid", &dropped);
  EXPECT_EQ(names(c, s), expected);
  EXPECT_EQ(dropped, 0);

  // Decoding: the drum note on channel 10, the violin's program on its own channel.
  const midi::MidiFile back = c.decode(s);
  const Piece p = piece_from_midi(back);
  ASSERT_EQ(p.notes.size(), 5u);
  int drums = 0, violins = 0;
  for (const PieceNote& n : p.notes) {
    drums += n.drum;
    violins += n.program == 40;
    if (n.drum) {
      EXPECT_EQ(n.velocity, 1 + 31 * 4);
    }
  }
  EXPECT_EQ(drums, 1);
  EXPECT_EQ(violins, 1);
}

TEST(EventsCodec, VelocityBinsRoundTrip) {
  for (int bins : {1, 7, 32, 127}) {
    CodecParams p;
    p.velocity_bins = bins;
    const Codec c = Codec::events(p);
    for (int b = 1; b <= bins; ++b) {
      Sequence s;
      s.tokens = {c.find("velocity_bin:" + std::to_string(b)), c.find("note_on:60"), c.find("shift:10ms"),
                  c.find("note_off:60")};
      const Sequence again = c.encode(c.decode(s), "");
      EXPECT_EQ(names(c, again), names(c, s)) << bins << " bins, bin " << b;
    }
  }
}

// The real files: those libmidi reads without repairs and mido reads at all.
std::vector<fs::path> real_files() {
  std::vector<fs::path> files;
  for (const char* folder : {"classical-piano-composer/midi_songs", "midi-edge-cases/midi"}) {
    const fs::path dir = fs::path(data_dir()) / folder;
    if (!fs::exists(dir)) continue;
    for (const fs::path& f : find_midi_files({dir})) {
      try {
        if (midi::load(f).warnings.empty()) files.push_back(f);
      } catch (const std::exception&) {
      }
    }
  }
  return files;
}

TEST(EventsCodec, MatchesPythonMidoOracleOnRealFiles) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  std::string probe;
  if (!run_capture("/usr/bin/python3 -c 'import mido' 2>/dev/null", probe))
    GTEST_SKIP() << "/usr/bin/python3 cannot import mido (apt-get install python3-mido)";
  const std::vector<fs::path> files = real_files();
  ASSERT_GE(files.size(), 92u);
  std::string command = "/usr/bin/python3 " MUSEGEN_TEST_DIR "/events_oracle.py";
  for (const fs::path& f : files) command += " '" + f.string() + "'";
  std::string output;
  ASSERT_TRUE(run_capture(command, output));

  std::map<std::string, std::vector<std::string>> oracle;
  std::istringstream lines(output);
  std::string line, current;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) {
      current = line.find(" skipped ") == std::string::npos ? line.substr(2) : "";
      if (!current.empty()) oracle[current];
    } else if (!current.empty()) {
      oracle[current].push_back(line);
    }
  }
  const Codec c;
  std::size_t compared = 0, tokens = 0;
  for (const fs::path& f : files) {
    auto it = oracle.find(f.string());
    if (it == oracle.end()) continue;
    const std::vector<std::string> ours = names(c, c.encode(midi::load(f), f.string()));
    EXPECT_EQ(ours, it->second) << f;
    ++compared;
    tokens += ours.size();
  }
  EXPECT_GE(compared, 92u);
  EXPECT_GT(tokens, 200000u);
}

TEST(EventsCodec, EncodeDecodeEncodeOnRealFiles) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const Codec c;
  std::size_t checked = 0;
  for (const fs::path& f : real_files()) {
    const Sequence s = c.encode(midi::load(f), f.string());
    DecodeOptions d;
    d.tempo_bpm = 97;  // any tempo: events keep their times in seconds
    const midi::MidiFile reread = midi::read(midi::write(c.decode(s, d)));
    EXPECT_EQ(names(c, c.encode(reread, f.string())), names(c, s)) << f;
    ++checked;
  }
  EXPECT_GE(checked, 92u);
}

}  // namespace
}  // namespace musegen
