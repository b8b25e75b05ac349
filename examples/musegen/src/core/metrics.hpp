// Objective metrics of symbolic music, per piece and per set, and the distance of a set of
// generated pieces from a reference set: what `musegen eval` reports.
//
// The metrics follow Yang & Lerch 2018 ("On the evaluation of generative models in music")
// and MusPy's muspy.metrics; docs/metrics.md defines every one exactly (the Python oracle
// tests/musegen/metrics_oracle.py implements the same definitions from scratch). Two of them
// expose the best-known failure of note-level LSTMs, one note repeated over and over:
// `longest_repeat_run` (the longest run of identical consecutive onsets) and
// `repeated_ngram_share`.
//
// Pitch metrics ignore drum notes (channel 10); timing metrics (empty bars, note lengths)
// count every note. Times are measured in quarter notes from the file's PPQ division, so a
// piece's metrics do not depend on its tempo. A metric that is undefined for a piece (a
// piece without notes has no pitch range) is NaN, written `null` in JSON, and left out of
// the set's mean and standard deviation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <libmidi/midi_file.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace musegen {

struct MetricOptions {
  int ngram = 4;              // n of repeated_ngram_share and of repetitions, >= 1
  int default_numerator = 4;  // time signature assumed before the first one in the file
  int default_denominator = 4;
  // Read a stray note-off then a note-on of its key in one tick as a note of no length
  // (libmidi's NoteOptions::zero_length_off_first: music21's grace notes); off by default.
  bool zero_length_off_first = false;
  // The several-instrument measures (multitrack_metrics.hpp): the part whose harmony the
  // other parts are compared with (0 = the first part), or -1 for none.
  int melody_part = -1;
};

// The note-length classes of the note-length histogram, in quarter notes (Yang & Lerch's 12
// classes). A note goes to the class nearest on a logarithmic scale; longer than a whole note
// counts as whole, shorter than a 16th as 16th.
inline constexpr std::size_t kNoteLengthClasses = 12;
struct NoteLengthClass {
  std::string_view name;
  int numerator, denominator;  // length in quarter notes = numerator / denominator
};
inline constexpr std::array<NoteLengthClass, kNoteLengthClasses> kNoteLengthClassTable{{
    {"16th", 1, 4},
    {"8th-triplet", 1, 3},
    {"dotted-16th", 3, 8},
    {"8th", 1, 2},
    {"quarter-triplet", 2, 3},
    {"dotted-8th", 3, 4},
    {"quarter", 1, 1},
    {"half-triplet", 4, 3},
    {"dotted-quarter", 3, 2},
    {"half", 2, 1},
    {"dotted-half", 3, 1},
    {"whole", 4, 1},
}};

// The scalar metrics, in report order. Adding one: the enum, kScalarMetricTable, compute_metrics,
// docs/metrics.md and the oracle.
enum class ScalarMetric : std::uint8_t {
  NoteCount,           // notes (drums excluded)
  PitchRange,          // highest minus lowest pitch, semitones
  PitchClassesUsed,    // distinct pitch classes, 0..12
  Polyphony,           // mean number of sounding notes while at least one sounds
  ScaleConsistency,    // largest share of notes inside one of the 24 major/minor scales
  RepeatedNgramShare,  // share of onset n-grams equal to an earlier one
  LongestRepeatRun,    // longest run of identical consecutive onsets (note or chord)
  EmptyBarShare,       // share of bars in which no note sounds (MuseGAN's EB)
  MeanNoteLength,      // mean note length, quarter notes
  // The GAN papers' measures (docs/metrics.md, "The GAN papers' measures"):
  PolyphonicOnsetShare,  // C-RNN-GAN's polyphony: share of onsets with two or more tones
  Repetitions,           // C-RNN-GAN's repetitions: pairs of equal non-overlapping n-tone runs
  PitchClassesPerBar,    // MuseGAN's UPC: pitch classes sounding per bar, over bars with notes
  QualifiedNoteShare,    // MuseGAN's QN: share of notes at least a 32nd note long
  kCount
};
inline constexpr std::size_t kScalarMetricCount = static_cast<std::size_t>(ScalarMetric::kCount);

struct ScalarMetricInfo {
  std::string_view key;    // JSON key: "pitch_range"
  std::string_view label;  // table label: "pitch range (semitones)"
};
inline constexpr std::array<ScalarMetricInfo, kScalarMetricCount> kScalarMetricTable{{
    {"note_count", "notes"},
    {"pitch_range", "pitch range (semitones)"},
    {"pitch_classes_used", "pitch classes used"},
    {"polyphony", "polyphony (sounding notes)"},
    {"scale_consistency", "scale consistency"},
    {"repeated_ngram_share", "repeated n-gram share"},
    {"longest_repeat_run", "longest run of one note/chord"},
    {"empty_bar_share", "empty-bar share"},
    {"mean_note_length", "mean note length (quarters)"},
    {"polyphonic_onset_share", "onsets with 2+ tones (C-RNN-GAN)"},
    {"repetitions", "repeated n-tone pairs (C-RNN-GAN)"},
    {"pitch_classes_per_bar", "pitch classes per bar (MuseGAN UPC)"},
    {"qualified_note_share", "notes >= a 32nd (MuseGAN QN)"},
}};

// The default of `musegen eval --tolerance`: a measure is "within" when its relative
// difference from the reference, |generated - reference| / |reference|, is at most this.
inline constexpr double kDefaultTolerance = 0.15;

// MuseGAN's qualified note: at least three steps of its 24-per-quarter grid, a 32nd note, so
// at least a quarter / kQualifiedNoteDivisor long: 8 · ticks >= ticks per quarter.
inline constexpr std::int64_t kQualifiedNoteDivisor = 8;
inline bool qualified_note(std::int64_t ticks, std::int64_t ticks_per_quarter) {
  return kQualifiedNoteDivisor * ticks >= ticks_per_quarter;
}

struct PieceMetrics {
  std::string name;                                 // the file path, or what the caller chose
  std::array<double, kScalarMetricCount> scalar{};  // NaN where undefined
  // Raw counts, so sets pool them exactly: pitch classes of the pitched notes (C = 0), and
  // note-length classes (kNoteLengthClassTable order) of all notes.
  std::array<std::int64_t, 12> pitch_class_counts{};
  std::array<std::int64_t, kNoteLengthClasses> note_length_counts{};
  std::int64_t bars = 0;  // bars from tick 0 to the end of the last note

  double operator[](ScalarMetric m) const { return scalar[static_cast<std::size_t>(m)]; }
};

// Metrics of one file. Throws std::invalid_argument for options out of range.
PieceMetrics compute_metrics(const midi::MidiFile& file, const MetricOptions& options = {});

// Throws std::invalid_argument naming the option for options out of range.
void check_metric_options(const MetricOptions& options);

// Ticks per quarter note: the file's division, or for SMPTE files (which have no quarter
// note) the ticks of half a second, as if at 120 bpm.
std::int64_t ticks_per_quarter(const midi::TimeDivision& division);

// The bars of a file (docs/metrics.md, "Bars"), on a grid of 1/kBarGridScale tick: fine
// enough that a bar of any time signature N/D with D <= 64 is a whole number of units. From
// `start`, bars of `length` units follow each other until the next segment's start, which
// starts a bar of its own (cutting the one before it short); `first_bar` numbers the
// segment's first bar. The first segment starts at 0, under the options' default signature.
inline constexpr std::int64_t kBarGridScale = 64;
struct BarSegment {
  std::int64_t start = 0, length = 0, first_bar = 0;
};
std::vector<BarSegment> bar_segments(const midi::MidiFile& file, const MetricOptions& options);
// The bar holding grid position `pos` (>= 0), and where bar `bar` begins and ends ([begin, end)).
std::int64_t bar_index(std::span<const BarSegment> segments, std::int64_t pos);
std::pair<std::int64_t, std::int64_t> bar_bounds(std::span<const BarSegment> segments,
                                                 std::int64_t bar);
// The bars a note of ticks [start, end) sounds in, first and last (inclusive): those its span
// overlaps, or for a note without length the bar holding its start.
std::pair<std::int64_t, std::int64_t> note_bars(std::span<const BarSegment> segments,
                                                std::int64_t start_tick, std::int64_t end_tick);
// How many bars the union of inclusive bar ranges covers.
std::int64_t bars_covered(std::vector<std::pair<std::int64_t, std::int64_t>> ranges);
// MuseGAN's used pitch classes per bar (UPC) of notes given by their bars (note_bars) and
// pitches: the mean, over the bars in which some note sounds, of the number of distinct pitch
// classes sounding there; NaN without notes. Σ over pitch classes of the bars it sounds in,
// over the bars anything sounds in.
double pitch_classes_per_bar(std::span<const std::pair<std::int64_t, std::int64_t>> note_bar_ranges,
                             std::span<const int> pitches);

struct MeanStd {
  double mean = 0, std = 0;  // population standard deviation; NaN when count == 0
  std::size_t count = 0;     // pieces where the metric is defined
};

// Mean and population standard deviation of the values that are not NaN.
MeanStd mean_std_of(std::span<const double> values);

struct SetMetrics {
  std::size_t pieces = 0;
  std::array<MeanStd, kScalarMetricCount> scalar{};
  // Pooled over all pieces (sums of the counts), then normalized; all zero without notes.
  std::array<double, 12> pitch_class_histogram{};
  std::array<double, kNoteLengthClasses> note_length_histogram{};
  std::array<std::int64_t, 12> pitch_class_counts{};
  std::array<std::int64_t, kNoteLengthClasses> note_length_counts{};

  const MeanStd& operator[](ScalarMetric m) const { return scalar[static_cast<std::size_t>(m)]; }
};

SetMetrics summarize(std::span<const PieceMetrics> pieces);

// How far a generated set is from a reference set.
struct SetComparison {
  // Per scalar metric: |mean(generated) - mean(reference)|, NaN where either is undefined.
  std::array<double, kScalarMetricCount> mean_difference{};
  // Total-variation distance of the pooled pitch-class histograms: half their L1 distance,
  // 0 (same) .. 1 (disjoint). NaN when either set has no pitched note.
  double pitch_class_tv = 0;
  // Overlap (sum of minima, 1 - total variation) of the note-length histograms, and the
  // Kullback-Leibler divergence KL(generated || reference) in nats, both from add-one
  // (Laplace) smoothed counts so that an empty class does not make it infinite.
  double note_length_overlap = 0;
  double note_length_kl = 0;
  // Per scalar metric: |mean(generated) - mean(reference)| / |mean(reference)| (0 when both
  // are 0, NaN when the reference's is 0 alone or either is undefined), and whether it is at
  // most `tolerance`: 1 yes, 0 no, -1 undefined.
  double tolerance = kDefaultTolerance;
  std::array<double, kScalarMetricCount> relative_difference{};
  std::array<int, kScalarMetricCount> within{};
};

// |g - r| / |r|: 0 when both are 0, NaN when r alone is 0 or either is NaN.
double relative_difference(double generated, double reference);
// 1 when relative_difference(...) <= tolerance, 0 when above, -1 when undefined.
int within_tolerance(double relative, double tolerance);

SetComparison compare(const SetMetrics& generated, const SetMetrics& reference,
                      double tolerance = kDefaultTolerance);

// A readable table: metric | generated mean ± std | reference mean ± std | distance. Without
// a reference, only the generated column.
// With a reference, each metric's relative difference and whether it is within `tolerance`,
// and a line counting the metrics within it.
std::string format_report(const SetMetrics& generated, const SetMetrics* reference = nullptr,
                          double tolerance = kDefaultTolerance);

// The same as JSON: {"generated": {...}, "reference": {...}, "comparison": {...}}; with
// `pieces`, per-file metrics too ("files": [...]). NaN is written as null.
std::string to_json(const SetMetrics& generated, const SetMetrics* reference = nullptr,
                    std::span<const PieceMetrics> generated_pieces = {},
                    std::span<const PieceMetrics> reference_pieces = {},
                    double tolerance = kDefaultTolerance);

// Reads and measures each file; a file that cannot be read is skipped and recorded in
// `skipped` as "path: reason". `also`, when given, is called with every file read and its
// name, so that further measures (multitrack_metrics.hpp) read each file once; a file for
// which it throws is skipped like an unreadable one.
struct MeasuredSet {
  std::vector<PieceMetrics> pieces;
  std::vector<std::string> skipped;
};
using MeasureAlso = std::function<void(const midi::MidiFile& file, const std::string& name)>;
MeasuredSet measure_files(std::span<const std::filesystem::path> files,
                          const MetricOptions& options = {}, const MeasureAlso& also = {});

}  // namespace musegen
