// One comparison of two MIDI files by meaning, shared by the round-trip tests and the fuzz
// target: header fields, then every event of every track (tick, status, data bytes, payload
// bytes, not where the payload sits in its buffer), then the number of unknown chunks.
#pragma once

#include <algorithm>
#include <string>

#include "libmidi/midi_file.hpp"

namespace midi_test {

// Empty when a and b hold the same events; otherwise where the first difference is.
inline std::string first_difference(const midi::MidiFile& a, const midi::MidiFile& b) {
  if (a.format != b.format) return "format " + std::to_string(a.format) + " vs " + std::to_string(b.format);
  if (a.division.raw() != b.division.raw()) return "time division differs";
  if (a.tracks.size() != b.tracks.size())
    return std::to_string(a.tracks.size()) + " tracks vs " + std::to_string(b.tracks.size());
  for (std::size_t t = 0; t < a.tracks.size(); ++t) {
    const midi::Track& ta = a.tracks[t];
    const midi::Track& tb = b.tracks[t];
    if (ta.events.size() != tb.events.size())
      return "track " + std::to_string(t) + ": " + std::to_string(ta.events.size()) + " events vs " +
             std::to_string(tb.events.size());
    for (std::size_t i = 0; i < ta.events.size(); ++i) {
      const midi::Event& x = ta.events[i];
      const midi::Event& y = tb.events[i];
      const auto dx = ta.data(x);
      const auto dy = tb.data(y);
      if (x.tick != y.tick || x.status != y.status || x.data1 != y.data1 || x.data2 != y.data2 ||
          !std::equal(dx.begin(), dx.end(), dy.begin(), dy.end()))
        return "track " + std::to_string(t) + " event " + std::to_string(i) + ": tick " + std::to_string(x.tick) + " " +
               midi::describe(ta, x) + " vs tick " + std::to_string(y.tick) + " " + midi::describe(tb, y);
    }
  }
  if (a.unknown_chunks.size() != b.unknown_chunks.size()) return "number of unknown chunks differs";
  return {};
}

}  // namespace midi_test
