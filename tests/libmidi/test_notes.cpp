// Note extraction tests: pairing (FIFO, velocity-0 note-ons, stray note-offs, notes never
// closed), programs across tracks, the drum channel, the sustain pedal, control changes and
// pitch bends, and per-track time in format 2 files. Expected notes are written out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

#include "libmidi/notes.hpp"

namespace {

using midi::MidiFile;
using midi::Note;
using midi::NoteOptions;
using midi::Track;

MidiFile file_with(int format, std::size_t tracks, std::uint16_t ppq = 96) {
  MidiFile f;
  f.format = format;
  f.division = midi::TimeDivision::ppq(ppq);
  f.tracks.resize(tracks);
  return f;
}

// (pitch, channel, track, start_tick, end_tick): what most tests check.
using Span = std::tuple<int, int, int, std::uint64_t, std::uint64_t>;
std::vector<Span> spans(const midi::Performance& p) {
  std::vector<Span> out;
  for (const Note& n : p.notes) out.emplace_back(n.pitch, n.channel, n.track, n.start_tick, n.end_tick);
  return out;
}

void on(Track& t, std::uint64_t tick, int channel, int pitch, int velocity = 100) {
  t.add_channel(tick, static_cast<std::uint8_t>(0x90 | channel), static_cast<std::uint8_t>(pitch),
                static_cast<std::uint8_t>(velocity));
}
void off(Track& t, std::uint64_t tick, int channel, int pitch) {
  t.add_channel(tick, static_cast<std::uint8_t>(0x80 | channel), static_cast<std::uint8_t>(pitch), 64);
}
void pedal(Track& t, std::uint64_t tick, int channel, int value) {
  t.add_channel(tick, static_cast<std::uint8_t>(0xB0 | channel), 64, static_cast<std::uint8_t>(value));
}
void program(Track& t, std::uint64_t tick, int channel, int number) {
  t.add_channel(tick, static_cast<std::uint8_t>(0xC0 | channel), static_cast<std::uint8_t>(number));
}

// ---------------------------------------------------------------------------------------------
// Pairing

TEST(Notes, OneNoteWithTimes) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 3, 60, 90);
  off(f.tracks[0], 96, 3, 60);
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.notes.size(), 1u);
  const Note& n = p.notes[0];
  EXPECT_EQ(n.pitch, 60);
  EXPECT_EQ(n.velocity, 90);
  EXPECT_EQ(n.channel, 3);
  EXPECT_EQ(n.program, 0);
  EXPECT_EQ(n.track, 0);
  EXPECT_FALSE(n.drum);
  EXPECT_EQ(n.start_tick, 0u);
  EXPECT_EQ(n.end_tick, 96u);
  EXPECT_EQ(n.start_seconds, 0.0);
  EXPECT_EQ(n.end_seconds, 0.5);  // one quarter at the default 120 bpm
  EXPECT_TRUE(p.warnings.empty());
}

TEST(Notes, VelocityZeroNoteOnIsANoteOff) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60);
  on(f.tracks[0], 48, 0, 60, 0);
  EXPECT_EQ(spans(midi::extract_notes(f)), (std::vector<Span>{{60, 0, 0, 0, 48}}));
}

TEST(Notes, OverlappingNotesOfOnePitchCloseFirstInFirstOut) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60, 10);
  on(f.tracks[0], 10, 0, 60, 20);
  off(f.tracks[0], 20, 0, 60);  // closes the one from tick 0
  off(f.tracks[0], 30, 0, 60);  // closes the one from tick 10
  const auto p = midi::extract_notes(f);
  EXPECT_EQ(spans(p), (std::vector<Span>{{60, 0, 0, 0, 20}, {60, 0, 0, 10, 30}}));
  EXPECT_EQ(p.notes[0].velocity, 10);
  EXPECT_EQ(p.notes[1].velocity, 20);
}

TEST(Notes, PairingIsPerTrackChannelAndPitch) {
  MidiFile f = file_with(1, 2);
  on(f.tracks[0], 0, 0, 60);
  on(f.tracks[0], 0, 1, 60);
  on(f.tracks[0], 0, 0, 61);
  off(f.tracks[1], 5, 0, 60);  // another track: does not close track 0's note
  off(f.tracks[0], 10, 1, 60);
  off(f.tracks[0], 20, 0, 61);
  off(f.tracks[0], 30, 0, 60);
  EXPECT_EQ(spans(midi::extract_notes(f)),
            (std::vector<Span>{{60, 0, 0, 0, 30}, {61, 0, 0, 0, 20}, {60, 1, 0, 0, 10}}));  // channel before pitch
}

TEST(Notes, NoteOffWithoutAnOpenNoteIsIgnored) {
  MidiFile f = file_with(0, 1);
  off(f.tracks[0], 0, 0, 60);
  on(f.tracks[0], 10, 0, 60);
  off(f.tracks[0], 20, 0, 60);
  off(f.tracks[0], 30, 0, 60);
  const auto p = midi::extract_notes(f);
  EXPECT_EQ(spans(p), (std::vector<Span>{{60, 0, 0, 10, 20}}));
  EXPECT_TRUE(p.warnings.empty());
}

TEST(Notes, NoteOnAndOffAtTheSameTickInFileOrder) {
  // Off then on at tick 96: the first note ends and the second begins.
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 96, 0, 60);
  on(f.tracks[0], 96, 0, 60);
  off(f.tracks[0], 192, 0, 60);
  EXPECT_EQ(spans(midi::extract_notes(f)), (std::vector<Span>{{60, 0, 0, 0, 96}, {60, 0, 0, 96, 192}}));
}

TEST(Notes, ZeroLengthOffFirstReadsAStrayOffThenOnAsANoteOfNoLength) {
  // music21's grace notes: a tick's offs are sorted before its ons, so a note of no length
  // at tick 96 reads off, off, on after the note that ends there. With the option the stray
  // off belongs to the note-on after it; the key's next release (tick 192) ends the next note
  // only. Without it (the default) the note-on waits for that release.
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 96, 0, 60);
  off(f.tracks[0], 96, 0, 60);
  on(f.tracks[0], 96, 0, 60);
  on(f.tracks[0], 96, 0, 62);
  off(f.tracks[0], 144, 0, 62);
  on(f.tracks[0], 144, 0, 60);
  off(f.tracks[0], 192, 0, 60);
  EXPECT_EQ(spans(midi::extract_notes(f, NoteOptions().zero_length_off_first(true))),
            (std::vector<Span>{
                {60, 0, 0, 0, 96}, {60, 0, 0, 96, 96}, {62, 0, 0, 96, 144}, {60, 0, 0, 144, 192}}));
  EXPECT_EQ(
      spans(midi::extract_notes(f)),
      (std::vector<Span>{
          {60, 0, 0, 0, 96}, {60, 0, 0, 96, 192}, {62, 0, 0, 96, 144}, {60, 0, 0, 144, 192}}));
}

TEST(Notes, ZeroLengthOffFirstIgnoresAStrayOffOfAnEarlierTickOrAnotherKey) {
  MidiFile f = file_with(0, 1);
  off(f.tracks[0], 90, 0, 60);  // an earlier tick
  off(f.tracks[0], 96, 1, 60);  // another channel
  off(f.tracks[0], 96, 0, 61);  // another pitch
  on(f.tracks[0], 96, 0, 60);
  off(f.tracks[0], 192, 0, 60);
  EXPECT_EQ(spans(midi::extract_notes(f, NoteOptions().zero_length_off_first(true))),
            (std::vector<Span>{{60, 0, 0, 96, 192}}));
}

TEST(Notes, UnclosedNoteEndsWithItsTrackAndWarns) {
  MidiFile f = file_with(1, 2);
  f.tracks[0].add_end_of_track(2000);  // a longer track does not extend track 1's note
  on(f.tracks[1], 480, 0, 60);
  f.tracks[1].add_end_of_track(960);
  const auto p = midi::extract_notes(f);
  EXPECT_EQ(spans(p), (std::vector<Span>{{60, 0, 1, 480, 960}}));
  ASSERT_EQ(p.warnings.size(), 1u);
  const midi::Diagnostic& w = p.warnings[0];
  EXPECT_FALSE(w.kind.has_value());
  EXPECT_EQ(w.track, 1);
  EXPECT_EQ(w.offset, 0u);
  EXPECT_EQ(w.message, "note 60 on channel 0 opened at tick 480 was never closed; closed at tick 960");
}

TEST(Notes, UnclosedNotesWarnInTrackThenStartOrder) {
  MidiFile f = file_with(1, 2);
  on(f.tracks[1], 5, 2, 70);
  on(f.tracks[0], 3, 0, 62);
  on(f.tracks[0], 7, 0, 61);
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.warnings.size(), 3u);
  EXPECT_EQ(p.warnings[0].track, 0);
  EXPECT_EQ(p.warnings[0].message, "note 62 on channel 0 opened at tick 3 was never closed; closed at tick 7");
  EXPECT_EQ(p.warnings[1].track, 0);
  EXPECT_EQ(p.warnings[1].message, "note 61 on channel 0 opened at tick 7 was never closed; closed at tick 7");
  EXPECT_EQ(p.warnings[2].track, 1);
  EXPECT_EQ(p.warnings[2].message, "note 70 on channel 2 opened at tick 5 was never closed; closed at tick 5");
}

// ---------------------------------------------------------------------------------------------
// Programs and drums

TEST(Notes, ProgramIsTheLastChangeOnTheChannelAtOrBeforeTheNote) {
  MidiFile f = file_with(1, 3);
  Track& conductor = f.tracks[0];
  Track& piano = f.tracks[1];
  Track& late = f.tracks[2];
  program(conductor, 0, 0, 5);
  program(conductor, 100, 0, 7);
  on(piano, 0, 0, 60);    // program 5
  on(piano, 0, 1, 61);    // channel 1: never changed, program 0
  on(piano, 50, 0, 62);   // still 5
  on(piano, 100, 0, 63);  // 7: an earlier track's change at the same tick comes first
  program(late, 100, 0, 9);  // a later track at tick 100: after track 1's note-on
  on(piano, 101, 0, 64);     // 9
  program(piano, 200, 0, 11);
  on(piano, 200, 0, 65);  // 11: the change precedes the note in the same track
  on(piano, 300, 0, 66);
  program(piano, 300, 0, 12);  // follows the note-on: not its program
  const auto p = midi::extract_notes(f);
  std::vector<std::pair<int, int>> pitch_program;
  for (const Note& n : p.notes) pitch_program.emplace_back(n.pitch, n.program);
  EXPECT_EQ(pitch_program,
            (std::vector<std::pair<int, int>>{{60, 5}, {61, 0}, {62, 5}, {63, 7}, {64, 9}, {65, 11}, {66, 11}}));
}

TEST(Notes, ChannelTenIsDrums) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 9, 36);
  on(f.tracks[0], 0, 8, 36);
  off(f.tracks[0], 10, 9, 36);
  off(f.tracks[0], 10, 8, 36);
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.notes.size(), 2u);
  EXPECT_EQ(p.notes[0].channel, 8);
  EXPECT_FALSE(p.notes[0].drum);
  EXPECT_EQ(p.notes[1].channel, 9);
  EXPECT_TRUE(p.notes[1].drum);
}

// ---------------------------------------------------------------------------------------------
// Sustain pedal

const NoteOptions kSustain = NoteOptions().sustain_pedal(true);

TEST(Sustain, OffByDefault) {
  MidiFile f = file_with(0, 1);
  pedal(f.tracks[0], 0, 0, 127);
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 10, 0, 60);
  pedal(f.tracks[0], 50, 0, 0);
  EXPECT_EQ(spans(midi::extract_notes(f)), (std::vector<Span>{{60, 0, 0, 0, 10}}));
}

TEST(Sustain, NoteOffWhilePedalDownEndsAtRelease) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60);
  pedal(f.tracks[0], 10, 0, 127);
  off(f.tracks[0], 20, 0, 60);
  pedal(f.tracks[0], 50, 0, 0);
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 0, 0, 50}}));
}

TEST(Sustain, ThresholdIs64) {
  MidiFile f = file_with(0, 1);
  pedal(f.tracks[0], 0, 0, 63);  // up
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 10, 0, 60);
  pedal(f.tracks[0], 20, 0, 64);  // down
  on(f.tracks[0], 20, 0, 62);
  off(f.tracks[0], 30, 0, 62);
  pedal(f.tracks[0], 40, 0, 63);  // up
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 0, 0, 10}, {62, 0, 0, 20, 40}}));
}

TEST(Sustain, KeyHeldPastTheReleaseEndsAtItsNoteOff) {
  MidiFile f = file_with(0, 1);
  on(f.tracks[0], 0, 0, 60);
  pedal(f.tracks[0], 10, 0, 127);
  pedal(f.tracks[0], 20, 0, 0);
  off(f.tracks[0], 30, 0, 60);
  // Repeated "down" messages do not release anything.
  pedal(f.tracks[0], 40, 0, 100);
  on(f.tracks[0], 40, 0, 61);
  off(f.tracks[0], 45, 0, 61);
  pedal(f.tracks[0], 50, 0, 127);
  pedal(f.tracks[0], 60, 0, 0);
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 0, 0, 30}, {61, 0, 0, 40, 60}}));
}

TEST(Sustain, NewOnsetOfTheSamePitchEndsTheHeldNote) {
  MidiFile f = file_with(0, 1);
  pedal(f.tracks[0], 0, 0, 127);
  on(f.tracks[0], 0, 0, 60);
  on(f.tracks[0], 0, 0, 64);
  off(f.tracks[0], 10, 0, 60);
  off(f.tracks[0], 10, 0, 64);
  on(f.tracks[0], 20, 0, 60);  // re-strike: the held 60 ends here; 64 keeps ringing
  off(f.tracks[0], 30, 0, 60);
  pedal(f.tracks[0], 40, 0, 0);
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)),
            (std::vector<Span>{{60, 0, 0, 0, 20}, {64, 0, 0, 0, 40}, {60, 0, 0, 20, 40}}));
}

TEST(Sustain, PedalNeverReleasedEndsWithTheTrack) {
  MidiFile f = file_with(0, 1);
  pedal(f.tracks[0], 0, 0, 127);
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 10, 0, 60);
  f.tracks[0].add_end_of_track(100);
  const auto p = midi::extract_notes(f, kSustain);
  EXPECT_EQ(spans(p), (std::vector<Span>{{60, 0, 0, 0, 100}}));
  EXPECT_TRUE(p.warnings.empty());  // the note was closed; the pedal only held it
}

TEST(Sustain, PedalIsPerChannel) {
  MidiFile f = file_with(0, 1);
  pedal(f.tracks[0], 0, 1, 127);  // channel 1 only
  on(f.tracks[0], 0, 0, 60);
  on(f.tracks[0], 0, 1, 60);
  off(f.tracks[0], 10, 0, 60);
  off(f.tracks[0], 10, 1, 60);
  pedal(f.tracks[0], 30, 1, 0);
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 0, 0, 10}, {60, 1, 0, 0, 30}}));
}

TEST(Sustain, PedalOnAnotherTrackHoldsTheChannelButNotPastTheNotesTrack) {
  MidiFile f = file_with(1, 2);
  on(f.tracks[0], 0, 0, 60);
  off(f.tracks[0], 10, 0, 60);
  on(f.tracks[0], 12, 0, 62);
  off(f.tracks[0], 15, 0, 62);
  f.tracks[0].add_end_of_track(20);
  pedal(f.tracks[1], 5, 0, 127);
  pedal(f.tracks[1], 50, 0, 0);
  // Both notes are held by track 1's pedal, but track 0 ends at tick 20.
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 0, 0, 20}, {62, 0, 0, 12, 20}}));
}

// ---------------------------------------------------------------------------------------------
// Controls, bends, time

TEST(Notes, ControlsAndPitchBendsInTimeOrder) {
  MidiFile f = file_with(1, 2);
  f.tracks[0].add_channel(0, 0xB0, 7, 100);
  f.tracks[0].add_channel(96, 0xB2, 64, 127);
  f.tracks[1].add_channel(0, 0xB1, 10, 64);
  f.tracks[1].add_channel(48, 0xE3, 0x00, 0x00);  // -8192
  f.tracks[0].add_channel(192, 0xE3, 0x7F, 0x7F);  // 8191
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.controls.size(), 3u);
  // (tick, track, file order): track 0's CC7, track 1's CC10 (both tick 0), then the pedal at 96.
  EXPECT_EQ(p.controls[0].controller, 7);
  EXPECT_EQ(p.controls[0].track, 0);
  EXPECT_EQ(p.controls[1].controller, 10);
  EXPECT_EQ(p.controls[1].track, 1);
  EXPECT_EQ(p.controls[1].channel, 1);
  EXPECT_EQ(p.controls[1].value, 64);
  EXPECT_EQ(p.controls[2].controller, 64);
  EXPECT_EQ(p.controls[2].channel, 2);
  EXPECT_EQ(p.controls[2].seconds, 0.5);
  ASSERT_EQ(p.pitch_bends.size(), 2u);
  EXPECT_EQ(p.pitch_bends[0].value, -8192);
  EXPECT_EQ(p.pitch_bends[0].tick, 48u);
  EXPECT_EQ(p.pitch_bends[0].seconds, 0.25);
  EXPECT_EQ(p.pitch_bends[0].channel, 3);
  EXPECT_EQ(p.pitch_bends[1].value, 8191);
  EXPECT_EQ(p.pitch_bends[1].seconds, 1.0);
}

TEST(Notes, TempoOfAnyTrackTimesAFormat1File) {
  MidiFile f = file_with(1, 2);
  f.tracks[0].add_tempo(96, 1000000);  // 0.5 s for the first quarter, then 1 s per quarter
  on(f.tracks[1], 96, 0, 60);
  off(f.tracks[1], 288, 0, 60);
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_EQ(p.notes[0].start_seconds, 0.5);
  EXPECT_EQ(p.notes[0].end_seconds, 2.5);
}

TEST(Notes, Format2TracksKeepTheirOwnTimeAndPrograms) {
  MidiFile f = file_with(2, 2);
  f.tracks[0].add_tempo(0, 1000000);  // sequence 0: 1 s per quarter
  program(f.tracks[0], 0, 0, 40);
  on(f.tracks[0], 96, 0, 60);
  off(f.tracks[0], 192, 0, 60);
  on(f.tracks[1], 96, 0, 60);  // sequence 1: default tempo, no program change
  off(f.tracks[1], 192, 0, 60);
  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.notes.size(), 2u);
  EXPECT_EQ(p.notes[0].track, 0);
  EXPECT_EQ(p.notes[0].start_seconds, 1.0);
  EXPECT_EQ(p.notes[0].end_seconds, 2.0);
  EXPECT_EQ(p.notes[0].program, 40);
  EXPECT_EQ(p.notes[1].track, 1);
  EXPECT_EQ(p.notes[1].start_seconds, 0.5);
  EXPECT_EQ(p.notes[1].end_seconds, 1.0);
  EXPECT_EQ(p.notes[1].program, 0);
}

TEST(Notes, Format2SustainIsPerTrack) {
  MidiFile f = file_with(2, 2);
  pedal(f.tracks[0], 0, 0, 127);
  on(f.tracks[1], 0, 0, 60);
  off(f.tracks[1], 10, 0, 60);
  f.tracks[1].add_end_of_track(100);
  EXPECT_EQ(spans(midi::extract_notes(f, kSustain)), (std::vector<Span>{{60, 0, 1, 0, 10}}));
}

TEST(Notes, SortedByStartTrackChannelPitchEnd) {
  MidiFile f = file_with(1, 2);
  on(f.tracks[1], 0, 0, 50);
  on(f.tracks[0], 0, 1, 40);
  on(f.tracks[0], 0, 0, 72);
  on(f.tracks[0], 0, 0, 48);
  on(f.tracks[0], 0, 0, 48);
  off(f.tracks[0], 10, 0, 48);
  off(f.tracks[0], 20, 0, 72);
  off(f.tracks[0], 20, 1, 40);
  off(f.tracks[1], 20, 0, 50);
  off(f.tracks[0], 5000, 0, 48);
  EXPECT_EQ(spans(midi::extract_notes(f)), (std::vector<Span>{{48, 0, 0, 0, 10},
                                                              {48, 0, 0, 0, 5000},
                                                              {72, 0, 0, 0, 20},
                                                              {40, 1, 0, 0, 20},
                                                              {50, 0, 1, 0, 20}}));
}

}  // namespace

namespace {

// Random files with many program changes, pedal events and notes spread over several tracks:
// every note's program and (with the pedal on) end must match a brute-force oracle that walks
// all events of all tracks merged in (tick, track, file order), as the format defines.
TEST(Notes, ProgramsAndSustainMatchABruteForceOracle) {
  std::uint64_t state = 12345;
  const auto next = [&](std::uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (int trial = 0; trial < 40; ++trial) {
    MidiFile f = file_with(1, 1 + next(8));  // up to 8 tracks: both ways of merging tracks
    for (Track& t : f.tracks) {
      std::uint64_t tick = 0;
      const std::uint64_t events = next(120);
      for (std::uint64_t k = 0; k < events; ++k) {
        tick += next(3) * next(40);  // many events share ticks
        const int channel = static_cast<int>(next(3));
        switch (next(6)) {
          case 0: program(t, tick, channel, static_cast<int>(next(128))); break;
          case 1: t.add_channel(tick, static_cast<std::uint8_t>(0xB0 | channel), 64, static_cast<std::uint8_t>(next(2) * 127)); break;
          case 2: case 3: on(t, tick, channel, 60 + static_cast<int>(next(4))); break;
          default: off(t, tick, channel, 60 + static_cast<int>(next(4))); break;
        }
      }
    }
    // The oracle: all channel events in playing order.
    struct Ref {
      std::uint64_t tick;
      std::size_t track, index;
    };
    std::vector<Ref> order;
    for (std::size_t t = 0; t < f.tracks.size(); ++t)
      for (std::size_t i = 0; i < f.tracks[t].events.size(); ++i) order.push_back({f.tracks[t].events[i].tick, t, i});
    std::stable_sort(order.begin(), order.end(), [](const Ref& a, const Ref& b) { return a.tick < b.tick; });
    struct Expected {
      int pitch, channel, track, program;
      std::uint64_t start, end;
    };
    for (const bool zero_length : {false, true}) {
      std::vector<Expected> expected_plain, expected_sustain;
      for (const bool sustain : {false, true}) {
        int programs[16] = {};
        bool pedal[16] = {};
        std::vector<std::vector<std::size_t>> open(f.tracks.size() * 16 * 128);
        // Per key, the tick of the last note-off that found no open note (kNoStray: none).
        constexpr std::uint64_t kNoStray = std::numeric_limits<std::uint64_t>::max();
        std::vector<std::uint64_t> stray(open.size(), kNoStray);
        std::vector<std::vector<std::size_t>> held(16);  // released while the pedal was down
        std::vector<Expected>& out = sustain ? expected_sustain : expected_plain;
        const auto close_held = [&](int ch, std::uint64_t tick, int pitch_or_all) {
          auto& h = held[ch];
          for (auto it = h.begin(); it != h.end();) {
            if (pitch_or_all < 0 || out[*it].pitch == pitch_or_all) {
              out[*it].end = std::min(tick, f.tracks[out[*it].track].end_tick());
              it = h.erase(it);
            } else {
              ++it;
            }
          }
        };
        for (const Ref& r : order) {
          const midi::Event& e = f.tracks[r.track].events[r.index];
          if (!e.is_channel()) continue;
          const int ch = e.channel();
          const std::size_t key = (r.track * 16 + ch) * 128 + e.data1;
          auto& queue = open[key];
          if (e.message() == midi::ChannelMessage::ProgramChange) programs[ch] = e.data1;
          if (e.message() == midi::ChannelMessage::ControlChange && e.data1 == 64 && sustain) {
            if (pedal[ch] && e.data2 < 64) close_held(ch, e.tick, -1);
            pedal[ch] = e.data2 >= 64;
          }
          if (e.is_note_on()) {
            if (sustain) close_held(ch, e.tick, e.data1);
            const bool no_length = zero_length && stray[key] == e.tick;  // a stray off, same tick
            stray[key] = kNoStray;
            if (no_length) {
              if (sustain && pedal[ch]) held[ch].push_back(out.size());
            } else {
              queue.push_back(out.size());
            }
            out.push_back({e.data1, ch, static_cast<int>(r.track), programs[ch], e.tick, e.tick});
          } else if (e.is_note_off() && queue.empty()) {
            stray[key] = e.tick;
          } else if (e.is_note_off()) {
            const std::size_t n = queue.front();
            queue.erase(queue.begin());
            out[n].end = e.tick;
            if (sustain && pedal[ch]) held[ch].push_back(n);
          }
        }
        for (int ch = 0; ch < 16; ++ch)
          close_held(ch, std::numeric_limits<std::uint64_t>::max(), -1);
        for (auto& queue : open)
          for (const std::size_t n : queue) out[n].end = f.tracks[out[n].track].end_tick();
      }
      for (const bool sustain : {false, true}) {
        const auto p = midi::extract_notes(
            f, NoteOptions().sustain_pedal(sustain).zero_length_off_first(zero_length));
        const auto& expected = sustain ? expected_sustain : expected_plain;
        using Key = std::tuple<int, int, int, std::uint64_t, std::uint64_t, int>;
        std::vector<Key> got, want;
        for (const Note& n : p.notes)
          got.emplace_back(n.track, n.channel, n.pitch, n.start_tick, n.end_tick, n.program);
        for (const auto& n : expected)
          want.emplace_back(n.track, n.channel, n.pitch, n.start, n.end, n.program);
        // In the documented order: (start tick, track, channel, pitch, end tick).
        ASSERT_TRUE(std::is_sorted(
            p.notes.begin(), p.notes.end(),
            [](const Note& a, const Note& b) {
              return std::tie(a.start_tick, a.track, a.channel, a.pitch, a.end_tick) <
                     std::tie(b.start_tick, b.track, b.channel, b.pitch, b.end_tick);
            }))
            << "trial " << trial;
        ASSERT_TRUE(std::is_sorted(p.controls.begin(), p.controls.end(),
                                   [](const midi::ControlChange& a, const midi::ControlChange& b) {
                                     return std::tie(a.tick, a.track) < std::tie(b.tick, b.track);
                                   }));
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want) << "trial " << trial << (sustain ? " with" : " without") << " sustain"
                             << (zero_length ? ", zero_length_off_first" : "");
      }
    }
  }
}

}  // namespace

namespace {

// A chord of more notes than insertion sort handles (the extractor switches to stable_sort
// past 16): 60 note-ons at one tick on two channels, pitches descending with repeats, ended
// at different ticks. Expected: ordered by channel, pitch, end; equal keys keep file order
// (told apart here by velocity).
TEST(Notes, BigChordsAreOrderedLikeSmallOnes) {
  MidiFile f = file_with(1, 2);
  Track& t = f.tracks[1];
  struct Spec {
    int channel, pitch, velocity;
    std::uint64_t end;
  };
  std::vector<Spec> specs;
  for (int k = 0; k < 60; ++k) specs.push_back({k % 2, 90 - (k % 25), 1 + k, static_cast<std::uint64_t>(10 + (k * 7) % 3)});
  for (const Spec& s : specs) on(t, 0, s.channel, s.pitch, s.velocity);
  // Note-offs in end-tick order; within one tick, in note-on order (FIFO per pitch).
  for (std::uint64_t end = 10; end <= 12; ++end)
    for (const Spec& s : specs)
      if (s.end == end) off(t, end, s.channel, s.pitch);
  on(t, 20, 0, 60);  // a later, separate group
  off(t, 30, 0, 60);

  const auto p = midi::extract_notes(f);
  ASSERT_EQ(p.notes.size(), specs.size() + 1);
  // The FIFO pairing decides which note-off ends which note: compute the expected ends the
  // same way, then the expected order with a stable sort.
  std::vector<std::tuple<int, int, std::uint64_t, int>> expected;  // channel, pitch, end, velocity
  {
    std::vector<std::vector<std::size_t>> open(16 * 128);
    std::vector<std::uint64_t> ends(specs.size());
    for (std::size_t k = 0; k < specs.size(); ++k) open[specs[k].channel * 128 + specs[k].pitch].push_back(k);
    for (std::uint64_t end = 10; end <= 12; ++end)
      for (const Spec& s : specs)
        if (s.end == end) {
          auto& q = open[s.channel * 128 + s.pitch];
          ends[q.front()] = end;
          q.erase(q.begin());
        }
    for (std::size_t k = 0; k < specs.size(); ++k)
      expected.emplace_back(specs[k].channel, specs[k].pitch, ends[k], specs[k].velocity);
    std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) < std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
    });
  }
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Note& n = p.notes[k];
    EXPECT_EQ(std::make_tuple(int{n.channel}, int{n.pitch}, n.end_tick, int{n.velocity}), expected[k]) << "note " << k;
  }
  EXPECT_EQ(p.notes.back().start_tick, 20u);
}

}  // namespace
