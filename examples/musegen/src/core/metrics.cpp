// Music metrics: one pass over the notes of a file per metric family, then set summaries
// and distances. The definitions are in docs/metrics.md; each function here names the
// metric it computes so the two can be read side by side.
#include "metrics.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <libmidi/io.hpp>
#include <libmidi/notes.hpp>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "metrics_report.hpp"

namespace musegen {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Positions on the bar grid are ticks × kGridScale, so that a bar of any time signature with
// a denominator up to kMaxDenominator is a whole number of grid units.
constexpr std::int64_t kMaxDenominator = 64;
constexpr std::int64_t kGridScale = kBarGridScale;
static_assert(kBarGridScale % kMaxDenominator == 0);

// --- note-length class ------------------------------------------------------------------
// The class nearest to `ticks / ppq` quarters on a log scale. Between neighbouring classes
// a < b the boundary is their geometric mean, so `d` belongs to a when d² < a·b; compared in
// integers: t²·(b_a·b_b) < (n_a·n_b)·ppq². Lengths at or beyond a whole note never get there.
std::size_t note_length_class(std::int64_t ticks, std::int64_t ppq) {
  const auto& table = kNoteLengthClassTable;
  const std::int64_t whole =
      static_cast<std::int64_t>(table.back().numerator) * ppq / table.back().denominator;
  if (ticks >= whole) return table.size() - 1;
  // Here ticks < 4·ppq < 2^17, so every product below fits in 64 bits.
  for (std::size_t i = 0; i + 1 < table.size(); ++i) {
    const auto& a = table[i];
    const auto& b = table[i + 1];
    // Is ticks/ppq below b at all? ticks·b_den < b_num·ppq
    if (ticks * b.denominator >= static_cast<std::int64_t>(b.numerator) * ppq) continue;
    const std::int64_t lhs = ticks * ticks * a.denominator * b.denominator;
    const std::int64_t rhs = static_cast<std::int64_t>(a.numerator) * b.numerator * ppq * ppq;
    return lhs < rhs ? i : i + 1;
  }
  return table.size() - 1;
}

}  // namespace

// Ticks per quarter note. SMPTE files have no quarter note; they are read as if at 120 bpm
// (a quarter is half a second), which docs/metrics.md states.
std::int64_t ticks_per_quarter(const midi::TimeDivision& division) {
  if (!division.smpte) return division.ticks_per_quarter;
  return std::max<std::int64_t>(1, std::llround(division.ticks_per_second_smpte() / 2.0));
}

// --- the bar grid -------------------------------------------------------------------------
std::vector<BarSegment> bar_segments(const midi::MidiFile& file, const MetricOptions& options) {
  const std::int64_t ppq = ticks_per_quarter(file.division);
  struct Change {
    std::uint64_t tick;
    int numerator, denominator;
  };
  std::vector<Change> changes;
  for (const auto& track : file.tracks)
    for (const auto& e : track.events)
      if (const auto ts = midi::time_signature_of(track, e))
        if (ts->numerator > 0 && ts->denominator <= kMaxDenominator)
          changes.push_back({e.tick, ts->numerator, ts->denominator});
  // Stable: of several changes at one tick the last one (in track order) wins.
  std::stable_sort(changes.begin(), changes.end(),
                   [](const Change& a, const Change& b) { return a.tick < b.tick; });

  auto bar_length = [&](int numerator, int denominator) {
    return static_cast<std::int64_t>(numerator) * 4 * ppq * kGridScale / denominator;
  };
  std::vector<BarSegment> segments{
      {0, bar_length(options.default_numerator, options.default_denominator), 0}};
  for (const Change& c : changes) {
    const auto start = static_cast<std::int64_t>(c.tick) * kGridScale;
    const std::int64_t length = bar_length(c.numerator, c.denominator);
    if (start == segments.back().start) {
      segments.back().length = length;  // replaces the default or an earlier change at this tick
      continue;
    }
    const BarSegment& previous = segments.back();
    const std::int64_t bars = (start - previous.start + previous.length - 1) / previous.length;
    segments.push_back({start, length, previous.first_bar + bars});
  }
  return segments;
}

std::int64_t bar_index(std::span<const BarSegment> segments, std::int64_t pos) {
  auto it = std::upper_bound(segments.begin(), segments.end(), pos,
                             [](std::int64_t p, const BarSegment& s) { return p < s.start; });
  const BarSegment& s = *std::prev(it);
  return s.first_bar + (pos - s.start) / s.length;
}

std::pair<std::int64_t, std::int64_t> bar_bounds(std::span<const BarSegment> segments,
                                                 std::int64_t bar) {
  auto it = std::upper_bound(segments.begin(), segments.end(), bar,
                             [](std::int64_t b, const BarSegment& s) { return b < s.first_bar; });
  const BarSegment& s = *std::prev(it);
  const std::int64_t begin = s.start + (bar - s.first_bar) * s.length;
  std::int64_t end = begin + s.length;
  if (it != segments.end()) end = std::min(end, it->start);  // cut short by the next segment
  return {begin, end};
}

std::pair<std::int64_t, std::int64_t> note_bars(std::span<const BarSegment> segments,
                                                std::int64_t start_tick, std::int64_t end_tick) {
  const std::int64_t start = start_tick * kGridScale, end = end_tick * kGridScale;
  return {bar_index(segments, start), bar_index(segments, end > start ? end - 1 : start)};
}

std::int64_t bars_covered(std::vector<std::pair<std::int64_t, std::int64_t>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::int64_t covered = 0, reach = -1;  // bars counted so far end at `reach`
  for (const auto& [first, last] : ranges) {
    if (last <= reach) continue;
    covered += last - std::max(first, reach + 1) + 1;
    reach = last;
  }
  return covered;
}

double pitch_classes_per_bar(std::span<const std::pair<std::int64_t, std::int64_t>> note_bar_ranges,
                             std::span<const int> pitches) {
  if (note_bar_ranges.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::array<std::vector<std::pair<std::int64_t, std::int64_t>>, 12> by_class;
  for (std::size_t i = 0; i < note_bar_ranges.size(); ++i)
    by_class[static_cast<std::size_t>(pitches[i] % 12)].push_back(note_bar_ranges[i]);
  std::int64_t class_bars = 0;
  for (auto& ranges : by_class) class_bars += bars_covered(std::move(ranges));
  const std::int64_t bars = bars_covered({note_bar_ranges.begin(), note_bar_ranges.end()});
  return static_cast<double>(class_bars) / static_cast<double>(bars);
}

namespace {

// empty_bar_share: bars from 0 up to the one holding the end of the last note; a bar is
// occupied when some note sounds in it (a note occupies the grid positions [start, end), or
// just its start when it has no length).
std::pair<double, std::int64_t> empty_bar_share(const std::vector<midi::Note>& notes,
                                                std::span<const BarSegment> segments) {
  if (notes.empty()) return {kNaN, 0};
  std::vector<std::pair<std::int64_t, std::int64_t>> occupied;  // bar index ranges, inclusive
  occupied.reserve(notes.size());
  std::int64_t last_bar = 0;
  for (const midi::Note& n : notes) {
    occupied.push_back(note_bars(segments, static_cast<std::int64_t>(n.start_tick),
                                 static_cast<std::int64_t>(n.end_tick)));
    last_bar = std::max(last_bar, occupied.back().second);
  }
  const std::int64_t covered = bars_covered(std::move(occupied));
  const std::int64_t bars = last_bar + 1;
  return {static_cast<double>(bars - covered) / static_cast<double>(bars), bars};
}

// polyphony: total sounding time of all notes over the time at least one sounds.
double polyphony(const std::vector<const midi::Note*>& pitched) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  long double total = 0;
  for (const midi::Note* n : pitched) {
    if (n->end_tick <= n->start_tick) continue;
    spans.emplace_back(n->start_tick, n->end_tick);
    total += static_cast<long double>(n->end_tick - n->start_tick);
  }
  std::sort(spans.begin(), spans.end());
  long double covered = 0;
  std::uint64_t reach = 0;
  bool any = false;
  for (const auto& [start, end] : spans) {
    if (!any || start >= reach) {
      covered += static_cast<long double>(end - start);
      reach = end;
      any = true;
    } else if (end > reach) {
      covered += static_cast<long double>(end - reach);
      reach = end;
    }
  }
  return covered > 0 ? static_cast<double>(total / covered) : kNaN;
}

// scale_consistency: the largest share of notes inside one of the 24 major and natural minor
// scales (a minor scale has the notes of the major scale three semitones up, so 12 distinct sets).
double scale_consistency(const std::array<std::int64_t, 12>& pitch_class_counts,
                         std::int64_t total) {
  if (total == 0) return kNaN;
  constexpr std::array<int, 7> kMajor{0, 2, 4, 5, 7, 9, 11};
  constexpr std::array<int, 7> kMinor{0, 2, 3, 5, 7, 8, 10};
  std::int64_t best = 0;
  for (const auto& scale : {kMajor, kMinor})
    for (int root = 0; root < 12; ++root) {
      std::int64_t inside = 0;
      for (int step : scale) inside += pitch_class_counts[(root + step) % 12];
      best = std::max(best, inside);
    }
  return static_cast<double>(best) / static_cast<double>(total);
}

// The onsets of the pitched notes: at each start tick, the set of pitches starting there.
std::vector<std::string> onset_sequence(const std::vector<const midi::Note*>& pitched) {
  std::vector<std::string> onsets;  // each a sorted string of distinct pitch bytes
  std::size_t i = 0;
  while (i < pitched.size()) {
    const std::uint64_t tick = pitched[i]->start_tick;
    std::string chord;
    for (; i < pitched.size() && pitched[i]->start_tick == tick; ++i)
      chord.push_back(static_cast<char>(pitched[i]->pitch));
    std::sort(chord.begin(), chord.end());
    chord.erase(std::unique(chord.begin(), chord.end()), chord.end());
    onsets.push_back(std::move(chord));
  }
  return onsets;
}

// repeated_ngram_share: of the n-grams of consecutive onsets, the share equal to an earlier one.
double repeated_ngram_share(const std::vector<std::string>& onsets, int n) {
  const auto count = static_cast<std::ptrdiff_t>(onsets.size()) - n + 1;
  if (count <= 0) return kNaN;
  std::set<std::string> seen;
  std::int64_t repeats = 0;
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    std::string gram;
    for (int k = 0; k < n; ++k) {
      const std::string& chord = onsets[static_cast<std::size_t>(i + k)];
      gram.push_back(static_cast<char>(chord.size()));  // length prefix: no ambiguity
      gram += chord;
    }
    if (!seen.insert(std::move(gram)).second) ++repeats;
  }
  return static_cast<double>(repeats) / static_cast<double>(count);
}

// longest_repeat_run: the longest run of identical consecutive onsets.
double longest_repeat_run(const std::vector<std::string>& onsets) {
  if (onsets.empty()) return kNaN;
  std::size_t best = 1, run = 1;
  for (std::size_t i = 1; i < onsets.size(); ++i) {
    run = onsets[i] == onsets[i - 1] ? run + 1 : 1;
    best = std::max(best, run);
  }
  return static_cast<double>(best);
}

// C-RNN-GAN's polyphony: the share of onsets at which two or more distinct tones start.
double polyphonic_onset_share(const std::vector<std::string>& onsets) {
  if (onsets.empty()) return kNaN;
  const auto chords = std::count_if(onsets.begin(), onsets.end(),
                                    [](const std::string& chord) { return chord.size() >= 2; });
  return static_cast<double>(chords) / static_cast<double>(onsets.size());
}

// C-RNN-GAN's repetitions: over the tones (pitched notes by start, then pitch), the pairs of
// positions i < j with j >= i + n whose n tones are equal. Per distinct n-gram, its positions in
// order; a two-pointer walk counts, for each position, the earlier ones at least n before it.
double repetitions(const std::vector<const midi::Note*>& pitched, int n) {
  std::vector<std::pair<std::uint64_t, int>> tones;  // (start, pitch)
  tones.reserve(pitched.size());
  for (const midi::Note* note : pitched) tones.emplace_back(note->start_tick, note->pitch);
  std::sort(tones.begin(), tones.end());
  const auto count = static_cast<std::ptrdiff_t>(tones.size()) - n + 1;
  if (count <= 0) return kNaN;
  std::map<std::string, std::vector<std::ptrdiff_t>> positions;
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    std::string gram;
    for (int k = 0; k < n; ++k)
      gram.push_back(static_cast<char>(tones[static_cast<std::size_t>(i + k)].second));
    positions[gram].push_back(i);
  }
  std::int64_t pairs = 0;
  for (const auto& [gram, at] : positions) {
    std::size_t earlier = 0;  // positions before `earlier` are at least n before the current one
    for (std::size_t b = 0; b < at.size(); ++b) {
      while (earlier < b && at[earlier] + n <= at[b]) ++earlier;
      pairs += static_cast<std::int64_t>(earlier);
    }
  }
  return static_cast<double>(pairs);
}

double& at(std::array<double, kScalarMetricCount>& a, ScalarMetric m) {
  return a[static_cast<std::size_t>(m)];
}

}  // namespace

void check_metric_options(const MetricOptions& options) {
  if (options.ngram < 1)
    throw std::invalid_argument("metrics: n-gram length must be at least 1, found " +
                                std::to_string(options.ngram));
  const int den = options.default_denominator;
  if (options.default_numerator < 1 || den < 1 || den > kMaxDenominator || (den & (den - 1)) != 0)
    throw std::invalid_argument(
        "metrics: default time signature must be N/D with N >= 1 and D "
        "a power of two up to 64, found " +
        std::to_string(options.default_numerator) + "/" + std::to_string(den));
  if (options.melody_part < -1)
    throw std::invalid_argument(
        "metrics: the melody part must be -1 (none) or a part index, found " +
        std::to_string(options.melody_part));
}

PieceMetrics compute_metrics(const midi::MidiFile& file, const MetricOptions& options) {
  check_metric_options(options);
  PieceMetrics m;
  m.scalar.fill(kNaN);
  const midi::Performance performance = midi::extract_notes(
      file, midi::NoteOptions().zero_length_off_first(options.zero_length_off_first));
  const std::vector<midi::Note>& notes = performance.notes;  // sorted by start tick
  const std::int64_t ppq = ticks_per_quarter(file.division);

  std::vector<const midi::Note*> pitched;
  for (const midi::Note& n : notes)
    if (!n.drum) pitched.push_back(&n);
  const auto pitched_count = static_cast<std::int64_t>(pitched.size());

  // Pitch metrics.
  at(m.scalar, ScalarMetric::NoteCount) = static_cast<double>(pitched_count);
  int lowest = 128, highest = -1;
  for (const midi::Note* n : pitched) {
    ++m.pitch_class_counts[n->pitch % 12];
    lowest = std::min<int>(lowest, n->pitch);
    highest = std::max<int>(highest, n->pitch);
  }
  at(m.scalar, ScalarMetric::PitchClassesUsed) =
      static_cast<double>(std::count_if(m.pitch_class_counts.begin(), m.pitch_class_counts.end(),
                                        [](std::int64_t c) { return c > 0; }));
  if (pitched_count > 0) at(m.scalar, ScalarMetric::PitchRange) = highest - lowest;
  at(m.scalar, ScalarMetric::Polyphony) = polyphony(pitched);
  at(m.scalar, ScalarMetric::ScaleConsistency) =
      scale_consistency(m.pitch_class_counts, pitched_count);
  const std::vector<std::string> onsets = onset_sequence(pitched);
  at(m.scalar, ScalarMetric::RepeatedNgramShare) = repeated_ngram_share(onsets, options.ngram);
  at(m.scalar, ScalarMetric::LongestRepeatRun) = longest_repeat_run(onsets);

  at(m.scalar, ScalarMetric::PolyphonicOnsetShare) = polyphonic_onset_share(onsets);
  at(m.scalar, ScalarMetric::Repetitions) = repetitions(pitched, options.ngram);

  // Timing metrics, all notes.
  const std::vector<BarSegment> segments = bar_segments(file, options);
  const auto [empty_share, bars] = empty_bar_share(notes, segments);
  at(m.scalar, ScalarMetric::EmptyBarShare) = empty_share;
  m.bars = bars;
  // MuseGAN's UPC and QN, pitched notes.
  std::vector<std::pair<std::int64_t, std::int64_t>> pitched_bars;
  std::vector<int> pitches;
  std::int64_t qualified = 0;
  for (const midi::Note* n : pitched) {
    const auto start = static_cast<std::int64_t>(n->start_tick);
    const auto end = static_cast<std::int64_t>(n->end_tick);
    pitched_bars.push_back(note_bars(segments, start, end));
    pitches.push_back(n->pitch);
    qualified += qualified_note(end - start, ppq);
  }
  at(m.scalar, ScalarMetric::PitchClassesPerBar) = pitch_classes_per_bar(pitched_bars, pitches);
  if (pitched_count > 0)
    at(m.scalar, ScalarMetric::QualifiedNoteShare) =
        static_cast<double>(qualified) / static_cast<double>(pitched_count);
  long double total_length = 0;
  for (const midi::Note& n : notes) {
    const auto ticks = static_cast<std::int64_t>(n.end_tick - n.start_tick);
    ++m.note_length_counts[note_length_class(ticks, ppq)];
    total_length += static_cast<long double>(ticks);
  }
  if (!notes.empty())
    at(m.scalar, ScalarMetric::MeanNoteLength) = static_cast<double>(
        total_length / static_cast<long double>(notes.size()) / static_cast<long double>(ppq));
  return m;
}

MeanStd mean_std_of(std::span<const double> values) {
  long double sum = 0;
  std::size_t count = 0;
  for (const double v : values)
    if (!std::isnan(v)) {
      sum += v;
      ++count;
    }
  MeanStd out;
  out.count = count;
  if (count == 0) {
    out.mean = out.std = kNaN;
    return out;
  }
  const long double mean = sum / static_cast<long double>(count);
  long double squares = 0;  // two passes: no cancellation
  for (const double v : values)
    if (!std::isnan(v)) squares += (v - mean) * (v - mean);
  out.mean = static_cast<double>(mean);
  out.std = static_cast<double>(std::sqrt(squares / static_cast<long double>(count)));
  return out;
}

SetMetrics summarize(std::span<const PieceMetrics> pieces) {
  SetMetrics s;
  s.pieces = pieces.size();
  std::vector<double> values(pieces.size());
  for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
    for (std::size_t i = 0; i < pieces.size(); ++i) values[i] = pieces[i].scalar[k];
    s.scalar[k] = mean_std_of(values);
  }
  for (const PieceMetrics& p : pieces) {
    for (std::size_t i = 0; i < 12; ++i) s.pitch_class_counts[i] += p.pitch_class_counts[i];
    for (std::size_t i = 0; i < kNoteLengthClasses; ++i)
      s.note_length_counts[i] += p.note_length_counts[i];
  }
  const auto normalize = [](const auto& counts, auto& histogram) {
    const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
    for (std::size_t i = 0; i < counts.size(); ++i)
      histogram[i] = total > 0 ? static_cast<double>(counts[i]) / static_cast<double>(total) : 0.0;
  };
  normalize(s.pitch_class_counts, s.pitch_class_histogram);
  normalize(s.note_length_counts, s.note_length_histogram);
  return s;
}

double relative_difference(double generated, double reference) {
  if (std::isnan(generated) || std::isnan(reference)) return kNaN;
  if (reference == 0) return generated == 0 ? 0.0 : kNaN;
  return std::fabs(generated - reference) / std::fabs(reference);
}

int within_tolerance(double relative, double tolerance) {
  if (std::isnan(relative)) return -1;
  return relative <= tolerance ? 1 : 0;
}

SetComparison compare(const SetMetrics& generated, const SetMetrics& reference, double tolerance) {
  SetComparison c;
  c.tolerance = tolerance;
  for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
    c.mean_difference[k] = std::fabs(generated.scalar[k].mean - reference.scalar[k].mean);
    c.relative_difference[k] =
        relative_difference(generated.scalar[k].mean, reference.scalar[k].mean);
    c.within[k] = within_tolerance(c.relative_difference[k], tolerance);
  }

  const auto total = [](const auto& counts) {
    return std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  };
  if (total(generated.pitch_class_counts) == 0 || total(reference.pitch_class_counts) == 0) {
    c.pitch_class_tv = kNaN;
  } else {
    double l1 = 0;
    for (std::size_t i = 0; i < 12; ++i)
      l1 += std::fabs(generated.pitch_class_histogram[i] - reference.pitch_class_histogram[i]);
    c.pitch_class_tv = 0.5 * l1;
  }

  const auto smoothed = [&](const std::array<std::int64_t, kNoteLengthClasses>& counts) {
    std::array<double, kNoteLengthClasses> p{};
    const double denominator = static_cast<double>(total(counts) + kNoteLengthClasses);
    for (std::size_t i = 0; i < kNoteLengthClasses; ++i)
      p[i] = static_cast<double>(counts[i] + 1) / denominator;
    return p;
  };
  const auto p = smoothed(generated.note_length_counts);
  const auto q = smoothed(reference.note_length_counts);
  c.note_length_overlap = 0;
  c.note_length_kl = 0;
  for (std::size_t i = 0; i < kNoteLengthClasses; ++i) {
    c.note_length_overlap += std::min(p[i], q[i]);
    c.note_length_kl += p[i] * std::log(p[i] / q[i]);
  }
  return c;
}

// --- report -------------------------------------------------------------------------------

namespace detail {

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string mean_std_text(const MeanStd& m) {
  if (m.count == 0) return "n/a";
  return fixed(m.mean) + " ± " + fixed(m.std);
}

namespace {

// Display width of UTF-8 text (the ± sign is two bytes, one column).
std::size_t columns(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& text, std::size_t width, bool right = false) {
  const std::size_t w = columns(text);
  const std::string fill(w < width ? width - w : 0, ' ');
  return right ? fill + text : text + fill;
}

}  // namespace

std::string text_table(const std::vector<std::vector<std::string>>& rows, std::size_t shown) {
  std::vector<std::size_t> width(shown, 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < shown && c < row.size(); ++c)
      width[c] = std::max(width[c], columns(row[c]));
  std::ostringstream out;
  const auto rule = [&] {
    std::size_t total = 0;
    for (std::size_t c = 0; c < shown; ++c) total += width[c] + (c ? 3 : 0);
    out << std::string(total, '-') << '\n';
  };
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < shown; ++c)
      out << (c ? " | " : "") << pad(c < rows[r].size() ? rows[r][c] : "", width[c], c > 0);
    out << '\n';
    if (r == 0) rule();
  }
  rule();
  return out.str();
}

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

std::string within_text(int within) { return within < 0 ? "n/a" : within ? "yes" : "no"; }

Json within_json(int within) { return within < 0 ? Json(nullptr) : Json(within == 1); }

Json mean_std_json(const MeanStd& m) {
  Json out;
  out["mean"] = number_or_null(m.count ? m.mean : kNaN);
  out["std"] = number_or_null(m.count ? m.std : kNaN);
  out["count"] = m.count;
  return out;
}

namespace {

template <typename Array>
Json json_numbers(const Array& values) {
  Json out = Json::array();
  for (const double v : values) out.push_back(number_or_null(v));
  return out;
}

Json set_json(const SetMetrics& s, std::span<const PieceMetrics> pieces) {
  Json out;
  out["pieces"] = s.pieces;
  Json& metrics = out["metrics"] = Json::object();
  for (std::size_t k = 0; k < kScalarMetricCount; ++k)
    metrics[std::string(kScalarMetricTable[k].key)] = mean_std_json(s.scalar[k]);
  out["pitch_class_histogram"] = json_numbers(s.pitch_class_histogram);
  out["note_length_histogram"] = json_numbers(s.note_length_histogram);
  if (!pieces.empty()) {
    Json& files = out["files"] = Json::array();
    for (const PieceMetrics& p : pieces) {
      Json file;
      file["name"] = p.name;
      for (std::size_t k = 0; k < kScalarMetricCount; ++k)
        file[std::string(kScalarMetricTable[k].key)] = number_or_null(p.scalar[k]);
      file["bars"] = p.bars;
      file["pitch_class_counts"] = p.pitch_class_counts;
      file["note_length_counts"] = p.note_length_counts;
      files.push_back(std::move(file));
    }
  }
  return out;
}

}  // namespace

Json report_json(const SetMetrics& generated, const SetMetrics* reference,
                 std::span<const PieceMetrics> generated_pieces,
                 std::span<const PieceMetrics> reference_pieces, double tolerance) {
  Json out;
  out["generated"] = set_json(generated, generated_pieces);
  if (reference != nullptr) {
    const SetComparison c = compare(generated, *reference, tolerance);
    out["reference"] = set_json(*reference, reference_pieces);
    Json& comparison = out["comparison"];
    Json& difference = comparison["mean_difference"] = Json::object();
    for (std::size_t k = 0; k < kScalarMetricCount; ++k)
      difference[std::string(kScalarMetricTable[k].key)] = number_or_null(c.mean_difference[k]);
    comparison["pitch_class_tv"] = number_or_null(c.pitch_class_tv);
    comparison["note_length_overlap"] = number_or_null(c.note_length_overlap);
    comparison["note_length_kl"] = number_or_null(c.note_length_kl);
    comparison["tolerance"] = c.tolerance;
    // Filled before they go in: a new key of an ordered_json moves its other members.
    Json relative = Json::object(), within = Json::object();
    std::size_t inside = 0, defined = 0;
    for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
      const std::string key(kScalarMetricTable[k].key);
      relative[key] = number_or_null(c.relative_difference[k]);
      within[key] = within_json(c.within[k]);
      inside += c.within[k] == 1;
      defined += c.within[k] >= 0;
    }
    comparison["relative_difference"] = std::move(relative);
    comparison["within_tolerance"] = std::move(within);
    comparison["within_count"] = inside;
    comparison["compared_count"] = defined;
  }
  return out;
}

std::string dump_report(const Json& report) {
  // A file name that is not UTF-8 (a path's bytes) gets U+FFFD where its bad bytes were,
  // rather than making the document invalid JSON.
  return report.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace detail

namespace {

constexpr std::array<std::string_view, 12> kPitchClassNames{"C",  "C#", "D",  "D#", "E",  "F",
                                                            "F#", "G",  "G#", "A",  "A#", "B"};

}  // namespace

std::string format_report(const SetMetrics& generated, const SetMetrics* reference,
                          double tolerance) {
  using detail::fixed;
  using detail::mean_std_text;
  std::optional<SetComparison> comparison;
  if (reference != nullptr) comparison = compare(generated, *reference, tolerance);
  const std::string percent = detail::fixed(100 * tolerance, 0) + "%";

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"metric", "generated (" + std::to_string(generated.pieces) + " files)",
                  reference ? "reference (" + std::to_string(reference->pieces) + " files)" : "",
                  reference ? "|difference|" : "", "relative", "within " + percent});
  std::vector<std::string> inside;
  std::size_t defined = 0;
  for (std::size_t k = 0; k < kScalarMetricCount; ++k) {
    rows.push_back({std::string(kScalarMetricTable[k].label), mean_std_text(generated.scalar[k]),
                    reference ? mean_std_text(reference->scalar[k]) : "",
                    comparison ? fixed(comparison->mean_difference[k]) : "",
                    comparison ? fixed(comparison->relative_difference[k]) : "",
                    comparison ? detail::within_text(comparison->within[k]) : ""});
    if (comparison && comparison->within[k] >= 0) ++defined;
    if (comparison && comparison->within[k] == 1) inside.emplace_back(kScalarMetricTable[k].key);
  }
  std::ostringstream out;
  out << detail::text_table(rows, reference ? 6 : 2);
  if (comparison) {
    out << "within " << percent << " of the reference: " << inside.size() << " of " << defined
        << " metrics";
    for (std::size_t i = 0; i < inside.size(); ++i) out << (i ? ", " : " (") << inside[i];
    out << (inside.empty() ? "" : ")") << "\n";
  }

  const auto histogram = [&](const char* title, auto names, const auto& g, const auto* ref) {
    out << title << (ref ? " (generated / reference)" : "") << ":\n";
    std::size_t column = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      std::string item = "  " + std::string(names(i)) + ' ' + detail::fixed(g[i], 3);
      if (ref) item += '/' + detail::fixed((*ref)[i], 3);
      if (column > 0 && column + item.size() > 90) {
        out << '\n';
        column = 0;
      }
      out << item;
      column += item.size();
    }
    out << '\n';
  };
  histogram(
      "pitch-class histogram", [](std::size_t i) { return kPitchClassNames[i]; },
      generated.pitch_class_histogram, reference ? &reference->pitch_class_histogram : nullptr);
  histogram(
      "note-length histogram", [](std::size_t i) { return kNoteLengthClassTable[i].name; },
      generated.note_length_histogram, reference ? &reference->note_length_histogram : nullptr);
  if (comparison) {
    out << "pitch-class histogram total-variation distance: " << fixed(comparison->pitch_class_tv)
        << "  (0 = same, 1 = disjoint)\n";
    out << "note-length histogram overlap: " << fixed(comparison->note_length_overlap)
        << "  (1 = same), KL(generated || reference): " << fixed(comparison->note_length_kl)
        << " nats\n";
  }
  return out.str();
}

std::string to_json(const SetMetrics& generated, const SetMetrics* reference,
                    std::span<const PieceMetrics> generated_pieces,
                    std::span<const PieceMetrics> reference_pieces, double tolerance) {
  return detail::dump_report(
      detail::report_json(generated, reference, generated_pieces, reference_pieces, tolerance));
}

MeasuredSet measure_files(std::span<const std::filesystem::path> files,
                          const MetricOptions& options, const MeasureAlso& also) {
  check_metric_options(options);
  MeasuredSet set;
  for (const auto& path : files) {
    try {
      const midi::MidiFile file = midi::load(path);
      PieceMetrics m = compute_metrics(file, options);
      m.name = path.string();
      if (also) also(file, m.name);
      set.pieces.push_back(std::move(m));
    } catch (const std::exception& e) {
      std::string reason = e.what();
      if (reason.rfind(path.string(), 0) != 0) reason = path.string() + ": " + reason;
      set.skipped.push_back(std::move(reason));
    }
  }
  return set;
}

}  // namespace musegen
