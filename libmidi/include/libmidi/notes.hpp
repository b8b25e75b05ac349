// Notes: pairs note-on and note-off events into notes with times in ticks and seconds,
// plus the control changes and pitch bends of the file.
//
// Pairing rules: a note-on with velocity 0 is a note-off; overlapping notes of one pitch on
// one channel of one track are closed first-in first-out; a note still open at the end of
// its track is closed at the track's last tick with a warning; a note-off with no open note
// is ignored. Optionally (zero_length_off_first), a note-off with no open note followed in
// the same tick by a note-on of its key makes that note-on a note of no length: exporters
// that sort a tick's offs before its ons (music21, for grace notes) write such notes so, and
// read the plain way they sound until their key's next release. Other files (some piano
// files begin with a note-off of every key they play) need the plain reading: off by default.
// Program comes from the last program change on the note's channel at or before its start (any
// track; 0 if none). Channel 10 (index 9) is the drum channel.
//
// Optional sustain pedal (as Magenta does it): while CC64 >= 64 on a channel, note-offs are
// deferred until the pedal is released; a new onset of the same pitch on that channel
// ends the held note first.
#pragma once

#include <cstdint>
#include <vector>

#include "libmidi/diagnostics.hpp"
#include "libmidi/midi_file.hpp"
#include "libmidi/tempo_map.hpp"

namespace midi {

struct Note {
  std::uint8_t pitch = 0;
  std::uint8_t velocity = 0;
  std::uint8_t channel = 0;  // 0-based
  std::uint8_t program = 0;
  std::uint16_t track = 0;
  bool drum = false;          // channel index 9
  std::uint64_t start_tick = 0, end_tick = 0;
  double start_seconds = 0, end_seconds = 0;
};

struct ControlChange {
  std::uint64_t tick = 0;
  double seconds = 0;
  std::uint16_t track = 0;
  std::uint8_t channel = 0, controller = 0, value = 0;
};

struct PitchBend {
  std::uint64_t tick = 0;
  double seconds = 0;
  std::uint16_t track = 0;
  std::uint8_t channel = 0;
  int value = 0;  // -8192..8191
};

class NoteOptions {
 public:
  NoteOptions& sustain_pedal(bool on) {
    sustain_pedal_ = on;
    return *this;
  }
  bool sustain_pedal() const { return sustain_pedal_; }
  NoteOptions& zero_length_off_first(bool on) {
    zero_length_off_first_ = on;
    return *this;
  }
  bool zero_length_off_first() const { return zero_length_off_first_; }

 private:
  bool sustain_pedal_ = false;
  bool zero_length_off_first_ = false;
};

struct Performance {
  std::vector<Note> notes;                 // sorted by (start_tick, track, channel, pitch)
  std::vector<ControlChange> controls;     // in time order
  std::vector<PitchBend> pitch_bends;      // in time order
  std::vector<Diagnostic> warnings;        // notes left open, ...
};

Performance extract_notes(const MidiFile& file, const NoteOptions& options = {});

}  // namespace midi
