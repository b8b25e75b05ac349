// Tempo map: exact tick <-> seconds conversion.
//
// Time is kept as an integer count of "units" of (1 / ticks_per_quarter) microseconds: a tick
// at tempo T (microseconds per quarter) lasts exactly T units, so the time of any tick is a sum
// of Δtick × T with no rounding at all. 128 bits hold it for any 64-bit tick count (2^64 ticks
// × 2^24 µs < 2^88). Only the final division by ticks_per_quarter × 10^6 rounds, once, to
// double, so a 10-hour piece is as exact as a 10-second one.
//
// Tie rule: changes are collected track by track in file order and stably sorted by tick; when
// several share a tick, the last one in (track index, file order) is the one in force.
#include "libmidi/tempo_map.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace midi {
namespace {

void collect_changes(const Track& track, std::vector<TempoChange>& changes) {
  for (const Event& e : track.events)
    if (e.is_meta(meta::kTempo))  // cheap test first: this loop visits every event of the file
      if (const auto tempo = tempo_of(track, e)) changes.push_back({e.tick, *tempo});
}

std::vector<TempoChange> changes_of_file(const MidiFile& file) {
  std::vector<TempoChange> changes;
  if (file.format == 2) {
    // Each format 2 track is its own sequence; the default map is the first one's.
    if (!file.tracks.empty()) collect_changes(file.tracks[0], changes);
  } else {
    for (const Track& t : file.tracks) collect_changes(t, changes);
  }
  return changes;
}

// numerator / denominator as a double, rounding only once: the integer quotient is exact and
// the remainder is < denominator (< 2^53), so both conversions are exact or nearly so.
template <typename Wide>
double divide(Wide numerator, std::uint64_t denominator) {
  const Wide quotient = numerator / denominator;
  const auto remainder = static_cast<std::uint64_t>(numerator % denominator);
  return static_cast<double>(quotient) + static_cast<double>(remainder) / static_cast<double>(denominator);
}

}  // namespace

TempoMap::TempoMap(const MidiFile& file) : division_(file.division), changes_(changes_of_file(file)) { build(); }

TempoMap::TempoMap(const MidiFile& file, std::size_t track) : division_(file.division) {
  if (track >= file.tracks.size())
    throw std::out_of_range("TempoMap: track " + std::to_string(track) + " does not exist (the file has " +
                            std::to_string(file.tracks.size()) + " tracks)");
  collect_changes(file.tracks[track], changes_);
  build();
}

TempoMap::TempoMap(TimeDivision division, std::vector<TempoChange> changes)
    : division_(division), changes_(std::move(changes)) {
  build();
}

void TempoMap::build() {
  if (division_.smpte ? division_.ticks_per_second_smpte() <= 0 : division_.ticks_per_quarter == 0)
    throw std::invalid_argument("TempoMap: the time division has no ticks per quarter note / per second");
  for (const TempoChange& c : changes_)
    if (c.microseconds_per_quarter == 0)
      throw std::invalid_argument("TempoMap: a tempo of 0 microseconds per quarter at tick " + std::to_string(c.tick));

  // Stable sort then keep the last of each run of equal ticks: the later change wins.
  std::stable_sort(changes_.begin(), changes_.end(),
                   [](const TempoChange& a, const TempoChange& b) { return a.tick < b.tick; });
  std::vector<TempoChange> unique;
  unique.reserve(changes_.size());
  for (const TempoChange& c : changes_) {
    if (!unique.empty() && unique.back().tick == c.tick) unique.back() = c;
    else unique.push_back(c);
  }
  changes_ = std::move(unique);

  start_units_.clear();
  start_units_.reserve(changes_.size());
  fast_.clear();
  constexpr Units kExact = Units{1} << 53;  // below this, integers convert to double exactly
  std::uint64_t tick = 0;
  std::uint32_t tempo = kDefaultTempo;
  Units units = 0;
  const auto add_fast = [&](std::uint64_t end) {
    const std::uint64_t max_delta = units < kExact ? static_cast<std::uint64_t>((kExact - 1 - units) / tempo) : 0;
    fast_.push_back({tick, end, static_cast<std::uint64_t>(units < kExact ? units : 0), tempo,
                     units < kExact ? max_delta : 0});
    if (units >= kExact) fast_.back().end = tick;  // empty: always the slow path
  };
  for (const TempoChange& c : changes_) {
    if (!division_.smpte) add_fast(c.tick);
    units += Units{c.tick - tick} * tempo;
    start_units_.push_back(units);
    tick = c.tick;
    tempo = c.microseconds_per_quarter;
  }
  if (!division_.smpte) {
    add_fast(std::numeric_limits<std::uint64_t>::max());
    denominator_ = static_cast<double>(division_.ticks_per_quarter) * 1e6;
  }
}

double TempoMap::seconds(std::uint64_t tick) const {
  std::size_t segment = 0;
  return seconds(tick, segment);
}

double TempoMap::seconds_slow(std::uint64_t tick, std::size_t& segment) const {
  if (division_.smpte) {
    // ticks / (fps × ticks per frame), with 29 meaning 30000/1001 frames per second.
    const auto per_frame = static_cast<std::uint64_t>(division_.ticks_per_frame);
    if (division_.frames_per_second == 29) return divide(Units{tick} * 1001, 30000 * per_frame);
    return divide(tick, static_cast<std::uint64_t>(division_.frames_per_second) * per_frame);
  }
  // `segment` counts the changes at or before tick (0: the default tempo from tick 0). Keep the
  // hint if tick still falls in its segment or the next; otherwise search.
  const std::size_t n = changes_.size();
  const auto holds = [&](std::size_t k) {
    return (k == 0 || changes_[k - 1].tick <= tick) && (k == n || tick < changes_[k].tick);
  };
  if (segment > n || !holds(segment)) {
    if (segment < n && holds(segment + 1)) {
      ++segment;
    } else if (segment > 0 && segment <= n && holds(segment - 1)) {  // a query a little behind
      --segment;
    } else {
      segment = static_cast<std::size_t>(
          std::upper_bound(changes_.begin(), changes_.end(), tick,
                           [](std::uint64_t t, const TempoChange& c) { return t < c.tick; }) -
          changes_.begin());
    }
  }
  Units units;
  if (segment == 0) {
    units = Units{tick} * kDefaultTempo;
  } else {
    const std::size_t i = segment - 1;
    units = start_units_[i] + Units{tick - changes_[i].tick} * changes_[i].microseconds_per_quarter;
  }
  const std::uint64_t denominator = std::uint64_t{division_.ticks_per_quarter} * 1'000'000;
  // Below 2^53 both operands convert to double exactly, so one IEEE division gives the
  // correctly rounded quotient: the common case (a piece of ~100 days at 960 ppq), and fast.
  if (units < (Units{1} << 53)) return static_cast<double>(static_cast<std::uint64_t>(units)) / static_cast<double>(denominator);
  return divide(units, denominator);
}

std::uint64_t TempoMap::tick_at(double s) const {
  constexpr std::uint64_t kMaxTick = std::numeric_limits<std::uint64_t>::max();
  if (!(s > 0)) return 0;  // negative, zero and NaN
  // An estimate in long double (64-bit mantissa on x86), then a walk of a tick or two so the
  // answer agrees exactly with seconds(): seconds(t) <= s < seconds(t + 1).
  long double estimate;
  if (division_.smpte) {
    const long double per_frame = division_.ticks_per_frame;
    estimate = division_.frames_per_second == 29 ? s * 30000.0L * per_frame / 1001.0L
                                                 : s * per_frame * division_.frames_per_second;
  } else {
    const long double target = static_cast<long double>(s) * division_.ticks_per_quarter * 1e6L;  // in units
    // i = the first change that starts after the target (start_units_ never decreases).
    const auto i = static_cast<std::size_t>(
        std::partition_point(start_units_.begin(), start_units_.end(),
                             [&](Units u) { return static_cast<long double>(u) <= target; }) -
        start_units_.begin());
    // Segment i - 1 (or the default tempo before the first change) holds the target.
    const std::uint64_t start_tick = i == 0 ? 0 : changes_[i - 1].tick;
    const long double start_units = i == 0 ? 0.0L : static_cast<long double>(start_units_[i - 1]);
    const long double tempo = i == 0 ? kDefaultTempo : changes_[i - 1].microseconds_per_quarter;
    estimate = start_tick + (target - start_units) / tempo;
  }
  if (!(estimate < 18446744073709551615.0L)) return kMaxTick;  // also catches infinity
  std::uint64_t tick = estimate <= 0 ? 0 : static_cast<std::uint64_t>(estimate);
  while (tick > 0 && seconds(tick) > s) --tick;
  while (tick < kMaxTick && seconds(tick + 1) <= s) ++tick;
  return tick;
}

std::uint32_t TempoMap::tempo_at(std::uint64_t tick) const {
  if (division_.smpte) return kDefaultTempo;
  const auto after = std::upper_bound(changes_.begin(), changes_.end(), tick,
                                      [](std::uint64_t t, const TempoChange& c) { return t < c.tick; });
  return after == changes_.begin() ? kDefaultTempo : std::prev(after)->microseconds_per_quarter;
}

}  // namespace midi
