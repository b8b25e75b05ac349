// Tests of the in-memory model: Track builders and their validation, the header's time
// division, the decoders of fixed-layout metas, names and one-line descriptions of events.
// Expected values are worked out by hand from the SMF 1.0 specification.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "libmidi/midi_file.hpp"

namespace {

using midi::Event;
using midi::TimeDivision;
using midi::Track;
using Bytes = std::vector<std::uint8_t>;

Bytes bytes_of(const Track& t, const Event& e) {
  const auto d = t.data(e);
  return {d.begin(), d.end()};
}

// ---------------------------------------------------------------------------------------------
// Builders

TEST(TrackBuilders, ChannelEventsKeepTheirBytesInline) {
  Track t;
  const Event& on = t.add_channel(10, 0x91, 60, 100);
  EXPECT_EQ(on.tick, 10u);
  EXPECT_EQ(on.status, 0x91);
  EXPECT_EQ(on.data1, 60);
  EXPECT_EQ(on.data2, 100);
  EXPECT_EQ(on.channel(), 1);
  EXPECT_TRUE(on.is_note_on());
  t.add_channel(20, 0xC3, 5);
  EXPECT_EQ(t.events.back().data2, 0);
  EXPECT_TRUE(t.payload.empty());
  EXPECT_EQ(t.end_tick(), 20u);
}

TEST(TrackBuilders, PayloadEventsAppendToThePayload) {
  Track t;
  t.add_meta_text(0, midi::meta::kTrackName, "Piano");
  t.add_tempo(0, 500000);
  const Bytes gm_reset = {0x7E, 0x7F, 0x09, 0x01, 0xF7};
  t.add_sysex(5, gm_reset);
  t.add_sysex(6, Bytes{0x01, 0x02}, /*escape=*/true);
  t.add_end_of_track(10);

  ASSERT_EQ(t.events.size(), 5u);
  EXPECT_EQ(t.text(t.events[0]), "Piano");
  EXPECT_EQ(t.events[0].status, midi::kMeta);
  EXPECT_EQ(t.events[0].meta_type(), midi::meta::kTrackName);
  EXPECT_EQ(bytes_of(t, t.events[1]), (Bytes{0x07, 0xA1, 0x20}));  // 500000 = 0x07A120
  EXPECT_EQ(t.events[2].status, midi::kSysEx);
  EXPECT_EQ(bytes_of(t, t.events[2]), gm_reset);
  EXPECT_EQ(t.events[3].status, midi::kSysExEscape);
  EXPECT_TRUE(t.events[4].is_meta(midi::meta::kEndOfTrack));
  EXPECT_EQ(t.events[4].data_size, 0u);
  // 5 + 3 + 5 + 2 + 0 payload bytes, laid out in order.
  EXPECT_EQ(t.payload.size(), 15u);
  EXPECT_EQ(t.events[2].data_offset, 8u);
}

TEST(TrackBuilders, PayloadMayComeFromTheSameTrack) {
  Track t;
  t.add_meta_text(0, midi::meta::kText, "hello");
  // Copying an event's own bytes: the payload vector grows while they are read.
  for (int i = 0; i < 20; ++i) t.add_meta(0, midi::meta::kText, t.data(t.events[0]));
  for (const Event& e : t.events) EXPECT_EQ(t.text(e), "hello");
}

TEST(TrackBuilders, RejectDataBytesOver127) {
  Track t;
  EXPECT_THROW(t.add_channel(0, 0x90, 128, 1), std::invalid_argument);
  EXPECT_THROW(t.add_channel(0, 0x90, 60, 200), std::invalid_argument);
  EXPECT_THROW(t.add_channel(0, 0xC0, 0x80), std::invalid_argument);
  EXPECT_THROW(t.add_channel(0, 0xF2, 0x80, 0), std::invalid_argument);
  try {
    t.add_channel(0, 0x90, 60, 200);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("200"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(t.events.empty());  // nothing half-added
}

TEST(TrackBuilders, RejectBadStatusesAndStrayDataBytes) {
  Track t;
  EXPECT_THROW(t.add_channel(0, 0x40, 1, 2), std::invalid_argument);    // a data byte
  EXPECT_THROW(t.add_channel(0, 0xFF, 1, 2), std::invalid_argument);    // meta: use add_meta
  EXPECT_THROW(t.add_channel(0, 0xF0, 1, 2), std::invalid_argument);    // SysEx: use add_sysex
  EXPECT_THROW(t.add_channel(0, 0xF7, 1, 2), std::invalid_argument);
  EXPECT_THROW(t.add_channel(0, 0xC0, 5, 1), std::invalid_argument);    // program change has one byte
  EXPECT_THROW(t.add_channel(0, 0xF8, 1, 0), std::invalid_argument);    // timing clock has none
  EXPECT_THROW(t.add_meta(0, 0x80, Bytes{}), std::invalid_argument);    // meta types are 0..127
  EXPECT_THROW(t.add_tempo(0, 0), std::invalid_argument);
  EXPECT_THROW(t.add_tempo(0, 0x1000000), std::invalid_argument);
  // System statuses are accepted: the reader keeps stray ones as events.
  EXPECT_NO_THROW(t.add_channel(0, 0xF2, 1, 2));
  EXPECT_NO_THROW(t.add_channel(0, 0xF8, 0, 0));
  EXPECT_EQ(t.events.size(), 2u);
}

TEST(TrackBuilders, RejectDecreasingTicks) {
  Track t;
  t.add_channel(100, 0x90, 60, 1);
  t.add_channel(100, 0x80, 60, 0);  // equal ticks are fine
  EXPECT_THROW(t.add_channel(99, 0x90, 60, 1), std::invalid_argument);
  EXPECT_THROW(t.add_meta_text(50, midi::meta::kText, "x"), std::invalid_argument);
  EXPECT_THROW(t.add_end_of_track(0), std::invalid_argument);
  EXPECT_EQ(t.events.size(), 2u);
  EXPECT_TRUE(t.payload.empty());
}

// ---------------------------------------------------------------------------------------------
// Time division

TEST(TimeDivision, PpqRawIsTheTicksPerQuarter) {
  EXPECT_EQ(TimeDivision::ppq(96).raw(), 96);
  EXPECT_EQ(TimeDivision::ppq(0x7FFF).raw(), 0x7FFF);
  EXPECT_THROW((void)TimeDivision::ppq(0).raw(), std::invalid_argument);
  EXPECT_THROW((void)TimeDivision::ppq(0x8000).raw(), std::invalid_argument);

  const auto d = TimeDivision::from_raw(480);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->smpte);
  EXPECT_EQ(d->ticks_per_quarter, 480);
  EXPECT_FALSE(TimeDivision::from_raw(0));
}

TEST(TimeDivision, SmpteRawIsNegatedFpsAndTicksPerFrame) {
  // -24 = 0xE8, -25 = 0xE7, -29 = 0xE3, -30 = 0xE2 as two's-complement bytes.
  EXPECT_EQ(TimeDivision::frames(24, 4).raw(), 0xE804);
  EXPECT_EQ(TimeDivision::frames(25, 40).raw(), 0xE728);
  EXPECT_EQ(TimeDivision::frames(29, 80).raw(), 0xE350);
  EXPECT_EQ(TimeDivision::frames(30, 255).raw(), 0xE2FF);
  EXPECT_THROW((void)TimeDivision::frames(26, 4).raw(), std::invalid_argument);
  EXPECT_THROW((void)TimeDivision::frames(25, 0).raw(), std::invalid_argument);
  EXPECT_THROW((void)TimeDivision::frames(25, 256).raw(), std::invalid_argument);

  const auto d = TimeDivision::from_raw(0xE728);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->smpte);
  EXPECT_EQ(d->frames_per_second, 25);
  EXPECT_EQ(d->ticks_per_frame, 40);
  EXPECT_FALSE(TimeDivision::from_raw(0xE700));  // 0 ticks per frame
  EXPECT_FALSE(TimeDivision::from_raw(0xE628));  // -26 fps
  EXPECT_FALSE(TimeDivision::from_raw(0x8028));  // -128 fps
  EXPECT_FALSE(TimeDivision::from_raw(0xFF28));  // -1 fps
}

TEST(TimeDivision, EveryRawValueRoundTrips) {
  int valid = 0;
  for (unsigned raw = 0; raw <= 0xFFFF; ++raw) {
    const auto d = TimeDivision::from_raw(static_cast<std::uint16_t>(raw));
    if (!d) continue;
    ++valid;
    EXPECT_EQ(d->raw(), raw);
  }
  // 32767 PPQ values + 4 frame rates × 255 ticks per frame.
  EXPECT_EQ(valid, 32767 + 4 * 255);
}

TEST(TimeDivision, TicksPerSecond) {
  EXPECT_DOUBLE_EQ(TimeDivision::frames(25, 40).ticks_per_second_smpte(), 1000.0);
  EXPECT_DOUBLE_EQ(TimeDivision::frames(24, 10).ticks_per_second_smpte(), 240.0);
  EXPECT_DOUBLE_EQ(TimeDivision::frames(30, 100).ticks_per_second_smpte(), 3000.0);
  // 29.97 drop frame: 30000/1001 frames per second.
  EXPECT_DOUBLE_EQ(TimeDivision::frames(29, 1001).ticks_per_second_smpte(), 30000.0);
  EXPECT_NEAR(TimeDivision::frames(29, 1).ticks_per_second_smpte(), 29.97002997, 1e-8);
  EXPECT_EQ(TimeDivision::ppq(96).ticks_per_second_smpte(), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Fixed-layout metas

TEST(MetaDecoders, Tempo) {
  Track t;
  t.add_tempo(0, 0x0F4240);  // 1 000 000 us = 60 bpm
  t.add_meta(0, midi::meta::kTempo, Bytes{0x07, 0xA1});           // wrong length
  t.add_meta(0, midi::meta::kTempo, Bytes{0x00, 0x00, 0x00});     // zero: would stop time
  t.add_meta(0, midi::meta::kTempo, Bytes{0xFF, 0xFF, 0xFF});
  t.add_channel(0, 0x90, 1, 1);
  EXPECT_EQ(midi::tempo_of(t, t.events[0]), 1000000u);
  EXPECT_FALSE(midi::tempo_of(t, t.events[1]));
  EXPECT_FALSE(midi::tempo_of(t, t.events[2]));
  EXPECT_EQ(midi::tempo_of(t, t.events[3]), 16777215u);
  EXPECT_FALSE(midi::tempo_of(t, t.events[4]));
}

TEST(MetaDecoders, TimeSignature) {
  Track t;
  t.add_meta(0, midi::meta::kTimeSignature, Bytes{6, 3, 36, 8});  // 6/8
  t.add_meta(0, midi::meta::kTimeSignature, Bytes{4, 2, 24});      // short
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0, 0});
  const auto ts = midi::time_signature_of(t, t.events[0]);
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->numerator, 6);
  EXPECT_EQ(ts->denominator, 8);
  EXPECT_EQ(ts->clocks_per_click, 36);
  EXPECT_EQ(ts->thirty_seconds_per_quarter, 8);
  EXPECT_FALSE(midi::time_signature_of(t, t.events[1]));
  EXPECT_FALSE(midi::time_signature_of(t, t.events[2]));
}

TEST(MetaDecoders, KeySignature) {
  Track t;
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0xFD, 1});  // -3: three flats, minor (C minor)
  t.add_meta(0, midi::meta::kKeySignature, Bytes{7, 0});
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0xF9, 0});  // -7
  t.add_meta(0, midi::meta::kKeySignature, Bytes{8, 0});     // out of range
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0xF8, 0});  // -8
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0, 2});     // mode 2
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0});        // short
  const auto k = midi::key_signature_of(t, t.events[0]);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->sharps, -3);
  EXPECT_TRUE(k->minor);
  EXPECT_EQ(midi::key_signature_of(t, t.events[1])->sharps, 7);
  EXPECT_FALSE(midi::key_signature_of(t, t.events[1])->minor);
  EXPECT_EQ(midi::key_signature_of(t, t.events[2])->sharps, -7);
  for (int i = 3; i < 7; ++i) EXPECT_FALSE(midi::key_signature_of(t, t.events[i])) << i;
}

TEST(MetaDecoders, SmpteOffset) {
  Track t;
  // Hour byte 0x61 = 0 11 00001: rate bits 11 (30 fps), 1 hour.
  t.add_meta(0, midi::meta::kSmpteOffset, Bytes{0x61, 2, 3, 4, 5});
  t.add_meta(0, midi::meta::kSmpteOffset, Bytes{1, 60, 0, 0, 0});  // 60 minutes
  t.add_meta(0, midi::meta::kSmpteOffset, Bytes{1, 0, 0, 0});      // short
  const auto o = midi::smpte_offset_of(t, t.events[0]);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->hours, 1);
  EXPECT_EQ(o->minutes, 2);
  EXPECT_EQ(o->seconds, 3);
  EXPECT_EQ(o->frames, 4);
  EXPECT_EQ(o->fractional_frames, 5);
  EXPECT_FALSE(midi::smpte_offset_of(t, t.events[1]));
  EXPECT_FALSE(midi::smpte_offset_of(t, t.events[2]));
}

// ---------------------------------------------------------------------------------------------
// File, names, descriptions

TEST(MidiFile, EventCountSumsTracks) {
  midi::MidiFile f;
  EXPECT_EQ(f.event_count(), 0u);
  f.tracks.resize(3);
  f.tracks[0].add_tempo(0, 500000);
  f.tracks[2].add_channel(0, 0x90, 60, 1);
  f.tracks[2].add_channel(1, 0x80, 60, 1);
  EXPECT_EQ(f.event_count(), 3u);
}

TEST(Names, MetaTypesUseMidoNames) {
  const std::vector<std::pair<std::uint8_t, std::string>> expected = {
      {0x00, "sequence_number"}, {0x01, "text"},           {0x02, "copyright"},
      {0x03, "track_name"},      {0x04, "instrument_name"}, {0x05, "lyrics"},
      {0x06, "marker"},          {0x07, "cue_marker"},      {0x08, "program_name"},
      {0x09, "device_name"},     {0x20, "channel_prefix"},  {0x21, "midi_port"},
      {0x2F, "end_of_track"},    {0x51, "set_tempo"},       {0x54, "smpte_offset"},
      {0x58, "time_signature"},  {0x59, "key_signature"},   {0x7F, "sequencer_specific"},
      {0x0A, "unknown_meta"},    {0x60, "unknown_meta"},    {0xFE, "unknown_meta"},
  };
  for (const auto& [type, name] : expected) EXPECT_EQ(midi::meta_type_name(type), name) << int(type);
}

TEST(Describe, ChannelMessages) {
  Track t;
  t.add_channel(0, 0x91, 60, 100);
  t.add_channel(0, 0x80, 60, 64);
  t.add_channel(0, 0xB0, 64, 127);
  t.add_channel(0, 0xC0, 5);
  t.add_channel(0, 0xA2, 61, 20);
  t.add_channel(0, 0xDF, 33);
  // Pitch bend -200 = 8192 - 200 = 7992 = 0x1F38: LSB 0x38, MSB 0x3E.
  t.add_channel(0, 0xE0, 0x38, 0x3E);
  t.add_channel(0, 0xE0, 0x00, 0x40);
  const std::vector<std::string> expected = {
      "note_on ch=1 note=60 vel=100", "note_off ch=0 note=60 vel=64", "control_change ch=0 control=64 value=127",
      "program_change ch=0 program=5", "polytouch ch=2 note=61 value=20", "aftertouch ch=15 value=33",
      "pitchwheel ch=0 pitch=-200",   "pitchwheel ch=0 pitch=0",
  };
  ASSERT_EQ(t.events.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(midi::describe(t, t.events[i]), expected[i]);
}

TEST(Describe, MetaSysExAndSystem) {
  Track t;
  t.add_sysex(0, Bytes{0x7E, 0x7F, 0x09, 0x01});
  t.add_sysex(0, Bytes{0x43, 0xF7}, true);
  t.add_tempo(0, 500000);
  t.add_meta_text(0, midi::meta::kText, "hello");
  t.add_meta_text(0, midi::meta::kLyric, std::string_view("it's\n\x01\\", 7));
  t.add_meta(0, midi::meta::kKeySignature, Bytes{0xFD, 1});
  t.add_meta(0, midi::meta::kKeySignature, Bytes{2, 0});
  t.add_meta(0, midi::meta::kTimeSignature, Bytes{6, 3, 36, 8});
  t.add_meta(0, midi::meta::kTempo, Bytes{1, 2});
  t.add_meta(0, 0x60, Bytes{0xAB});
  t.add_channel(0, 0xF2, 1, 2);
  t.add_channel(0, 0xF8, 0);
  t.add_end_of_track(0);
  const std::vector<std::string> expected = {
      "sysex data=7E 7F 09 01",
      "sysex_escape data=43 F7",
      "meta set_tempo tempo=500000",
      "meta text 'hello'",
      "meta lyrics 'it\\'s\\x0A\\x01\\\\'",
      "meta key_signature sf=-3 mode=minor",
      "meta key_signature sf=2 mode=major",
      "meta time_signature 6/8 clocks_per_click=36 notated_32nd_notes_per_beat=8",
      "meta set_tempo (malformed) data=01 02",
      "meta unknown_meta type=0x60 data=AB",
      "system F2 data=01 02",
      "system F8",
      "meta end_of_track",
  };
  ASSERT_EQ(t.events.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(midi::describe(t, t.events[i]), expected[i]);
}

TEST(Describe, LongSysExIsCut) {
  Track t;
  t.add_sysex(0, Bytes(100, 0x11));
  const std::string s = midi::describe(t, t.events[0]);
  EXPECT_NE(s.find(" ... (100 bytes)"), std::string::npos) << s;
  EXPECT_LT(s.size(), 140u);
}

}  // namespace
