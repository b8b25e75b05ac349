// The dataset file and the JSB chorales reader: JSB frames against Python's json module,
// save/load round trips, every truncation and every corrupted byte refused with a message
// naming the file, JSON errors with line and column, the seeded split.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "test_support.hpp"
#include "dataset.hpp"
#include "jsb.hpp"
#include "libnn/io/atomic_file.hpp"
#include "preprocess.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

using test::data_dir;

using test::run_capture;

using test::python_has;

fs::path temp_dir() { return test::fresh_temp_dir("musegen_dataset_test"); }

Sequence tokens_sequence(std::string source, std::vector<std::int32_t> tokens) {
  Sequence s;
  s.source = std::move(source);
  s.tokens = std::move(tokens);
  return s;
}

Sequence roll_sequence(std::string source, std::int64_t steps, int seed) {
  Sequence s = Sequence::of_frames(std::move(source), kRollKeys);
  s.frames.resize(static_cast<std::size_t>(steps) * kRollKeys);
  for (std::size_t i = 0; i < s.frames.size(); ++i) s.frames[i] = ((i * 7 + static_cast<std::size_t>(seed)) % 5) == 0;
  return s;
}

void expect_same(const Dataset& a, const Dataset& b) {
  EXPECT_EQ(a.codec.encoding(), b.codec.encoding());
  EXPECT_EQ(a.codec.vocabulary(), b.codec.vocabulary());
  EXPECT_EQ(a.codec.parameter_list(), b.codec.parameter_list());
  EXPECT_EQ(a.summary, b.summary);
  EXPECT_EQ(a.options, b.options);
  const std::vector<Sequence>* sa[] = {&a.train, &a.valid, &a.test};
  const std::vector<Sequence>* sb[] = {&b.train, &b.valid, &b.test};
  for (int s = 0; s < 3; ++s) {
    ASSERT_EQ(sa[s]->size(), sb[s]->size());
    for (std::size_t i = 0; i < sa[s]->size(); ++i) {
      EXPECT_EQ((*sa[s])[i].source, (*sb[s])[i].source);
      EXPECT_EQ((*sa[s])[i].tokens, (*sb[s])[i].tokens);
      EXPECT_EQ((*sa[s])[i].frames, (*sb[s])[i].frames);
    }
  }
}

Dataset small_events_dataset() {
  Dataset d;
  d.codec = Codec::events(CodecParams{});
  d.train = {tokens_sequence("a.mid", {356 + 10, 60, 256 + 49, 128 + 60}), tokens_sequence("b.mid", {})};
  d.valid = {tokens_sequence("c.mid", {62, 256, 128 + 62, 516, 36})};
  d.summary = "summary\nlines";
  d.options = "encoding=events";
  return d;
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(DatasetFile, RoundTripEachEncoding) {
  const fs::path dir = temp_dir();
  Dataset events = small_events_dataset();

  Dataset roll;
  roll.codec = Codec::roll(2);
  roll.train = {roll_sequence("x.json:train[0]", 5, 1), roll_sequence("x.json:train[1]", 0, 2)};
  roll.valid = {roll_sequence("x.json:valid[0]", 3, 3)};
  roll.test = {roll_sequence("x.json:test[0]", 7, 4)};

  Dataset notes;
  CodecParams p;
  notes.codec = Codec::notes(p, {"wait:1/4", "C4.E4.G4:1/2", "A#3:1"});
  notes.train = {tokens_sequence("n.mid", {1, 0, 2, 1})};

  for (const Dataset* d : {&events, &roll, &notes}) {
    const fs::path file = dir / (std::string(encoding_name(d->codec.encoding())) + ".mgds");
    save_dataset(file, *d);
    expect_same(*d, load_dataset(file));
  }
  fs::remove_all(dir);
}

TEST(DatasetFile, SaveRefusesInconsistentData) {
  const fs::path dir = temp_dir();
  Dataset d = small_events_dataset();
  d.train[0].tokens.push_back(517);
  EXPECT_THROW(save_dataset(dir / "bad.mgds", d), std::invalid_argument);
  Dataset r;
  r.codec = Codec::roll(4);
  r.train = {roll_sequence("r", 2, 0)};
  r.train[0].frames.pop_back();
  EXPECT_THROW(save_dataset(dir / "bad.mgds", r), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "bad.mgds"));
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Damaged files

TEST(DatasetFile, EveryTruncationIsRefused) {
  const std::vector<std::byte> bytes = encode_dataset(small_events_dataset());
  ASSERT_NO_THROW(decode_dataset(bytes, "whole.mgds"));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    try {
      decode_dataset(std::span(bytes.data(), n), "cut.mgds");
      ADD_FAILURE() << "a file truncated to " << n << " of " << bytes.size() << " bytes was accepted";
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("cut.mgds: byte ", 0), 0u) << message;
    }
  }
}

TEST(DatasetFile, EveryCorruptedByteIsRefused) {
  const std::vector<std::byte> bytes = encode_dataset(small_events_dataset());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::vector<std::byte> copy = bytes;
    copy[i] ^= std::byte{0x5A};
    try {
      decode_dataset(copy, "bad.mgds");
      ADD_FAILURE() << "a file with byte " << i << " corrupted was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("bad.mgds: byte ", 0), 0u) << e.what();
    }
  }
}

TEST(DatasetFile, OtherFilesAreRefusedByName) {
  const fs::path dir = temp_dir();
  const fs::path midi = dir / "song.mid";
  {
    std::ofstream out(midi, std::ios::binary);
    out << "MThd\0\0\0\6\0\0\0\1\0\x60MTrk\0\0\0\4\0\xFF\x2F\0";
  }
  try {
    load_dataset(midi);
    ADD_FAILURE() << "a MIDI file was read as a dataset";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("song.mid: byte 0"), std::string::npos) << m;
    EXPECT_NE(m.find("musegen dataset"), std::string::npos) << m;
  }
  EXPECT_THROW(load_dataset(dir / "missing.mgds"), std::system_error);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The JSB reader

std::string jsb_error(std::string_view text) {
  try {
    parse_jsb(text, "bad.json");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(JsbReader, ErrorsNameLineAndColumn) {
  EXPECT_EQ(jsb_error("{\"train\": [[[60, 64]]],\n \"valid\": [[[60,]]]}"),
            "bad.json:2:17: expected a pitch (an integer -1..127), found ']' in valid[0][0][1]");
  EXPECT_EQ(jsb_error("{\"train\": [[[60, 128]]]}"),
            "bad.json:1:18: expected a pitch (an integer -1..127), found 128 in train[0][0][1]");
  EXPECT_EQ(jsb_error("{\"train\": [[[60.5]]]}"),
            "bad.json:1:14: expected a pitch (an integer -1..127), found 60.5 in train[0][0][0]");
  EXPECT_EQ(parse_jsb("{\"train\": [[[60.0, -1, 61]]]}", "x").train[0][0], (std::vector<int>{60, 61}));
  EXPECT_EQ(jsb_error("{\"tran\": []}"), "bad.json:1:2: expected a key among \"train\", \"valid\", \"test\", found \"tran\"");
  EXPECT_EQ(jsb_error("{\"test\": [], \"test\": []}"), "bad.json:1:14: expected each key once, found \"test\"");
  EXPECT_EQ(jsb_error("{\"train\": [[[60]]]"), "bad.json:1:19: expected ',' or '}', found the end of the file");
  EXPECT_EQ(jsb_error("{\"train\": [[[60]]]} x"), "bad.json:1:21: expected the end of the file after the object, found 'x'");
  EXPECT_EQ(jsb_error("\n\n  [1]"), "bad.json:3:3: expected '{' starting the JSB chorales object, found '['");
  // The whole token that came instead of a separator (the hand-written reader showed its first byte).
  EXPECT_EQ(jsb_error("{\"train\": [[[60 61]]]}"),
            "bad.json:1:17: expected ',' or ']' in a time step (a list of pitches), found 61 in train[0][0][1]");
}

// A pitch is a JSON number whose value is an integer in -1..127, as Python's json module and
// int() read the file (jsb_oracle.py): 6e1 is 60. (The hand-written reader refused exponents.)
TEST(JsbReader, PitchesAreNumbersWithAnIntegralValue) {
  EXPECT_EQ(parse_jsb("{\"train\": [[[6e1, 0.64e2, -0, 127.0, -1.0]]]}", "x").train[0][0],
            (std::vector<int>{0, 60, 64, 127}));
  EXPECT_EQ(jsb_error("{\"train\": [[[6.05e1]]]}"),
            "bad.json:1:14: expected a pitch (an integer -1..127), found 6.05e1 in train[0][0][0]");
  EXPECT_EQ(jsb_error("{\"train\": [[[-2]]]}"),
            "bad.json:1:14: expected a pitch (an integer -1..127), found -2 in train[0][0][0]");
  EXPECT_EQ(jsb_error("{\"train\": [[[1e400]]]}"),
            "bad.json:1:14: expected a pitch (an integer -1..127), found 1e400 in train[0][0][0]");
  EXPECT_EQ(jsb_error("{\"train\": [[[99999999999999999999999]]]}"),
            "bad.json:1:14: expected a pitch (an integer -1..127), found 99999999999999999999999 in train[0][0][0]");
}

// A well-formed JSON document of the wrong shape: the value's line and column and its path.
TEST(JsbReader, WrongShapesNameThePathAndLine) {
  const std::string two_chorales = "{\"train\": [[[60]],\n  [[61],\n   [62, ";
  EXPECT_EQ(jsb_error(two_chorales + "[63]]]]}"),
            "bad.json:3:9: expected a pitch (an integer -1..127), found '[' in train[1][1][1]");
  EXPECT_EQ(jsb_error(two_chorales + "\"E4\"]]]}"),
            "bad.json:3:9: expected a pitch (an integer -1..127), found \"E4\" in train[1][1][1]");
  EXPECT_EQ(jsb_error(two_chorales + "true]]]}"),
            "bad.json:3:9: expected a pitch (an integer -1..127), found true in train[1][1][1]");
  EXPECT_EQ(jsb_error(two_chorales + "null]]]}"),
            "bad.json:3:9: expected a pitch (an integer -1..127), found null in train[1][1][1]");
  EXPECT_EQ(jsb_error("{\"valid\": [[[60], 61]]}"),
            "bad.json:1:19: expected a time step (a list of pitches), found 61 in valid[0][1]");
  EXPECT_EQ(jsb_error("{\"test\": [[[60]],\n {\"steps\": []}]}"),
            "bad.json:2:2: expected a chorale (a list of time steps), found '{' in test[1]");
  EXPECT_EQ(jsb_error("{\"train\": \"chorales.txt\"}"),
            "bad.json:1:11: expected a list of chorales, found \"chorales.txt\" in train");
  EXPECT_EQ(jsb_error("{\"tr\\\"ain\": []}"),
            "bad.json:1:2: expected a key among \"train\", \"valid\", \"test\", found \"tr\\\"ain\"");
}

// Syntax errors as nlohmann's parser finds them, said in the words of the format.
TEST(JsbReader, SyntaxErrorsSayWhatWasExpected) {
  EXPECT_EQ(jsb_error(""), "bad.json:1:1: expected '{' starting the JSB chorales object, found the end of the file");
  EXPECT_EQ(jsb_error("{\"train\" []}"), "bad.json:1:10: expected ':' after the key, found '[' in train");
  EXPECT_EQ(jsb_error("{\"train\": [],}"),
            "bad.json:1:14: expected a key among \"train\", \"valid\", \"test\", found '}'");
  EXPECT_EQ(jsb_error("{\"train\": [[[60]] [[61]]]}"),
            "bad.json:1:19: expected ',' or ']' in the list of chorales, found '[' in train[1]");
  // The lexer's own complaints, at the byte where it stopped.
  EXPECT_EQ(jsb_error("{\"train\": [[[60, -]]]}"),
            "bad.json:1:19: invalid number; expected digit after '-', found ']' in train[0][0][1]");
  EXPECT_EQ(jsb_error("{\"train\": [[[\"ab\ncd\"]]]}"),
            "bad.json:1:17: invalid string: control character U+000A (LF) must be escaped to \\u000A or \\n, "
            "found byte 10 in train[0][0][0]");
}

TEST(JsbReader, PiecesAreRunsOfSteps) {
  const JsbChorales j = parse_jsb(R"({"train": [[[60, 64], [60, -1], [], [60]]], "test": []})", "x");
  ASSERT_EQ(j.train.size(), 1u);
  EXPECT_TRUE(j.valid.empty());
  const Piece p = jsb_piece(j.train[0], 2, 120);
  // 60 held over steps 0-1, 64 in step 0, 60 again in step 3; 2 frames per quarter.
  ASSERT_EQ(p.notes.size(), 3u);
  EXPECT_EQ(p.notes[0].pitch, 60);
  EXPECT_DOUBLE_EQ(p.notes[0].start_quarters, 0);
  EXPECT_DOUBLE_EQ(p.notes[0].end_quarters, 1);
  EXPECT_DOUBLE_EQ(p.notes[0].end_seconds, 0.5);
  EXPECT_EQ(p.notes[1].pitch, 64);
  EXPECT_DOUBLE_EQ(p.notes[1].end_quarters, 0.5);
  EXPECT_EQ(p.notes[2].pitch, 60);
  EXPECT_DOUBLE_EQ(p.notes[2].start_quarters, 1.5);
  EXPECT_DOUBLE_EQ(p.notes[2].end_quarters, 2);
}

// Every JSB file: the roll frames of the dataset are the file's time steps as Python reads them.
TEST(JsbReader, RollFramesMatchPythonJson) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set (the JSB chorales are needed)";
  if (!python_has("json")) GTEST_SKIP() << "/usr/bin/python3 is not available";
  for (const char* name : {"jsb-chorales-quarter.json", "jsb-chorales-16th.json", "Jsb16thSeparated.json"}) {
    const fs::path file = fs::path(data_dir()) / "jsb-chorales" / name;
    if (!fs::exists(file)) GTEST_SKIP() << file << " is missing";
    std::string expected;
    ASSERT_TRUE(run_capture("/usr/bin/python3 " MUSEGEN_TEST_DIR "/jsb_oracle.py '" + file.string() + "'", expected));
    PreprocessOptions o;
    o.encoding = Encoding::roll;
    o.params.frames_per_quarter = 0;  // the file's own
    const Dataset d = preprocess({file}, o);
    EXPECT_EQ(d.codec.params().frames_per_quarter, jsb_frames_per_quarter(file));
    std::ostringstream actual;
    const std::pair<const char*, const std::vector<Sequence>*> splits[] = {
        {"train", &d.train}, {"valid", &d.valid}, {"test", &d.test}};
    for (const auto& [split, sequences] : splits) {
      for (std::size_t i = 0; i < sequences->size(); ++i) {
        const Sequence& s = (*sequences)[i];
        EXPECT_EQ(s.source, file.filename().string() + ":" + split + "[" + std::to_string(i) + "]");
        for (std::int64_t t = 0; t < s.steps(); ++t) {
          actual << split << " " << i << " " << t << ":";
          for (int k = 0; k < kRollKeys; ++k)
            if (s.frames[static_cast<std::size_t>(t * kRollKeys + k)]) actual << " " << kRollLowestPitch + k;
          actual << "\n";
        }
      }
    }
    // Trailing silent steps cannot be represented by notes; the published files have none
    // at the end of a chorale except where Python shows them, so compare whole texts.
    EXPECT_EQ(actual.str(), expected) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// The split

TEST(Split, SeededPermutationIsAPermutationAndDeterministic) {
  for (std::size_t n : {0u, 1u, 2u, 10u, 92u}) {
    const auto a = seeded_permutation(n, 5), b = seeded_permutation(n, 5);
    EXPECT_EQ(a, b);
    EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), n);
  }
  EXPECT_NE(seeded_permutation(92, 1), seeded_permutation(92, 2));
}

TEST(Split, MidiFolderSplitIsSeededAndByFile) {
  if (data_dir().empty()) GTEST_SKIP() << "MUSEGEN_DATA_DIR is not set (the piano MIDI files are needed)";
  const fs::path folder = fs::path(data_dir()) / "classical-piano-composer" / "midi_songs";
  if (!fs::exists(folder)) GTEST_SKIP() << folder << " is missing";
  PreprocessOptions o;
  o.encoding = Encoding::roll;
  o.valid_fraction = 0.2;
  const auto sources = [&](std::uint64_t seed) {
    o.seed = seed;
    const Dataset d = preprocess({folder}, o);
    std::set<std::string> train, valid;
    for (const Sequence& s : d.train) train.insert(s.source);
    for (const Sequence& s : d.valid) valid.insert(s.source);
    EXPECT_EQ(train.size() + valid.size(), 92u);
    EXPECT_EQ(valid.size(), 18u);  // round(0.2 * 92)
    for (const std::string& v : valid) EXPECT_EQ(train.count(v), 0u) << v;
    return valid;
  };
  EXPECT_EQ(sources(3), sources(3));
  EXPECT_NE(sources(3), sources(4));
}

}  // namespace
}  // namespace musegen
