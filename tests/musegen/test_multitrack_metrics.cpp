// Several-instrument measures (multitrack_metrics.hpp): answers worked out by hand on small
// ensembles, and an independent oracle (tests/musegen/multitrack_metrics_oracle.py: mido, its
// own note pairing, parts, instrument table and sweep) on those ensembles, on every third
// string quartet and on every tenth Bach chorale of music21-multitrack, every measure to 1e-9.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>
#include <libmidi/io.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "instruments.hpp"
#include "midi_files.hpp"
#include "multitrack_metrics.hpp"
#include "test_support.hpp"

namespace {

using musegen::EnsembleMeasure;
using musegen::MultitrackPieceMetrics;
using musegen::PartMeasure;
namespace fs = std::filesystem;

constexpr int kPpq = 480;

struct N {
  double start, end;  // quarters
  int pitch;
};

struct Part {
  std::string name;
  int program = 0;
  std::vector<N> notes;
  int channel = -1;               // -1: the part's index (drums: 9)
  std::vector<N> off_first = {};  // notes of no length written off-then-on in one tick (music21)
};

std::uint64_t ticks(double quarters) {
  return static_cast<std::uint64_t>(std::llround(quarters * kPpq));
}

// A format-1 file: track 0 with the time signature (numerator 0: none), then one named track
// per part with its program and notes (note-offs before note-ons at one tick).
midi::MidiFile make_ensemble(const std::vector<Part>& parts, int numerator = 0,
                             int denominator_power = 2) {
  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kPpq);
  midi::Track conductor;
  if (numerator > 0) {
    const std::uint8_t ts[4] = {static_cast<std::uint8_t>(numerator),
                                static_cast<std::uint8_t>(denominator_power), 24, 8};
    conductor.add_meta(0, midi::meta::kTimeSignature, ts);
  }
  conductor.add_end_of_track(0);
  file.tracks.push_back(std::move(conductor));
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const Part& part = parts[k];
    const auto channel =
        static_cast<std::uint8_t>(part.channel >= 0 ? part.channel : static_cast<int>(k));
    struct Ev {
      std::uint64_t tick;
      int order;  // 0 off, 1 on
      std::uint8_t status, pitch, velocity;
    };
    std::vector<Ev> events;
    for (const N& n : part.notes) {
      events.push_back({ticks(n.start), 1, static_cast<std::uint8_t>(0x90 | channel),
                        static_cast<std::uint8_t>(n.pitch), 80});
      events.push_back({ticks(n.end), 0, static_cast<std::uint8_t>(0x80 | channel),
                        static_cast<std::uint8_t>(n.pitch), 0});
    }
    for (const N& n : part.off_first) {  // a stray off, then the on, both at its start
      events.push_back({ticks(n.start), 0, static_cast<std::uint8_t>(0x80 | channel),
                        static_cast<std::uint8_t>(n.pitch), 0});
      events.push_back({ticks(n.start), 1, static_cast<std::uint8_t>(0x90 | channel),
                        static_cast<std::uint8_t>(n.pitch), 80});
    }
    std::stable_sort(events.begin(), events.end(), [](const Ev& a, const Ev& b) {
      return a.tick < b.tick || (a.tick == b.tick && a.order < b.order);
    });
    midi::Track track;
    if (!part.name.empty()) track.add_meta_text(0, midi::meta::kTrackName, part.name);
    track.add_channel(0, static_cast<std::uint8_t>(0xC0 | channel),
                      static_cast<std::uint8_t>(part.program), 0);
    for (const Ev& e : events) track.add_channel(e.tick, e.status, e.pitch, e.velocity);
    track.add_end_of_track(events.empty() ? 0 : events.back().tick);
    file.tracks.push_back(std::move(track));
  }
  return file;
}

// Two parts a fifth apart for one whole 4/4 bar: violin G4 over cello C4.
std::vector<Part> fifth() {
  return {{"Violin I", 40, {{0, 4, 67}}}, {"Violoncello", 42, {{0, 4, 60}}}};
}

// Soprano C5 for two quarters then C4 for two, alto E4 throughout (the soprano crosses below
// it for exactly half the bar), tenor A3, B3, then G3 for a half.
std::vector<Part> chorale_bar() {
  return {{"Soprano", 52, {{0, 2, 72}, {2, 4, 60}}},
          {"Alto", 52, {{0, 4, 64}}},
          {"Tenor", 52, {{0, 1, 57}, {1, 2, 59}, {2, 4, 55}}}};
}

// Harte's tonal centroid of pitch class l, for the hand computations below.
std::array<double, 6> phi(int l) {
  const double pi = std::acos(-1.0);
  return {std::sin(l * 7 * pi / 6), std::cos(l * 7 * pi / 6),       std::sin(l * 3 * pi / 2),
          std::cos(l * 3 * pi / 2), 0.5 * std::sin(l * 2 * pi / 3), 0.5 * std::cos(l * 2 * pi / 3)};
}

MultitrackPieceMetrics measure(const midi::MidiFile& file, int melody = -1, bool off_first = false,
                               int numerator = 4, int denominator = 4) {
  musegen::MetricOptions o;
  o.melody_part = melody;
  o.zero_length_off_first = off_first;
  o.default_numerator = numerator;
  o.default_denominator = denominator;
  return musegen::compute_multitrack_metrics(file, o);
}

constexpr double kExact = 1e-12;

TEST(MultitrackMetrics, TwoPartsAFifthApart) {
  const MultitrackPieceMetrics m = measure(make_ensemble(fifth()));
  ASSERT_EQ(m.parts.size(), 2u);
  EXPECT_EQ(musegen::instrument(m.parts[0].instrument).name, "violin");
  EXPECT_EQ(musegen::instrument(m.parts[1].instrument).name, "cello");
  EXPECT_EQ(m.parts[0].track_name, "Violin I");
  for (const auto& p : m.parts) {
    EXPECT_EQ(p[PartMeasure::NoteCount], 1);
    EXPECT_EQ(p[PartMeasure::InRangeShare], 1.0);  // G4 in violin's 55..103, C4 in cello's 36..88
    EXPECT_EQ(p[PartMeasure::PitchRange], 0);
    EXPECT_EQ(p[PartMeasure::Polyphony], 1.0);
    EXPECT_TRUE(std::isnan(p[PartMeasure::HarmonyAgreement]));  // no melody part given
  }
  // Chroma: violin all G (7), cello all C (0). phi(0) = (0, 1, 0, 1, 0, 1/2);
  // phi(7): 49π/6 ≡ π/6, 21π/2 ≡ π/2, 14π/3 ≡ 2π/3, so (1/2, √3/2, 1, 0, √3/4, -1/4).
  // Difference (1/2, √3/2 - 1, 1, -1, √3/4, -3/4): squares 1/4 + (7/4 - √3) + 1 + 1 + 3/16 +
  // 9/16 = 19/4 - √3, so the distance is √(19/4 - √3) = 1.7372...
  const double expected = std::sqrt(19.0 / 4 - std::sqrt(3.0));
  EXPECT_NEAR(m.pair(0, 1).tonal_distance, expected, kExact);
  EXPECT_EQ(m.pair(0, 1).tonal_bars, 1);
  EXPECT_NEAR(m[EnsembleMeasure::TonalDistance], expected, kExact);
  // The violin is above the cello the whole bar: no crossing over 4 quarters together.
  EXPECT_EQ(m.pair(0, 1).crossing_share, 0.0);
  EXPECT_EQ(m.pair(0, 1).both_quarters, 4.0);
  EXPECT_EQ(m[EnsembleMeasure::VoiceCrossingShare], 0.0);
  EXPECT_TRUE(std::isnan(m[EnsembleMeasure::HarmonyAgreement]));
}

TEST(MultitrackMetrics, MuseGanEmptyBarsPitchClassesAndQualifiedNotesPerPart) {
  // 4/4; the drums' hit in bar 4 makes the piece 4 bars long. The violin sounds in bars 1-3
  // (G, A, then B for 0.1 quarter: shorter than a 32nd), the cello in bar 1 only.
  const MultitrackPieceMetrics m =
      measure(make_ensemble({{"Violin I", 40, {{0, 4, 67}, {4, 8, 69}, {8, 8.1, 71}}},
                             {"Violoncello", 42, {{0, 4, 60}}},
                             {"Drums", 0, {{12, 13, 36}}, 9}}));
  ASSERT_EQ(m.parts.size(), 2u);
  EXPECT_DOUBLE_EQ(m.parts[0][PartMeasure::EmptyBarShare], 1.0 / 4.0);
  EXPECT_EQ(m.parts[0][PartMeasure::PitchClassesPerBar], 1.0);
  EXPECT_DOUBLE_EQ(m.parts[0][PartMeasure::QualifiedNoteShare], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.parts[1][PartMeasure::EmptyBarShare], 3.0 / 4.0);
  EXPECT_EQ(m.parts[1][PartMeasure::PitchClassesPerBar], 1.0);
  EXPECT_EQ(m.parts[1][PartMeasure::QualifiedNoteShare], 1.0);
  // The chorale bar: the tenor sounds A, B and G in its one bar, the soprano C twice.
  const MultitrackPieceMetrics c = measure(make_ensemble(chorale_bar()));
  EXPECT_EQ(c.parts[0][PartMeasure::PitchClassesPerBar], 1.0);
  EXPECT_EQ(c.parts[2][PartMeasure::PitchClassesPerBar], 3.0);
  EXPECT_EQ(c.parts[2][PartMeasure::EmptyBarShare], 0.0);
}

TEST(MultitrackMetrics, CrossingHalfTheTimeAndHarmonyWithTheSoprano) {
  const MultitrackPieceMetrics m = measure(make_ensemble(chorale_bar()), 0);
  ASSERT_EQ(m.parts.size(), 3u);
  // Soprano/alto: C5 over E4 for 2 quarters, then C4 under E4 for 2: crossing share 1/2.
  EXPECT_EQ(m.pair(0, 1).crossing_share, 0.5);
  EXPECT_EQ(m.pair(0, 1).crossing_quarters, 2.0);
  // Alto/tenor: E4 over A3, B3, G3 throughout: none.
  EXPECT_EQ(m.pair(1, 2).crossing_share, 0.0);
  EXPECT_TRUE(std::isnan(m.pair(0, 2).crossing_share));  // not neighbours
  // Overall: 2 crossing quarters of 4 + 4 quarters together.
  EXPECT_EQ(m[EnsembleMeasure::VoiceCrossingShare], 0.25);
  // Harmony with the soprano: alto E4 against C5 (E - C = 4) and C4 (4): always consonant.
  // Tenor A3 against C5 (9: consonant), B3 against C5 (11: not), G3 against C4 (7): 3 of 4
  // quarters. The mean over alto and tenor: 0.875.
  EXPECT_TRUE(std::isnan(m.parts[0][PartMeasure::HarmonyAgreement]));
  EXPECT_EQ(m.parts[1][PartMeasure::HarmonyAgreement], 1.0);
  EXPECT_EQ(m.parts[2][PartMeasure::HarmonyAgreement], 0.75);
  EXPECT_EQ(m[EnsembleMeasure::HarmonyAgreement], 0.875);
  // Soprano chroma all C, alto all E. phi(4): 14π/3 ≡ 2π/3, 6π ≡ 0, 8π/3 ≡ 2π/3, so
  // (√3/2, -1/2, 0, 1, √3/4, -1/4); minus phi(0): (√3/2, -3/2, 0, 0, √3/4, -3/4), squares
  // 3/4 + 9/4 + 3/16 + 9/16 = 15/4: distance √15/2 = 1.9365...
  EXPECT_NEAR(m.pair(0, 1).tonal_distance, std::sqrt(15.0) / 2, kExact);
  // Tenor chroma: A 1/4, B 1/4, G 1/2 of its time; its centroid is that mix of phi.
  std::array<double, 6> tenor{};
  for (std::size_t d = 0; d < 6; ++d) tenor[d] = phi(9)[d] / 4 + phi(11)[d] / 4 + phi(7)[d] / 2;
  const auto distance = [](const std::array<double, 6>& a, const std::array<double, 6>& b) {
    double s = 0;
    for (std::size_t d = 0; d < 6; ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
    return std::sqrt(s);
  };
  EXPECT_NEAR(m.pair(0, 2).tonal_distance, distance(phi(0), tenor), kExact);
  EXPECT_NEAR(m.pair(1, 2).tonal_distance, distance(phi(4), tenor), kExact);
  EXPECT_NEAR(m[EnsembleMeasure::TonalDistance],
              (std::sqrt(15.0) / 2 + distance(phi(0), tenor) + distance(phi(4), tenor)) / 3,
              kExact);
  // A melody part the piece does not have: no harmony measured.
  const MultitrackPieceMetrics none = measure(make_ensemble(chorale_bar()), 3);
  EXPECT_TRUE(std::isnan(none[EnsembleMeasure::HarmonyAgreement]));
  EXPECT_TRUE(std::isnan(none.parts[1][PartMeasure::HarmonyAgreement]));
}

TEST(MultitrackMetrics, RangePolyphonyBarsGraceNotesAndDrums) {
  // Violin: D3 (below its 55) and three notes in range, a double stop in the second bar.
  // Viola only in the first bar. Drums on channel 10 are no part. 3/4 bars of 3 quarters.
  std::vector<Part> parts = {
      {"Violin", 40, {{0, 1, 50}, {1, 3, 67}, {3, 6, 69}, {3, 6, 76}}},
      {"Viola", 41, {{0, 3, 60}}},
      {"", 0, {{0, 0.5, 36}}, 9},
  };
  parts[1].off_first = {{1, 1, 62}};  // a grace note: no length when read off-first
  const midi::MidiFile file = make_ensemble(parts, 3, 2);
  const MultitrackPieceMetrics m = measure(file, -1, true);
  ASSERT_EQ(m.parts.size(), 2u);
  EXPECT_EQ(m.parts[0][PartMeasure::NoteCount], 4);
  EXPECT_EQ(m.parts[0][PartMeasure::InRangeShare], 0.75);
  EXPECT_EQ(m.parts[0][PartMeasure::PitchRange], 76 - 50);
  // 1 + 2 + 3 + 3 = 9 note-quarters over 6 quarters with sound.
  EXPECT_EQ(m.parts[0][PartMeasure::Polyphony], 1.5);
  // The viola's grace note counts as a note but never sounds: polyphony stays 1.
  EXPECT_EQ(m.parts[1][PartMeasure::NoteCount], 2);
  EXPECT_EQ(m.parts[1][PartMeasure::PitchRange], 2);
  EXPECT_EQ(m.parts[1][PartMeasure::Polyphony], 1.0);
  // Only bar 1 (quarters 0..3) has both parts: one bar of tonal distance.
  EXPECT_EQ(m.pair(0, 1).tonal_bars, 1);
  // In 4/4 the violin's A4+E5 (3..6) reaches into bar 1 (0..4) with the viola: still one bar.
  EXPECT_EQ(measure(make_ensemble(parts), -1, true).pair(0, 1).tonal_bars, 1);
  // Viola C4 under violin D3 (0..1) crosses: 1 of 3 quarters together.
  EXPECT_DOUBLE_EQ(m.pair(0, 1).crossing_share, 1.0 / 3);
  // Read the plain way, the grace note's note-on waits for its key's next release, which
  // never comes: it sounds from quarter 1 to the end of its track (quarter 3).
  const MultitrackPieceMetrics plain = measure(file);
  EXPECT_EQ(plain.parts[1][PartMeasure::NoteCount], 2);
  EXPECT_EQ(plain.parts[1][PartMeasure::Polyphony], 5.0 / 3);  // (3 + 2) / 3
}

TEST(MultitrackMetrics, PiecesWithoutTracksArePartsByProgram) {
  musegen::Piece piece;  // what a decoded events sequence is: notes with programs, no tracks
  const auto note = [](double start, double end, int pitch, int program) {
    musegen::PieceNote n;
    n.start_quarters = start;
    n.end_quarters = end;
    n.pitch = pitch;
    n.program = program;
    return n;
  };
  piece.notes = {note(0, 4, 60, 42), note(0, 4, 67, 40)};
  const musegen::BarSegment bar{0, 4 * kPpq * musegen::kBarGridScale, 0};
  const MultitrackPieceMetrics m =
      musegen::compute_multitrack_metrics(piece, kPpq, std::span(&bar, 1));
  ASSERT_EQ(m.parts.size(), 2u);  // in program order: violin (40), then cello (42)
  EXPECT_EQ(musegen::instrument(m.parts[0].instrument).name, "violin");
  EXPECT_EQ(musegen::instrument(m.parts[1].instrument).name, "cello");
  EXPECT_NEAR(m[EnsembleMeasure::TonalDistance], std::sqrt(19.0 / 4 - std::sqrt(3.0)), kExact);
}

TEST(MultitrackMetrics, SetsGroupPartsByPositionAndInstrument) {
  std::vector<MultitrackPieceMetrics> pieces{
      measure(make_ensemble(fifth())), measure(make_ensemble(chorale_bar()), 0),
      measure(make_ensemble({{"Violin", 40, {{0, 1, 70}}}}))};
  pieces[0].name = "fifth.mid";
  pieces[1].name = "chorale.mid";
  pieces[2].name = "solo.mid";
  const musegen::MultitrackSetMetrics s = musegen::summarize_multitrack(pieces);
  EXPECT_EQ(s.pieces, 3u);
  EXPECT_EQ(s.ensembles, 2u);
  EXPECT_EQ(s.melody_part, 0);
  EXPECT_EQ(s[EnsembleMeasure::TonalDistance].count, 2u);
  EXPECT_EQ(s[EnsembleMeasure::VoiceCrossingShare].mean, 0.125);  // (0 + 0.25) / 2
  ASSERT_EQ(s.parts.size(), 5u);  // 0 violin (2 pieces), 0 soprano, 1 cello, 1 alto, 2 tenor
  EXPECT_EQ(s.parts[0].key(), "0 violin");
  EXPECT_EQ(s.parts[0].pieces, 2u);
  EXPECT_EQ(s.parts[0].measures[static_cast<std::size_t>(PartMeasure::PitchRange)].mean, 0.0);
  ASSERT_EQ(s.pairs.size(), 4u);
  EXPECT_EQ(s.pairs[0].key(), "0 violin / 1 cello");

  const std::string text = musegen::format_multitrack_report(s, &s);
  EXPECT_NE(text.find("voice-crossing share"), std::string::npos) << text;
  EXPECT_NE(text.find("0 soprano / 1 alto"), std::string::npos) << text;
  EXPECT_NE(text.find("harmony with melody"), std::string::npos) << text;
  const musegen::MultitrackSetMetrics solo =
      musegen::summarize_multitrack(std::span(&pieces[2], 1));
  EXPECT_EQ(musegen::format_multitrack_report(solo), "");

  // The JSON: a "multitrack" object in each set and the comparison, numbers as computed.
  const musegen::SetMetrics plain{};
  const musegen::ReportedSet generated{plain, s, {}, pieces};
  const nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(musegen::to_json(generated, &generated));
  const auto& mt = j.at("generated").at("multitrack");
  EXPECT_EQ(mt.at("pieces_with_parts"), 2);
  EXPECT_EQ(mt.at("melody_part"), 0);
  EXPECT_EQ(mt.at("metrics").at("voice_crossing_share").at("mean").get<double>(), 0.125);
  EXPECT_EQ(mt.at("parts").at(0).at("part"), "0 violin");
  const auto& chorale = mt.at("files").at(1);
  EXPECT_EQ(chorale.at("name"), "chorale.mid");
  EXPECT_EQ(chorale.at("parts").at(2).at("harmony_agreement").get<double>(), 0.75);
  EXPECT_TRUE(chorale.at("parts").at(0).at("harmony_agreement").is_null());
  EXPECT_EQ(chorale.at("tonal_distance_matrix").at(1).at(0).get<double>(),
            pieces[1].pair(0, 1).tonal_distance);
  EXPECT_TRUE(chorale.at("tonal_distance_matrix").at(1).at(1).is_null());
  EXPECT_EQ(j.at("comparison").at("multitrack").at("mean_difference").at("tonal_distance"), 0.0);
  // Without a piece of two parts, the report is the plain one.
  const musegen::ReportedSet alone{plain, solo};
  EXPECT_FALSE(
      nlohmann::json::parse(musegen::to_json(alone)).at("generated").contains("multitrack"));
}

// --- the oracle ---------------------------------------------------------------------------

struct OracleOutput {
  std::map<std::string, std::map<std::string, double>> piece;  // file → key
  std::map<std::string, std::map<std::string, std::map<std::string, std::string>>>
      part;  // file → index → key
  std::map<std::string, std::map<std::string, std::map<std::string, double>>>
      pair;  // file → "i,j" → key
  std::map<std::string, double> set;
  std::map<std::string, std::map<std::string, double>> group;  // "0 violin" → key
};

// Runs the oracle on `files`; false when it fails.
bool run_oracle(const std::vector<std::string>& files, const std::string& options,
                OracleOutput& out) {
  std::string command = "/usr/bin/python3 '" + std::string(MUSEGEN_TEST_DIR) +
                        "/multitrack_metrics_oracle.py' " + options;
  for (const std::string& f : files) command += " '" + f + "'";
  std::string text;
  if (!musegen::test::run_capture(command, text)) return false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::istringstream in(line);
    for (std::string field; std::getline(in, field, '\t');) f.push_back(field);
    if (f.size() != 5) return false;
    if (f[0] == "piece") out.piece[f[1]][f[3]] = std::stod(f[4]);
    if (f[0] == "part") out.part[f[1]][f[2]][f[3]] = f[4];
    if (f[0] == "pair") out.pair[f[1]][f[2]][f[3]] = std::stod(f[4]);
    if (f[0] == "set") out.set[f[3]] = std::stod(f[4]);
    if (f[0] == "group") out.group[f[2]][f[3]] = std::stod(f[4]);
  }
  return true;
}

void expect_close(double expected, double actual, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected undefined, got " << actual;
    return;
  }
  EXPECT_NEAR(actual, expected, 1e-9 * std::max(1.0, std::fabs(expected))) << what;
}

void expect_mean_std(const musegen::MeanStd& m, const std::map<std::string, double>& o,
                     const std::string& key, const std::string& what) {
  ASSERT_TRUE(o.count(key + ".count")) << what << " " << key;
  EXPECT_EQ(static_cast<double>(m.count), o.at(key + ".count")) << what << " " << key;
  expect_close(o.at(key + ".mean"), m.count ? m.mean : NAN, what + " " + key + ".mean");
  expect_close(o.at(key + ".std"), m.count ? m.std : NAN, what + " " + key + ".std");
}

// Every measure of every file, and the set's summaries, against the oracle's.
void compare_with_oracle(const std::vector<std::string>& files,
                         const musegen::MetricOptions& options, const OracleOutput& o) {
  std::vector<MultitrackPieceMetrics> pieces;
  for (const std::string& f : files) {
    MultitrackPieceMetrics m = musegen::compute_multitrack_metrics(midi::load(f), options);
    m.name = f;
    ASSERT_TRUE(o.piece.count(f)) << f;
    const auto& piece = o.piece.at(f);
    ASSERT_EQ(static_cast<double>(m.parts.size()), piece.at("parts")) << f;
    for (std::size_t k = 0; k < musegen::kEnsembleMeasureCount; ++k) {
      const std::string key(musegen::kEnsembleMeasureTable[k].key);
      expect_close(piece.at(key), m.measures[k], f + " " + key);
    }
    for (std::size_t i = 0; i < m.parts.size(); ++i) {
      const auto& part = o.part.at(f).at(std::to_string(i));
      EXPECT_EQ(musegen::instrument(m.parts[i].instrument).name, part.at("instrument"))
          << f << " part " << i;
      for (std::size_t k = 0; k < musegen::kPartMeasureCount; ++k) {
        const std::string key(musegen::kPartMeasureTable[k].key);
        expect_close(std::stod(part.at(key)), m.parts[i].measures[k],
                     f + " part " + std::to_string(i) + " " + key);
      }
    }
    ASSERT_EQ(m.pairs.size(), o.pair.count(f) ? o.pair.at(f).size() : 0u) << f;
    for (const musegen::PartPairMetrics& p : m.pairs) {
      const std::string at = std::to_string(p.first) + "," + std::to_string(p.second);
      const auto& pair = o.pair.at(f).at(at);
      const std::string what = f + " pair " + at;
      expect_close(pair.at("tonal_distance"), p.tonal_distance, what + " tonal_distance");
      EXPECT_EQ(static_cast<double>(p.tonal_bars), pair.at("tonal_bars")) << what;
      expect_close(pair.at("voice_crossing_share"), p.crossing_share, what + " crossing");
      expect_close(pair.at("both_quarters"), p.both_quarters, what + " both_quarters");
      expect_close(pair.at("crossing_quarters"), p.crossing_quarters, what + " crossing_quarters");
    }
    pieces.push_back(std::move(m));
  }
  const musegen::MultitrackSetMetrics s = musegen::summarize_multitrack(pieces);
  EXPECT_EQ(static_cast<double>(s.ensembles), o.set.at("ensembles"));
  for (std::size_t k = 0; k < musegen::kEnsembleMeasureCount; ++k)
    expect_mean_std(s.measures[k], o.set, std::string(musegen::kEnsembleMeasureTable[k].key),
                    "set");
  EXPECT_EQ(s.parts.size() + s.pairs.size(), o.group.size());
  for (const musegen::PartGroup& g : s.parts) {
    ASSERT_TRUE(o.group.count(g.key())) << g.key();
    const auto& og = o.group.at(g.key());
    EXPECT_EQ(static_cast<double>(g.pieces), og.at("pieces")) << g.key();
    for (std::size_t k = 0; k < musegen::kPartMeasureCount; ++k)
      expect_mean_std(g.measures[k], og, std::string(musegen::kPartMeasureTable[k].key), g.key());
  }
  for (const musegen::PairGroup& g : s.pairs) {
    ASSERT_TRUE(o.group.count(g.key())) << g.key();
    const auto& og = o.group.at(g.key());
    EXPECT_EQ(static_cast<double>(g.pieces), og.at("pieces")) << g.key();
    expect_mean_std(g.tonal_distance, og, "tonal_distance", g.key());
    expect_mean_std(g.crossing_share, og, "voice_crossing_share", g.key());
  }
}

// One oracle run: the files, the options for both sides, and the oracle's output.
struct OracleRun {
  std::string what;
  std::vector<std::string> files;
  musegen::MetricOptions options;
  std::string oracle_options;
  std::future<bool> ran;
  OracleOutput output;
};

TEST(MultitrackMetricsOracle, EnsemblesQuartetsAndChoralesAgreeWithMido) {
  if (!musegen::test::python_has("mido")) GTEST_SKIP() << "no /usr/bin/python3 with mido";
  const fs::path dir = musegen::test::fresh_temp_dir("multitrack_oracle");
  std::vector<std::string> synthetic;
  const auto save = [&](const midi::MidiFile& file, const std::string& name) {
    midi::save(file, dir / name);
    synthetic.push_back((dir / name).string());
  };
  save(make_ensemble(fifth()), "fifth.mid");
  save(make_ensemble(chorale_bar()), "chorale_bar.mid");
  std::vector<Part> mixed = {
      {"Violin", 40, {{0, 1, 50}, {1, 3, 67}, {3, 6, 69}, {3, 6, 76}, {7, 7.5, 81}}},
      {"Viola", 41, {{0, 3, 60}, {2.5, 9, 64}}},
      {"", 0, {{0, 0.5, 36}}, 9},
      {"", 71, {{1.25, 2.75, 58}, {4, 8, 52}, {4, 8, 55}}},  // no name: the clarinet by program
  };
  mixed[1].off_first = {{1, 1, 62}, {5, 5, 64}};
  save(make_ensemble(mixed, 3, 2), "mixed_3_4.mid");
  save(make_ensemble(mixed, 6, 3), "mixed_6_8.mid");
  save(make_ensemble(chorale_bar(), 5, 3), "chorale_5_8.mid");

  std::vector<OracleRun> runs;
  const auto add = [&](std::string what, std::vector<std::string> files, int melody) {
    OracleRun& r = runs.emplace_back();
    r.what = std::move(what);
    r.files = std::move(files);
    r.options.zero_length_off_first = true;
    r.options.melody_part = melody;
    r.oracle_options = "--zero-length-off-first --melody-part " + std::to_string(melody);
  };
  add("synthetic", synthetic, 0);
  const fs::path data = fs::path(musegen::test::data_dir()) / "music21-multitrack";
  const bool have_data = !musegen::test::data_dir().empty() && fs::is_directory(data / "quartets");
  if (have_data) {
    // The quartets in two halves and the chorales, three oracles side by side.
    std::vector<std::string> quartets;
    for (const fs::path& f :
         musegen::collect_midi_files(std::vector<std::string>{(data / "quartets").string()}))
      quartets.push_back(f.string());
    EXPECT_EQ(quartets.size(), 36u);
    // Every third quartet (the set's largest files; all 36 take mido about 6 s of CPU).
    std::vector<std::string> some_quartets;
    for (std::size_t i = 0; i < quartets.size(); i += 3) some_quartets.push_back(quartets[i]);
    add("quartets", some_quartets, -1);
    std::vector<std::string> chorales;
    const auto all =
        musegen::collect_midi_files(std::vector<std::string>{(data / "chorales").string()});
    for (std::size_t i = 0; i < all.size(); i += 10) chorales.push_back(all[i].string());
    EXPECT_GE(chorales.size(), 40u);
    add("chorales", chorales, 0);
  }
  for (OracleRun& r : runs)
    r.ran = std::async(std::launch::async,
                       [&r] { return run_oracle(r.files, r.oracle_options, r.output); });
  for (OracleRun& r : runs) {
    ASSERT_TRUE(r.ran.get()) << "the oracle failed on the " << r.what;
    SCOPED_TRACE(r.what);
    compare_with_oracle(r.files, r.options, r.output);
  }
  fs::remove_all(dir);
  if (!have_data)
    GTEST_SKIP() << "synthetic ensembles checked; MUSEGEN_DATA_DIR has no music21-multitrack";
}

// --- the subcommand -----------------------------------------------------------------------

TEST(CmdEval, ShowsTheSeveralInstrumentMeasures) {
  const fs::path dir = musegen::test::fresh_temp_dir("cmd_eval_multitrack");
  fs::create_directories(dir / "gen");
  midi::save(make_ensemble(chorale_bar()), dir / "gen/a.mid");
  midi::save(make_ensemble(fifth()), dir / "gen/b.mid");
  const std::vector<std::string> args{
      (dir / "gen").string(),    "--reference", (dir / "gen").string(),
      "--melody-part",           "0",           "--json",
      (dir / "m.json").string(), "--per-file"};
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(musegen::cmd_eval(args), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("several instruments: pieces with 2+ parts: generated 2 of 2"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("harmony against part 0"), std::string::npos) << out;
  EXPECT_NE(out.find("0 soprano / 1 alto"), std::string::npos) << out;
  std::ifstream in(dir / "m.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  const auto& mt = json.at("generated").at("multitrack");
  EXPECT_EQ(mt.at("files").size(), 2u);
  // The chorale bar's 0.875, and the fifth's 1 (cello C4 a fourth below... G4: 60 - 67 = -7,
  // 5 mod 12, consonant).
  EXPECT_EQ(mt.at("metrics").at("harmony_agreement").at("mean"), 0.9375) << mt.dump(2);
  EXPECT_EQ(json.at("reference").at("multitrack").at("melody_part"), 0);
  fs::remove_all(dir);
}

}  // namespace
