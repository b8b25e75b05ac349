// Tempo map tests. Every expected time is worked out by hand in the comment next to it, from
// seconds = Σ Δtick × tempo / (ticks_per_quarter × 10^6), never by running the code under test.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "libmidi/tempo_map.hpp"

namespace {

using midi::MidiFile;
using midi::TempoChange;
using midi::TempoMap;
using midi::TimeDivision;

MidiFile ppq_file(int format, std::size_t tracks, std::uint16_t ppq) {
  MidiFile f;
  f.format = format;
  f.division = TimeDivision::ppq(ppq);
  f.tracks.resize(tracks);
  return f;
}

TEST(TempoMap, DefaultTempoIs120Bpm) {
  const TempoMap map(ppq_file(1, 1, 480));
  EXPECT_EQ(map.seconds(0), 0.0);
  EXPECT_EQ(map.seconds(480), 0.5);     // one quarter at 500000 us
  EXPECT_EQ(map.seconds(4800), 5.0);
  EXPECT_EQ(map.tempo_at(123), TempoMap::kDefaultTempo);
  EXPECT_TRUE(map.changes().empty());
}

TEST(TempoMap, TwoSegmentsByHand) {
  // 96 ppq; 500000 us until tick 192, then 250000 us.
  // tick 192: 2 quarters × 0.5 s = 1.0 s; tick 384: 1.0 + 2 × 0.25 = 1.5 s;
  // tick 288: 1.0 + 1 × 0.25 = 1.25 s; tick 96: 0.5 s.
  MidiFile f = ppq_file(1, 1, 96);
  f.tracks[0].add_tempo(192, 250000);
  const TempoMap map(f);
  EXPECT_EQ(map.seconds(96), 0.5);
  EXPECT_EQ(map.seconds(192), 1.0);
  EXPECT_EQ(map.seconds(288), 1.25);
  EXPECT_EQ(map.seconds(384), 1.5);
  EXPECT_EQ(map.tempo_at(191), 500000u);
  EXPECT_EQ(map.tempo_at(192), 250000u);

  EXPECT_EQ(map.tick_at(1.5), 384u);
  EXPECT_EQ(map.tick_at(1.25), 288u);
  EXPECT_EQ(map.tick_at(1.0), 192u);
  // 1.2 s: 1.0 + (t - 192) / 384 <= 1.2  =>  t - 192 <= 76.8  =>  t = 268.
  EXPECT_EQ(map.tick_at(1.2), 268u);
  // 0.999 s in the first segment: t / 192 <= 0.999  =>  t <= 191.8  =>  191.
  EXPECT_EQ(map.tick_at(0.999), 191u);
  EXPECT_EQ(map.tick_at(0.0), 0u);
  EXPECT_EQ(map.tick_at(-3.0), 0u);
  EXPECT_EQ(map.tick_at(std::nan("")), 0u);
  EXPECT_EQ(map.tick_at(std::numeric_limits<double>::infinity()), std::numeric_limits<std::uint64_t>::max());
}

TEST(TempoMap, ChangeAtTickZeroReplacesTheDefault) {
  MidiFile f = ppq_file(0, 1, 100);
  f.tracks[0].add_tempo(0, 1000000);  // 1 s per quarter
  const TempoMap map(f);
  EXPECT_EQ(map.seconds(100), 1.0);
  EXPECT_EQ(map.seconds(250), 2.5);
  EXPECT_EQ(map.tempo_at(0), 1000000u);
}

TEST(TempoMap, ChangesFromAllTracksOfAFormat1File) {
  // Track 0 sets 1 s per quarter at tick 10; track 2 sets 0.25 s per quarter at tick 20.
  // 10 ppq: tick 10 = 0.5 s; tick 20 = 0.5 + 1.0 = 1.5 s; tick 30 = 1.5 + 0.25 = 1.75 s.
  MidiFile f = ppq_file(1, 3, 10);
  f.tracks[0].add_tempo(10, 1000000);
  f.tracks[1].add_channel(15, 0x90, 60, 1);
  f.tracks[2].add_tempo(20, 250000);
  const TempoMap map(f);
  ASSERT_EQ(map.changes().size(), 2u);
  EXPECT_EQ(map.seconds(10), 0.5);
  EXPECT_EQ(map.seconds(20), 1.5);
  EXPECT_EQ(map.seconds(30), 1.75);
}

TEST(TempoMap, LaterTrackWinsAtTheSameTick) {
  // Track 0 and track 1 both change tempo at tick 96; track 1's (later in track order) wins.
  MidiFile f = ppq_file(1, 2, 96);
  f.tracks[0].add_tempo(96, 250000);
  f.tracks[1].add_tempo(96, 1000000);
  const TempoMap map(f);
  ASSERT_EQ(map.changes().size(), 1u);
  EXPECT_EQ(map.tempo_at(96), 1000000u);
  EXPECT_EQ(map.seconds(192), 0.5 + 1.0);
}

TEST(TempoMap, LaterEventWinsWithinATrack) {
  MidiFile f = ppq_file(0, 1, 96);
  f.tracks[0].add_tempo(96, 1000000);
  f.tracks[0].add_tempo(96, 250000);
  const TempoMap map(f);
  EXPECT_EQ(map.tempo_at(96), 250000u);
  EXPECT_EQ(map.seconds(192), 0.5 + 0.25);
}

TEST(TempoMap, ListConstructorSortsStably) {
  const TempoMap map(TimeDivision::ppq(96), {{192, 250000}, {96, 1000000}, {192, 2000000}, {0, 500000}});
  ASSERT_EQ(map.changes().size(), 3u);
  EXPECT_EQ(map.changes()[0].tick, 0u);
  EXPECT_EQ(map.changes()[1].tick, 96u);
  EXPECT_EQ(map.changes()[2].tick, 192u);
  EXPECT_EQ(map.changes()[2].microseconds_per_quarter, 2000000u);  // the later of the two at 192
  // 0.5 + 1.0 = 1.5 s at tick 192, then 2 s per quarter: tick 240 = 1.5 + 1.0 = 2.5 s.
  EXPECT_EQ(map.seconds(240), 2.5);
}

TEST(TempoMap, MalformedTempoMetasAreIgnored) {
  MidiFile f = ppq_file(1, 1, 96);
  const std::vector<std::uint8_t> short_tempo = {0x03, 0xD0};
  const std::vector<std::uint8_t> long_tempo = {0x00, 0x03, 0xD0, 0x90};
  const std::vector<std::uint8_t> zero_tempo = {0, 0, 0};
  f.tracks[0].add_meta(0, midi::meta::kTempo, short_tempo);
  f.tracks[0].add_meta(10, midi::meta::kTempo, long_tempo);
  f.tracks[0].add_meta(20, midi::meta::kTempo, zero_tempo);
  const TempoMap map(f);
  EXPECT_TRUE(map.changes().empty());
  EXPECT_EQ(map.seconds(96), 0.5);
}

TEST(TempoMap, Format2UsesOneTrack) {
  MidiFile f = ppq_file(2, 2, 100);
  f.tracks[0].add_tempo(0, 1000000);  // sequence 0: 1 s per quarter
  f.tracks[1].add_tempo(0, 250000);   // sequence 1: 0.25 s per quarter
  EXPECT_EQ(TempoMap(f).seconds(100), 1.0);
  EXPECT_EQ(TempoMap(f, 0).seconds(100), 1.0);
  EXPECT_EQ(TempoMap(f, 1).seconds(100), 0.25);
  EXPECT_THROW(TempoMap(f, 2), std::out_of_range);
}

TEST(TempoMap, SmpteIgnoresTempo) {
  // 25 fps × 40 ticks per frame = 1000 ticks per second.
  MidiFile f;
  f.format = 1;
  f.division = TimeDivision::frames(25, 40);
  f.tracks.resize(1);
  f.tracks[0].add_tempo(0, 1000000);
  const TempoMap map(f);
  EXPECT_EQ(map.seconds(1000), 1.0);
  EXPECT_EQ(map.seconds(2500), 2.5);
  EXPECT_EQ(map.tick_at(2.5), 2500u);
  EXPECT_EQ(map.tick_at(2.4999), 2499u);
  EXPECT_EQ(map.tempo_at(0), TempoMap::kDefaultTempo);
}

TEST(TempoMap, SmpteDropFrame) {
  // 29 = 30000/1001 frames per second; 1 tick per frame: 30000 ticks = 1001 s exactly.
  const TempoMap map(TimeDivision::frames(29, 1), {});
  EXPECT_EQ(map.seconds(30000), 1001.0);
  EXPECT_EQ(map.tick_at(1001.0), 30000u);
  // 24 fps × 10 = 240 ticks per second; 30 × 2 = 60.
  EXPECT_EQ(TempoMap(TimeDivision::frames(24, 10), {}).seconds(360), 1.5);
  EXPECT_EQ(TempoMap(TimeDivision::frames(30, 2), {}).seconds(90), 1.5);
}

TEST(TempoMap, NoDriftOverTenHoursOfTempoChanges) {
  // 3 ppq, a tempo change on every tick alternating 999999 and 1000001 us per quarter: every
  // pair of ticks lasts (999999 + 1000001) / 3 us = 2/3 s. 108000 ticks = 54000 pairs = 36000 s
  // (ten hours) exactly; each single tick is 1/3 s give or take 1/3 us, which no binary float
  // holds, so summing per-segment doubles would drift.
  std::vector<TempoChange> changes;
  for (std::uint64_t t = 0; t < 108000; ++t) changes.push_back({t, t % 2 == 0 ? 999999u : 1000001u});
  const TempoMap map(TimeDivision::ppq(3), std::move(changes));
  EXPECT_EQ(map.seconds(108000), 36000.0);
  EXPECT_EQ(map.seconds(54000), 18000.0);
  // One tick more, at the last change's tempo (tick 107999: 1000001 us) = 0.333333667 s.
  EXPECT_NEAR(map.seconds(108001), 36000.0 + 1000001.0 / 3e6, 1e-9);
  EXPECT_EQ(map.tick_at(36000.0), 108000u);
  EXPECT_EQ(map.tick_at(36000.3333336), 108000u);
  EXPECT_EQ(map.tick_at(36000.3333337), 108001u);
}

TEST(TempoMap, OddTempoOverTenHoursIsExactToTheMicrosecond) {
  // 960 ppq at 333333 us: tick 103 680 000 = 103680000 × 333333 / 960e6 = 0.108 × 333333
  // = 35999.964 s.
  const TempoMap map(TimeDivision::ppq(960), {{0, 333333}});
  EXPECT_NEAR(map.seconds(103680000), 35999.964, 1e-9);
  EXPECT_EQ(map.tick_at(35999.964), 103680000u);
}

TEST(TempoMap, HugeTickCounts) {
  // 1 ppq at 1 us per quarter: 2^40 ticks = 1099511.627776 s.
  const TempoMap map(TimeDivision::ppq(1), {{0, 1}});
  EXPECT_DOUBLE_EQ(map.seconds(1ull << 40), 1099511.627776);
  EXPECT_EQ(map.tick_at(1099511.627776), 1ull << 40);
  // The slowest tempo at the largest tick does not overflow: 2^64 × 2^24 fits in 128 bits.
  const TempoMap slow(TimeDivision::ppq(1), {{0, 0xFFFFFF}});
  const double end = slow.seconds(std::numeric_limits<std::uint64_t>::max());
  EXPECT_NEAR(end / (18446744073709551615.0 * 16777215.0 / 1e6), 1.0, 1e-12);
}

TEST(TempoMap, TickAtInvertsSeconds) {
  MidiFile f = ppq_file(1, 2, 480);
  f.tracks[0].add_tempo(0, 600000);
  f.tracks[0].add_tempo(1000, 428571);
  f.tracks[1].add_tempo(1500, 1234567);
  f.tracks[1].add_tempo(7777, 300001);
  const TempoMap map(f);
  for (std::uint64_t t = 0; t < 12000; ++t) ASSERT_EQ(map.tick_at(map.seconds(t)), t);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> when(0.0, 30.0);
  for (int i = 0; i < 10000; ++i) {
    const double s = when(rng);
    const std::uint64_t t = map.tick_at(s);
    ASSERT_LE(map.seconds(t), s);
    ASSERT_GT(map.seconds(t + 1), s);
  }
}

TEST(TempoMap, RejectsUnusableDivisionsAndTempos) {
  EXPECT_THROW(TempoMap(TimeDivision::ppq(0), {}), std::invalid_argument);
  EXPECT_THROW(TempoMap(TimeDivision::frames(25, 0), {}), std::invalid_argument);
  EXPECT_THROW(TempoMap(TimeDivision::ppq(96), {{0, 0}}), std::invalid_argument);
}

}  // namespace
