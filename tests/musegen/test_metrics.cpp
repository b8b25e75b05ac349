// Music metrics: hand-computed answers on small synthetic pieces, and an independent oracle
// (tests/musegen/metrics_oracle.py: mido + the definitions of docs/metrics.md, written from
// scratch) on the 92 piano files of the data folder and on the synthetic pieces.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <libmidi/io.hpp>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "metrics.hpp"
#include "midi_files.hpp"

namespace {

using musegen::compute_metrics;
using musegen::PieceMetrics;
using musegen::ScalarMetric;
namespace fs = std::filesystem;

constexpr int kPpq = 480;

struct N {
  std::uint64_t start, end;
  int pitch;
  int channel = 0;
};

// A one-track file with the given notes (note-offs before note-ons at one tick), and an
// optional time signature at tick 0.
midi::MidiFile make_file(const std::vector<N>& notes, int numerator = 0,
                         int denominator_power = 2) {
  struct Ev {
    std::uint64_t tick;
    int order;  // 0 off, 1 on
    std::uint8_t status, pitch, velocity;
  };
  std::vector<Ev> events;
  for (const N& n : notes) {
    events.push_back({n.start, 1, static_cast<std::uint8_t>(0x90 | n.channel),
                      static_cast<std::uint8_t>(n.pitch), 80});
    events.push_back({n.end, 0, static_cast<std::uint8_t>(0x80 | n.channel),
                      static_cast<std::uint8_t>(n.pitch), 0});
  }
  std::stable_sort(events.begin(), events.end(), [](const Ev& a, const Ev& b) {
    return a.tick < b.tick || (a.tick == b.tick && a.order < b.order);
  });
  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kPpq);
  midi::Track track;
  if (numerator > 0) {
    const std::uint8_t ts[4] = {static_cast<std::uint8_t>(numerator),
                                static_cast<std::uint8_t>(denominator_power), 24, 8};
    track.add_meta(0, midi::meta::kTimeSignature, ts);
  }
  for (const Ev& e : events) track.add_channel(e.tick, e.status, e.pitch, e.velocity);
  track.add_end_of_track(events.empty() ? 0 : events.back().tick);
  file.tracks.push_back(std::move(track));
  return file;
}

std::vector<N> c_major_scale() {
  const int pitches[] = {60, 62, 64, 65, 67, 69, 71, 72};
  std::vector<N> notes;
  for (int i = 0; i < 8; ++i)
    notes.push_back({static_cast<std::uint64_t>(i * kPpq),
                     static_cast<std::uint64_t>((i + 1) * kPpq), pitches[i]});
  return notes;
}

std::vector<N> one_note_repeated(int count) {
  std::vector<N> notes;
  for (int i = 0; i < count; ++i)
    notes.push_back({static_cast<std::uint64_t>(i * kPpq / 2),
                     static_cast<std::uint64_t>((i + 1) * kPpq / 2), 64});
  return notes;
}

// Chords in 3/4 with an empty middle bar, overlapping notes and drums.
std::vector<N> chords_with_rest() {
  return {
      {0, 3 * kPpq, 60},
      {0, 3 * kPpq, 64},
      {0, 3 * kPpq, 67},  // bar 1: C triad
      {6 * kPpq, 7 * kPpq, 57},
      {6 * kPpq, 8 * kPpq, 60},          // bar 3
      {7 * kPpq, 9 * kPpq, 64},          // overlaps
      {6 * kPpq, 6 * kPpq + 60, 36, 9},  // a drum hit
  };
}

double metric(const PieceMetrics& m, ScalarMetric k) { return m[k]; }

TEST(Metrics, CMajorScaleHasKnownValues) {
  const PieceMetrics m = compute_metrics(make_file(c_major_scale()));
  EXPECT_EQ(metric(m, ScalarMetric::NoteCount), 8);
  EXPECT_EQ(metric(m, ScalarMetric::PitchRange), 12);
  EXPECT_EQ(metric(m, ScalarMetric::PitchClassesUsed), 7);
  EXPECT_EQ(metric(m, ScalarMetric::Polyphony), 1.0);
  EXPECT_EQ(metric(m, ScalarMetric::ScaleConsistency), 1.0);
  EXPECT_EQ(metric(m, ScalarMetric::RepeatedNgramShare), 0.0);
  EXPECT_EQ(metric(m, ScalarMetric::LongestRepeatRun), 1.0);
  EXPECT_EQ(metric(m, ScalarMetric::EmptyBarShare), 0.0);
  EXPECT_EQ(metric(m, ScalarMetric::MeanNoteLength), 1.0);
  EXPECT_EQ(m.bars, 2);
  const std::array<std::int64_t, 12> pcs{2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1};
  EXPECT_EQ(m.pitch_class_counts, pcs);
  EXPECT_EQ(m.note_length_counts[6], 8);  // all quarters

  const musegen::SetMetrics s = musegen::summarize(std::span(&m, 1));
  EXPECT_DOUBLE_EQ(s.pitch_class_histogram[0], 2.0 / 8);
  EXPECT_DOUBLE_EQ(s.pitch_class_histogram[11], 1.0 / 8);
  EXPECT_DOUBLE_EQ(s.pitch_class_histogram[1], 0.0);
}

TEST(Metrics, OneNoteOverAndOverIsExposed) {
  const int count = 32;
  const PieceMetrics m = compute_metrics(make_file(one_note_repeated(count)));
  EXPECT_EQ(metric(m, ScalarMetric::LongestRepeatRun), count);
  // 29 four-grams, all the same: every one but the first repeats an earlier one.
  EXPECT_DOUBLE_EQ(metric(m, ScalarMetric::RepeatedNgramShare), 28.0 / 29.0);
  EXPECT_EQ(metric(m, ScalarMetric::PitchClassesUsed), 1);
  EXPECT_EQ(metric(m, ScalarMetric::PitchRange), 0);
  EXPECT_EQ(m.note_length_counts[3], count);  // 8ths
  musegen::MetricOptions bigrams;
  bigrams.ngram = 2;
  EXPECT_DOUBLE_EQ(metric(compute_metrics(make_file(one_note_repeated(count)), bigrams),
                          ScalarMetric::RepeatedNgramShare),
                   30.0 / 31.0);
}

TEST(Metrics, ChordsRestsAndDrums) {
  const PieceMetrics m = compute_metrics(make_file(chords_with_rest(), 3, 2));  // 3/4
  EXPECT_EQ(metric(m, ScalarMetric::NoteCount), 6);  // the drum is not pitched
  EXPECT_EQ(m.bars, 3);                              // up to tick 9·480 = end of bar 3
  EXPECT_DOUBLE_EQ(metric(m, ScalarMetric::EmptyBarShare), 1.0 / 3.0);
  // Sounding time 3·3 + 1 + 2 + 2 = 14 quarters over 3 + 3 quarters with sound.
  EXPECT_DOUBLE_EQ(metric(m, ScalarMetric::Polyphony), 14.0 / 6.0);
  EXPECT_EQ(metric(m, ScalarMetric::LongestRepeatRun), 1);
  EXPECT_TRUE(std::isnan(metric(m, ScalarMetric::RepeatedNgramShare)));  // 3 onsets < 4
  // Default 4/4 instead: bars of 4 quarters, the notes reach into bar 3 (8..9 quarters).
  const PieceMetrics four = compute_metrics(make_file(chords_with_rest()));
  EXPECT_EQ(four.bars, 3);
  EXPECT_DOUBLE_EQ(metric(four, ScalarMetric::EmptyBarShare), 0.0);
}

TEST(Metrics, NoteLengthClassesOnALogScale) {
  // The quarter / half-triplet boundary is sqrt(4/3) = 1.1547 quarters = 554.26 ticks.
  const PieceMetrics m = compute_metrics(make_file({{0, 554, 60},
                                                    {1000, 1555, 60},
                                                    {2000, 2720, 62},     // dotted quarter
                                                    {3000, 3100, 64},     // < 16th
                                                    {4000, 6000, 65},     // > whole
                                                    {7000, 7000, 67}}));  // no length
  EXPECT_EQ(m.note_length_counts[6], 1);                                  // quarter
  EXPECT_EQ(m.note_length_counts[7], 1);                                  // half triplet
  EXPECT_EQ(m.note_length_counts[8], 1);                                  // dotted quarter
  EXPECT_EQ(m.note_length_counts[0], 2);   // 16th: the short one and the empty one
  EXPECT_EQ(m.note_length_counts[11], 1);  // whole
}

TEST(Metrics, EmptyFileIsUndefinedNotACrash) {
  const PieceMetrics m = compute_metrics(make_file({}));
  EXPECT_EQ(metric(m, ScalarMetric::NoteCount), 0);
  EXPECT_TRUE(std::isnan(metric(m, ScalarMetric::PitchRange)));
  EXPECT_TRUE(std::isnan(metric(m, ScalarMetric::EmptyBarShare)));
  const musegen::SetMetrics s = musegen::summarize(std::span(&m, 1));
  EXPECT_EQ(s[ScalarMetric::PitchRange].count, 0u);
  EXPECT_NE(musegen::to_json(s, &s).find("null"), std::string::npos);
  EXPECT_NE(musegen::format_report(s, &s).find("n/a"), std::string::npos);
}

TEST(Metrics, RejectsBadOptions) {
  musegen::MetricOptions o;
  o.ngram = 0;
  EXPECT_THROW(compute_metrics(make_file(c_major_scale()), o), std::invalid_argument);
  o = {};
  o.default_denominator = 3;
  EXPECT_THROW(compute_metrics(make_file(c_major_scale()), o), std::invalid_argument);
}

// Every number of the --json report parses back (nlohmann) as the very double that was
// written, bit for bit, including ones without a short decimal form; undefined ones are null.
// The keys come in the order the report documents (docs/metrics.md): ordered_json keeps the
// order of the text.
void expect_same_double(const nlohmann::ordered_json& written, double value, const std::string& where) {
  if (!std::isfinite(value)) {
    EXPECT_TRUE(written.is_null()) << where << ": " << written.dump();
    return;
  }
  ASSERT_TRUE(written.is_number()) << where << ": " << written.dump();
  const double read = written.get<double>();
  EXPECT_EQ(std::bit_cast<std::uint64_t>(read), std::bit_cast<std::uint64_t>(value))
      << where << ": wrote " << value << " as " << written.dump() << ", read back " << read;
}

void expect_same_set(const nlohmann::ordered_json& j, const musegen::SetMetrics& s,
                     std::span<const PieceMetrics> pieces, const std::string& where) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  std::vector<std::string> expected_keys{"pieces", "metrics", "pitch_class_histogram", "note_length_histogram"};
  if (!pieces.empty()) expected_keys.push_back("files");
  EXPECT_EQ(keys, expected_keys) << where;
  EXPECT_EQ(j.at("pieces").get<std::size_t>(), s.pieces) << where;
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k) {
    const std::string key(musegen::kScalarMetricTable[k].key);
    const nlohmann::ordered_json& m = j.at("metrics").at(key);
    const auto& ms = s.scalar[k];
    expect_same_double(m.at("mean"), ms.count ? ms.mean : NAN, where + " " + key + ".mean");
    expect_same_double(m.at("std"), ms.count ? ms.std : NAN, where + " " + key + ".std");
    EXPECT_EQ(m.at("count").get<std::size_t>(), ms.count) << where << " " << key;
  }
  for (std::size_t i = 0; i < 12; ++i) {
    expect_same_double(j.at("pitch_class_histogram").at(i), s.pitch_class_histogram[i], where + " pc histogram");
    expect_same_double(j.at("note_length_histogram").at(i), s.note_length_histogram[i], where + " length histogram");
  }
  if (pieces.empty()) return;
  ASSERT_EQ(j.at("files").size(), pieces.size()) << where;
  for (std::size_t f = 0; f < pieces.size(); ++f) {
    const nlohmann::ordered_json& file = j.at("files").at(f);
    const PieceMetrics& p = pieces[f];
    EXPECT_EQ(file.at("name").get<std::string>(), p.name);
    for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k)
      expect_same_double(file.at(std::string(musegen::kScalarMetricTable[k].key)), p.scalar[k],
                         p.name + " " + std::string(musegen::kScalarMetricTable[k].key));
    EXPECT_EQ(file.at("bars").get<std::int64_t>(), p.bars) << p.name;
    EXPECT_EQ(file.at("pitch_class_counts").get<std::vector<std::int64_t>>(),
              std::vector<std::int64_t>(p.pitch_class_counts.begin(), p.pitch_class_counts.end()));
    EXPECT_EQ(file.at("note_length_counts").get<std::vector<std::int64_t>>(),
              std::vector<std::int64_t>(p.note_length_counts.begin(), p.note_length_counts.end()));
  }
}

TEST(Metrics, JsonReadsBackAsTheSameDoubles) {
  std::vector<PieceMetrics> generated{compute_metrics(make_file(c_major_scale())),
                                      compute_metrics(make_file(one_note_repeated(7))),
                                      compute_metrics(make_file(chords_with_rest(), 3, 2)),
                                      compute_metrics(make_file({}))};
  generated[0].name = "scale.mid";
  generated[1].name = "repeated \"7\".mid";
  generated[2].name = "chords\tin 3/4.mid";
  generated[3].name = "empty.mid";
  // Doubles without a short decimal form, the extremes, a subnormal and a negative zero.
  PieceMetrics odd = generated[0];
  odd.name = "odd.mid";
  const double odd_values[] = {0.1, 1.0 / 3, 2.0 / 3 * 1e-300, 5e-324, 1.7976931348623157e308,
                               -0.0, 123456789.123456789, std::nextafter(1.0, 2.0), 1e23};
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k)
    odd.scalar[k] = odd_values[k % std::size(odd_values)];
  const std::vector<PieceMetrics> reference{odd, generated[2]};
  const musegen::SetMetrics gen_set = musegen::summarize(generated), ref_set = musegen::summarize(reference);

  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(musegen::to_json(gen_set, &ref_set, generated, reference));
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"generated", "reference", "comparison"}));
  expect_same_set(j.at("generated"), gen_set, generated, "generated");
  expect_same_set(j.at("reference"), ref_set, reference, "reference");
  const musegen::SetComparison c = musegen::compare(gen_set, ref_set);
  const nlohmann::ordered_json& comparison = j.at("comparison");
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k) {
    const std::string key(musegen::kScalarMetricTable[k].key);
    expect_same_double(comparison.at("mean_difference").at(key), c.mean_difference[k], "mean difference " + key);
  }
  expect_same_double(comparison.at("pitch_class_tv"), c.pitch_class_tv, "pitch_class_tv");
  expect_same_double(comparison.at("note_length_overlap"), c.note_length_overlap, "note_length_overlap");
  expect_same_double(comparison.at("note_length_kl"), c.note_length_kl, "note_length_kl");

  // Without a reference: only "generated", and no "files" without pieces.
  const nlohmann::ordered_json alone = nlohmann::ordered_json::parse(musegen::to_json(gen_set));
  EXPECT_EQ(alone.size(), 1u);
  expect_same_set(alone.at("generated"), gen_set, {}, "alone");
}

TEST(Metrics, SetComparisonOfIdenticalAndDisjointSets) {
  const PieceMetrics scale = compute_metrics(make_file(c_major_scale()));
  const PieceMetrics repeated = compute_metrics(make_file(one_note_repeated(16)));  // E only
  const auto a = musegen::summarize(std::span(&scale, 1));
  const auto b = musegen::summarize(std::span(&repeated, 1));
  EXPECT_DOUBLE_EQ(musegen::compare(a, a).pitch_class_tv, 0.0);
  EXPECT_DOUBLE_EQ(musegen::compare(a, a).note_length_overlap, 1.0);
  EXPECT_DOUBLE_EQ(musegen::compare(a, a).note_length_kl, 0.0);
  // E has 1/8 of the scale's notes and all of the other set's: TV = 1 - 1/8.
  EXPECT_DOUBLE_EQ(musegen::compare(a, b).pitch_class_tv, 7.0 / 8.0);
  const std::string report = musegen::format_report(a, &b);
  EXPECT_NE(report.find("longest run of one note/chord"), std::string::npos) << report;
}

TEST(Metrics, UnreadableFilesAreSkippedWithTheReason) {
  const fs::path dir =
      fs::temp_directory_path() / ("musegen_metrics_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "bad.mid") << "not a MIDI file"; }
  midi::save(make_file(c_major_scale()), dir / "good.MID");
  const auto files = musegen::collect_midi_files(std::vector<std::string>{dir.string()});
  ASSERT_EQ(files.size(), 2u);
  const musegen::MeasuredSet set = musegen::measure_files(files);
  EXPECT_EQ(set.pieces.size(), 1u);
  ASSERT_EQ(set.skipped.size(), 1u);
  EXPECT_NE(set.skipped[0].find("bad.mid"), std::string::npos) << set.skipped[0];
  EXPECT_THROW(musegen::collect_midi_files(std::vector<std::string>{(dir / "nope").string()}),
               std::invalid_argument);
  fs::remove_all(dir);
}

// --- the GAN papers' measures (C-RNN-GAN, MuseGAN), by hand ------------------------------

TEST(Metrics, GanPaperMeasuresOfScaleRepeatsAndChords) {
  // The C major scale, a quarter each in 4/4: no chord, no repeated 4-tone run; bars C D E F
  // and G A B C use 4 pitch classes each; every note is far longer than a 32nd.
  const PieceMetrics scale = compute_metrics(make_file(c_major_scale()));
  EXPECT_EQ(metric(scale, ScalarMetric::PolyphonicOnsetShare), 0.0);
  EXPECT_EQ(metric(scale, ScalarMetric::Repetitions), 0.0);
  EXPECT_EQ(metric(scale, ScalarMetric::PitchClassesPerBar), 4.0);
  EXPECT_EQ(metric(scale, ScalarMetric::QualifiedNoteShare), 1.0);

  // 32 equal tones: 4-grams start at 0..28, and every pair of them at least 4 apart counts,
  // sum over d = 4..28 of (29 - d) = 1 + ... + 25 = 325; bigrams: 1 + ... + 29 = 435.
  const PieceMetrics repeated = compute_metrics(make_file(one_note_repeated(32)));
  EXPECT_EQ(metric(repeated, ScalarMetric::Repetitions), 325.0);
  musegen::MetricOptions bigrams;
  bigrams.ngram = 2;
  EXPECT_EQ(
      metric(compute_metrics(make_file(one_note_repeated(32)), bigrams), ScalarMetric::Repetitions),
      435.0);
  EXPECT_EQ(metric(repeated, ScalarMetric::PitchClassesPerBar), 1.0);
  // Fewer tones than n: undefined, as the repeated n-gram share.
  EXPECT_TRUE(std::isnan(
      metric(compute_metrics(make_file(one_note_repeated(3))), ScalarMetric::Repetitions)));

  // 3/4: onsets {C E G}, {A C}, {E} (the drum is no tone): 2 of 3 are chords. Bar 1 sounds
  // C E G, bar 2 is empty and left out, bar 3 sounds A C E: 3 pitch classes per bar.
  const PieceMetrics chords = compute_metrics(make_file(chords_with_rest(), 3, 2));
  EXPECT_DOUBLE_EQ(metric(chords, ScalarMetric::PolyphonicOnsetShare), 2.0 / 3.0);
  EXPECT_EQ(metric(chords, ScalarMetric::PitchClassesPerBar), 3.0);
  EXPECT_EQ(metric(chords, ScalarMetric::QualifiedNoteShare), 1.0);

  // Qualified notes: a 32nd (60 ticks of 480) qualifies, 59 ticks does not, nor a note
  // without length. A note held across the bar line sounds in both bars.
  const PieceMetrics short_notes =
      compute_metrics(make_file({{0, 60, 60}, {60, 119, 62}, {119, 150, 64}, {1800, 2000, 66}}));
  EXPECT_DOUBLE_EQ(metric(short_notes, ScalarMetric::QualifiedNoteShare), 2.0 / 4.0);
  // Bar 1: C D E F#, bar 2: F#.
  EXPECT_DOUBLE_EQ(metric(short_notes, ScalarMetric::PitchClassesPerBar), 5.0 / 2.0);
  EXPECT_TRUE(std::isnan(metric(compute_metrics(make_file({})), ScalarMetric::QualifiedNoteShare)));
  EXPECT_TRUE(std::isnan(metric(compute_metrics(make_file({})), ScalarMetric::PitchClassesPerBar)));
  EXPECT_TRUE(
      std::isnan(metric(compute_metrics(make_file({})), ScalarMetric::PolyphonicOnsetShare)));
}

TEST(Metrics, RelativeDifferenceAndTheToleranceFlag) {
  EXPECT_NEAR(musegen::relative_difference(1.1, 1.0), 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(musegen::relative_difference(-2.0, -4.0), 0.5);
  EXPECT_EQ(musegen::relative_difference(0.0, 0.0), 0.0);
  EXPECT_TRUE(std::isnan(musegen::relative_difference(1.0, 0.0)));
  EXPECT_TRUE(std::isnan(musegen::relative_difference(NAN, 1.0)));
  EXPECT_EQ(musegen::within_tolerance(0.15, 0.15), 1);
  EXPECT_EQ(musegen::within_tolerance(0.1500001, 0.15), 0);
  EXPECT_EQ(musegen::within_tolerance(NAN, 0.15), -1);

  // A scale against itself is within on every defined metric; against 32 repeated notes not
  // on the pitch range (0 vs 12) and within on the qualified-note share (1 vs 1).
  const PieceMetrics scale = compute_metrics(make_file(c_major_scale()));
  const PieceMetrics repeated = compute_metrics(make_file(one_note_repeated(32)));
  const musegen::SetMetrics a = musegen::summarize(std::span(&scale, 1));
  const musegen::SetMetrics b = musegen::summarize(std::span(&repeated, 1));
  const musegen::SetComparison same = musegen::compare(a, a);
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k)
    EXPECT_NE(same.within[k], 0) << musegen::kScalarMetricTable[k].key;
  const musegen::SetComparison c = musegen::compare(b, a, 0.15);
  const auto at = [](const auto& array, ScalarMetric m) {
    return array[static_cast<std::size_t>(m)];
  };
  EXPECT_EQ(at(c.relative_difference, ScalarMetric::PitchRange), 1.0);
  EXPECT_EQ(at(c.within, ScalarMetric::PitchRange), 0);
  EXPECT_EQ(at(c.within, ScalarMetric::QualifiedNoteShare), 1);
  EXPECT_EQ(at(c.within, ScalarMetric::Repetitions), -1);  // the scale's is 0, the other's not

  const std::string text = musegen::format_report(b, &a, 0.15);
  EXPECT_NE(text.find("within 15%"), std::string::npos) << text;
  EXPECT_NE(text.find("within 15% of the reference: "), std::string::npos) << text;
  const auto json = nlohmann::json::parse(musegen::to_json(b, &a, {}, {}, 0.15));
  const auto& cmp = json.at("comparison");
  EXPECT_EQ(cmp.at("tolerance"), 0.15);
  EXPECT_EQ(cmp.at("relative_difference").at("pitch_range"), 1.0);
  EXPECT_EQ(cmp.at("within_tolerance").at("pitch_range"), false);
  EXPECT_EQ(cmp.at("within_tolerance").at("qualified_note_share"), true);
  EXPECT_TRUE(cmp.at("within_tolerance").at("repetitions").is_null());
  int inside = 0;
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k) inside += c.within[k] == 1;
  EXPECT_EQ(cmp.at("within_count"), inside);
}

// --- the oracle ---------------------------------------------------------------------------

std::string python() {
  const char* env = std::getenv("MUSEGEN_PYTHON");
  return env ? env : "/usr/bin/python3";
}

// Runs the oracle; the output lines split on tabs. Empty when Python or mido is missing.
std::vector<std::vector<std::string>> run_oracle(const std::string& arguments) {
  if (std::system((python() + " -c 'import mido' >/dev/null 2>&1").c_str()) != 0) return {};
  const std::string command =
      python() + " '" + MUSEGEN_TEST_DIR + "/metrics_oracle.py' " + arguments;
  std::vector<std::vector<std::string>> rows;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return rows;
  std::string text;
  char buffer[65536];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::istringstream in(line);
    for (std::string f; std::getline(in, f, '\t');) fields.push_back(f);
    if (fields.size() == 4) rows.push_back(std::move(fields));
  }
  return rows;
}

void expect_close(double expected, double actual, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": expected undefined, got " << actual;
    return;
  }
  EXPECT_NEAR(actual, expected, 1e-9 * std::max(1.0, std::fabs(expected))) << what;
}

void check_piece(const PieceMetrics& m, const std::map<std::string, double>& oracle) {
  for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k) {
    const std::string key(musegen::kScalarMetricTable[k].key);
    ASSERT_TRUE(oracle.count(key)) << key;
    expect_close(oracle.at(key), m.scalar[k], m.name + " " + key);
  }
  for (std::size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(m.pitch_class_counts[i], oracle.at("pc" + std::to_string(i))) << m.name << " pc" << i;
    EXPECT_EQ(m.note_length_counts[i], oracle.at("len" + std::to_string(i)))
        << m.name << " len" << i;
  }
  EXPECT_EQ(m.bars, oracle.at("bars")) << m.name;
}

TEST(MetricsOracle, SyntheticPiecesAndPianoSetAgreeWithMido) {
  const fs::path dir = fs::temp_directory_path() / ("musegen_oracle_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  midi::save(make_file(c_major_scale()), dir / "scale.mid");
  midi::save(make_file(one_note_repeated(40)), dir / "repeated.mid");
  midi::save(make_file(chords_with_rest(), 3, 2), dir / "chords_3_4.mid");
  midi::save(make_file(chords_with_rest(), 6, 3), dir / "chords_6_8.mid");
  // Notes around a 32nd (MuseGAN's qualified note) and one held across a bar line.
  midi::save(make_file({{0, 60, 60}, {60, 119, 62}, {119, 150, 64}, {1800, 2000, 66}}),
             dir / "short_notes.mid");

  std::vector<std::string> generated{dir.string()};
  std::string reference_arg;
  std::vector<std::string> reference;
  const char* data = std::getenv("MUSEGEN_DATA_DIR");
  const fs::path piano = data ? fs::path(data) / "classical-piano-composer/midi_songs" : fs::path();
  const bool have_piano = data && fs::is_directory(piano);
  if (have_piano) {
    reference.push_back(piano.string());
    reference_arg = " --reference '" + piano.string() + "'";
  }
  const auto rows = run_oracle("'" + dir.string() + "'" + reference_arg);
  if (rows.empty()) {
    fs::remove_all(dir);
    GTEST_SKIP() << "no " << python() << " with mido (set MUSEGEN_PYTHON)";
  }
  std::map<std::string, std::map<std::string, double>> files, sets;
  std::map<std::string, double> comparison;
  for (const auto& r : rows) {
    if (r[0] == "file") files[r[1]][r[2]] = std::stod(r[3]);
    if (r[0] == "set") sets[r[1]][r[2]] = std::stod(r[3]);
    if (r[0] == "compare") comparison[r[2]] = std::stod(r[3]);
    if (r[0] == "skip") ADD_FAILURE() << "oracle could not read " << r[1] << ": " << r[3];
  }

  const auto measure = [](const std::vector<std::string>& inputs) {
    const auto set = musegen::measure_files(musegen::collect_midi_files(inputs));
    EXPECT_TRUE(set.skipped.empty());
    return set.pieces;
  };
  const std::vector<PieceMetrics> gen = measure(generated);
  ASSERT_EQ(gen.size(), 5u);
  for (const PieceMetrics& m : gen) {
    ASSERT_TRUE(files.count(m.name)) << m.name;
    check_piece(m, files.at(m.name));
  }
  const auto check_set = [&](const musegen::SetMetrics& s, const std::map<std::string, double>& o) {
    for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k) {
      const std::string key(musegen::kScalarMetricTable[k].key);
      expect_close(o.at(key + ".mean"), s.scalar[k].mean, key + ".mean");
      expect_close(o.at(key + ".std"), s.scalar[k].std, key + ".std");
    }
    for (std::size_t i = 0; i < 12; ++i) {
      expect_close(o.at("pc_hist" + std::to_string(i)), s.pitch_class_histogram[i], "pc_hist");
      expect_close(o.at("len_hist" + std::to_string(i)), s.note_length_histogram[i], "len_hist");
    }
  };
  const musegen::SetMetrics gen_set = musegen::summarize(gen);
  check_set(gen_set, sets["generated"]);

  if (have_piano) {
    const std::vector<PieceMetrics> ref = measure(reference);
    EXPECT_EQ(ref.size(), 92u);
    for (const PieceMetrics& m : ref) {
      ASSERT_TRUE(files.count(m.name)) << m.name;
      check_piece(m, files.at(m.name));
    }
    const musegen::SetMetrics ref_set = musegen::summarize(ref);
    check_set(ref_set, sets["reference"]);
    const musegen::SetComparison c = musegen::compare(gen_set, ref_set);
    for (std::size_t k = 0; k < musegen::kScalarMetricCount; ++k)
      expect_close(comparison.at(std::string(musegen::kScalarMetricTable[k].key)),
                   c.mean_difference[k], "mean difference");
    expect_close(comparison.at("pitch_class_tv"), c.pitch_class_tv, "pitch_class_tv");
    expect_close(comparison.at("note_length_overlap"), c.note_length_overlap, "overlap");
    expect_close(comparison.at("note_length_kl"), c.note_length_kl, "kl");
  }
  fs::remove_all(dir);
  if (!have_piano)
    GTEST_SKIP() << "synthetic pieces checked; MUSEGEN_DATA_DIR has no "
                    "classical-piano-composer/midi_songs for the piano set";
}

}  // namespace

// --- the subcommand -----------------------------------------------------------------------

namespace {

TEST(CmdEval, PrintsTheTableAndWritesJson) {
  const fs::path dir =
      fs::temp_directory_path() / ("musegen_cmd_eval_" + std::to_string(::getpid()));
  fs::create_directories(dir / "gen");
  midi::save(make_file(c_major_scale()), dir / "gen/scale.mid");
  midi::save(make_file(one_note_repeated(24)), dir / "gen/repeated.mid");
  { std::ofstream(dir / "gen/broken.mid") << "MThd"; }
  const std::vector<std::string> args{(dir / "gen").string(),    "--reference",
                                      (dir / "gen").string(),    "--json",
                                      (dir / "m.json").string(), "--per-file"};
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(musegen::cmd_eval(args), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("longest run of one note/chord"), std::string::npos) << out;
  EXPECT_NE(err.find("skipped 1 of 3 generated files"), std::string::npos) << err;
  EXPECT_NE(err.find("broken.mid"), std::string::npos) << err;
  std::ifstream in(dir / "m.json");
  const nlohmann::json json = nlohmann::json::parse(in);
  EXPECT_EQ(json.at("comparison").at("pitch_class_tv"), 0.0) << json.dump(2);
  bool found_repeat_run = false;
  for (const auto& file : json.at("generated").at("files"))
    found_repeat_run = found_repeat_run || file.at("longest_repeat_run") == 24.0;
  EXPECT_TRUE(found_repeat_run) << json.dump(2);

  // --reference with several paths, commas between them; --tolerance decides the flags.
  {
    const std::vector<std::string> several{
        (dir / "gen/scale.mid").string(),
        "--reference",
        (dir / "gen/scale.mid").string() + "," + (dir / "gen/repeated.mid").string(),
        "--tolerance",
        "0",
        "--json",
        (dir / "several.json").string()};
    ::testing::internal::CaptureStdout();
    EXPECT_EQ(musegen::cmd_eval(several), 0);
    const std::string text = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(text.find("reference (2 files)"), std::string::npos) << text;
    EXPECT_NE(text.find("within 0% of the reference: "), std::string::npos) << text;
    std::ifstream several_in(dir / "several.json");
    const nlohmann::json j = nlohmann::json::parse(several_in);
    EXPECT_EQ(j.at("reference").at("pieces"), 2);
    EXPECT_EQ(j.at("comparison").at("tolerance"), 0.0);
    // The pitch range: 12 against (12 + 0) / 2 = 6, twice as large.
    EXPECT_EQ(j.at("comparison").at("relative_difference").at("pitch_range"), 1.0);
    EXPECT_EQ(j.at("comparison").at("within_tolerance").at("pitch_range"), false);
  }

  const std::vector<std::string> bad{(dir / "gen").string(), "--ngram", "0"};
  EXPECT_THROW(musegen::cmd_eval(bad), musegen::cli::UsageError);
  const std::vector<std::string> missing{(dir / "nope").string()};
  EXPECT_THROW(musegen::cmd_eval(missing), musegen::cli::UsageError);
  fs::remove_all(dir);
}

}  // namespace
