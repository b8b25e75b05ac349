// What the audio tests share (test_synth.cpp, test_fluid.cpp): small MIDI files built from
// note lists, and the independent oracle tests/musegen/synth_check.py (Python's `wave`,
// numpy's FFT, mido's file length) run on a rendered WAV.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "libmidi/midi_file.hpp"
#include "test_support.hpp"

namespace musegen::test {

inline constexpr std::uint16_t kPpq = 480;  // at 120 bpm: 960 ticks a second

struct Hit {
  int key;
  double start, end;  // seconds
  int velocity = 100;
};

inline std::uint64_t tick(double seconds) { return static_cast<std::uint64_t>(std::llround(seconds * 960)); }

// A format 1 file: a tempo track (120 bpm) and one track per channel given, each starting
// with a program change, to (program + program_step × channel) mod 128 (on channel 10 it
// selects a drum kit).
inline midi::MidiFile make_file(const std::vector<std::pair<int, std::vector<Hit>>>& tracks,
                                double end_seconds, int program = 0, int program_step = 0) {
  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kPpq);
  midi::Track& tempo = file.tracks.emplace_back();
  tempo.add_tempo(0, 500000);
  tempo.add_end_of_track(tick(end_seconds));
  for (const auto& [channel, hits] : tracks) {
    midi::Track& t = file.tracks.emplace_back();
    const auto ch = static_cast<std::uint8_t>(channel);
    t.add_channel(0, static_cast<std::uint8_t>(0xC0 | ch),
                  static_cast<std::uint8_t>((program + program_step * channel) % 128));
    std::vector<std::tuple<std::uint64_t, int, int>> events;  // tick, off-before-on, key/velocity
    for (const Hit& h : hits) {
      events.emplace_back(tick(h.start), 1, h.key * 256 + h.velocity);
      events.emplace_back(tick(h.end), 0, h.key * 256);
    }
    std::sort(events.begin(), events.end());
    for (const auto& [at, on, kv] : events)
      t.add_channel(at, static_cast<std::uint8_t>((on ? 0x90 : 0x80) | ch), static_cast<std::uint8_t>(kv / 256),
                    static_cast<std::uint8_t>(on ? kv % 256 : 64));
    t.add_end_of_track(tick(end_seconds));
  }
  return file;
}

// Every channel (drums on 10) playing two loud triads over all registers: the no-clipping
// tests' worst case.
inline std::vector<std::pair<int, std::vector<Hit>>> sixteen_loud_channels() {
  std::vector<std::pair<int, std::vector<Hit>>> tracks;
  for (int channel = 0; channel < 16; ++channel) {
    std::vector<Hit> hits;
    for (int i = 0; i < 2; ++i) {
      const double at = 0.2 * i;
      const int root = channel == 9 ? 35 + (7 * i + channel) % 47 : 24 + (channel * 5 + i * 7) % 72;
      for (int step : {0, 4, 7}) hits.push_back({root + step, at, at + 0.5, 127});
    }
    tracks.emplace_back(channel, hits);
  }
  return tracks;
}

// Runs the oracle on `wav` with `extra` arguments; its key=value lines.
inline std::map<std::string, std::string> check(const std::filesystem::path& wav, const std::string& extra = "") {
  std::string out;
  const std::string command =
      std::string("/usr/bin/python3 ") + MUSEGEN_TEST_DIR + "/synth_check.py " + wav.string() + " " + extra;
  EXPECT_TRUE(run_capture(command, out)) << command << "\n" << out;
  std::map<std::string, std::string> values;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (const auto eq = line.find('='); eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  return values;
}

// The numbers of a space-separated oracle value.
inline std::vector<double> numbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> v;
  for (double x; in >> x;) v.push_back(x);
  return v;
}

inline bool have_oracle() { return python_has("numpy") && python_has("mido"); }

}  // namespace musegen::test
