// Writer tests against hand-assembled bytes (smf_bytes.hpp builds them independently of the
// writer): header and chunk layout, minimal delta times, running status and what cancels it,
// End of Track repair, refusals, unknown chunks, the RMID wrapper, and atomic saving.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

#include "libmidi/io.hpp"
#include "smf_bytes.hpp"

namespace {

using namespace smf_bytes;
using midi::Event;
using midi::MidiFile;
using midi::Track;
using midi::WriteOptions;

MidiFile one_track_file(Track track, std::uint16_t ppq = 96) {
  MidiFile f;
  f.format = 0;
  f.division = midi::TimeDivision::ppq(ppq);
  f.tracks.push_back(std::move(track));
  return f;
}

// The body of the only track of a format 0 file the writer produced (after checking the
// header and the chunk length).
Bytes track_body(const Bytes& smf) {
  EXPECT_GE(smf.size(), 22u);
  if (smf.size() < 22) return {};
  const std::uint32_t length = (smf[18] << 24) | (smf[19] << 16) | (smf[20] << 8) | smf[21];
  EXPECT_EQ(std::string(smf.begin() + 14, smf.begin() + 18), "MTrk");
  EXPECT_EQ(smf.size(), 22u + length);
  return Bytes(smf.begin() + 22, smf.end());
}

Bytes body_with(const Track& t, const WriteOptions& options = {}) {
  return track_body(midi::write(one_track_file(t), options));
}

// ---------------------------------------------------------------------------------------------
// Layout

TEST(Writer, TinyFileByteForByte) {
  Track t;
  t.add_tempo(0, 500000);
  t.add_channel(0, 0x90, 60, 100);
  t.add_channel(96, 0x90, 60, 0);  // note-on velocity 0 as note-off: running status applies
  t.add_end_of_track(96);
  const Bytes expected = file(0, {{
                                     0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,  // tempo 500000
                                     0x00, 0x90, 0x3C, 0x64,                    // note on 60 100
                                     0x60, 0x3C, 0x00,                          // Δ96, running status
                                     0x00, 0xFF, 0x2F, 0x00,                    // End of Track
                                 }},
                              96);
  EXPECT_EQ(midi::write(one_track_file(t)), expected);
}

TEST(Writer, HeaderFields) {
  MidiFile f;
  f.format = 2;
  f.division = midi::TimeDivision::frames(25, 40);
  f.tracks.resize(3);
  const Bytes out = midi::write(f);
  const Bytes expected_header = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 2, 0, 3, 0xE7, 0x28};
  ASSERT_GE(out.size(), 14u);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 14), expected_header);
  // Three empty tracks, each just End of Track.
  EXPECT_EQ(out, file(2, {kEndOfTrack, kEndOfTrack, kEndOfTrack}, 0xE728));
}

TEST(Writer, RunningStatusOnAndOff) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  t.add_channel(0, 0x90, 64, 100);
  t.add_channel(0, 0x91, 67, 100);  // other channel: new status
  t.add_channel(10, 0x91, 67, 0);
  t.add_channel(10, 0xC1, 5);
  t.add_channel(10, 0xC1, 6);
  t.add_end_of_track(10);
  EXPECT_EQ(body_with(t), (Bytes{0x00, 0x90, 60, 100, 0x00, 64, 100, 0x00, 0x91, 67, 100, 0x0A, 67, 0, 0x00, 0xC1,
                                 5, 0x00, 6, 0x00, 0xFF, 0x2F, 0x00}));
  EXPECT_EQ(body_with(t, WriteOptions().running_status(false)),
            (Bytes{0x00, 0x90, 60, 100, 0x00, 0x90, 64, 100, 0x00, 0x91, 67, 100, 0x0A, 0x91, 67, 0, 0x00, 0xC1, 5,
                   0x00, 0xC1, 6, 0x00, 0xFF, 0x2F, 0x00}));
}

TEST(Writer, MetaSysExAndSystemEventsCancelRunningStatus) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  t.add_meta_text(0, midi::meta::kMarker, "A");
  t.add_channel(0, 0x90, 61, 100);  // after a meta: status byte again
  t.add_sysex(0, Bytes{0x01, 0xF7});
  t.add_channel(0, 0x90, 62, 100);  // after SysEx: again
  t.add_sysex(0, Bytes{0x02}, true);
  t.add_channel(0, 0x90, 63, 100);  // after an F7 escape: again
  t.add_channel(0, 0xF2, 0x10, 0x20);
  t.add_channel(0, 0x90, 64, 100);  // after a stray system event: again
  t.add_channel(0, 0xF8, 0);
  t.add_channel(0, 0x90, 65, 100);
  t.add_channel(0, 0x90, 66, 100);  // nothing in between: omitted
  const Bytes expected = {
      0x00, 0x90, 60,   100,  0x00, 0xFF, 0x06, 0x01, 'A',  0x00, 0x90, 61,   100,  0x00, 0xF0, 0x02, 0x01,
      0xF7, 0x00, 0x90, 62,   100,  0x00, 0xF7, 0x01, 0x02, 0x00, 0x90, 63,   100,  0x00, 0xF2, 0x10, 0x20,
      0x00, 0x90, 64,   100,  0x00, 0xF8, 0x00, 0x90, 65,   100,  0x00, 66,   100,  0x00, 0xFF, 0x2F, 0x00,
  };
  EXPECT_EQ(body_with(t), expected);
}

TEST(Writer, DeltaTimesAreMinimalVlqs) {
  // Δ = 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 0x0FFFFFFF, between program changes.
  const std::vector<std::pair<std::uint32_t, Bytes>> cases = {
      {0x00, {0x00}},
      {0x7F, {0x7F}},
      {0x80, {0x81, 0x00}},
      {0x3FFF, {0xFF, 0x7F}},
      {0x4000, {0x81, 0x80, 0x00}},
      {0x1FFFFF, {0xFF, 0xFF, 0x7F}},
      {0x200000, {0x81, 0x80, 0x80, 0x00}},
      {0x0FFFFFFF, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const auto& [delta, vlq] : cases) {
    Track t;
    t.add_channel(delta, 0xC0, 1);
    Bytes expected = vlq;
    append(expected, {0xC0, 0x01, 0x00, 0xFF, 0x2F, 0x00});
    EXPECT_EQ(body_with(t), expected) << "delta " << delta;
  }
}

TEST(Writer, PayloadLengthsAreVlqs) {
  Track t;
  t.add_meta(0, midi::meta::kText, Bytes(0x80, 'x'));
  t.add_sysex(0, Bytes(0x4000, 0x01));
  const Bytes body = body_with(t);
  // 00 FF 01 <81 00> 128×'x'
  ASSERT_GE(body.size(), 5u + 0x80 + 5u);
  EXPECT_EQ(Bytes(body.begin(), body.begin() + 5), (Bytes{0x00, 0xFF, 0x01, 0x81, 0x00}));
  // then 00 F0 <81 80 00> 16384 bytes
  const auto sysex = body.begin() + 5 + 0x80;
  EXPECT_EQ(Bytes(sysex, sysex + 5), (Bytes{0x00, 0xF0, 0x81, 0x80, 0x00}));
  EXPECT_EQ(body.size(), 5u + 0x80 + 5u + 0x4000 + 4u);
}

TEST(Writer, DeltaTooLargeForAVlqThrows) {
  Track t;
  t.add_channel(0x10000000, 0xC0, 1);
  EXPECT_THROW(midi::write(one_track_file(t)), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Repair: End of Track

TEST(Writer, EndOfTrackAppendedAtTheLastTick) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  t.add_channel(500, 0x80, 60, 0);
  EXPECT_EQ(body_with(t), (Bytes{0x00, 0x90, 60, 100, 0x83, 0x74, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00}));
  EXPECT_EQ(body_with(Track{}), kEndOfTrack);
}

TEST(Writer, EndOfTrackKeptWhenLastAndDroppedInTheMiddle) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  t.add_end_of_track(10);  // a reader would stop here and lose the note-off
  t.add_channel(20, 0x80, 60, 0);
  t.add_end_of_track(30);
  // The note-off's delta counts from the last event written (tick 0), not from the dropped one.
  EXPECT_EQ(body_with(t), (Bytes{0x00, 0x90, 60, 100, 0x14, 0x80, 60, 0, 0x0A, 0xFF, 0x2F, 0x00}));
}

// ---------------------------------------------------------------------------------------------
// Refusals

TEST(Writer, DecreasingTicksThrow) {
  Track t;
  t.events.push_back(Event{100, 0, 0, 0x90, 60, 100, 0});
  t.events.push_back(Event{99, 0, 0, 0x80, 60, 0, 0});
  try {
    midi::write(one_track_file(t));
    FAIL() << "decreasing ticks were written";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
  }
}

TEST(Writer, DecreasingTicksAroundADroppedEndOfTrackThrow) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  t.add_end_of_track(50);
  t.events.push_back(Event{40, 0, 0, 0x80, 60, 0, 0});
  EXPECT_THROW(midi::write(one_track_file(t)), std::invalid_argument);
}

TEST(Writer, FormatAndTrackCountAreChecked) {
  MidiFile f;
  f.format = 0;
  f.tracks.resize(2);
  EXPECT_THROW(midi::write(f), std::invalid_argument);
  f.tracks.clear();
  EXPECT_THROW(midi::write(f), std::invalid_argument);
  f.format = 3;
  f.tracks.resize(1);
  EXPECT_THROW(midi::write(f), std::invalid_argument);
  f.format = 1;
  EXPECT_NO_THROW(midi::write(f));
  f.tracks.clear();  // a format 1 file with no tracks is legal, if useless
  EXPECT_NO_THROW(midi::write(f));
}

TEST(Writer, InvalidDivisionThrows) {
  MidiFile f = one_track_file(Track{});
  f.division = midi::TimeDivision::ppq(0);
  EXPECT_THROW(midi::write(f), std::invalid_argument);
  f.division = midi::TimeDivision::frames(23, 10);
  EXPECT_THROW(midi::write(f), std::invalid_argument);
}

TEST(Writer, DataBytesOver127Throw) {
  Track t;
  t.events.push_back(Event{0, 0, 0, 0x90, 60, 0x80, 0});
  EXPECT_THROW(midi::write(one_track_file(t)), std::invalid_argument);
  Track u;
  u.events.push_back(Event{0, 0, 0, 0xF3, 0x90, 0, 0});
  EXPECT_THROW(midi::write(one_track_file(u)), std::invalid_argument);
  // The second byte of a one-byte message is not written, so it is not checked.
  Track v;
  v.events.push_back(Event{0, 0, 0, 0xC0, 5, 0xFF, 0});
  EXPECT_EQ(body_with(v), (Bytes{0x00, 0xC0, 5, 0x00, 0xFF, 0x2F, 0x00}));
}

TEST(Writer, PayloadOutsideTheBufferThrows) {
  Track t;
  t.events.push_back(Event{0, 2, 5, midi::kMeta, midi::meta::kText, 0, 0});
  t.payload = {1, 2, 3};
  EXPECT_THROW(midi::write(one_track_file(t)), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Unknown chunks

MidiFile file_with_unknown_chunks() {
  MidiFile f;
  f.format = 1;
  f.division = midi::TimeDivision::ppq(96);
  f.tracks.resize(2);
  f.unknown_chunks.push_back({{'X', 'F', 'I', 'H'}, {1, 2, 3}, 0});
  f.unknown_chunks.push_back({{'A', 'B', 'C', 'D'}, {}, 1});
  f.unknown_chunks.push_back({{'Z', 'Z', 'Z', '1'}, {9}, 2});
  f.unknown_chunks.push_back({{'Z', 'Z', 'Z', '2'}, {8}, 7});  // past the end: after the last track
  return f;
}

TEST(Writer, UnknownChunksGoBeforeTheirTrack) {
  Bytes expected = header(1, 2, 96);
  append(expected, chunk("XFIH", {1, 2, 3}));
  append(expected, track(kEndOfTrack));
  append(expected, chunk("ABCD", {}));
  append(expected, track(kEndOfTrack));
  append(expected, chunk("ZZZ1", {9}));
  append(expected, chunk("ZZZ2", {8}));
  EXPECT_EQ(midi::write(file_with_unknown_chunks()), expected);
}

TEST(Writer, UnknownChunksCanBeLeftOut) {
  EXPECT_EQ(midi::write(file_with_unknown_chunks(), WriteOptions().keep_unknown_chunks(false)),
            file(1, {kEndOfTrack, kEndOfTrack}, 96));
}

TEST(Writer, UnknownChunkMayNotPoseAsATrack) {
  MidiFile f = file_with_unknown_chunks();
  f.unknown_chunks[1].id = {'M', 'T', 'r', 'k'};
  EXPECT_THROW(midi::write(f), std::invalid_argument);
  f.unknown_chunks[1].id = {'A', 'B', '\x01', 'D'};  // not printable: no reader would find it
  EXPECT_THROW(midi::write(f), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// RMID

TEST(Writer, RmidWrapsTheSmfInARiffDataChunk) {
  Track t;
  t.add_channel(0, 0xC0, 5);  // 3 bytes + End of Track: a 29-byte SMF, odd, so padded
  const MidiFile f = one_track_file(t);
  const Bytes smf = midi::write(f);
  ASSERT_EQ(smf.size(), 29u);
  Bytes expected = {'R', 'I', 'F', 'F'};
  append(expected, le32(4 + 8 + 29 + 1));
  append(expected, {'R', 'M', 'I', 'D', 'd', 'a', 't', 'a'});
  append(expected, le32(29));
  append(expected, smf);
  expected.push_back(0);
  EXPECT_EQ(midi::write(f, WriteOptions().rmid(true)), expected);
}

TEST(Writer, RmidOfAnEvenSmfHasNoPadByte) {
  const MidiFile f = one_track_file(Track{});
  const Bytes smf = midi::write(f);
  ASSERT_EQ(smf.size(), 26u);
  Bytes expected = {'R', 'I', 'F', 'F'};
  append(expected, le32(4 + 8 + 26));
  append(expected, {'R', 'M', 'I', 'D', 'd', 'a', 't', 'a'});
  append(expected, le32(26));
  append(expected, smf);
  EXPECT_EQ(midi::write(f, WriteOptions().rmid(true)), expected);
}

// ---------------------------------------------------------------------------------------------
// Atomic save

class AtomicSave : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::filesystem::temp_directory_path() /
              ("libmidi-writer-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  static Bytes contents(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(folder_))
      out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::filesystem::path folder_;
};

TEST_F(AtomicSave, WritesTheFileAndLeavesNoTemporary) {
  Track t;
  t.add_channel(0, 0x90, 60, 100);
  const MidiFile f = one_track_file(t);
  const auto path = folder_ / "song.mid";
  midi::save(f, path);
  EXPECT_EQ(contents(path), midi::write(f));
  EXPECT_EQ(names(), std::vector<std::string>{"song.mid"});
}

TEST_F(AtomicSave, ReplacesOldContentAndKeepsPermissions) {
  const auto path = folder_ / "song.mid";
  {
    std::ofstream old(path, std::ios::binary);
    old << std::string(5000, 'o');  // longer than the new content: no tail may survive
  }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  const MidiFile f = one_track_file(Track{});
  midi::save(f, path, WriteOptions().rmid(true));
  EXPECT_EQ(contents(path), midi::write(f, WriteOptions().rmid(true)));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(names(), std::vector<std::string>{"song.mid"});
}

TEST_F(AtomicSave, EmptyContentAndRepeatedSaves) {
  const auto path = folder_ / "empty.bin";
  midi::write_file_atomically(path, {});
  EXPECT_TRUE(contents(path).empty());
  for (int i = 0; i < 5; ++i) {
    const Bytes b(static_cast<std::size_t>(i) * 1000, static_cast<std::uint8_t>(i));
    midi::write_file_atomically(path, b);
    EXPECT_EQ(contents(path), b);
  }
  EXPECT_EQ(names(), std::vector<std::string>{"empty.bin"});
}

TEST_F(AtomicSave, MissingFolderThrowsNamingThePath) {
  const auto path = folder_ / "no" / "such" / "song.mid";
  try {
    midi::write_file_atomically(path, Bytes{1, 2, 3});
    FAIL() << "wrote into a folder that does not exist";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
  }
  EXPECT_TRUE(names().empty());
}

TEST_F(AtomicSave, FailedRenameRemovesTheTemporary) {
  // The target is a non-empty folder: rename(2) must fail, after the data was written.
  const auto path = folder_ / "taken";
  std::filesystem::create_directories(path / "inside");
  try {
    midi::write_file_atomically(path, Bytes{1, 2, 3});
    FAIL() << "renamed a file over a non-empty folder";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(names(), std::vector<std::string>{"taken"});
}

TEST_F(AtomicSave, RelativePathInTheCurrentFolder) {
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(folder_);
  midi::write_file_atomically("here.mid", Bytes{4, 5});
  std::filesystem::current_path(previous);
  EXPECT_EQ(contents(folder_ / "here.mid"), (Bytes{4, 5}));
}

}  // namespace
