// The tokens file (generate → to-midi): its exact text, round trips for each encoding, and
// errors that name file and line.
#include <gtest/gtest.h>

#include <filesystem>

#include "codec.hpp"
#include "tokens_file.hpp"

namespace musegen {
namespace {

Sequence events_sequence(const Codec& c, std::initializer_list<const char*> names) {
  Sequence s;
  s.source = "hand";
  for (const char* n : names) s.tokens.push_back(c.find(n));
  return s;
}

TEST(TokensFile, ExactTextOfAnEventsSequence) {
  const Codec c;
  const Sequence s = events_sequence(c, {"velocity_bin:20", "note_on:60", "shift:500ms", "note_off:60"});
  EXPECT_EQ(format_tokens(c, s),
            "musegen tokens 1\n"
            "encoding events\n"
            "step_ms 10\n"
            "max_shift_steps 100\n"
            "velocity_bins 32\n"
            "source hand\n"
            "steps 4\n"
            "tokens\n"
            "velocity_bin:20\nnote_on:60\nshift:500ms\nnote_off:60\n");
}

TEST(TokensFile, RollFramesAreKeyNames) {
  const Codec c = Codec::roll(2);
  Sequence s = Sequence::of_frames("", 88, std::vector<std::uint8_t>(3 * 88, 0));
  s.frames[0] = 1;             // A0 in frame 0
  s.frames[88 + 39] = 1;       // C4 in frame 1
  s.frames[88 + 43] = 1;       // E4 in frame 1
  const std::string text = format_tokens(c, s);
  EXPECT_EQ(text, "musegen tokens 1\nencoding roll\nframes_per_quarter 2\nsteps 3\nframes\nA0\nC4 E4\n-\n");
  auto [codec, back] = parse_tokens(text, "r.tokens");
  EXPECT_EQ(codec.encoding(), Encoding::roll);
  EXPECT_EQ(codec.params().frames_per_quarter, 2);
  EXPECT_EQ(back.frames, s.frames);
}

TEST(TokensFile, RoundTripEachEncoding) {
  const Codec events;
  const Sequence e = events_sequence(events, {"program:40", "velocity_bin:3", "note_on:0", "drums", "note_on:127",
                                              "shift:1000ms", "note_off:127", "program:40", "note_off:0"});
  auto [ce, se] = parse_tokens(format_tokens(events, e), "e");
  EXPECT_EQ(se.tokens, e.tokens);
  EXPECT_EQ(se.source, "hand");
  EXPECT_EQ(ce.vocabulary(), events.vocabulary());

  CodecParams p;
  p.grid = 3;
  p.max_duration = 9;
  const Codec notes = Codec::notes(p, {"wait:1/3", "C4.E4.G4:2/3", "A#3:3", "wait:1"});
  Sequence n;
  n.tokens = {1, 0, 2, 3, 1};
  auto [cn, sn] = parse_tokens(format_tokens(notes, n), "n");
  ASSERT_EQ(sn.tokens.size(), n.tokens.size());
  for (std::size_t i = 0; i < n.tokens.size(); ++i) EXPECT_EQ(cn.token(sn.tokens[i]), notes.token(n.tokens[i]));
  EXPECT_EQ(cn.params().grid, 3);
}

TEST(TokensFile, FileIsWrittenAndRead) {
  const auto path = std::filesystem::temp_directory_path() / "musegen_tokens_test.tokens";
  const Codec c;
  const Sequence s = events_sequence(c, {"note_on:60", "shift:10ms", "note_off:60"});
  save_tokens(path, c, s);
  auto [codec, back] = load_tokens(path);
  EXPECT_EQ(back.tokens, s.tokens);
  std::filesystem::remove(path);
  EXPECT_THROW(load_tokens(path), std::system_error);
}

std::string error_of(const std::string& text) {
  try {
    parse_tokens(text, "g.tokens");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(TokensFile, ErrorsNameFileAndLine) {
  const std::string head = "musegen tokens 1\nencoding events\nstep_ms 10\nmax_shift_steps 100\nvelocity_bins 32\n";
  EXPECT_EQ(error_of(""), "g.tokens:0: expected \"musegen tokens 1\", found the end of the file");
  EXPECT_EQ(error_of("MThd"), "g.tokens:1: expected \"musegen tokens 1\" (a musegen tokens file), found \"MThd\"");
  EXPECT_EQ(error_of("musegen tokens 2\n"), "g.tokens:1: expected tokens format version 1..1, found \"2\"");
  EXPECT_EQ(error_of(head + "tokens\nnote_on:60\nnote_on:128\n"),
            "g.tokens:8: expected an events token (note_on:60, note_off:60, shift:10ms, velocity_bin:1, "
            "program:0, drums), found \"note_on:128\"");
  EXPECT_EQ(error_of("musegen tokens 1\nencoding events\nstep_ms 10\ntokens\n"),
            "g.tokens:4: expected a header line \"max_shift_steps ...\" before the tokens, found \"tokens\"");
  EXPECT_EQ(error_of("musegen tokens 1\nencoding chords\ntokens\n"),
            "g.tokens:3: expected encoding notes, events or roll in the header, found \"chords\"");
  EXPECT_EQ(error_of(head + "frames\n"), "g.tokens:6: expected tokens, found \"frames\"");
  EXPECT_EQ(error_of(head + "steps 3\ntokens\nnote_on:60\n"),
            "g.tokens: expected 3 tokens as the header says, found 1 (a truncated file?)");
  EXPECT_EQ(error_of("musegen tokens 1\nencoding notes\ngrid 4\nmax_duration 16\ntokens\nC4:1\nC4.C4:1\n"),
            "g.tokens:7: expected a notes token (C4.E4.G4:1/2, wait:1/4) on the 1/4 grid, found \"C4.C4:1\"");
  EXPECT_EQ(error_of("musegen tokens 1\nencoding roll\nframes_per_quarter 4\nframes\nC4 H4\n"),
            "g.tokens:5: expected piano key names A0..C8 separated by single spaces, found \"H4\"");
  EXPECT_EQ(error_of("musegen tokens 1\nencoding roll\nframes_per_quarter 0\nframes\n"),
            "g.tokens:4: expected valid parameters (roll: frames per quarter: expected 1..96, found 0), found \"frames\"");
}

}  // namespace
}  // namespace musegen
