// The roll encoding: frames of a hand-made MIDI file written out by hand, key names, and
// encode → decode → encode on every JSB chorale and every piano file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "test_support.hpp"
#include "codec.hpp"
#include "jsb.hpp"
#include "libmidi/io.hpp"
#include "preprocess.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

using test::data_dir;

TEST(RollCodec, KeyNames) {
  const Codec c = Codec::roll(4);
  EXPECT_EQ(c.vocab_size(), 88);
  EXPECT_EQ(c.token(0), "A0");
  EXPECT_EQ(c.token(3), "C1");
  EXPECT_EQ(c.token(39), "C4");  // MIDI 60
  EXPECT_EQ(c.token(87), "C8");
  EXPECT_EQ(c.describe(), "roll: 88 keys (A0..C8), 4 frames per quarter note");
  EXPECT_THROW(Codec::roll(0), std::invalid_argument);
}

TEST(RollCodec, FramesOfAHandMadeFile) {
  midi::MidiFile f;
  f.format = 0;
  f.division = midi::TimeDivision::ppq(96);
  f.tracks.resize(1);
  midi::Track& t = f.tracks[0];
  // Added in tick order: ticks must not decrease within a track.
  t.add_channel(0, 0x90, 60, 100);    // C4: quarter 0..1   → frames 0..3
  t.add_channel(0, 0x90, 20, 100);    // below A0: left out
  t.add_channel(0, 0x99, 60, 100);    // drum: left out
  t.add_channel(10, 0x99, 60, 0);
  t.add_channel(40, 0x90, 64, 100);   // E4: tick 40..100 → frames round(1.67)=2 .. round(4.17)=4: 2, 3
  t.add_channel(48, 0x80, 20, 0);
  t.add_channel(96, 0x80, 60, 0);
  t.add_channel(96, 0x90, 108, 100);  // C8: tick 96..97 → frame 4 only (at least one frame)
  t.add_channel(97, 0x80, 108, 0);
  t.add_channel(100, 0x80, 64, 0);
  t.add_end_of_track(100);

  std::vector<std::uint8_t> expected(5 * 88, 0);
  for (int frame : {0, 1, 2, 3}) expected[frame * 88 + (60 - 21)] = 1;
  for (int frame : {2, 3}) expected[frame * 88 + (64 - 21)] = 1;
  expected[4 * 88 + 87] = 1;

  const Codec c = Codec::roll(4);
  EncodeStats stats;
  const Sequence s = c.encode(piece_from_midi(f), "hand.mid", &stats);
  EXPECT_EQ(s.source, "hand.mid");
  EXPECT_TRUE(s.tokens.empty());
  EXPECT_EQ(s.steps(), 5);
  EXPECT_EQ(s.frames, expected);
  EXPECT_EQ(stats.notes, 5);
  EXPECT_EQ(stats.notes_dropped, 2);

  // Decoding: one note per run, at the decode tempo.
  DecodeOptions d;
  d.tempo_bpm = 60;
  d.velocity = 90;
  const Piece back = c.decode_piece(s, d);
  ASSERT_EQ(back.notes.size(), 3u);
  EXPECT_EQ(back.notes[0].pitch, 60);
  EXPECT_DOUBLE_EQ(back.notes[0].end_seconds, 1.0);
  EXPECT_EQ(back.notes[0].velocity, 90);
  EXPECT_EQ(back.notes[1].pitch, 64);
  EXPECT_DOUBLE_EQ(back.notes[1].start_quarters, 0.5);
  EXPECT_EQ(back.notes[2].pitch, 108);
  EXPECT_DOUBLE_EQ(back.notes[2].start_seconds, 1.0);
  EXPECT_DOUBLE_EQ(back.notes[2].end_seconds, 1.25);
}

// encode(decode(frames)) == frames for any frames, checked on real ones, through a MIDI file
// written and read back by libmidi.
void expect_round_trip(const Codec& c, const Sequence& s) {
  const midi::MidiFile file = c.decode(s);
  const midi::MidiFile reread = midi::read(midi::write(file));
  const Sequence again = c.encode(reread, s.source);
  EXPECT_EQ(again.frames, s.frames) << s.source;
}

TEST(RollCodec, RoundTripJsbAndPiano) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const fs::path jsb = fs::path(data_dir()) / "jsb-chorales" / "jsb-chorales-16th.json";
  const fs::path piano = fs::path(data_dir()) / "classical-piano-composer" / "midi_songs";
  if (!fs::exists(jsb) || !fs::exists(piano)) GTEST_SKIP() << "the JSB chorales or the piano files are missing";
  PreprocessOptions o;
  o.encoding = Encoding::roll;
  o.params.frames_per_quarter = 0;
  const Dataset j = preprocess({jsb}, o);
  for (const auto* split : {&j.train, &j.valid, &j.test})
    for (const Sequence& s : *split) {
      // Trailing silence is not a note: compare up to the last sounding frame.
      Sequence trimmed = s;
      while (!trimmed.frames.empty() &&
             std::all_of(trimmed.frames.end() - 88, trimmed.frames.end(), [](std::uint8_t v) { return v == 0; }))
        trimmed.frames.resize(trimmed.frames.size() - 88);
      expect_round_trip(j.codec, trimmed);
    }
  o.params.frames_per_quarter = 4;
  o.valid_fraction = 0;
  const Dataset p = preprocess({piano}, o);
  EXPECT_EQ(p.train.size(), 92u);
  for (const Sequence& s : p.train) expect_round_trip(p.codec, s);
}

}  // namespace
}  // namespace musegen
