// Writer and reader together: read(write(f)) gives f's events back, and for a file the writer
// produced, write(read(bytes)) gives the same bytes. Checked on a file that uses every kind of
// event and on a few hundred random ones, with and without running status and RMID wrapping.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "libmidi/io.hpp"
#include "same_events.hpp"

namespace {

using midi::Event;
using midi::MidiFile;
using midi::Track;
using midi::WriteOptions;
using Bytes = std::vector<std::uint8_t>;

void expect_same_events(const MidiFile& expected, const MidiFile& got) {
  EXPECT_EQ(midi_test::first_difference(expected, got), "");
}

// Every kind of event the model holds, End of Track where it belongs.
MidiFile rich_file() {
  MidiFile f;
  f.format = 1;
  f.division = midi::TimeDivision::ppq(480);
  f.tracks.resize(3);
  Track& conductor = f.tracks[0];
  conductor.add_meta_text(0, midi::meta::kTrackName, "Conductor");
  conductor.add_tempo(0, 500000);
  conductor.add_meta(0, midi::meta::kTimeSignature, Bytes{3, 2, 24, 8});
  conductor.add_meta(0, midi::meta::kKeySignature, Bytes{0xFD, 1});
  conductor.add_meta(0, midi::meta::kSmpteOffset, Bytes{0x60, 0, 0, 0, 0});
  conductor.add_tempo(1920, 428571);
  conductor.add_meta(0x0FFFFFFF, midi::meta::kMarker, Bytes{'e', 'n', 'd'});  // the largest delta time
  conductor.add_end_of_track(0x0FFFFFFF);

  Track& piano = f.tracks[1];
  piano.add_meta(0, midi::meta::kMidiPort, Bytes{0});
  piano.add_sysex(0, Bytes{0x7E, 0x7F, 0x09, 0x01, 0xF7});
  piano.add_channel(0, 0xC0, 0);
  piano.add_channel(0, 0xB0, 7, 100);
  piano.add_channel(0, 0x90, 60, 100);
  piano.add_channel(0, 0x90, 64, 100);
  piano.add_channel(127, 0x90, 67, 100);
  piano.add_channel(128, 0x80, 60, 64);
  piano.add_channel(16383, 0x90, 64, 0);
  piano.add_channel(16384, 0xE0, 0, 0x40);
  piano.add_channel(16384, 0xA0, 67, 30);
  piano.add_channel(16384, 0xD0, 90);
  piano.add_sysex(20000, Bytes{0x43, 0x10}, false);  // a SysEx split in packets
  piano.add_sysex(20001, Bytes{0x4C, 0xF7}, true);
  piano.add_channel(20001, 0x80, 67, 0);
  piano.add_meta(20001, midi::meta::kSequencerSpecific, Bytes(300, 0x55));
  piano.add_end_of_track(30000);

  Track& drums = f.tracks[2];
  drums.add_meta(0, midi::meta::kChannelPrefix, Bytes{9});
  for (int beat = 0; beat < 64; ++beat) {
    drums.add_channel(beat * 120u, 0x99, beat % 2 ? 38 : 36, 110);
    drums.add_channel(beat * 120u + 60, 0x99, beat % 2 ? 38 : 36, 0);
  }
  drums.add_end_of_track(7680);
  f.unknown_chunks.push_back({{'X', 'F', 'I', 'H'}, {1, 2, 3, 4}, 0});
  f.unknown_chunks.push_back({{'J', 'U', 'N', 'K'}, {}, 3});
  return f;
}

TEST(WriterRoundTrip, RichFileEveryOption) {
  const MidiFile f = rich_file();
  for (const bool running : {true, false})
    for (const bool rmid : {false, true}) {
      SCOPED_TRACE(std::string("running status ") + (running ? "on" : "off") + ", rmid " + (rmid ? "on" : "off"));
      const WriteOptions options = WriteOptions().running_status(running).rmid(rmid);
      const Bytes bytes = midi::write(f, options);
      const MidiFile back = midi::read(bytes, midi::ReadOptions::strict());
      EXPECT_TRUE(back.warnings.empty());
      EXPECT_EQ(back.rmid, rmid);
      expect_same_events(f, back);
      ASSERT_EQ(back.unknown_chunks.size(), 2u);
      EXPECT_EQ(back.unknown_chunks[0].before_track, 0u);
      EXPECT_EQ(back.unknown_chunks[1].before_track, 3u);
      EXPECT_EQ(back.unknown_chunks[0].data, f.unknown_chunks[0].data);
      EXPECT_EQ(midi::write(back, options), bytes);
    }
}

TEST(WriterRoundTrip, RunningStatusMakesSmallerFiles) {
  const MidiFile f = rich_file();
  EXPECT_LT(midi::write(f).size(), midi::write(f, WriteOptions().running_status(false)).size());
}

TEST(WriterRoundTrip, WriterRepairsAreStable) {
  // No End of Track, and one in the middle: the first write repairs, after that bytes are stable.
  MidiFile f;
  f.format = 0;
  f.division = midi::TimeDivision::frames(29, 80);
  f.tracks.resize(1);
  f.tracks[0].add_channel(0, 0x90, 60, 100);
  f.tracks[0].add_end_of_track(5);
  f.tracks[0].add_channel(10, 0x80, 60, 0);
  const Bytes first = midi::write(f);
  const MidiFile back = midi::read(first, midi::ReadOptions::strict());
  ASSERT_EQ(back.tracks[0].events.size(), 3u);  // note-on, note-off, End of Track at tick 10
  EXPECT_TRUE(back.tracks[0].events[2].is_meta(midi::meta::kEndOfTrack));
  EXPECT_EQ(back.tracks[0].events[2].tick, 10u);
  EXPECT_EQ(midi::write(back), first);
}

TEST(WriterRoundTrip, StraySystemEventsSurviveALenientRead) {
  MidiFile f;
  f.format = 0;
  f.division = midi::TimeDivision::ppq(96);
  f.tracks.resize(1);
  Track& t = f.tracks[0];
  t.add_channel(0, 0x90, 60, 100);
  t.add_channel(0, 0xF2, 0x01, 0x02);
  t.add_channel(0, 0x90, 61, 100);
  t.add_channel(1, 0xF8, 0);
  t.add_channel(1, 0x90, 62, 100);
  t.add_channel(2, 0xF3, 5);
  t.add_end_of_track(2);
  const Bytes bytes = midi::write(f);
  const MidiFile back = midi::read(bytes);
  EXPECT_EQ(back.warnings.size(), 3u);  // one StrayStatusByte per system event
  expect_same_events(f, back);
  EXPECT_EQ(midi::write(back), bytes);
}

// Random files: random event kinds, deltas of every VLQ size, random payloads.
MidiFile random_file(std::mt19937& rng) {
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  MidiFile f;
  f.format = pick(0, 2);
  f.division = pick(0, 4) == 0 ? midi::TimeDivision::frames(std::vector<int>{24, 25, 29, 30}[pick(0, 3)], pick(1, 255))
                               : midi::TimeDivision::ppq(static_cast<std::uint16_t>(pick(1, 0x7FFF)));
  f.tracks.resize(f.format == 0 ? 1 : static_cast<std::size_t>(pick(1, 4)));
  for (Track& t : f.tracks) {
    std::uint64_t tick = 0;
    const int events = pick(0, 200);
    for (int i = 0; i < events; ++i) {
      const int delta_kind = pick(0, 9);
      tick += delta_kind < 5 ? 0 : delta_kind < 8 ? pick(1, 200) : delta_kind < 9 ? pick(0, 0x3FFFF) : pick(0, 0x0FFFFFFF);
      const int kind = pick(0, 12);
      if (kind < 8) {
        const auto status = static_cast<std::uint8_t>(0x80 + pick(0, 6) * 16 + pick(0, 15));
        const bool two = midi::data_length(status) == 2;
        t.add_channel(tick, status, static_cast<std::uint8_t>(pick(0, 127)),
                      two ? static_cast<std::uint8_t>(pick(0, 127)) : 0);
      } else if (kind < 11) {
        Bytes data(static_cast<std::size_t>(pick(0, kind == 10 ? 200 : 8)));
        for (auto& b : data) b = static_cast<std::uint8_t>(pick(0, 255));
        if (kind == 8) {
          auto type = static_cast<std::uint8_t>(pick(0, 127));
          if (type == midi::meta::kEndOfTrack) type = midi::meta::kText;
          t.add_meta(tick, type, data);
        } else {
          t.add_sysex(tick, data, kind == 10);
        }
      } else {
        t.add_tempo(tick, static_cast<std::uint32_t>(pick(1, 0xFFFFFF)));
      }
    }
    if (pick(0, 1)) t.add_end_of_track(tick + static_cast<std::uint64_t>(pick(0, 100)));
  }
  return f;
}

TEST(WriterRoundTrip, RandomFiles) {
  std::mt19937 rng(20240601);
  for (int i = 0; i < 300; ++i) {
    SCOPED_TRACE("random file " + std::to_string(i));
    MidiFile f = random_file(rng);
    const WriteOptions options = WriteOptions().running_status(i % 2 == 0).rmid(i % 7 == 0);
    const Bytes bytes = midi::write(f, options);
    // What the reader gives back is f with End of Track appended where it was missing.
    for (Track& t : f.tracks)
      if (t.events.empty() || !t.events.back().is_meta(midi::meta::kEndOfTrack)) t.add_end_of_track(t.end_tick());
    // Random metas may be malformed tempos, key signatures... which the reader reports, so
    // read leniently; structure problems would still show up as different events.
    const MidiFile back = midi::read(bytes);
    for (const auto& w : back.warnings) {
      ASSERT_TRUE(w.kind == midi::Malformation::BadMetaLength || w.kind == midi::Malformation::BadKeySignature)
          << w.to_string();
    }
    expect_same_events(f, back);
    ASSERT_EQ(midi::write(back, options), bytes);
  }
}

}  // namespace

namespace {

// The comparison the round-trip tests rely on sees each kind of difference.
TEST(WriterRoundTrip, TheComparisonSeesDifferences) {
  MidiFile a;
  a.format = 1;
  a.division = midi::TimeDivision::ppq(96);
  a.tracks.resize(1);
  a.tracks[0].add_channel(0, 0x90, 60, 100);
  a.tracks[0].add_meta_text(10, midi::meta::kText, "abc");
  a.tracks[0].add_end_of_track(20);
  EXPECT_EQ(midi_test::first_difference(a, a), "");
  const auto differs = [&](auto change) {
    MidiFile b = a;
    change(b);
    return !midi_test::first_difference(a, b).empty();
  };
  EXPECT_TRUE(differs([](MidiFile& b) { b.format = 0; }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.division = midi::TimeDivision::ppq(480); }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.tracks[0].events[0].tick = 1; }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.tracks[0].events[0].data2 = 99; }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.tracks[0].payload[b.tracks[0].events[1].data_offset] = 'x'; }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.tracks[0].events.pop_back(); }));
  EXPECT_TRUE(differs([](MidiFile& b) { b.tracks.emplace_back(); }));
}

}  // namespace
