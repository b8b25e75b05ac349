// Several-instrument measures: one sweep over the notes of all parts for everything that
// depends on which notes sound together (polyphony, voice crossings, harmony agreement), and
// one pass over each part's notes bar by bar for the tonal distance. The definitions are in
// docs/metrics.md ("Several instruments"); each function names the measure it computes.
#include "multitrack_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "instruments.hpp"
#include "metrics_report.hpp"
#include "multitrack.hpp"

namespace musegen {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct TimedNote {
  std::int64_t start = 0, end = 0;  // ticks
  int pitch = 0;
};

// --- tonal distance (Harte et al. 2006 tonal centroid; MuseGAN's tonal distance) ------------

using Centroid = std::array<double, 6>;

// The tonal centroid of pitch class l: points on the circle of fifths (7π/6 per semitone),
// the circle of minor thirds (3π/2) and the circle of major thirds (2π/3), radii 1, 1, 0.5.
Centroid pitch_class_centroid(int l) {
  constexpr double pi = std::numbers::pi;
  constexpr double r1 = 1.0, r2 = 1.0, r3 = 0.5;
  const double x = l;
  return {r1 * std::sin(x * 7 * pi / 6), r1 * std::cos(x * 7 * pi / 6),
          r2 * std::sin(x * 3 * pi / 2), r2 * std::cos(x * 3 * pi / 2),
          r3 * std::sin(x * 2 * pi / 3), r3 * std::cos(x * 2 * pi / 3)};
}

const std::array<Centroid, 12>& centroid_table() {
  static const std::array<Centroid, 12> table = [] {
    std::array<Centroid, 12> t{};
    for (int l = 0; l < 12; ++l) t[static_cast<std::size_t>(l)] = pitch_class_centroid(l);
    return t;
  }();
  return table;
}

// Per bar, the centroid of one part's chroma: its notes' sounding time in the bar per pitch
// class (grid units), normalised to sum 1. Bars where the part does not sound are absent.
std::map<std::int64_t, Centroid> bar_centroids(std::span<const TimedNote> notes,
                                               std::span<const BarSegment> bars) {
  std::map<std::int64_t, std::array<std::int64_t, 12>> chroma;
  for (const TimedNote& n : notes) {
    if (n.end <= n.start) continue;
    const std::int64_t start = n.start * kBarGridScale, end = n.end * kBarGridScale;
    const std::int64_t last = bar_index(bars, end - 1);
    for (std::int64_t b = bar_index(bars, start); b <= last; ++b) {
      const auto [begin, finish] = bar_bounds(bars, b);
      const std::int64_t overlap = std::min(end, finish) - std::max(start, begin);
      if (overlap > 0) chroma[b][static_cast<std::size_t>(n.pitch % 12)] += overlap;
    }
  }
  std::map<std::int64_t, Centroid> out;
  for (const auto& [bar, weights] : chroma) {
    std::int64_t total = 0;
    for (const std::int64_t w : weights) total += w;
    Centroid c{};
    for (std::size_t l = 0; l < 12; ++l) {
      const double share = static_cast<double>(weights[l]) / static_cast<double>(total);
      for (std::size_t d = 0; d < 6; ++d) c[d] += share * centroid_table()[l][d];
    }
    out.emplace(bar, c);
  }
  return out;
}

// tonal distance of a pair: the mean Euclidean distance of the two parts' centroids over the
// bars where both sound.
std::pair<double, std::int64_t> tonal_distance(const std::map<std::int64_t, Centroid>& a,
                                               const std::map<std::int64_t, Centroid>& b) {
  double sum = 0;
  std::int64_t bars = 0;
  for (const auto& [bar, ca] : a) {
    const auto it = b.find(bar);
    if (it == b.end()) continue;
    double squares = 0;
    for (std::size_t d = 0; d < 6; ++d)
      squares += (ca[d] - it->second[d]) * (ca[d] - it->second[d]);
    sum += std::sqrt(squares);
    ++bars;
  }
  return {bars > 0 ? sum / static_cast<double>(bars) : kNaN, bars};
}

// --- the sweep ------------------------------------------------------------------------------

// Pitch classes a (the part) consonant with pitch class b (the melody): (a - b) mod 12 is one
// of kConsonantIntervals. As a 12-bit mask of a, per b.
std::array<std::uint16_t, 12> consonant_masks() {
  std::array<std::uint16_t, 12> masks{};
  for (int b = 0; b < 12; ++b)
    for (const int interval : kConsonantIntervals)
      masks[static_cast<std::size_t>(b)] |= static_cast<std::uint16_t>(1u << ((b + interval) % 12));
  return masks;
}

// What the sweep adds up, per part and per pair of neighbouring parts, in ticks.
struct SweepTotals {
  std::vector<std::int64_t> sounding;   // time the part sounds
  std::vector<std::int64_t> note_time;  // sum over that time of the notes sounding
  std::vector<std::int64_t> agreeing;   // time it sounds consonant with the melody
  std::vector<std::int64_t> both;       // pair (k, k+1): time both sound
  std::vector<std::int64_t> crossing;   // ... and k's lowest pitch is below k+1's highest
};

// One sweep over the start and end of every note with a length: between two consecutive
// event times the sounding notes do not change, and each measure adds that span's length.
SweepTotals sweep(const std::vector<std::vector<TimedNote>>& parts, int melody) {
  const std::size_t count = parts.size();
  SweepTotals t;
  t.sounding.assign(count, 0);
  t.note_time.assign(count, 0);
  t.agreeing.assign(count, 0);
  t.both.assign(count > 0 ? count - 1 : 0, 0);
  t.crossing.assign(count > 0 ? count - 1 : 0, 0);

  struct Event {
    std::int64_t tick;
    int part, pitch, delta;
  };
  std::vector<Event> events;
  for (std::size_t k = 0; k < count; ++k)
    for (const TimedNote& n : parts[k])
      if (n.end > n.start) {
        events.push_back({n.start, static_cast<int>(k), n.pitch, +1});
        events.push_back({n.end, static_cast<int>(k), n.pitch, -1});
      }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.tick < b.tick; });

  static const std::array<std::uint16_t, 12> kConsonant = consonant_masks();
  std::vector<std::array<int, 128>> sounding(count);  // notes sounding per part and pitch
  for (auto& s : sounding) s.fill(0);
  std::vector<int> notes(count, 0), lowest(count), highest(count);
  std::vector<std::uint16_t> classes(count);  // pitch classes sounding, as a mask
  for (std::size_t i = 0; i < events.size();) {
    const std::int64_t tick = events[i].tick;
    for (; i < events.size() && events[i].tick == tick; ++i) {
      const Event& e = events[i];
      sounding[static_cast<std::size_t>(e.part)][static_cast<std::size_t>(e.pitch)] += e.delta;
      notes[static_cast<std::size_t>(e.part)] += e.delta;
    }
    if (i == events.size()) break;  // the last event ends every note
    const std::int64_t span = events[i].tick - tick;
    for (std::size_t k = 0; k < count; ++k) {
      if (notes[k] == 0) continue;
      lowest[k] = 128;
      highest[k] = -1;
      classes[k] = 0;
      for (int p = 0; p < 128; ++p)
        if (sounding[k][static_cast<std::size_t>(p)] > 0) {
          lowest[k] = std::min(lowest[k], p);
          highest[k] = p;
          classes[k] |= static_cast<std::uint16_t>(1u << (p % 12));
        }
      t.sounding[k] += span;
      t.note_time[k] += span * notes[k];
    }
    for (std::size_t k = 0; k + 1 < count; ++k)
      if (notes[k] > 0 && notes[k + 1] > 0) {
        t.both[k] += span;
        if (lowest[k] < highest[k + 1]) t.crossing[k] += span;
      }
    if (melody < 0 || static_cast<std::size_t>(melody) >= count) continue;
    const auto m = static_cast<std::size_t>(melody);
    if (notes[m] == 0) continue;
    std::uint16_t allowed = 0x0FFF;  // consonant with every pitch the melody sounds
    for (int b = 0; b < 12; ++b)
      if (classes[m] & (1u << b)) allowed &= kConsonant[static_cast<std::size_t>(b)];
    for (std::size_t k = 0; k < count; ++k)
      if (k != m && notes[k] > 0 && (classes[k] & ~allowed) == 0) t.agreeing[k] += span;
  }
  return t;
}

double ratio(std::int64_t numerator, std::int64_t denominator) {
  return denominator > 0 ? static_cast<double>(numerator) / static_cast<double>(denominator) : kNaN;
}

double mean_of_defined(const std::vector<double>& values) {
  double sum = 0;
  std::size_t count = 0;
  for (const double v : values)
    if (!std::isnan(v)) {
      sum += v;
      ++count;
    }
  return count > 0 ? sum / static_cast<double>(count) : kNaN;
}

double& at(std::array<double, kPartMeasureCount>& a, PartMeasure m) {
  return a[static_cast<std::size_t>(m)];
}
double& at(std::array<double, kEnsembleMeasureCount>& a, EnsembleMeasure m) {
  return a[static_cast<std::size_t>(m)];
}

}  // namespace

const PartPairMetrics& MultitrackPieceMetrics::pair(int i, int j) const {
  if (i > j) std::swap(i, j);
  for (const PartPairMetrics& p : pairs)
    if (p.first == i && p.second == j) return p;
  throw std::out_of_range("no part pair (" + std::to_string(i) + ", " + std::to_string(j) +
                          ") in a piece of " + std::to_string(parts.size()) + " parts");
}

MultitrackPieceMetrics compute_multitrack_metrics(const Piece& piece,
                                                  std::int64_t ticks_per_quarter,
                                                  std::span<const BarSegment> bars,
                                                  int melody_part) {
  if (ticks_per_quarter < 1)
    throw std::invalid_argument("multitrack metrics: ticks per quarter must be at least 1, found " +
                                std::to_string(ticks_per_quarter));
  if (bars.empty() || bars.front().start != 0)
    throw std::invalid_argument("multitrack metrics: the bar grid must start at 0");
  // The encoding's parts, every one of them, each with its instrument from the whole table.
  CodecParams params;
  params.tracks = std::numeric_limits<int>::max();
  params.instruments = static_cast<int>(instruments().size());
  const std::vector<MultitrackPart> parts = multitrack_parts(piece, params);

  std::map<int, std::size_t> part_of_source;  // a track (or, without tracks, a program)
  for (std::size_t k = 0; k < parts.size(); ++k)
    for (const int source : parts[k].source) part_of_source[source] = k;
  std::vector<std::vector<TimedNote>> notes(parts.size());
  const auto tick = [&](double quarters) {  // a time before 0 (a hand-made Piece) is 0
    return std::max<std::int64_t>(0,
                                  std::llround(quarters * static_cast<double>(ticks_per_quarter)));
  };
  // The piece's bars, for the empty-bar share: from 0 to the one holding the end of its last
  // note, drums included (as metrics.hpp's empty_bar_share).
  std::int64_t piece_bars = 0;
  for (const PieceNote& n : piece.notes)
    piece_bars = std::max(piece_bars,
                          note_bars(bars, tick(n.start_quarters), tick(n.end_quarters)).second + 1);
  for (const PieceNote& n : piece.notes) {
    if (n.drum) continue;
    const auto it = part_of_source.find(piece.tracks.empty() ? n.program : n.track);
    if (it == part_of_source.end()) continue;
    notes[it->second].push_back({tick(n.start_quarters), tick(n.end_quarters), n.pitch});
  }

  MultitrackPieceMetrics m;
  m.melody_part = melody_part;
  m.measures.fill(kNaN);
  const SweepTotals totals = sweep(notes, melody_part);
  const bool with_melody = melody_part >= 0 && static_cast<std::size_t>(melody_part) < parts.size();
  for (std::size_t k = 0; k < parts.size(); ++k) {
    PartMetrics p;
    p.instrument = parts[k].instrument;
    if (!piece.tracks.empty())
      p.track_name = piece.tracks[static_cast<std::size_t>(parts[k].source.front())].name;
    p.measures.fill(kNaN);
    const Instrument& instrument = musegen::instrument(p.instrument);
    std::int64_t inside = 0;
    int lowest = 128, highest = -1;
    for (const TimedNote& n : notes[k]) {
      inside += n.pitch >= instrument.lowest && n.pitch <= instrument.highest;
      lowest = std::min(lowest, n.pitch);
      highest = std::max(highest, n.pitch);
    }
    const auto count = static_cast<std::int64_t>(notes[k].size());
    at(p.measures, PartMeasure::NoteCount) = static_cast<double>(count);
    at(p.measures, PartMeasure::InRangeShare) = ratio(inside, count);
    if (count > 0) at(p.measures, PartMeasure::PitchRange) = highest - lowest;
    at(p.measures, PartMeasure::Polyphony) = ratio(totals.note_time[k], totals.sounding[k]);
    if (with_melody && k != static_cast<std::size_t>(melody_part))
      at(p.measures, PartMeasure::HarmonyAgreement) = ratio(totals.agreeing[k], totals.sounding[k]);
    std::vector<std::pair<std::int64_t, std::int64_t>> note_bar_ranges;
    std::vector<int> pitches;
    std::int64_t qualified = 0;
    for (const TimedNote& n : notes[k]) {
      note_bar_ranges.push_back(note_bars(bars, n.start, n.end));
      pitches.push_back(n.pitch);
      qualified += qualified_note(n.end - n.start, ticks_per_quarter);
    }
    at(p.measures, PartMeasure::EmptyBarShare) =
        ratio(piece_bars - bars_covered(note_bar_ranges), piece_bars);
    at(p.measures, PartMeasure::PitchClassesPerBar) =
        pitch_classes_per_bar(note_bar_ranges, pitches);
    at(p.measures, PartMeasure::QualifiedNoteShare) = ratio(qualified, count);
    m.parts.push_back(std::move(p));
  }

  std::vector<std::map<std::int64_t, Centroid>> centroids;
  for (const auto& part : notes) centroids.push_back(bar_centroids(part, bars));
  std::vector<double> distances;
  std::int64_t both = 0, crossing = 0;
  for (std::size_t i = 0; i < parts.size(); ++i)
    for (std::size_t j = i + 1; j < parts.size(); ++j) {
      PartPairMetrics pair;
      pair.first = static_cast<int>(i);
      pair.second = static_cast<int>(j);
      std::tie(pair.tonal_distance, pair.tonal_bars) = tonal_distance(centroids[i], centroids[j]);
      distances.push_back(pair.tonal_distance);
      pair.crossing_share = kNaN;
      if (pair.neighbours()) {
        pair.crossing_share = ratio(totals.crossing[i], totals.both[i]);
        pair.both_quarters =
            static_cast<double>(totals.both[i]) / static_cast<double>(ticks_per_quarter);
        pair.crossing_quarters =
            static_cast<double>(totals.crossing[i]) / static_cast<double>(ticks_per_quarter);
        both += totals.both[i];
        crossing += totals.crossing[i];
      }
      m.pairs.push_back(pair);
    }
  at(m.measures, EnsembleMeasure::TonalDistance) = mean_of_defined(distances);
  at(m.measures, EnsembleMeasure::VoiceCrossingShare) = ratio(crossing, both);
  if (with_melody) {
    std::vector<double> agreement;
    for (const PartMetrics& p : m.parts) agreement.push_back(p[PartMeasure::HarmonyAgreement]);
    at(m.measures, EnsembleMeasure::HarmonyAgreement) = mean_of_defined(agreement);
  }
  return m;
}

MultitrackPieceMetrics compute_multitrack_metrics(const midi::MidiFile& file,
                                                  const MetricOptions& options) {
  check_metric_options(options);
  const Piece piece = piece_from_midi(
      file, midi::NoteOptions().zero_length_off_first(options.zero_length_off_first));
  return compute_multitrack_metrics(piece, ticks_per_quarter(file.division),
                                    bar_segments(file, options), options.melody_part);
}

// --- sets -----------------------------------------------------------------------------------

std::string PartGroup::key() const {
  return std::to_string(index) + " " + std::string(musegen::instrument(instrument).name);
}

std::string PairGroup::key() const {
  return std::to_string(first) + " " + std::string(musegen::instrument(first_instrument).name) +
         " / " + std::to_string(second) + " " +
         std::string(musegen::instrument(second_instrument).name);
}

MultitrackSetMetrics summarize_multitrack(std::span<const MultitrackPieceMetrics> pieces) {
  MultitrackSetMetrics s;
  s.pieces = pieces.size();
  std::vector<double> values;
  for (std::size_t k = 0; k < kEnsembleMeasureCount; ++k) {
    values.clear();
    for (const MultitrackPieceMetrics& p : pieces) values.push_back(p.measures[k]);
    s.measures[k] = mean_std_of(values);
  }
  for (const MultitrackPieceMetrics& p : pieces) {
    if (p.parts.size() >= 2) ++s.ensembles;
    if (p.melody_part >= 0) s.melody_part = p.melody_part;
  }

  // Part groups: the values of each measure over the pieces with that part.
  std::map<std::pair<int, int>, std::vector<const PartMetrics*>> by_part;
  for (const MultitrackPieceMetrics& p : pieces)
    for (std::size_t k = 0; k < p.parts.size(); ++k)
      by_part[{static_cast<int>(k), p.parts[k].instrument}].push_back(&p.parts[k]);
  for (const auto& [key, members] : by_part) {
    PartGroup g;
    g.index = key.first;
    g.instrument = key.second;
    g.pieces = members.size();
    for (std::size_t k = 0; k < kPartMeasureCount; ++k) {
      values.clear();
      for (const PartMetrics* m : members) values.push_back(m->measures[k]);
      g.measures[k] = mean_std_of(values);
    }
    s.parts.push_back(g);
  }

  using PairKey = std::tuple<int, int, int, int>;  // first, second, their instruments
  std::map<PairKey, std::vector<const PartPairMetrics*>> by_pair;
  for (const MultitrackPieceMetrics& p : pieces)
    for (const PartPairMetrics& pair : p.pairs)
      by_pair[{pair.first, pair.second, p.parts[static_cast<std::size_t>(pair.first)].instrument,
               p.parts[static_cast<std::size_t>(pair.second)].instrument}]
          .push_back(&pair);
  for (const auto& [key, members] : by_pair) {
    PairGroup g;
    std::tie(g.first, g.second, g.first_instrument, g.second_instrument) = key;
    g.pieces = members.size();
    values.clear();
    for (const PartPairMetrics* m : members) values.push_back(m->tonal_distance);
    g.tonal_distance = mean_std_of(values);
    values.clear();
    for (const PartPairMetrics* m : members) values.push_back(m->crossing_share);
    g.crossing_share = mean_std_of(values);
    s.pairs.push_back(g);
  }
  return s;
}

// --- report ---------------------------------------------------------------------------------

namespace {

using detail::fixed;
using detail::Json;
using detail::mean_std_json;
using detail::number_or_null;

// A group is shown in the text when at least a tenth of a set's pieces have it.
bool common(std::size_t pieces, std::size_t of) { return pieces > 0 && 10 * pieces >= of; }

// "0.998 / 1.000": generated / reference means, or the generated mean alone.
std::string both_means(const MeanStd* g, const MeanStd* r, bool with_reference, int decimals = 3) {
  const auto one = [&](const MeanStd* m) {
    return m && m->count > 0 ? fixed(m->mean, decimals) : std::string("-");
  };
  return with_reference ? one(g) + " / " + one(r) : one(g);
}

}  // namespace

std::string format_multitrack_report(const MultitrackSetMetrics& generated,
                                     const MultitrackSetMetrics* reference, double tolerance) {
  if (generated.ensembles == 0 && (!reference || reference->ensembles == 0)) return "";
  const bool with_reference = reference != nullptr;
  const int melody = std::max(generated.melody_part, reference ? reference->melody_part : -1);
  std::ostringstream out;
  out << "\nseveral instruments: pieces with 2+ parts: generated " << generated.ensembles << " of "
      << generated.pieces;
  if (reference) out << ", reference " << reference->ensembles << " of " << reference->pieces;
  if (melody >= 0) out << "; harmony against part " << melody;
  out << "\n";

  std::vector<std::vector<std::string>> rows;
  rows.push_back({"measure", "generated", with_reference ? "reference" : "",
                  with_reference ? "|difference|" : "", "relative",
                  "within " + fixed(100 * tolerance, 0) + "%"});
  for (std::size_t k = 0; k < kEnsembleMeasureCount; ++k) {
    if (static_cast<EnsembleMeasure>(k) == EnsembleMeasure::HarmonyAgreement && melody < 0)
      continue;
    const MeanStd& g = generated.measures[k];
    const double relative =
        reference ? relative_difference(g.mean, reference->measures[k].mean) : kNaN;
    rows.push_back({std::string(kEnsembleMeasureTable[k].label), detail::mean_std_text(g),
                    reference ? detail::mean_std_text(reference->measures[k]) : "",
                    reference ? fixed(std::fabs(g.mean - reference->measures[k].mean)) : "",
                    reference ? fixed(relative) : "",
                    reference ? detail::within_text(within_tolerance(relative, tolerance)) : ""});
  }
  out << detail::text_table(rows, with_reference ? 6 : 2);

  // Part groups of either set, in (index, instrument) order.
  std::map<std::pair<int, int>, std::pair<const PartGroup*, const PartGroup*>> parts;
  for (const PartGroup& g : generated.parts) parts[{g.index, g.instrument}].first = &g;
  if (reference)
    for (const PartGroup& g : reference->parts) parts[{g.index, g.instrument}].second = &g;
  const std::string each = with_reference ? " (generated / reference)" : "";
  rows.clear();
  rows.push_back({"part", "pieces"});
  for (std::size_t k = 0; k < kPartMeasureCount; ++k)
    if (static_cast<PartMeasure>(k) != PartMeasure::HarmonyAgreement || melody >= 0)
      rows[0].push_back(std::string(kPartMeasureTable[k].label));
  std::size_t hidden = 0;
  for (const auto& [key, groups] : parts) {
    const auto [g, r] = groups;
    if (!common(g ? g->pieces : 0, generated.pieces) &&
        !(reference && common(r ? r->pieces : 0, reference->pieces))) {
      ++hidden;
      continue;
    }
    std::vector<std::string> row{(g ? g : r)->key(),
                                 with_reference ? std::to_string(g ? g->pieces : 0) + " / " +
                                                      std::to_string(r ? r->pieces : 0)
                                                : std::to_string(g->pieces)};
    for (std::size_t k = 0; k < kPartMeasureCount; ++k) {
      if (static_cast<PartMeasure>(k) == PartMeasure::HarmonyAgreement && melody < 0) continue;
      const int decimals = static_cast<PartMeasure>(k) == PartMeasure::NoteCount ||
                                   static_cast<PartMeasure>(k) == PartMeasure::PitchRange
                               ? 1
                               : 3;
      row.push_back(both_means(g ? &g->measures[k] : nullptr, r ? &r->measures[k] : nullptr,
                               with_reference, decimals));
    }
    rows.push_back(std::move(row));
  }
  out << "per part, mean over the pieces that have it" << each << ":\n";
  out << detail::text_table(rows, rows[0].size());

  std::map<std::tuple<int, int, int, int>, std::pair<const PairGroup*, const PairGroup*>> pairs;
  for (const PairGroup& g : generated.pairs)
    pairs[{g.first, g.second, g.first_instrument, g.second_instrument}].first = &g;
  if (reference)
    for (const PairGroup& g : reference->pairs)
      pairs[{g.first, g.second, g.first_instrument, g.second_instrument}].second = &g;
  rows.clear();
  rows.push_back({"pair", "pieces", "tonal distance", "voice crossings"});
  for (const auto& [key, groups] : pairs) {
    const auto [g, r] = groups;
    if (!common(g ? g->pieces : 0, generated.pieces) &&
        !(reference && common(r ? r->pieces : 0, reference->pieces))) {
      ++hidden;
      continue;
    }
    const bool neighbours = std::get<1>(key) == std::get<0>(key) + 1;
    rows.push_back({(g ? g : r)->key(),
                    with_reference ? std::to_string(g ? g->pieces : 0) + " / " +
                                         std::to_string(r ? r->pieces : 0)
                                   : std::to_string(g->pieces),
                    both_means(g ? &g->tonal_distance : nullptr, r ? &r->tonal_distance : nullptr,
                               with_reference),
                    neighbours ? both_means(g ? &g->crossing_share : nullptr,
                                            r ? &r->crossing_share : nullptr, with_reference)
                               : ""});
  }
  out << "part pairs, mean over the pieces that have them" << each << ":\n";
  out << detail::text_table(rows, 4);
  if (hidden > 0)
    out << hidden
        << " more parts and pairs, each in fewer than a tenth of the pieces: see --json\n";
  return out.str();
}

namespace {

Json piece_json(const MultitrackPieceMetrics& p) {
  Json file;
  file["name"] = p.name;
  for (std::size_t k = 0; k < kEnsembleMeasureCount; ++k)
    file[std::string(kEnsembleMeasureTable[k].key)] = number_or_null(p.measures[k]);
  Json& parts = file["parts"] = Json::array();
  for (std::size_t k = 0; k < p.parts.size(); ++k) {
    const PartMetrics& part = p.parts[k];
    const Instrument& instrument = musegen::instrument(part.instrument);
    Json j;
    j["index"] = k;
    j["instrument"] = instrument.name;
    j["track_name"] = part.track_name;
    j["range"] = {instrument.lowest, instrument.highest};
    for (std::size_t m = 0; m < kPartMeasureCount; ++m)
      j[std::string(kPartMeasureTable[m].key)] = number_or_null(part.measures[m]);
    parts.push_back(std::move(j));
  }
  Json& matrix = file["tonal_distance_matrix"] = Json::array();
  for (std::size_t i = 0; i < p.parts.size(); ++i) {
    Json row = Json::array();
    for (std::size_t j = 0; j < p.parts.size(); ++j)
      row.push_back(
          i == j ? Json(nullptr)
                 : number_or_null(p.pair(static_cast<int>(i), static_cast<int>(j)).tonal_distance));
    matrix.push_back(std::move(row));
  }
  Json& pairs = file["pairs"] = Json::array();
  for (const PartPairMetrics& pair : p.pairs) {
    Json j;
    j["parts"] = {pair.first, pair.second};
    j["tonal_distance"] = number_or_null(pair.tonal_distance);
    j["tonal_bars"] = pair.tonal_bars;
    j["voice_crossing_share"] = number_or_null(pair.crossing_share);
    j["both_sounding_quarters"] = pair.both_quarters;
    j["crossing_quarters"] = pair.crossing_quarters;
    pairs.push_back(std::move(j));
  }
  return file;
}

Json multitrack_json(const MultitrackSetMetrics& s,
                     std::span<const MultitrackPieceMetrics> pieces) {
  Json out;
  out["pieces_with_parts"] = s.ensembles;
  out["melody_part"] = s.melody_part >= 0 ? Json(s.melody_part) : Json(nullptr);
  Json& metrics = out["metrics"] = Json::object();
  for (std::size_t k = 0; k < kEnsembleMeasureCount; ++k)
    metrics[std::string(kEnsembleMeasureTable[k].key)] = mean_std_json(s.measures[k]);
  Json& parts = out["parts"] = Json::array();
  for (const PartGroup& g : s.parts) {
    Json j;
    j["part"] = g.key();
    j["index"] = g.index;
    j["instrument"] = musegen::instrument(g.instrument).name;
    j["pieces"] = g.pieces;
    for (std::size_t k = 0; k < kPartMeasureCount; ++k)
      j[std::string(kPartMeasureTable[k].key)] = mean_std_json(g.measures[k]);
    parts.push_back(std::move(j));
  }
  Json& pairs = out["pairs"] = Json::array();
  for (const PairGroup& g : s.pairs) {
    Json j;
    j["pair"] = g.key();
    j["parts"] = {g.first, g.second};
    j["instruments"] = {musegen::instrument(g.first_instrument).name,
                        musegen::instrument(g.second_instrument).name};
    j["pieces"] = g.pieces;
    j["tonal_distance"] = mean_std_json(g.tonal_distance);
    j["voice_crossing_share"] = mean_std_json(g.crossing_share);
    pairs.push_back(std::move(j));
  }
  if (!pieces.empty()) {
    Json& files = out["files"] = Json::array();
    for (const MultitrackPieceMetrics& p : pieces) files.push_back(piece_json(p));
  }
  return out;
}

}  // namespace

std::string to_json(const ReportedSet& generated, const ReportedSet* reference, double tolerance) {
  Json report = detail::report_json(
      generated.metrics, reference ? &reference->metrics : nullptr, generated.pieces,
      reference ? reference->pieces : std::span<const PieceMetrics>{}, tolerance);
  if (generated.multitrack.ensembles > 0 || (reference && reference->multitrack.ensembles > 0)) {
    report["generated"]["multitrack"] =
        multitrack_json(generated.multitrack, generated.multitrack_pieces);
    if (reference) {
      report["reference"]["multitrack"] =
          multitrack_json(reference->multitrack, reference->multitrack_pieces);
      // Filled before they go in: a new key of an ordered_json moves its other members.
      Json difference = Json::object(), relative = Json::object(), within = Json::object();
      for (std::size_t k = 0; k < kEnsembleMeasureCount; ++k) {
        const std::string key(kEnsembleMeasureTable[k].key);
        const double g = generated.multitrack.measures[k].mean;
        const double r = reference->multitrack.measures[k].mean;
        difference[key] = number_or_null(std::fabs(g - r));
        relative[key] = number_or_null(relative_difference(g, r));
        within[key] = detail::within_json(within_tolerance(relative_difference(g, r), tolerance));
      }
      // Part groups both sets have: each measure's relative difference and flag.
      Json parts = Json::array();
      for (const PartGroup& g : generated.multitrack.parts)
        for (const PartGroup& r : reference->multitrack.parts) {
          if (g.index != r.index || g.instrument != r.instrument) continue;
          Json j;
          j["part"] = g.key();
          for (std::size_t k = 0; k < kPartMeasureCount; ++k) {
            const double rel = relative_difference(g.measures[k].mean, r.measures[k].mean);
            j[std::string(kPartMeasureTable[k].key)] = {
                {"relative_difference", number_or_null(rel)},
                {"within_tolerance", detail::within_json(within_tolerance(rel, tolerance))}};
          }
          parts.push_back(std::move(j));
        }
      Json& multitrack = report["comparison"]["multitrack"];
      multitrack["mean_difference"] = std::move(difference);
      multitrack["relative_difference"] = std::move(relative);
      multitrack["within_tolerance"] = std::move(within);
      multitrack["parts"] = std::move(parts);
    }
  }
  return detail::dump_report(report);
}

}  // namespace musegen
