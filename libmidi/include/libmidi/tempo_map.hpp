// Tempo map: converts ticks to seconds and back.
//
// For PPQ files the map holds every tempo meta event of every track (format 0 and 1: one
// shared map; format 2: each track is its own sequence, so build the map of one track).
// The default tempo is 120 bpm (500000 us per quarter). Time is accumulated exactly in 128-bit
// integer units of (microseconds / ticks_per_quarter), so no rounding error grows with the
// length of the piece. SMPTE files ignore tempo events: seconds = ticks / (fps * ticks_per_frame),
// with 29 meaning 29.97 frames per second.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "libmidi/midi_file.hpp"

namespace midi {

struct TempoChange {
  std::uint64_t tick;
  std::uint32_t microseconds_per_quarter;
};

class TempoMap {
 public:
  __extension__ typedef unsigned __int128 Units;  // exact time, in microseconds / ticks_per_quarter

  static constexpr std::uint32_t kDefaultTempo = 500000;  // 120 bpm

  // Format 0/1: tempo events of all tracks. Format 2: tempo events of track 0.
  explicit TempoMap(const MidiFile& file);
  // The tempo events of one track only (format 2 files).
  TempoMap(const MidiFile& file, std::size_t track);
  // From a division and a list of changes (sorted by tick here).
  TempoMap(TimeDivision division, std::vector<TempoChange> changes);

  double seconds(std::uint64_t tick) const;
  // The same, for runs of queries in (mostly) increasing tick order: `segment` remembers where
  // the last query landed (start it at 0), so each query costs O(1) instead of a binary search.
  double seconds(std::uint64_t tick, std::size_t& segment) const {
    // Inline fast path: a PPQ file, the tick in the hinted segment, the exact time under 2^53
    // units. One multiply-add in integers and one correctly rounded division.
    if (segment < fast_.size()) {
      const FastSegment& f = fast_[segment];
      if (f.begin <= tick && tick < f.end && tick - f.begin <= f.max_delta)
        return static_cast<double>(f.start_units + (tick - f.begin) * f.tempo) / denominator_;
    }
    return seconds_slow(tick, segment);
  }
  // Largest tick whose time is <= seconds (negative seconds give 0).
  std::uint64_t tick_at(double seconds) const;
  // Tempo in force at a tick (kDefaultTempo before the first change; SMPTE: kDefaultTempo).
  std::uint32_t tempo_at(std::uint64_t tick) const;

  std::span<const TempoChange> changes() const { return changes_; }
  const TimeDivision& division() const { return division_; }

 private:
  void build();
  double seconds_slow(std::uint64_t tick, std::size_t& segment) const;

  // Per segment (segment k: from change k-1, or tick 0, up to change k): what the inline path
  // needs. max_delta bounds tick - begin so that start_units + delta * tempo stays below 2^53,
  // where the conversion to double is exact. Empty for SMPTE files.
  struct FastSegment {
    std::uint64_t begin, end, start_units, tempo, max_delta;
  };
  std::vector<FastSegment> fast_;
  double denominator_ = 1;  // ticks_per_quarter × 10^6

  TimeDivision division_;
  std::vector<TempoChange> changes_;  // sorted by tick; a later change at the same tick wins
  // Per segment: exact time at its start in units of microseconds / ticks_per_quarter.
  std::vector<Units> start_units_;
};

}  // namespace midi
