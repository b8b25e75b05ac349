// Reader tests on hand-assembled bytes: every feature of the format, and every malformation
// under both presets (lenient repairs with a warning at the right byte; strict throws the same).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "libmidi/libmidi.hpp"
#include "smf_bytes.hpp"

namespace {

using namespace smf_bytes;
using midi::Malformation;

// Reads leniently and expects exactly the given malformations, in order.
midi::MidiFile read_expecting(const Bytes& bytes, std::initializer_list<Malformation> expected) {
  midi::MidiFile f = midi::read(bytes);
  std::vector<Malformation> got;
  std::string text;
  for (const auto& w : f.warnings) {
    EXPECT_TRUE(w.kind.has_value()) << w.to_string();
    if (w.kind) got.push_back(*w.kind);
    text += w.to_string() + "\n";
  }
  EXPECT_EQ(got, std::vector<Malformation>(expected)) << text;
  return f;
}

// Strict reading must throw a ParseError of this kind at this offset.
void expect_strict_error(const Bytes& bytes, Malformation kind, std::uint64_t offset) {
  try {
    midi::read(bytes, midi::ReadOptions::strict());
    FAIL() << "strict read accepted a file with " << midi::malformation_name(kind);
  } catch (const midi::ParseError& e) {
    ASSERT_TRUE(e.diagnostic().kind.has_value()) << e.what();
    EXPECT_EQ(*e.diagnostic().kind, kind) << e.what();
    EXPECT_EQ(e.diagnostic().offset, offset) << e.what();
  }
}

void expect_fatal(const Bytes& bytes, const std::string& fragment) {
  try {
    midi::read(bytes);
    FAIL() << "read accepted an unreadable file; expected an error containing '" << fragment << "'";
  } catch (const midi::ParseError& e) {
    EXPECT_FALSE(e.diagnostic().kind.has_value()) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

constexpr std::size_t kHeaderSize = 14;
constexpr std::size_t kTrackBody = kHeaderSize + 8;  // offset of the first track's first byte

// ---------------------------------------------------------------------------------------------
// Well-formed files

TEST(Reader, MinimalFormat0) {
  const Bytes bytes = file(0, {with_eot({0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0})});
  const auto f = read_expecting(bytes, {});
  EXPECT_EQ(f.format, 0);
  EXPECT_FALSE(f.division.smpte);
  EXPECT_EQ(f.division.ticks_per_quarter, 96);
  ASSERT_EQ(f.tracks.size(), 1u);
  const auto& ev = f.tracks[0].events;
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].status, 0x90);
  EXPECT_EQ(ev[0].data1, 60);
  EXPECT_EQ(ev[0].data2, 100);
  EXPECT_EQ(ev[1].tick, 0x60u);
  EXPECT_TRUE(ev[1].is_note_off());
  EXPECT_TRUE(ev[2].is_meta(midi::meta::kEndOfTrack));
  EXPECT_NO_THROW(midi::read(bytes, midi::ReadOptions::strict()));
}

TEST(Reader, Format1And2KeepTracksApart) {
  for (std::uint16_t format : {1, 2}) {
    const auto f = read_expecting(file(format, {with_eot({0x00, 0xFF, 0x03, 0x01, 'A'}),
                                                with_eot({0x10, 0x91, 64, 90})}), {});
    EXPECT_EQ(f.format, format);
    ASSERT_EQ(f.tracks.size(), 2u);
    EXPECT_EQ(f.tracks[0].text(f.tracks[0].events[0]), "A");
    EXPECT_EQ(f.tracks[1].events[0].channel(), 1);
    EXPECT_EQ(f.tracks[1].events[0].tick, 0x10u);
  }
}

TEST(Reader, SmpteDivision) {
  // -25 fps (0xE7), 40 ticks per frame.
  const auto f = read_expecting(file(0, {kEndOfTrack}, 0xE728), {});
  EXPECT_TRUE(f.division.smpte);
  EXPECT_EQ(f.division.frames_per_second, 25);
  EXPECT_EQ(f.division.ticks_per_frame, 40);
}

TEST(Reader, RunningStatusAndEveryChannelMessage) {
  const Bytes events = {
      0x00, 0x90, 60, 100,  // note on
      0x00, 62, 100,        // running status: note on
      0x00, 0x80, 60, 64,   // note off
      0x00, 0xA2, 60, 30,   // poly aftertouch ch 2
      0x00, 0xB3, 64, 127,  // control change ch 3
      0x00, 0xC4, 5,        // program change ch 4 (one data byte)
      0x00, 6,              // running status program change
      0x00, 0xD5, 77,       // channel aftertouch (one data byte)
      0x00, 0xE6, 0x00, 0x40,  // pitch bend centre
      0x00, 0xE6, 0x7F, 0x7F,  // pitch bend max
  };
  const auto f = read_expecting(file(0, {with_eot(events)}), {});
  const auto& ev = f.tracks[0].events;
  ASSERT_EQ(ev.size(), 11u);
  EXPECT_EQ(ev[1].status, 0x90);
  EXPECT_EQ(ev[1].data1, 62);
  EXPECT_EQ(ev[3].message(), midi::ChannelMessage::PolyAftertouch);
  EXPECT_EQ(ev[4].message(), midi::ChannelMessage::ControlChange);
  EXPECT_EQ(ev[4].channel(), 3);
  EXPECT_EQ(ev[5].message(), midi::ChannelMessage::ProgramChange);
  EXPECT_EQ(ev[6].data1, 6);
  EXPECT_EQ(ev[6].status, 0xC4);
  EXPECT_EQ(ev[7].message(), midi::ChannelMessage::ChannelAftertouch);
  EXPECT_EQ(ev[8].pitch_bend(), 0);
  EXPECT_EQ(ev[9].pitch_bend(), 8191);
}

TEST(Reader, VelocityZeroNoteOnIsNoteOff) {
  const auto f = read_expecting(file(0, {with_eot({0x00, 0x90, 60, 0})}), {});
  EXPECT_TRUE(f.tracks[0].events[0].is_note_off());
  EXPECT_FALSE(f.tracks[0].events[0].is_note_on());
  EXPECT_EQ(f.tracks[0].events[0].status, 0x90);  // kept as written
}

TEST(Reader, SysExAndEscapesKeepTheirBytes) {
  const Bytes events = {0x00, 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7,  // complete SysEx
                        0x00, 0xF0, 0x02, 0x43, 0x12,                    // first packet
                        0x10, 0xF7, 0x02, 0x00, 0xF7,                    // continuation
                        0x00, 0xF7, 0x02, 0xF8, 0xFA};                   // escape: raw real-time bytes
  const auto f = read_expecting(file(0, {with_eot(events)}), {});
  const auto& t = f.tracks[0];
  ASSERT_EQ(t.events.size(), 5u);
  EXPECT_EQ(t.events[0].status, midi::kSysEx);
  EXPECT_EQ(Bytes(t.data(t.events[0]).begin(), t.data(t.events[0]).end()), (Bytes{0x7E, 0x7F, 0x09, 0x01, 0xF7}));
  EXPECT_EQ(t.events[2].status, midi::kSysExEscape);
  EXPECT_EQ(t.events[2].tick, 0x10u);
  EXPECT_EQ(Bytes(t.data(t.events[3]).begin(), t.data(t.events[3]).end()), (Bytes{0xF8, 0xFA}));
}

TEST(Reader, EveryMetaEvent) {
  Bytes events;
  for (std::uint8_t type = 0x01; type <= 0x09; ++type) append(events, {0x00, 0xFF, type, 0x02, 'h', 'i'});
  append(events, {0x00, 0xFF, 0x00, 0x02, 0x00, 0x07});              // sequence number
  append(events, {0x00, 0xFF, 0x20, 0x01, 0x03});                    // channel prefix
  append(events, {0x00, 0xFF, 0x21, 0x01, 0x01});                    // port
  append(events, {0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20});        // tempo 500000
  append(events, {0x00, 0xFF, 0x54, 0x05, 0x60, 0x01, 0x02, 0x03, 0x04});  // SMPTE offset 30fps 0h
  append(events, {0x00, 0xFF, 0x58, 0x04, 0x06, 0x03, 0x18, 0x08});  // 6/8
  append(events, {0x00, 0xFF, 0x59, 0x02, 0xFD, 0x01});              // 3 flats minor
  append(events, {0x00, 0xFF, 0x7F, 0x03, 0x00, 0x00, 0x41});        // sequencer specific
  append(events, {0x00, 0xFF, 0x60, 0x01, 0x99});                    // unknown meta type: raw
  const auto f = read_expecting(file(0, {with_eot(events)}), {});
  const auto& t = f.tracks[0];
  ASSERT_EQ(t.events.size(), 19u);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(t.events[i].meta_type(), i + 1);
    EXPECT_EQ(t.text(t.events[i]), "hi");
  }
  EXPECT_EQ(midi::tempo_of(t, t.events[12]), 500000u);
  const auto smpte = midi::smpte_offset_of(t, t.events[13]);
  ASSERT_TRUE(smpte);
  EXPECT_EQ(smpte->minutes, 1);
  const auto ts = midi::time_signature_of(t, t.events[14]);
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->numerator, 6);
  EXPECT_EQ(ts->denominator, 8);
  const auto ks = midi::key_signature_of(t, t.events[15]);
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->sharps, -3);
  EXPECT_TRUE(ks->minor);
  EXPECT_EQ(t.events[17].meta_type(), 0x60);
  EXPECT_EQ(t.data(t.events[17]).size(), 1u);
  EXPECT_EQ(t.data(t.events[17])[0], 0x99);
}

TEST(Reader, VariableLengthQuantitiesUpToFourBytes) {
  const Bytes events = {0x81, 0x00, 0x90, 60, 1,                     // 128
                        0xFF, 0x7F, 0x90, 61, 1,                     // + 16383
                        0x81, 0x80, 0x00, 0x90, 62, 1,               // + 16384
                        0xFF, 0xFF, 0xFF, 0x7F, 0x90, 63, 1};        // + 0x0FFFFFFF
  const auto f = read_expecting(file(0, {with_eot(events)}), {});
  const auto& ev = f.tracks[0].events;
  EXPECT_EQ(ev[0].tick, 128u);
  EXPECT_EQ(ev[1].tick, 128u + 16383u);
  EXPECT_EQ(ev[2].tick, 128u + 16383u + 16384u);
  EXPECT_EQ(ev[3].tick, 128u + 16383u + 16384u + 0x0FFFFFFFu);
}

TEST(Reader, TicksAccumulateIn64Bits) {
  Bytes events;
  for (int i = 0; i < 40; ++i) append(events, {0xFF, 0xFF, 0xFF, 0x7F, 0x90, 60, 1});
  const auto f = read_expecting(file(0, {with_eot(events)}), {});
  EXPECT_EQ(f.tracks[0].events[39].tick, 40ull * 0x0FFFFFFFull);
}

TEST(Reader, RiffRmidWrapper) {
  const Bytes smf = file(0, {with_eot({0x00, 0x90, 60, 100})});
  Bytes riff = {'R', 'I', 'F', 'F'};
  Bytes body = {'R', 'M', 'I', 'D'};
  append(body, {'I', 'N', 'F', 'O'});  // a chunk before "data" with odd length: padded
  append(body, le32(3));
  append(body, {'a', 'b', 'c', 0});
  append(body, {'d', 'a', 't', 'a'});
  append(body, le32(static_cast<std::uint32_t>(smf.size())));
  append(body, smf);
  append(riff, le32(static_cast<std::uint32_t>(body.size())));
  append(riff, body);
  const auto f = read_expecting(riff, {});
  EXPECT_TRUE(f.rmid);
  ASSERT_EQ(f.tracks.size(), 1u);
  EXPECT_EQ(f.tracks[0].events[0].data1, 60);
}

TEST(Reader, UnknownChunksAreSkippedAndKept) {
  Bytes bytes = header(1, 2);
  append(bytes, track(kEndOfTrack));
  append(bytes, chunk("XFIH", {1, 2, 3}));
  append(bytes, track(with_eot({0x00, 0x90, 60, 1})));
  const auto f = read_expecting(bytes, {});
  ASSERT_EQ(f.tracks.size(), 2u);
  ASSERT_EQ(f.unknown_chunks.size(), 1u);
  EXPECT_EQ(std::string(f.unknown_chunks[0].id.data(), 4), "XFIH");
  EXPECT_EQ(f.unknown_chunks[0].data, (Bytes{1, 2, 3}));
  EXPECT_EQ(f.unknown_chunks[0].before_track, 1u);
}

TEST(Reader, LongerHeaderIsAccepted) {
  Bytes bytes = chunk("MThd", {0, 0, 0, 1, 0, 96, 0xAB, 0xCD});  // two extra header bytes
  append(bytes, track(kEndOfTrack));
  const auto f = read_expecting(bytes, {});
  EXPECT_EQ(f.tracks.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Malformations: lenient repairs (warning with kind, track, offset); strict refuses.

TEST(Malformed, DataByteOver127IsClamped) {
  const Bytes bytes = file(0, {with_eot({0x00, 0x90, 0xBC, 0x40})});
  const auto f = read_expecting(bytes, {Malformation::DataByteOver127});
  EXPECT_EQ(f.tracks[0].events[0].data1, 127);
  EXPECT_EQ(f.tracks[0].events[0].data2, 0x40);
  EXPECT_EQ(f.warnings[0].offset, kTrackBody + 2);
  EXPECT_EQ(f.warnings[0].track, 0);
  expect_strict_error(bytes, Malformation::DataByteOver127, kTrackBody + 2);
}

TEST(Malformed, RunningStatusAfterMeta) {
  const Bytes bytes = file(0, {with_eot({0x00, 0x90, 60, 64, 0x00, 0xFF, 0x01, 0x01, 'x', 0x00, 62, 64})});
  const auto f = read_expecting(bytes, {Malformation::RunningStatusAfterMetaOrSysEx});
  ASSERT_EQ(f.tracks[0].events.size(), 4u);
  EXPECT_EQ(f.tracks[0].events[2].status, 0x90);
  EXPECT_EQ(f.tracks[0].events[2].data1, 62);
  EXPECT_EQ(f.warnings[0].offset, kTrackBody + 10);
  expect_strict_error(bytes, Malformation::RunningStatusAfterMetaOrSysEx, kTrackBody + 10);
}

TEST(Malformed, RunningStatusAfterSysEx) {
  const Bytes bytes = file(0, {with_eot({0x00, 0x91, 60, 64, 0x00, 0xF0, 0x01, 0xF7, 0x00, 62, 64})});
  const auto f = read_expecting(bytes, {Malformation::RunningStatusAfterMetaOrSysEx});
  EXPECT_EQ(f.tracks[0].events[2].status, 0x91);
  expect_strict_error(bytes, Malformation::RunningStatusAfterMetaOrSysEx, kTrackBody + 9);
}

TEST(Malformed, DataByteWithoutRunningStatusIsSkipped) {
  const Bytes bytes = file(0, {with_eot({0x00, 0x3C, 0x00, 0x90, 60, 64})});
  const auto f = read_expecting(bytes, {Malformation::NoRunningStatus});
  ASSERT_EQ(f.tracks[0].events.size(), 2u);
  EXPECT_EQ(f.tracks[0].events[0].data1, 60);
  expect_strict_error(bytes, Malformation::NoRunningStatus, kTrackBody + 1);
}

TEST(Malformed, StrayStatusBytesAreKeptAsSystemEvents) {
  const Bytes bytes = file(0, {with_eot({0x00, 0xF2, 0x01, 0x02,  // song position, 2 data bytes
                                         0x00, 0xF8,              // clock, no data
                                         0x00, 0xF1, 0x05,        // quarter frame, 1 data byte
                                         0x00, 0x90, 60, 64})});
  const auto f = read_expecting(bytes, {Malformation::StrayStatusByte, Malformation::StrayStatusByte,
                                        Malformation::StrayStatusByte});
  const auto& ev = f.tracks[0].events;
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].status, 0xF2);
  EXPECT_EQ(ev[0].data1, 1);
  EXPECT_EQ(ev[0].data2, 2);
  EXPECT_TRUE(ev[0].is_system());
  EXPECT_EQ(ev[1].status, 0xF8);
  EXPECT_EQ(ev[2].data1, 5);
  EXPECT_EQ(ev[3].data1, 60);
  EXPECT_EQ(f.warnings[1].offset, kTrackBody + 5);
  expect_strict_error(bytes, Malformation::StrayStatusByte, kTrackBody + 1);
}

TEST(Malformed, MissingEndOfTrackIsAdded) {
  const Bytes bytes = file(0, {{0x00, 0x90, 60, 64, 0x30, 0x80, 60, 0}});
  const auto f = read_expecting(bytes, {Malformation::MissingEndOfTrack});
  const auto& ev = f.tracks[0].events;
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev[2].is_meta(midi::meta::kEndOfTrack));
  EXPECT_EQ(ev[2].tick, 0x30u);
  expect_strict_error(bytes, Malformation::MissingEndOfTrack, bytes.size());
}

TEST(Malformed, ChunkLengthTooShortReadsOnToEndOfTrack) {
  const Bytes body = with_eot({0x00, 0x90, 60, 64, 0x10, 0x80, 60, 0});
  Bytes bytes = header(0, 1);
  append(bytes, chunk("MTrk", body, 4));  // declares only the first event
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  ASSERT_EQ(f.tracks[0].events.size(), 3u);
  EXPECT_EQ(f.tracks[0].events[1].tick, 0x10u);
  EXPECT_EQ(f.warnings[0].offset, kHeaderSize + 4);  // the length field
  expect_strict_error(bytes, Malformation::ChunkLengthMismatch, kHeaderSize + 4);
}

TEST(Malformed, ChunkCutMidEventBeforeTheNextChunkDropsTheEvent) {
  Bytes bytes = header(1, 2);
  append(bytes, track({0x00, 0x90, 60, 64, 0x10, 0x80}));  // second event cut by the chunk's end
  append(bytes, track(kEndOfTrack));
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  ASSERT_EQ(f.tracks.size(), 2u);
  ASSERT_EQ(f.tracks[0].events.size(), 2u);  // note on + added End of Track
  EXPECT_TRUE(f.tracks[0].events[1].is_meta(midi::meta::kEndOfTrack));
  EXPECT_EQ(f.warnings[0].offset, kTrackBody + 4);
  expect_strict_error(bytes, Malformation::ChunkLengthMismatch, kTrackBody + 4);
}

TEST(Malformed, ChunkLengthPastEndOfFileWithEndOfTrack) {
  Bytes bytes = header(0, 1);
  append(bytes, chunk("MTrk", with_eot({0x00, 0x90, 60, 64}), 1000));
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  EXPECT_EQ(f.tracks[0].events.size(), 2u);
  expect_strict_error(bytes, Malformation::ChunkLengthMismatch, kHeaderSize + 4);
}

TEST(Malformed, ChunkLengthTooLongSwallowingTheNextTrack) {
  Bytes bytes = header(1, 2);
  const Bytes first = with_eot({0x00, 0x90, 60, 64});
  const Bytes second = track(with_eot({0x00, 0x91, 61, 64}));
  append(bytes, chunk("MTrk", first, static_cast<std::uint32_t>(first.size() + second.size())));
  append(bytes, second);
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  ASSERT_EQ(f.tracks.size(), 2u);
  EXPECT_EQ(f.tracks[1].events[0].status, 0x91);
}

TEST(Malformed, BytesAfterEndOfTrackInsideTheChunk) {
  const Bytes bytes = file(0, {{0x00, 0xFF, 0x2F, 0x00, 0x00, 0x00}});
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  EXPECT_EQ(f.warnings[0].offset, kTrackBody + 4);
}

TEST(Malformed, BadKeySignature) {
  for (const Bytes& key : {Bytes{0x08, 0x00}, Bytes{0xF8, 0x00}, Bytes{0x00, 0x02}}) {
    const Bytes bytes = file(0, {with_eot({0x00, 0xFF, 0x59, 0x02, key[0], key[1]})});
    const auto f = read_expecting(bytes, {Malformation::BadKeySignature});
    const auto& t = f.tracks[0];
    EXPECT_FALSE(midi::key_signature_of(t, t.events[0]));  // kept raw, not decoded
    EXPECT_EQ(t.data(t.events[0])[0], key[0]);
    expect_strict_error(bytes, Malformation::BadKeySignature, kTrackBody);
  }
}

TEST(Malformed, BadMetaLength) {
  const Bytes bytes = file(0, {with_eot({0x00, 0xFF, 0x51, 0x02, 0x07, 0xA1})});
  const auto f = read_expecting(bytes, {Malformation::BadMetaLength});
  EXPECT_FALSE(midi::tempo_of(f.tracks[0], f.tracks[0].events[0]));
  expect_strict_error(bytes, Malformation::BadMetaLength, kTrackBody);
}

TEST(Malformed, TruncatedFileKeepsWhatWasRead) {
  const Bytes whole = file(0, {with_eot({0x00, 0x90, 60, 64, 0x10, 0x80, 60, 0})});
  const Bytes cut(whole.begin(), whole.begin() + kTrackBody + 6);  // inside the note-off
  const auto f = read_expecting(cut, {Malformation::TruncatedFile});
  ASSERT_EQ(f.tracks[0].events.size(), 2u);
  EXPECT_EQ(f.tracks[0].events[0].data1, 60);
  EXPECT_TRUE(f.tracks[0].events[1].is_meta(midi::meta::kEndOfTrack));
  EXPECT_EQ(f.warnings[0].offset, kTrackBody + 4);  // where the cut event starts
  expect_strict_error(cut, Malformation::TruncatedFile, kTrackBody + 4);
}

TEST(Malformed, TruncatedBetweenEvents) {
  const Bytes whole = file(0, {with_eot({0x00, 0x90, 60, 64, 0x10, 0x80, 60, 0})});
  const Bytes cut(whole.begin(), whole.begin() + kTrackBody + 8);
  read_expecting(cut, {Malformation::TruncatedFile});
}

TEST(Malformed, WrongTrackCount) {
  Bytes bytes = header(1, 3);
  append(bytes, track(kEndOfTrack));
  const auto f = read_expecting(bytes, {Malformation::WrongTrackCount});
  EXPECT_EQ(f.tracks.size(), 1u);
  expect_strict_error(bytes, Malformation::WrongTrackCount, 10);
}

TEST(Malformed, Format0WithTwoTracks) {
  const Bytes bytes = file(0, {kEndOfTrack, kEndOfTrack});
  const auto f = read_expecting(bytes, {Malformation::WrongTrackCount});
  EXPECT_EQ(f.tracks.size(), 2u);
  EXPECT_EQ(f.format, 1);  // the tracks play together
}

TEST(Malformed, OverlongVlqSaturates) {
  const Bytes bytes = file(0, {with_eot({0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 60, 64})});
  const auto f = read_expecting(bytes, {Malformation::OverlongVlq});
  EXPECT_EQ(f.tracks[0].events[0].tick, 0x0FFFFFFFu);
  EXPECT_EQ(f.tracks[0].events[0].data1, 60);
  expect_strict_error(bytes, Malformation::OverlongVlq, kTrackBody);
}

TEST(Malformed, TrailingBytesAfterLastChunk) {
  Bytes bytes = file(0, {kEndOfTrack});
  bytes.push_back(0x00);
  const auto f = read_expecting(bytes, {Malformation::TrailingBytes});
  EXPECT_EQ(f.warnings[0].offset, bytes.size() - 1);
  expect_strict_error(bytes, Malformation::TrailingBytes, bytes.size() - 1);
}

TEST(Malformed, JunkBetweenChunksIsSkippedToTheNextTrack) {
  Bytes bytes = header(1, 2);
  append(bytes, track(kEndOfTrack));
  append(bytes, {0x00, 0x01, 0x02});
  append(bytes, track(with_eot({0x00, 0x90, 60, 1})));
  const auto f = read_expecting(bytes, {Malformation::ChunkLengthMismatch});
  EXPECT_EQ(f.tracks.size(), 2u);
}

TEST(Malformed, PolicyCanBeSetPerMalformation) {
  const Bytes bytes = file(0, {{0x00, 0x90, 0xBC, 0x40}});  // data byte > 127 and no End of Track
  auto options = midi::ReadOptions::strict().on(Malformation::DataByteOver127, midi::Policy::Repair);
  expect_strict_error(bytes, Malformation::DataByteOver127, kTrackBody + 2);
  try {
    midi::read(bytes, options);
    FAIL();
  } catch (const midi::ParseError& e) {
    EXPECT_EQ(e.diagnostic().kind, Malformation::MissingEndOfTrack);
  }
  options.on(Malformation::MissingEndOfTrack, midi::Policy::Repair);
  EXPECT_EQ(midi::read(bytes, options).warnings.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Unreadable files: always an error that says what was expected and what was found.

TEST(Unreadable, EmptyFile) { expect_fatal({}, "empty file"); }
TEST(Unreadable, NotMidi) { expect_fatal({'R', 'I', 'F', 'X', 0, 0}, "expected 'MThd', found 'RIFX'"); }
TEST(Unreadable, BinaryJunkShownAsHex) { expect_fatal({0x00, 0x01, 0xFF}, "found 00 01 FF"); }
TEST(Unreadable, ShortHeader) { expect_fatal({'M', 'T', 'h', 'd', 0, 0, 0, 6, 0}, "header chunk cut short"); }
TEST(Unreadable, HeaderLengthTooSmall) {
  expect_fatal(chunk("MThd", {0, 0, 0, 1, 0, 96}, 4), "header chunk length is 4");
}
TEST(Unreadable, UnsupportedFormat) { expect_fatal(header(3, 1), "unsupported format 3"); }
TEST(Unreadable, ZeroDivision) { expect_fatal(header(0, 1, 0), "invalid time division"); }
TEST(Unreadable, BadSmpteRate) { expect_fatal(header(0, 1, 0xE528), "invalid time division"); }  // -27 fps
TEST(Unreadable, RmidWithoutData) {
  Bytes riff = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'R', 'M', 'I', 'D'};
  expect_fatal(riff, "no 'data' chunk");
}

TEST(Unreadable, ErrorNamesTheSource) {
  try {
    midi::read(Bytes{1, 2, 3}, midi::ReadOptions().source_name("song.mid"));
    FAIL();
  } catch (const midi::ParseError& e) {
    EXPECT_EQ(e.source(), "song.mid");
    EXPECT_EQ(std::string(e.what()).rfind("song.mid: byte 0: ", 0), 0u) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Robustness: every prefix and every single-byte change of a rich file reads without crashing
// (lenient mode repairs or throws ParseError; nothing else). Run under ASan+UBSan by test.sh.

Bytes rich_file() {
  Bytes t1 = {0x00, 0xFF, 0x03, 0x04, 'T', 'e', 's', 't', 0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,
              0x00, 0xFF, 0x59, 0x02, 0x00, 0x00, 0x00, 0xF0, 0x03, 0x7E, 0x7F, 0xF7};
  Bytes t2 = {0x00, 0xC0, 0x05, 0x00, 0x90, 60, 100, 0x81, 0x00, 62, 100, 0x60, 0x80, 60, 0,
              0x00, 0xB0, 64, 127, 0x00, 0xE0, 0x10, 0x40, 0x83, 0x60, 0x90, 62, 0};
  return file(1, {with_eot(t1), with_eot(t2)});
}

void read_any(const Bytes& bytes) {
  try {
    const auto f = midi::read(bytes);
    for (const auto& t : f.tracks) ASSERT_FALSE(t.events.empty());
  } catch (const midi::ParseError&) {
  }
}

TEST(Robustness, EveryPrefix) {
  const Bytes bytes = rich_file();
  for (std::size_t n = 0; n <= bytes.size(); ++n) read_any(Bytes(bytes.begin(), bytes.begin() + n));
}

TEST(Robustness, EverySingleByteValueAtEveryPosition) {
  const Bytes bytes = rich_file();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int v : {0x00, 0x7F, 0x80, 0xF0, 0xF7, 0xFF}) {
      Bytes mutated = bytes;
      mutated[i] = static_cast<std::uint8_t>(v);
      read_any(mutated);
    }
  }
}

}  // namespace

namespace {

TEST(Malformed, MoreTrackChunksThanTheHeaderCanCount) {
  Bytes bytes = header(1, 0xFFFF);
  const Bytes one = track(kEndOfTrack);
  for (int i = 0; i < 0xFFFF + 2; ++i) append(bytes, one);
  const auto f = midi::read(bytes);
  EXPECT_EQ(f.tracks.size(), 0xFFFFu);
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_EQ(f.warnings[0].kind, Malformation::WrongTrackCount);
  EXPECT_EQ(midi::extract_notes(f).notes.size(), 0u);  // every track index fits the notes' 16 bits
}

}  // namespace

namespace {

// Found by the fuzzer: two files glued together. Only the first chunk is the header; the
// second 'MThd' is kept as an unknown chunk and its tracks read on; all of it writes back.
TEST(Reader, SecondHeaderIsKeptAsAnUnknownChunkAndWritesBack) {
  Bytes bytes = file(1, {with_eot({0x00, 0x90, 60, 1})});
  append(bytes, file(1, {with_eot({0x00, 0x91, 61, 1})}));
  const auto f = read_expecting(bytes, {Malformation::WrongTrackCount});
  ASSERT_EQ(f.tracks.size(), 2u);
  ASSERT_EQ(f.unknown_chunks.size(), 1u);
  EXPECT_EQ(std::string(f.unknown_chunks[0].id.data(), 4), "MThd");
  const auto again = midi::read(midi::write(f));
  EXPECT_EQ(again.tracks.size(), 2u);
  EXPECT_EQ(again.unknown_chunks.size(), 1u);
}

}  // namespace
