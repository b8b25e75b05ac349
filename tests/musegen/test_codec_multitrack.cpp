// The multitrack encoding and its instruments: a hand-made piece whose tokens are written out
// by hand, encode → decode → encode and the grid's notes on every file of the music21
// multitrack corpus (computed here from the original notes, not by the codec), the parts
// piece_from_midi finds against an independent Python + mido reading (multitrack_oracle.py),
// the part-name table, ranges against the data, transposition, dropped parts and a decoder
// that takes any token sequence.
#include <gtest/gtest.h>

#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "codec.hpp"
#include "instruments.hpp"
#include "libmidi/io.hpp"
#include "multitrack.hpp"
#include "preprocess.hpp"
#include "test_support.hpp"

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

Sequence tokens_of(const Codec& c, const std::vector<std::string>& token_names) {
  Sequence s;
  for (const std::string& name : token_names) {
    const std::int32_t id = c.find(name);
    EXPECT_GE(id, 0) << name;
    s.tokens.push_back(id);
  }
  return s;
}

const Codec& multitrack() {
  static const Codec codec = Codec::make(Encoding::multitrack, CodecParams{});
  return codec;
}

PieceNote note(int track, int pitch, double start, double end, int program = 0) {
  PieceNote n;
  n.track = track;
  n.pitch = pitch;
  n.program = program;
  n.start_quarters = start;
  n.end_quarters = end;
  n.start_seconds = start / 2;
  n.end_seconds = end / 2;
  return n;
}

// --- the corpus ----------------------------------------------------------------------------

const char* const kFolders[] = {"quartets", "chorales", "madrigals"};

fs::path corpus() { return fs::path(data_dir()) / "music21-multitrack"; }

// Why the corpus cannot be used, or "".
std::string corpus_missing() {
  if (data_dir().empty()) return "MUSEGEN_DATA_DIR is not set";
  for (const char* folder : kFolders)
    if (!fs::is_directory(corpus() / folder)) return (corpus() / folder).string() + " is missing";
  return "";
}

std::vector<fs::path> files_of(const std::string& folder) {
  return find_midi_files({corpus() / folder});
}

// The corpus's files are read as music21 wrote them: grace notes are notes of no length whose
// note-off comes first (its README).
Piece read_parts(const fs::path& file) {
  return piece_from_midi(midi::load(file), midi::NoteOptions().zero_length_off_first(true));
}

// --- the vocabulary and a hand-made piece ----------------------------------------------------

TEST(MultitrackCodec, VocabularyLayout) {
  const Codec& c = multitrack();
  EXPECT_EQ(c.encoding(), Encoding::multitrack);
  EXPECT_EQ(c.vocab_size(), 27 + 6 * 88 + 16 + 16);
  EXPECT_EQ(c.token(0), "inst:piano");
  EXPECT_EQ(c.token(4), "inst:violin");
  EXPECT_EQ(c.token(26), "inst:strings");
  EXPECT_EQ(c.token(27), "t0:A0");
  EXPECT_EQ(c.token(27 + 39), "t0:C4");
  EXPECT_EQ(c.token(27 + 87), "t0:C8");
  EXPECT_EQ(c.token(27 + 88), "t1:A0");
  EXPECT_EQ(c.token(27 + 5 * 88 + 87), "t5:C8");
  EXPECT_EQ(c.token(27 + 6 * 88), "dur:1");
  EXPECT_EQ(c.token(27 + 6 * 88 + 15), "dur:16");
  EXPECT_EQ(c.token(27 + 6 * 88 + 16), "wait:1");
  EXPECT_EQ(c.token(586), "wait:16");
  EXPECT_THROW(c.token(587), std::out_of_range);
  EXPECT_EQ(c.find("t6:C4"), -1);
  EXPECT_EQ(c.find("dur:17"), -1);
  EXPECT_EQ(c.describe(),
            "multitrack: grid 1/4 quarter, durations and waits up to 16 units, 6 parts, 27 "
            "instruments, 587 tokens");
}

// Grid 4 (units of a sixteenth), durations and waits up to 16 units.
TEST(MultitrackCodec, HandMadePiece) {
  Piece piece;
  piece.tracks = {{"Violin I.", 40, false}, {"Violoncello", 42, false}};
  piece.notes = {
      note(0, 76, 0, 1, 40),        // E5, 4 units
      note(1, 48, 0, 2, 42),        // C3 + G3: a chord of the cello, 8 units
      note(1, 55, 0, 2, 42),        //
      note(0, 110, 0, 1, 40),       // D8: above C8, dropped
      note(0, 79, 1, 1.5, 40),      // G5 at unit 4, 2 units
      note(0, 81, 2.5, 8.25, 40),   // A5 at unit 10 after a rest, 23 units: dur:16 dur:7
      note(1, 36, 2.49, 3, 42),     // C2 at 9.96 → unit 10 (after the violin), to 12
      note(0, 83, 3.125, 3.5, 40),  // B5 at 12.5 → 13 (half up), to 14
      note(1, 52, 4, 4, 42),        // E3 of no length at 16: one unit
  };
  EncodeStats stats;
  const Sequence s = multitrack().encode(piece, "hand", &stats);
  const std::vector<std::string> expected = {
      "inst:violin", "inst:cello",                                       // the ensemble
      "t0:E5",       "dur:4",      "t1:C3",  "dur:8", "t1:G3", "dur:8",  // at 0
      "wait:4",      "t0:G5",      "dur:2",                              // at 4
      "wait:6",      "t0:A5",      "dur:16", "dur:7", "t1:C2", "dur:2",  // at 10
      "wait:3",      "t0:B5",      "dur:1",                              // at 13
      "wait:3",      "t1:E3",      "dur:1"};                             // at 16
  EXPECT_EQ(names(multitrack(), s), expected);
  EXPECT_EQ(stats.notes, 9);
  EXPECT_EQ(stats.notes_dropped, 1);

  // Decoding at 60 bpm (a quarter is a second): the parts come back as their instruments.
  DecodeOptions d;
  d.tempo_bpm = 60;
  d.velocity = 70;
  const Piece back = multitrack().decode_piece(s, d);
  ASSERT_EQ(back.tracks.size(), 2u);
  EXPECT_EQ(back.tracks[0].name, "Violin");
  EXPECT_EQ(back.tracks[0].program, 40);
  EXPECT_EQ(back.tracks[1].name, "Cello");
  EXPECT_EQ(back.tracks[1].program, 42);
  using Row = std::tuple<int, double, double, int>;  // part, start, end (quarters), pitch
  std::vector<Row> rows;
  for (const PieceNote& n : back.notes) {
    rows.emplace_back(n.track, n.start_quarters, n.end_quarters, n.pitch);
    EXPECT_DOUBLE_EQ(n.start_seconds, n.start_quarters);
    EXPECT_DOUBLE_EQ(n.end_seconds, n.end_quarters);
    EXPECT_EQ(n.velocity, 70);
    EXPECT_EQ(n.program, n.track == 0 ? 40 : 42);
    EXPECT_FALSE(n.drum);
  }
  const std::vector<Row> expected_rows = {{0, 0, 1, 76},      {1, 0, 2, 48},      {1, 0, 2, 55},
                                          {0, 1, 1.5, 79},    {0, 2.5, 8.25, 81}, {1, 2.5, 3, 36},
                                          {0, 3.25, 3.5, 83}, {1, 4, 4.25, 52}};
  EXPECT_EQ(rows, expected_rows);
  EXPECT_EQ(names(multitrack(), multitrack().encode(back, "")), expected);

  // As MIDI: the tempo track, then one named track per part with its program.
  const midi::MidiFile file = multitrack().decode(s, d);
  ASSERT_EQ(file.tracks.size(), 3u);
  const Piece reread = piece_from_midi(midi::read(midi::write(file)));
  ASSERT_EQ(reread.tracks.size(), 2u);
  EXPECT_EQ(reread.tracks[0].name, "Violin");
  EXPECT_EQ(reread.tracks[0].program, 40);
  EXPECT_EQ(reread.tracks[1].name, "Cello");
  EXPECT_EQ(reread.tracks[1].program, 42);
  EXPECT_EQ(reread.notes.size(), back.notes.size());
}

// Two parts of one instrument are numbered in their track names.
TEST(MultitrackCodec, PartsOfOneInstrumentAreNumbered) {
  const Sequence s = tokens_of(multitrack(), {"inst:violin", "inst:viola", "inst:violin", "t0:C5",
                                              "t2:C5", "t1:C4", "dur:2"});
  const Piece back = multitrack().decode_piece(s);
  ASSERT_EQ(back.tracks.size(), 3u);
  EXPECT_EQ(back.tracks[0].name, "Violin 1");
  EXPECT_EQ(back.tracks[1].name, "Viola");
  EXPECT_EQ(back.tracks[2].name, "Violin 2");
  ASSERT_EQ(back.notes.size(), 3u);
  EXPECT_DOUBLE_EQ(back.notes[0].end_quarters, 0.25);  // no dur token: one unit
  EXPECT_DOUBLE_EQ(back.notes[2].end_quarters, 0.5);
}

// --- every file of the corpus ---------------------------------------------------------------

// A note on the grid: its part, onset, pitch and length in grid units.
struct GridNote {
  int part;
  std::int64_t onset;
  int pitch;
  std::int64_t units;
  auto operator<=>(const GridNote&) const = default;
};

std::int64_t half_up(double x) { return static_cast<std::int64_t>(std::floor(x + 0.5)); }

// What the encoding should keep of `piece`, worked out from its notes: the parts are the
// non-drum tracks in order, the first params.tracks of them; a note is kept when its part is
// one of them and its pitch A0..C8; its onset and end are rounded half up to the grid, its
// length at least one unit, and cut at the next later onset of its pitch in its part.
std::vector<GridNote> expected_grid_notes(const Piece& piece, const CodecParams& params,
                                          std::int64_t& dropped, std::int64_t& cut) {
  std::vector<int> part_of_track(piece.tracks.size(), -1);
  int parts = 0;
  for (std::size_t t = 0; t < piece.tracks.size(); ++t)
    if (!piece.tracks[t].drum && parts < params.tracks) part_of_track[t] = parts++;
  std::vector<GridNote> notes;
  for (const PieceNote& n : piece.notes) {
    const int part = n.track >= 0 ? part_of_track[static_cast<std::size_t>(n.track)] : -1;
    if (n.drum || part < 0 || n.pitch < 21 || n.pitch > 108) {
      ++dropped;
      continue;
    }
    const std::int64_t onset = half_up(n.start_quarters * params.grid);
    const std::int64_t end = half_up(n.end_quarters * params.grid);
    notes.push_back({part, onset, n.pitch, std::max<std::int64_t>(1, end - onset)});
  }
  std::sort(notes.begin(), notes.end(), [](const GridNote& a, const GridNote& b) {
    return std::tie(a.part, a.pitch, a.onset) < std::tie(b.part, b.pitch, b.onset);
  });
  for (std::size_t i = 0; i < notes.size(); ++i) {
    std::size_t j = i + 1;
    while (j < notes.size() && notes[j].part == notes[i].part && notes[j].pitch == notes[i].pitch &&
           notes[j].onset == notes[i].onset)
      ++j;
    if (j < notes.size() && notes[j].part == notes[i].part && notes[j].pitch == notes[i].pitch &&
        notes[j].onset - notes[i].onset < notes[i].units) {
      notes[i].units = notes[j].onset - notes[i].onset;
      ++cut;
    }
  }
  std::sort(notes.begin(), notes.end());
  return notes;
}

// The notes of a decoded piece on the grid; fails when a time is not on it.
std::vector<GridNote> decoded_grid_notes(const Piece& piece, int grid) {
  std::vector<GridNote> notes;
  for (const PieceNote& n : piece.notes) {
    const double onset = n.start_quarters * grid,
                 units = (n.end_quarters - n.start_quarters) * grid;
    EXPECT_EQ(onset, std::round(onset));
    EXPECT_EQ(units, std::round(units));
    notes.push_back({n.track, std::llround(onset), n.pitch, std::llround(units)});
  }
  std::sort(notes.begin(), notes.end());
  return notes;
}

using TimedNote = std::tuple<int, double, double, int>;  // part, start, end, pitch

std::vector<TimedNote> timed_notes(const Piece& piece) {
  std::vector<TimedNote> notes;
  for (const PieceNote& n : piece.notes)
    notes.emplace_back(n.track, n.start_quarters, n.end_quarters, n.pitch);
  std::sort(notes.begin(), notes.end());
  return notes;
}

std::string text(const GridNote& n) {
  return "part " + std::to_string(n.part) + " " + pitch_name(n.pitch) + " at unit " +
         std::to_string(n.onset) + " for " + std::to_string(n.units);
}
std::string text(const TimedNote& n) {
  std::ostringstream out;
  out << "part " << std::get<0>(n) << " " << pitch_name(std::get<3>(n)) << " " << std::get<1>(n)
      << ".." << std::get<2>(n);
  return out.str();
}

// "" when two sorted lists are equal, else how they differ (the first few of each side).
template <class T>
std::string differences(const std::vector<T>& expected, const std::vector<T>& got) {
  if (expected == got) return "";
  std::vector<T> missing, extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                      std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  std::string out = std::to_string(expected.size()) + " expected, " + std::to_string(got.size()) +
                    " found; " + std::to_string(missing.size()) + " missing, " +
                    std::to_string(extra.size()) + " extra";
  for (std::size_t i = 0; i < std::min<std::size_t>(missing.size(), 5); ++i)
    out += "\n  missing " + text(missing[i]);
  for (std::size_t i = 0; i < std::min<std::size_t>(extra.size(), 5); ++i)
    out += "\n  extra   " + text(extra[i]);
  return out;
}

// "" when two token sequences are equal, else where they first differ.
std::string token_differences(const Codec& c, const Sequence& expected, const Sequence& got) {
  if (expected.tokens == got.tokens) return "";
  std::size_t i = 0;
  while (i < expected.tokens.size() && i < got.tokens.size() && expected.tokens[i] == got.tokens[i])
    ++i;
  const auto around = [&](const Sequence& s) {
    std::string out;
    for (std::size_t k = i >= 4 ? i - 4 : 0; k < std::min(s.tokens.size(), i + 6); ++k)
      out += (k == i ? " [" : " ") + c.token(s.tokens[k]) + (k == i ? "]" : "");
    return out;
  };
  return "lengths " + std::to_string(expected.tokens.size()) + " and " +
         std::to_string(got.tokens.size()) + ", first difference at " + std::to_string(i) +
         ":\n  expected" + around(expected) + "\n  found   " + around(got);
}

TEST(MultitrackCodec, RoundTripOnEveryFile) {
  if (const std::string why = corpus_missing(); !why.empty()) GTEST_SKIP() << why;
  const CodecParams params;
  const Codec& c = multitrack();
  std::int64_t files = 0, notes = 0, dropped_total = 0, cut_total = 0;
  for (const char* folder : kFolders) {
    const std::vector<fs::path> paths = files_of(folder);
    EXPECT_FALSE(paths.empty()) << folder;
    for (const fs::path& f : paths) {
      SCOPED_TRACE(f.string());
      const Piece piece = read_parts(f);
      EncodeStats stats;
      const Sequence s = c.encode(piece, f.string(), &stats);
      const Piece decoded = c.decode_piece(s);
      // Tokens are a fixed point.
      EXPECT_EQ(token_differences(c, s, c.encode(decoded, "")), "");

      std::int64_t dropped = 0, cut = 0;
      const std::vector<GridNote> expected = expected_grid_notes(piece, params, dropped, cut);
      EXPECT_EQ(stats.notes, static_cast<std::int64_t>(piece.notes.size()));
      EXPECT_EQ(stats.notes_dropped, dropped);
      EXPECT_EQ(decoded.notes.size() + static_cast<std::size_t>(dropped), piece.notes.size());
      const std::vector<GridNote> got = decoded_grid_notes(decoded, params.grid);
      // Onsets and pitches alone, then with the lengths (a mismatch of both shows which).
      std::vector<std::tuple<int, std::int64_t, int>> expected_onsets, got_onsets;
      for (const GridNote& n : expected) expected_onsets.emplace_back(n.part, n.onset, n.pitch);
      for (const GridNote& n : got) got_onsets.emplace_back(n.part, n.onset, n.pitch);
      EXPECT_TRUE(got_onsets == expected_onsets) << "the onsets differ";
      EXPECT_EQ(differences(expected, got), "");

      // The parts: one per kept track, its program that of its instrument.
      std::size_t kept = 0;
      for (const PieceTrack& t : piece.tracks) {
        if (t.drum || kept >= static_cast<std::size_t>(params.tracks)) continue;
        ASSERT_LT(kept, decoded.tracks.size());
        EXPECT_EQ(decoded.tracks[kept].program,
                  instrument(instrument_for_track(t.name, t.program, params.instruments)).program)
            << t.name;
        ++kept;
      }
      EXPECT_EQ(decoded.tracks.size(), kept);

      // As MIDI bytes and back: the same parts and notes.
      const Piece reread = piece_from_midi(midi::read(midi::write(piece_to_midi(decoded, {}))));
      ASSERT_EQ(reread.tracks.size(), decoded.tracks.size());
      for (std::size_t t = 0; t < decoded.tracks.size(); ++t) {
        EXPECT_EQ(reread.tracks[t].name, decoded.tracks[t].name);
        EXPECT_EQ(reread.tracks[t].program, decoded.tracks[t].program);
      }
      EXPECT_EQ(differences(timed_notes(decoded), timed_notes(reread)), "");

      ++files;
      notes += static_cast<std::int64_t>(piece.notes.size());
      dropped_total += dropped;
      cut_total += cut;
    }
  }
  EXPECT_EQ(files, 36 + 408 + 49);
  std::printf("multitrack round trip: %lld files, %lld notes, %lld dropped, %lld cut short\n",
              static_cast<long long>(files), static_cast<long long>(notes),
              static_cast<long long>(dropped_total), static_cast<long long>(cut_total));
  RecordProperty("files", static_cast<int>(files));
  RecordProperty("notes", static_cast<int>(notes));
  RecordProperty("notes_dropped", static_cast<int>(dropped_total));
  RecordProperty("notes_cut", static_cast<int>(cut_total));
}

// --- the parts against mido -----------------------------------------------------------------

// A track name as multitrack_oracle.py prints it: bytes outside printable ASCII, and the
// backslash, as \xNN.
std::string escaped(const std::string& name) {
  std::string out;
  for (const char ch : name) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
      out += ch;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", byte);
      out += hex;
    }
  }
  return out;
}

TEST(MultitrackCodec, PartsMatchMidoOracle) {
  if (const std::string why = corpus_missing(); !why.empty()) GTEST_SKIP() << why;
  if (!test::python_has("mido"))
    GTEST_SKIP() << "/usr/bin/python3 cannot import mido (apt-get install python3-mido)";
  // Every second file of each folder (mido takes about 8 s of CPU for all of them, which the
  // default suite cannot spare twice); MUSEGEN_MULTITRACK_ORACLE_ALL=1 checks every file.
  const bool all = std::getenv("MUSEGEN_MULTITRACK_ORACLE_ALL") != nullptr;
  std::map<std::string, std::vector<fs::path>> sample;
  for (const char* folder : kFolders) {
    const std::vector<fs::path> every = files_of(folder);
    for (std::size_t i = 0; i < every.size(); i += all ? 1 : 2) sample[folder].push_back(every[i]);
  }
  std::string command = "/usr/bin/python3 " MUSEGEN_TEST_DIR "/multitrack_oracle.py";
  for (const char* folder : kFolders)
    for (const fs::path& f : sample[folder]) command += " '" + f.string() + "'";
  std::string output;
  ASSERT_TRUE(run_capture(command, output));

  std::map<std::string, std::vector<std::string>> oracle;  // file → its lines
  std::istringstream lines(output);
  std::string line, current;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) {
      current = fs::path(line.substr(2)).lexically_normal().string();
      oracle[current];
    } else {
      oracle[current].push_back(line);
    }
  }
  std::size_t files = 0, parts = 0, notes = 0, zero_length = 0;
  for (const char* folder : kFolders) {
    for (const fs::path& f : sample[folder]) {
      auto it = oracle.find(f.lexically_normal().string());
      if (it == oracle.end()) {
        ADD_FAILURE() << f << ": not in the oracle's output";
        continue;
      }
      const Piece piece = read_parts(f);
      std::vector<std::size_t> count(piece.tracks.size(), 0);
      std::vector<int> lowest(piece.tracks.size(), 128), highest(piece.tracks.size(), -1);
      std::size_t zero = 0;
      for (const PieceNote& n : piece.notes) {
        const auto t = static_cast<std::size_t>(n.track);
        ++count[t];
        lowest[t] = std::min(lowest[t], n.pitch);
        highest[t] = std::max(highest[t], n.pitch);
        zero += n.start_quarters == n.end_quarters;
      }
      // The oracle's lines without the track and channel: ours has no such fields, and the
      // order of the parts is the same ((track, channel) order).
      std::vector<std::string> expected, ours;
      for (const std::string& l : it->second) {
        std::istringstream fields(l);
        std::string kind, track, channel;
        fields >> kind;
        if (kind != "part") {
          expected.push_back(l);
          continue;
        }
        fields >> track >> channel;
        std::string rest;
        std::getline(fields, rest);
        expected.push_back("part" + rest);
      }
      for (std::size_t t = 0; t < piece.tracks.size(); ++t)
        ours.push_back("part " + std::to_string(piece.tracks[t].program) + " " +
                       std::to_string(count[t]) + " " + std::to_string(lowest[t]) + " " +
                       std::to_string(highest[t]) + " " + escaped(piece.tracks[t].name));
      ours.push_back("zero " + std::to_string(zero));
      EXPECT_EQ(ours, expected) << f;
      ++files;
      parts += piece.tracks.size();
      notes += piece.notes.size();
      zero_length += zero;
    }
  }
  EXPECT_EQ(files, oracle.size());  // the oracle found the same files
  EXPECT_EQ(files, all ? 36u + 408u + 49u : 18u + 204u + 25u);
  EXPECT_GT(zero_length, 0u);  // the grace notes are there, and read the same way
  std::printf("multitrack parts vs mido: %zu files, %zu parts, %zu notes (%zu of no length)\n",
              files, parts, notes, zero_length);
  RecordProperty("files", static_cast<int>(files));
  RecordProperty("notes", static_cast<int>(notes));
}

// --- instruments ----------------------------------------------------------------------------

// Every part name of the corpus and the instrument it is, written by hand.
const std::map<std::string, std::string>& part_names() {
  static const std::map<std::string, std::string> table = {
      // quartets
      {"1st Violin", "violin"},
      {"2nd Violin", "violin"},
      {"Violin 1", "violin"},
      {"Violin 2", "violin"},
      {"Violin I", "violin"},
      {"Violin I.", "violin"},
      {"Violin II", "violin"},
      {"Violin II.", "violin"},
      {"Viola", "viola"},
      {"Viola.", "viola"},
      {"Cello", "cello"},
      {"Violoncello", "cello"},
      {"Violoncello.", "cello"},
      // chorales: voices, some doubled by instruments (the voice is named first)
      {"Soprano", "soprano"},
      {"Soprano 1", "soprano"},
      {"Soprano 2", "soprano"},
      {"Soprano Oboe 1 Violin1", "soprano"},
      {"Soprano\rOboe 1,2\rViolin1", "soprano"},
      {"Alto", "alto"},
      {"Alto Oboe 2 Viloin 2", "alto"},
      {"Alto\rViloin 2", "alto"},
      {"Tenor", "tenor"},
      {"Tenor Viola", "tenor"},
      {"Tenor\rViola", "tenor"},
      {"Bass", "bass"},
      {"Bass Continuo", "bass"},
      {"Bass\rContinuo", "bass"},
      // chorales: instruments
      {"Violin", "violin"},
      {"Continuo", "organ"},
      {"Organ", "organ"},
      {"Piano", "piano"},
      {"Horn 1", "horn"},
      {"Horn 2", "horn"},
      {"Horn 3", "horn"},
      {"Trumpet 1", "trumpet"},
      {"Trumpet 1,2", "trumpet"},
      {"Trumpet 2", "trumpet"},
      {"Trumpet 3", "trumpet"},
      {"Cornet 1", "trumpet"},
      {"Cornet 2", "trumpet"},
      {"Oboe", "oboe"},
      {"Oboe 1", "oboe"},
      {"Oboe 2", "oboe"},
      {"Oboe 3", "oboe"},
      {"Oboe d'amore", "oboe"},
      {"Oboe da caccia", "oboe"},
      {"Flutes", "flute"},
      {"Recorder 1", "recorder"},
      {"Recorder 2", "recorder"},
      {"Recorder 3", "recorder"},
      {"Recorders", "recorder"},
      {"Timpani", "timpani"},
      // madrigals
      {"Canto", "soprano"},
      {"S.", "soprano"},
      {"Quinto", "voice"},
      {"Basso", "bass"},
      {"B.", "bass"},
  };
  return table;
}

std::string instrument_name(int index) { return std::string(instrument(index).name); }

// The names alone decide (program 0 would be the piano).
TEST(MultitrackInstruments, PartNames) {
  const int limit = CodecParams{}.instruments;
  for (const auto& [name, expected] : part_names())
    EXPECT_EQ(instrument_name(instrument_for_track(name, 0, limit)), expected) << name;
}

TEST(MultitrackInstruments, PartNamesOfTheCorpus) {
  if (const std::string why = corpus_missing(); !why.empty()) GTEST_SKIP() << why;
  const int limit = CodecParams{}.instruments;
  std::set<std::string> seen;
  for (const char* folder : kFolders) {
    for (const fs::path& f : files_of(folder)) {
      for (const PieceTrack& t : read_parts(f).tracks) {
        seen.insert(t.name);
        auto it = part_names().find(t.name);
        if (it == part_names().end()) {
          ADD_FAILURE() << f << ": part name \"" << t.name << "\" is not in the table";
          continue;
        }
        EXPECT_EQ(instrument_name(instrument_for_track(t.name, t.program, limit)), it->second)
            << f << ": \"" << t.name << "\", program " << t.program;
      }
    }
  }
  for (const auto& entry : part_names())
    EXPECT_TRUE(seen.count(entry.first)) << "\"" << entry.first << "\" is not in the corpus";
}

TEST(MultitrackInstruments, ProgramFallbacks) {
  const int limit = CodecParams{}.instruments;
  EXPECT_EQ(instrument_name(instrument_for_track("", 42, limit)), "cello");
  EXPECT_EQ(instrument_name(instrument_for_track("", 40, limit)), "violin");
  EXPECT_EQ(instrument_name(instrument_for_track("", 52, limit)), "voice");  // every voice's
  EXPECT_EQ(instrument_name(instrument_for_track("Part 3", 52, limit)), "voice");
  EXPECT_EQ(instrument_name(instrument_for_track("", 30, limit)), "guitar");  // GM family 24..31
  EXPECT_EQ(instrument_name(instrument_for_track("", 44, limit)), "violin");  // 40..47: strings
  EXPECT_EQ(instrument_name(instrument_for_track("", 0, limit)), "piano");
  EXPECT_EQ(instrument_name(instrument_for_track("", 127, limit)), "piano");
  EXPECT_EQ(instrument_name(instrument_for_track("Kazoo", 73, limit)), "flute");
  // Only the first `limit` rows: viola (row 5) falls back by family to the violin (row 4).
  EXPECT_EQ(instrument_name(instrument_for_track("Viola", 41, 5)), "violin");
  EXPECT_EQ(instrument_name(instrument_for_track("Violin", 40, 5)), "violin");
  EXPECT_EQ(instrument_name(instrument_for_track("Violin", 40, 4)), "piano");
}

TEST(MultitrackInstruments, ParseInstrument) {
  const int limit = CodecParams{}.instruments;
  const auto parsed = [&](const char* text) -> std::string {
    const std::optional<int> index = parse_instrument(text, limit);
    return index ? instrument_name(*index) : "(none)";
  };
  EXPECT_EQ(parsed("Violoncello"), "cello");
  EXPECT_EQ(parsed("40"), "violin");
  EXPECT_EQ(parsed("0"), "piano");
  EXPECT_EQ(parsed("double bass"), "contrabass");
  EXPECT_EQ(parsed("VIOLIN"), "violin");
  EXPECT_EQ(parsed("Canto"), "soprano");
  for (const char* refused : {"128", "kazoo", "", "violin viola", "-1", "4 0", "1000"})
    EXPECT_EQ(parsed(refused), "(none)") << "\"" << refused << "\"";
  // Every instrument by its own name.
  for (std::size_t i = 0; i < instruments().size(); ++i)
    EXPECT_EQ(parse_instrument(instruments()[i].name, limit), static_cast<int>(i));

  EXPECT_EQ(parse_instrument_list("violin,40,Violoncello", limit), (std::vector<int>{4, 4, 6}));
  try {
    parse_instrument_list("violin,kazoo,cello", limit);
    ADD_FAILURE() << "kazoo accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"kazoo\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("violin"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_instrument_list("violin,", limit), std::invalid_argument);
  EXPECT_THROW(parse_instrument_list("", limit), std::invalid_argument);
}

TEST(MultitrackInstruments, TableSanity) {
  EXPECT_EQ(CodecParams{}.instruments, static_cast<int>(instruments().size()));
  std::set<std::string> seen_names, seen_displays;
  for (std::size_t i = 0; i < instruments().size(); ++i) {
    const Instrument& inst = instruments()[i];
    const std::string name(inst.name);
    EXPECT_LT(inst.lowest, inst.highest) << name;
    for (int v : {inst.program, inst.lowest, inst.highest}) {
      EXPECT_GE(v, 0) << name;
      EXPECT_LE(v, 127) << name;
    }
    EXPECT_TRUE(seen_names.insert(name).second) << name << " twice";
    EXPECT_TRUE(seen_displays.insert(std::string(inst.display)).second) << inst.display;
    EXPECT_FALSE(name.empty());
    for (char ch : name) EXPECT_TRUE(ch >= 'a' && ch <= 'z') << name;  // one lower-case word
    EXPECT_EQ(instrument_index(name), static_cast<int>(i));
    // A decoded part is named by its display name: read back, it is the same instrument.
    EXPECT_EQ(instrument_for_track(inst.display, inst.program, CodecParams{}.instruments),
              static_cast<int>(i))
        << inst.display;
    EXPECT_EQ(&instrument(static_cast<int>(i)), &inst);
  }
  EXPECT_EQ(instrument_index("kazoo"), -1);
  EXPECT_THROW(instrument(-1), std::out_of_range);
  EXPECT_THROW(instrument(static_cast<int>(instruments().size())), std::out_of_range);
}

// Quartets and chorales lie inside their instruments' ranges (the table widened them where
// the music goes further); the madrigals' voices may not, and are only counted.
TEST(MultitrackInstruments, RangesCoverTheCorpus) {
  if (const std::string why = corpus_missing(); !why.empty()) GTEST_SKIP() << why;
  const int limit = CodecParams{}.instruments;
  for (const char* folder : kFolders) {
    const bool must_fit = std::string(folder) != "madrigals";
    std::size_t notes = 0, outside = 0;
    for (const fs::path& f : files_of(folder)) {
      const Piece piece = read_parts(f);
      for (const PieceNote& n : piece.notes) {
        const PieceTrack& t = piece.tracks[static_cast<std::size_t>(n.track)];
        const Instrument& inst = instrument(instrument_for_track(t.name, t.program, limit));
        ++notes;
        if (n.pitch >= inst.lowest && n.pitch <= inst.highest) continue;
        ++outside;
        if (must_fit)
          ADD_FAILURE() << f << ": \"" << t.name << "\" (" << inst.name << " "
                        << pitch_name(inst.lowest) << ".." << pitch_name(inst.highest) << ") plays "
                        << pitch_name(n.pitch) << " at quarter " << n.start_quarters;
      }
    }
    std::printf("%s: %zu notes, %zu outside their instrument's range\n", folder, notes, outside);
    RecordProperty(std::string(folder) + "_outside_range", static_cast<int>(outside));
  }
}

// --- transposition, dropped parts -----------------------------------------------------------

TEST(MultitrackCodec, Transposable) {
  Piece piece;
  piece.tracks = {{"Violin", 40, false}, {"Cello", 42, false}, {"Drums", 0, true}};
  piece.notes = {note(0, 55, 0, 1), note(0, 72, 1, 2),
                 note(1, 36, 0, 4)};  // G3: the violin's lowest
  PieceNote drum = note(2, 35, 0, 1);
  drum.drum = true;
  piece.notes.push_back(drum);  // a drum note takes no part in ranges
  const Codec& c = multitrack();
  EXPECT_TRUE(c.transposable(piece, 0));
  EXPECT_FALSE(c.transposable(piece, -1));  // the violin's G3, the cello's C2
  EXPECT_TRUE(c.transposable(piece, 1));
  EXPECT_TRUE(c.transposable(piece, 31));   // the violin's C5 → G7 (103)
  EXPECT_FALSE(c.transposable(piece, 32));  // G#7

  // With one part only, the cello's notes are dropped and do not constrain; the violin's G3
  // still refuses -1.
  CodecParams one;
  one.tracks = 1;
  const Codec solo = Codec::make(Encoding::multitrack, one);
  EXPECT_FALSE(solo.transposable(piece, -1));
  Piece cello_low = piece;
  cello_low.notes[0].pitch = 60;  // the violin now has room below
  EXPECT_TRUE(solo.transposable(cello_low, -1));
  EXPECT_FALSE(c.transposable(cello_low, -1));  // with both parts the cello's C2 refuses it

  // Notes already outside their range allow no transposition, but 0 is always allowed.
  Piece outside = piece;
  outside.notes[0].pitch = 40;
  EXPECT_TRUE(c.transposable(outside, 0));
  EXPECT_FALSE(c.transposable(outside, 1));
  EXPECT_FALSE(c.transposable(outside, -1));
}

TEST(MultitrackCodec, DropsPartsBeyondTracksAndDrums) {
  CodecParams two;
  two.tracks = 2;
  const Codec c = Codec::make(Encoding::multitrack, two);
  Piece piece;
  piece.tracks = {
      {"Violin", 40, false}, {"Kit", 0, true}, {"Viola", 41, false}, {"Cello", 42, false}};
  PieceNote kick = note(1, 36, 0, 1);
  kick.drum = true;
  piece.notes = {note(0, 72, 0, 1), kick, note(2, 60, 0, 1), note(3, 48, 0, 1), note(3, 43, 1, 2)};
  EncodeStats stats;
  const Sequence s = c.encode(piece, "", &stats);
  EXPECT_EQ(names(c, s), (std::vector<std::string>{"inst:violin", "inst:viola", "t0:C5", "dur:4",
                                                   "t1:C4", "dur:4"}));
  EXPECT_EQ(stats.notes, 5);
  EXPECT_EQ(stats.notes_dropped, 3);  // the kick and both cello notes
}

// A piece that does not know its parts (events, notes, roll, a single MIDI track of several
// programs) gets one part per program, in program order; drums are dropped.
TEST(MultitrackCodec, PieceWithoutTracksHasAPartPerProgram) {
  Piece piece;
  PieceNote snare = note(-1, 38, 0, 1, 0);
  snare.drum = true;
  piece.notes = {note(-1, 60, 0, 1, 52), note(-1, 48, 0, 2, 42), note(-1, 76, 0, 1, 40), snare,
                 note(-1, 77, 1, 2, 40)};
  EncodeStats stats;
  const Sequence s = multitrack().encode(piece, "", &stats);
  EXPECT_EQ(
      names(multitrack(), s),
      (std::vector<std::string>{"inst:violin", "inst:cello", "inst:voice", "t0:E5", "dur:4",
                                "t1:C3", "dur:8", "t2:C4", "dur:4", "wait:4", "t0:F5", "dur:4"}));
  EXPECT_EQ(stats.notes_dropped, 1);
  const Piece back = multitrack().decode_piece(s);
  ASSERT_EQ(back.tracks.size(), 3u);
  EXPECT_EQ(back.tracks[2].name, "Voice");
  EXPECT_EQ(back.tracks[2].program, 52);

  CodecParams two;
  two.tracks = 2;
  stats = {};
  const Codec c = Codec::make(Encoding::multitrack, two);
  EXPECT_EQ(names(c, c.encode(piece, "", &stats)),
            (std::vector<std::string>{"inst:violin", "inst:cello", "t0:E5", "dur:4", "t1:C3",
                                      "dur:8", "wait:4", "t0:F5", "dur:4"}));
  EXPECT_EQ(stats.notes_dropped, 2);  // the snare and the voice
}

// --- the decoder takes anything -------------------------------------------------------------

TEST(MultitrackCodec, DecoderIgnoresWhatMeansNothing) {
  const Codec& c = multitrack();
  // A duration before any note is ignored; a note without one lasts a unit; an instrument
  // after the first note is ignored; a note of a part the ensemble lacks adds a piano part.
  const Piece back =
      c.decode_piece(tokens_of(c, {"dur:3", "inst:violin", "t0:C5", "dur:2", "inst:cello", "wait:2",
                                   "dur:5", "t2:D4", "t0:E5", "dur:16", "dur:16", "dur:1"}));
  ASSERT_EQ(back.tracks.size(), 3u);
  EXPECT_EQ(back.tracks[0].name, "Violin");
  EXPECT_EQ(back.tracks[1].name, "Piano 1");  // parts 1 and 2: two pianos
  EXPECT_EQ(back.tracks[2].name, "Piano 2");
  EXPECT_EQ(back.tracks[2].program, 0);
  const std::vector<TimedNote> expected = {
      {0, 0, 0.5, 72}, {0, 0.5, 0.5 + 33 / 4.0, 76}, {2, 0.5, 0.75, 62}};
  EXPECT_EQ(timed_notes(back), expected);
  EXPECT_EQ(back.notes.size(), 3u);

  // A wait ends the ensemble too: an instrument after it is ignored.
  const Piece late = c.decode_piece(tokens_of(c, {"inst:viola", "wait:1", "inst:cello", "t1:C3"}));
  ASSERT_EQ(late.tracks.size(), 2u);
  EXPECT_EQ(late.tracks[0].name, "Viola");
  EXPECT_EQ(late.tracks[1].name, "Piano");

  // Nothing at all.
  EXPECT_TRUE(c.decode_piece(Sequence::of_tokens("")).notes.empty());
  Sequence bad;
  bad.tokens = {static_cast<std::int32_t>(c.vocab_size())};
  EXPECT_THROW(c.decode_piece(bad), std::out_of_range);
  bad.tokens = {-1};
  EXPECT_THROW(c.decode_piece(bad), std::out_of_range);
}

TEST(MultitrackCodec, DecoderTakesAnySequence) {
  CodecParams small;
  small.tracks = 3;
  small.max_duration = 6;
  small.grid = 3;
  for (const CodecParams& params : {CodecParams{}, small}) {
    const Codec c = Codec::make(Encoding::multitrack, params);
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<std::int32_t> id(0,
                                                   static_cast<std::int32_t>(c.vocab_size()) - 1);
    std::uniform_int_distribution<int> length(0, 400);
    for (int round = 0; round < 200; ++round) {
      Sequence s;
      s.tokens.resize(static_cast<std::size_t>(length(rng)));
      for (std::int32_t& t : s.tokens) t = id(rng);
      Piece back;
      ASSERT_NO_THROW(back = c.decode_piece(s)) << round;
      for (const PieceNote& n : back.notes) {
        ASSERT_GE(n.track, 0);
        ASSERT_LT(static_cast<std::size_t>(n.track), back.tracks.size());
        EXPECT_EQ(n.program, back.tracks[static_cast<std::size_t>(n.track)].program);
        EXPECT_GT(n.end_quarters, n.start_quarters);
      }
      ASSERT_NO_THROW(c.decode(s)) << round;
      // Whatever was decoded, its tokens are a fixed point.
      const Sequence tokens = c.encode(back, "");
      EXPECT_EQ(c.encode(c.decode_piece(tokens), "").tokens, tokens.tokens) << round;
    }
  }
}

}  // namespace
}  // namespace musegen
