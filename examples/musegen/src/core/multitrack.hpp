// The multitrack encoding's token layout, shared by its codec (codec_multitrack.cpp) and by the
// rules that generation follows with it (multitrack_rules.hpp): which id is which token.
//
//   ids [0, I)                 inst:NAME   the ensemble, one token per part, before any note
//   next T × 88 ids            tK:PITCH    a note of part K (0..T-1) at PITCH (A0..C8) starts now
//   next D ids                 dur:U       the last note lasts U grid units; a note longer than
//                                          D units takes several (dur:D dur:D dur:5)
//   next D ids                 wait:U      time moves on by U grid units (1..D)
//
// I = params.instruments (rows of instruments()), T = params.tracks, D = params.max_duration;
// a grid unit is 1/params.grid quarter note.
#pragma once

#include <cstdint>

#include "codec.hpp"

namespace musegen {

inline constexpr int kMultitrackLowestPitch = 21, kMultitrackPitches = 88;  // A0 .. C8

struct MultitrackLayout {
  enum class Kind { instrument, note, duration, wait };
  struct Token {
    Kind kind;
    int value;     // instrument index, pitch, or units
    int part = 0;  // notes: the part
  };

  explicit MultitrackLayout(const CodecParams& params)
      : instruments(params.instruments),
        tracks(params.tracks),
        max_units(params.max_duration),
        note0(instruments),
        dur0(note0 + tracks * kMultitrackPitches),
        wait0(dur0 + max_units),
        size(wait0 + max_units) {}

  std::int32_t instrument(int index) const { return index; }
  std::int32_t note(int part, int pitch) const {
    return note0 + part * kMultitrackPitches + (pitch - kMultitrackLowestPitch);
  }
  std::int32_t duration(int units) const { return dur0 + units - 1; }
  std::int32_t wait(int units) const { return wait0 + units - 1; }
  // What an id in [0, size) is.
  Token decode(std::int32_t id) const {
    if (id < note0) return {Kind::instrument, id};
    if (id < dur0)
      return {Kind::note, kMultitrackLowestPitch + (id - note0) % kMultitrackPitches,
              (id - note0) / kMultitrackPitches};
    if (id < wait0) return {Kind::duration, id - dur0 + 1};
    return {Kind::wait, id - wait0 + 1};
  }

  int instruments, tracks, max_units;
  std::int32_t note0, dur0, wait0, size;
};

// One part of a multitrack piece as the encoding sees it.
struct MultitrackPart {
  int instrument = 0;       // row of instruments()
  std::vector<int> source;  // the Piece tracks it holds (one, or a program's notes)
};

// The parts a piece is encoded with: its non-drum tracks in order, the first params.tracks of
// them (a piece without tracks: one part per program, in program order). Each part's
// instrument comes from its track name and program (instrument_for_track).
std::vector<MultitrackPart> multitrack_parts(const Piece& piece, const CodecParams& params);

}  // namespace musegen
