// The notes encoding: the token grammar, a hand-made file whose tokens are written out by
// hand, the vocabulary builder, encode → decode → encode on every piano file, and the
// augmentations (transposition, stretch).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "test_support.hpp"
#include "codec.hpp"
#include "libmidi/io.hpp"
#include "preprocess.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

using test::data_dir;

TEST(NotesCodec, PitchNames) {
  EXPECT_EQ(pitch_name(60), "C4");
  EXPECT_EQ(pitch_name(61), "C#4");
  EXPECT_EQ(pitch_name(21), "A0");
  EXPECT_EQ(pitch_name(0), "C-1");
  EXPECT_EQ(pitch_name(127), "G9");
  for (int p = 0; p < 128; ++p) EXPECT_EQ(parse_pitch_name(pitch_name(p)), p);
  EXPECT_EQ(parse_pitch_name("Bb3"), 58);
  EXPECT_EQ(parse_pitch_name("H4"), -1);
  EXPECT_EQ(parse_pitch_name("G#9"), -1);  // 128
  EXPECT_EQ(parse_pitch_name("C10"), -1);
  EXPECT_EQ(parse_pitch_name("C"), -1);
}

TEST(NotesCodec, TokenGrammar) {
  const CodecParams p;  // grid 4, max_duration 16
  for (const char* good : {"C4:1/4", "C4.E4.G4:1/2", "A#3:3/4", "C4:1", "C4:3/2", "C4:2", "C4:3", "C4:4",
                           "wait:1/4", "wait:5/4", "wait:4"})
    EXPECT_NO_THROW(Codec::notes(p, {good})) << good;
  for (const char* bad : {"C4", "C4:", ":1", "C4:2/4", "C4:5/4", "C4:5", "C4:1/8", "wait:17/4", "wait:0",
                          "Db4:1", "E4.C4:1", "C4.C4:1", "C4..E4:1", "C4:+1", "c4:1", "wait:-1/4", "rest:1"})
    EXPECT_THROW(Codec::notes(p, {bad}), std::invalid_argument) << bad;
  EXPECT_THROW(Codec::notes(p, {"C4:1", "C4:1"}), std::invalid_argument);  // twice
}

// 480 ticks per quarter; grid 4 → 120 ticks per unit.
TEST(NotesCodec, HandMadeFile) {
  midi::MidiFile f;
  f.format = 0;
  f.division = midi::TimeDivision::ppq(480);
  f.tracks.resize(1);
  midi::Track& t = f.tracks[0];
  t.add_channel(480, 0x90, 64, 90);    // E4 from quarter 1 (leading silence dropped)
  t.add_channel(485, 0x90, 60, 90);    // C4 at 1.01 → unit 4, same onset
  t.add_channel(490, 0x90, 67, 90);    // G4 at 1.02 → unit 4
  t.add_channel(500, 0x99, 36, 90);    // drum: left out
  t.add_channel(520, 0x89, 36, 0);
  t.add_channel(720, 0x80, 67, 0);     // G4 ends at 1.5 → 2 units = 1/2
  t.add_channel(960, 0x80, 60, 0);     // C4, E4 end at 2 → 4 units = 1
  t.add_channel(960, 0x80, 64, 0);
  t.add_channel(1020, 0x90, 72, 90);   // C5 at 2.125 → unit 9 (round half up of 8.5)
  t.add_channel(1620, 0x80, 72, 0);    // ends at 3.375 → unit 14: 5 units → snapped to 4 (tie: shorter)
  t.add_channel(12000, 0x90, 48, 90);  // C3 at 25 quarters → unit 100: a wait of 91 units
  t.add_channel(12000 + 20 * 480, 0x80, 48, 0);  // 20 quarters: shortened to 4
  t.add_end_of_track(12000 + 20 * 480);
  const CodecParams p;
  const Codec bare = Codec::notes(p, {});
  EncodeStats stats;
  const std::vector<std::string> expected = {
      "G4:1/2", "C4.E4:1", "wait:5/4", "C5:1", "wait:4", "wait:4", "wait:4", "wait:4", "wait:4", "wait:11/4", "C3:4"};
  EXPECT_EQ(bare.notes_token_names(piece_from_midi(f), &stats), expected);
  EXPECT_EQ(stats.notes, 6);
  EXPECT_EQ(stats.notes_dropped, 1);

  // With a vocabulary that lacks the chord, it is spelled as its notes; unknown tokens are
  // dropped and counted.
  const Codec c = Codec::notes(p, {"wait:4", "wait:5/4", "wait:11/4", "C4:1", "E4:1", "C5:1", "C3:4"});
  std::int64_t dropped = -1;
  const Sequence s = c.encode(f, "hand.mid", &dropped);
  EXPECT_EQ(dropped, 1);  // G4:1/2
  std::vector<std::string> names;
  for (std::int32_t id : s.tokens) names.push_back(c.token(id));
  EXPECT_EQ(names, (std::vector<std::string>{"C4:1", "E4:1", "wait:5/4", "C5:1", "wait:4", "wait:4", "wait:4",
                                              "wait:4", "wait:4", "wait:11/4", "C3:4"}));

  // Decoding at 60 bpm: one quarter = 1 s.
  DecodeOptions d;
  d.tempo_bpm = 60;
  d.velocity = 70;
  d.program = 5;
  const Piece back = c.decode_piece(s, d);
  ASSERT_EQ(back.notes.size(), 4u);
  EXPECT_EQ(back.notes[1].pitch, 64);
  EXPECT_DOUBLE_EQ(back.notes[1].end_seconds, 1.0);
  EXPECT_EQ(back.notes[2].pitch, 72);
  EXPECT_DOUBLE_EQ(back.notes[2].start_quarters, 1.25);
  EXPECT_DOUBLE_EQ(back.notes[3].start_seconds, 1.25 + 5 * 4 + 2.75);
  EXPECT_EQ(back.notes[3].velocity, 70);
  EXPECT_EQ(back.notes[3].program, 5);
}

// A key sounds once at a time: a note ends by the time its pitch starts again, and of two
// notes of a pitch starting together the longer one stays (encoder and decoder alike).
TEST(NotesCodec, OverlapsOfOnePitch) {
  const CodecParams p;
  const auto note = [](int pitch, double start, double end) {
    PieceNote n;
    n.pitch = pitch;
    n.start_quarters = start;
    n.end_quarters = end;
    return n;
  };
  Piece piece;
  piece.notes = {note(60, 0, 2), note(60, 1, 1.5), note(60, 1, 1.25), note(64, 0, 3)};
  const Codec bare = Codec::notes(p, {});
  EXPECT_EQ(bare.notes_token_names(piece),
            (std::vector<std::string>{"C4:1", "E4:3", "wait:1", "C4:1/2"}));
  // The decoder cuts C4:2 at the next C4 and keeps the longer of the two C4s at 1.
  const Codec c = Codec::notes(p, {"C4:2", "wait:1", "C4:1/2", "C4:1/4"});
  Sequence s;
  s.tokens = {0, 1, 3, 2};
  const Piece back = c.decode_piece(s);
  ASSERT_EQ(back.notes.size(), 2u);
  EXPECT_DOUBLE_EQ(back.notes[0].end_quarters, 1);
  EXPECT_DOUBLE_EQ(back.notes[1].start_quarters, 1);
  EXPECT_DOUBLE_EQ(back.notes[1].end_quarters, 1.5);
}

TEST(NotesCodec, VocabularyBuilder) {
  CodecParams p;
  p.max_duration = 4;  // waits 1/4 .. 1
  const std::vector<std::vector<std::string>> pieces = {
      {"C4.E4:1", "G4:1/2", "C4.E4:1", "wait:1/4", "D4.F4:1/2"}, {"G4:1/2", "C4.E4:1", "F4:1/2"}};
  const std::vector<std::string> expected = {"wait:1/4", "wait:1/2", "wait:3/4", "wait:1",
                                             "C4.E4:1", "F4:1/2", "G4:1/2", "D4:1/2"};
  // C4.E4 (3 times) stays; D4.F4 (once) becomes D4:1/2 and F4:1/2 (F4: 2 in all).
  EXPECT_EQ(build_notes_vocabulary(p, pieces, 2), expected);
  EXPECT_EQ(build_notes_vocabulary(p, pieces, 1).size(), 8u);
  EXPECT_THROW(build_notes_vocabulary(p, {{"C4:5"}}, 1), std::invalid_argument);
}

TEST(NotesCodec, EncodeDecodeEncodeOnPianoFiles) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const fs::path piano = fs::path(data_dir()) / "classical-piano-composer" / "midi_songs";
  if (!fs::exists(piano)) GTEST_SKIP() << piano << " is missing";
  PreprocessOptions o;
  o.encoding = Encoding::notes;
  o.valid_fraction = 0;
  const Dataset d = preprocess({piano}, o);
  EXPECT_EQ(d.train.size(), 92u);
  EXPECT_LT(d.codec.vocab_size(), 1200);
  for (const Sequence& s : d.train) {
    const midi::MidiFile reread = midi::read(midi::write(d.codec.decode(s)));
    std::int64_t dropped = -1;
    EXPECT_EQ(d.codec.encode(reread, s.source, &dropped).tokens, s.tokens) << s.source;
    EXPECT_EQ(dropped, 0);
  }
}

TEST(Augmentation, TransposeAndStretch) {
  Piece p;
  PieceNote a;
  a.pitch = 120;
  a.start_quarters = 1;
  a.end_quarters = 2;
  a.start_seconds = 0.5;
  a.end_seconds = 1;
  PieceNote drum = a;
  drum.drum = true;
  drum.pitch = 36;
  p.notes = {a, drum};
  Piece q = p;
  EXPECT_FALSE(transpose_piece(q, 8));  // 128: refused, untouched
  EXPECT_EQ(q.notes[0].pitch, 120);
  EXPECT_TRUE(transpose_piece(q, 7));
  EXPECT_EQ(q.notes[0].pitch, 127);
  EXPECT_EQ(q.notes[1].pitch, 36);  // drums are not transposed
  stretch_piece(q, 1.5);
  EXPECT_DOUBLE_EQ(q.notes[0].start_quarters, 1.5);
  EXPECT_DOUBLE_EQ(q.notes[0].end_seconds, 1.5);
  EXPECT_THROW(stretch_piece(q, 0), std::invalid_argument);

  // On a real file, a transposition moves every token's pitches and nothing else.
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set";
  const fs::path file = fs::path(data_dir()) / "classical-piano-composer" / "midi_songs" / "8.mid";
  if (!fs::exists(file)) GTEST_SKIP() << file << " is missing";
  const Piece original = piece_from_midi(midi::load(file));
  Piece up = original;
  ASSERT_TRUE(transpose_piece(up, 3));
  const Codec events;
  const Sequence e0 = events.encode(original, ""), e3 = events.encode(up, "");
  ASSERT_EQ(e0.tokens.size(), e3.tokens.size());
  for (std::size_t i = 0; i < e0.tokens.size(); ++i) {
    const bool note_token = e0.tokens[i] < 256;
    EXPECT_EQ(e3.tokens[i], e0.tokens[i] + (note_token ? 3 : 0)) << i;
  }
}

}  // namespace
}  // namespace musegen
