// Measures of music for several instruments, what `musegen eval` adds when pieces have two
// or more parts: per part, how well it suits its instrument (the share of its notes inside the
// instrument's range, its pitch range and polyphony); between parts, how well they agree
// (MuseGAN's tonal distance, Dong et al. 2018) and how often neighbouring voices cross; and for
// accompaniment, how often each part is consonant with a given melody part.
//
// docs/metrics.md ("Several instruments") defines every measure; the Python oracle
// tests/musegen/multitrack_metrics_oracle.py implements the same definitions from scratch.
// The parts are the multitrack encoding's (multitrack_parts: the non-drum (track, channel)
// pairs with notes, in file order), each with its instrument from instruments.hpp, so the
// measures see a piece the way the encoding and the sampler do.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec.hpp"
#include "metrics.hpp"

namespace musegen {

// The measures of one part, in report order. Adding one: the enum, kPartMeasureTable,
// compute_multitrack_metrics, docs/metrics.md and the oracle.
enum class PartMeasure : std::uint8_t {
  NoteCount,         // notes of the part
  InRangeShare,      // share of them inside the instrument's range
  PitchRange,        // highest minus lowest pitch, semitones
  Polyphony,         // mean notes sounding in the part while at least one does
  HarmonyAgreement,  // share of its sounding time consonant with the melody part
  // MuseGAN's per-track measures (Dong et al. 2018), over the piece's bars:
  EmptyBarShare,       // EB: share of the piece's bars in which the part does not sound
  PitchClassesPerBar,  // UPC: pitch classes the part sounds per bar, over its bars with notes
  QualifiedNoteShare,  // QN: share of its notes at least a 32nd note long
  kCount
};
inline constexpr std::size_t kPartMeasureCount = static_cast<std::size_t>(PartMeasure::kCount);

// The measures of a piece as an ensemble, in report order.
enum class EnsembleMeasure : std::uint8_t {
  TonalDistance,       // mean over part pairs of MuseGAN's tonal distance
  VoiceCrossingShare,  // share of the time two neighbouring parts sound that they cross
  HarmonyAgreement,    // mean over the non-melody parts of their harmony agreement
  kCount
};
inline constexpr std::size_t kEnsembleMeasureCount =
    static_cast<std::size_t>(EnsembleMeasure::kCount);

struct MeasureInfo {
  std::string_view key;    // JSON key: "in_range_share"
  std::string_view label;  // table label
};
inline constexpr std::array<MeasureInfo, kPartMeasureCount> kPartMeasureTable{{
    {"note_count", "notes"},
    {"in_range_share", "in range"},
    {"pitch_range", "pitch range"},
    {"polyphony", "polyphony"},
    {"harmony_agreement", "harmony with melody"},
    {"empty_bar_share", "empty bars"},
    {"pitch_classes_per_bar", "UPC"},
    {"qualified_note_share", "QN"},
}};
inline constexpr std::array<MeasureInfo, kEnsembleMeasureCount> kEnsembleMeasureTable{{
    {"tonal_distance", "tonal distance (mean over part pairs)"},
    {"voice_crossing_share", "voice-crossing share (neighbouring parts)"},
    {"harmony_agreement", "harmony agreement with the melody part"},
}};

// The interval classes counted as consonant with the melody: unison/octave, thirds, fourth,
// fifth, sixths (pitch difference mod 12).
inline constexpr std::array<int, 7> kConsonantIntervals{0, 3, 4, 5, 7, 8, 9};

struct PartMetrics {
  int instrument = 0;                                // row of instruments()
  std::string track_name;                            // the MIDI track's name, or empty
  std::array<double, kPartMeasureCount> measures{};  // NaN where undefined

  double operator[](PartMeasure m) const { return measures[static_cast<std::size_t>(m)]; }
};

// Two parts, first < second.
struct PartPairMetrics {
  int first = 0, second = 0;
  double tonal_distance = 0;    // mean over the bars where both sound; NaN without one
  std::int64_t tonal_bars = 0;  // those bars
  // Neighbouring parts only (second == first + 1), else NaN and 0: the time both sound, the
  // part of it in which first's lowest sounding pitch is below second's highest, and their
  // ratio (NaN when both never sound together).
  double crossing_share = 0;
  double both_quarters = 0, crossing_quarters = 0;

  bool neighbours() const { return second == first + 1; }
};

struct MultitrackPieceMetrics {
  std::string name;
  std::vector<PartMetrics> parts;      // in part order
  std::vector<PartPairMetrics> pairs;  // every pair: (0,1), (0,2), ..., (1,2), ...
  int melody_part = -1;                // harmony was measured against this part; -1: not
  std::array<double, kEnsembleMeasureCount> measures{};  // NaN where undefined

  double operator[](EnsembleMeasure m) const { return measures[static_cast<std::size_t>(m)]; }
  // The pair (i, j) in either order; throws std::out_of_range for i == j or out of range.
  const PartPairMetrics& pair(int i, int j) const;
};

// The measures of one file: its notes read with options.zero_length_off_first, its bars from
// its time signatures (options' default before the first), harmony against
// options.melody_part. Throws std::invalid_argument for options out of range.
MultitrackPieceMetrics compute_multitrack_metrics(const midi::MidiFile& file,
                                                  const MetricOptions& options = {});

// The same for a Piece (a decoded sequence, say): note times are rounded to the nearest
// 1/ticks_per_quarter of a quarter, and `bars` is a bar grid in units of
// 1/(ticks_per_quarter × kBarGridScale) quarter (bar_segments of a file of that division).
MultitrackPieceMetrics compute_multitrack_metrics(const Piece& piece,
                                                  std::int64_t ticks_per_quarter,
                                                  std::span<const BarSegment> bars,
                                                  int melody_part = -1);

// A set's measures, grouped by part position: the part with index `index` whose instrument is
// `instrument` (a quartet's "0 violin", "1 violin", "2 viola", "3 cello"), over the pieces
// that have such a part.
struct PartGroup {
  int index = 0, instrument = 0;
  std::size_t pieces = 0;
  std::array<MeanStd, kPartMeasureCount> measures{};

  std::string key() const;  // "0 violin"
};

struct PairGroup {
  int first = 0, second = 0;                        // part indices
  int first_instrument = 0, second_instrument = 0;  // rows of instruments()
  std::size_t pieces = 0;
  MeanStd tonal_distance, crossing_share;  // crossing: neighbouring parts only

  std::string key() const;  // "0 violin / 1 violin"
};

struct MultitrackSetMetrics {
  std::size_t pieces = 0;     // all pieces
  std::size_t ensembles = 0;  // pieces with two or more parts
  int melody_part = -1;       // of the pieces (-1: none)
  std::array<MeanStd, kEnsembleMeasureCount> measures{};
  std::vector<PartGroup> parts;  // by (index, instrument)
  std::vector<PairGroup> pairs;  // by (first, second, instruments)

  const MeanStd& operator[](EnsembleMeasure m) const {
    return measures[static_cast<std::size_t>(m)];
  }
};

MultitrackSetMetrics summarize_multitrack(std::span<const MultitrackPieceMetrics> pieces);

// The several-instrument part of the report: the ensemble measures (generated, reference,
// |difference|), then a line per part group and per pair group present in at least a tenth of
// either set's pieces. Empty when neither set has a piece with two or more parts.
std::string format_multitrack_report(const MultitrackSetMetrics& generated,
                                     const MultitrackSetMetrics* reference = nullptr,
                                     double tolerance = kDefaultTolerance);

// One set as the JSON report holds it: summaries, and with --per-file its pieces.
struct ReportedSet {
  const SetMetrics& metrics;
  const MultitrackSetMetrics& multitrack;
  std::span<const PieceMetrics> pieces = {};
  std::span<const MultitrackPieceMetrics> multitrack_pieces = {};
};

// to_json (metrics.hpp) with a "multitrack" object in each set and in "comparison" when
// either set has a piece with two or more parts; docs/metrics.md describes it.
// With a reference, "comparison" has each measure's relative difference and whether it is
// within `tolerance` (metrics.hpp's compare), per part group too.
std::string to_json(const ReportedSet& generated, const ReportedSet* reference = nullptr,
                    double tolerance = kDefaultTolerance);

}  // namespace musegen
