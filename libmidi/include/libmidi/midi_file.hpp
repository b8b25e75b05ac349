// The in-memory Standard MIDI File: header fields, tracks of events, unknown chunks.
//
// An Event is a fixed 24-byte record (no allocation per event): channel messages keep their
// data bytes inline; meta and SysEx events point into their track's payload byte buffer.
// Ticks are absolute (from the start of the track), in 64-bit arithmetic.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libmidi/diagnostics.hpp"

namespace midi {

// Status bytes of the non-channel events kept in files.
inline constexpr std::uint8_t kSysEx = 0xF0;        // F0 <len> <bytes>: SysEx message
inline constexpr std::uint8_t kSysExEscape = 0xF7;  // F7 <len> <bytes>: continuation / escape
inline constexpr std::uint8_t kMeta = 0xFF;         // FF <type> <len> <bytes>

// Meta event types.
namespace meta {
inline constexpr std::uint8_t kSequenceNumber = 0x00;
inline constexpr std::uint8_t kText = 0x01;
inline constexpr std::uint8_t kCopyright = 0x02;
inline constexpr std::uint8_t kTrackName = 0x03;
inline constexpr std::uint8_t kInstrumentName = 0x04;
inline constexpr std::uint8_t kLyric = 0x05;
inline constexpr std::uint8_t kMarker = 0x06;
inline constexpr std::uint8_t kCuePoint = 0x07;
inline constexpr std::uint8_t kProgramName = 0x08;
inline constexpr std::uint8_t kDeviceName = 0x09;
inline constexpr std::uint8_t kChannelPrefix = 0x20;
inline constexpr std::uint8_t kMidiPort = 0x21;
inline constexpr std::uint8_t kEndOfTrack = 0x2F;
inline constexpr std::uint8_t kTempo = 0x51;
inline constexpr std::uint8_t kSmpteOffset = 0x54;
inline constexpr std::uint8_t kTimeSignature = 0x58;
inline constexpr std::uint8_t kKeySignature = 0x59;
inline constexpr std::uint8_t kSequencerSpecific = 0x7F;
}  // namespace meta

// Channel message kinds (the status byte's top nibble).
enum class ChannelMessage : std::uint8_t {
  NoteOff = 0x80,
  NoteOn = 0x90,
  PolyAftertouch = 0xA0,
  ControlChange = 0xB0,
  ProgramChange = 0xC0,
  ChannelAftertouch = 0xD0,
  PitchBend = 0xE0,
};

// Number of data bytes that follow a channel or system status byte (F0, F7, FF excluded).
constexpr int data_length(std::uint8_t status) {
  if (status < 0xF0) return (status & 0xE0) == 0xC0 ? 1 : 2;  // Cx, Dx take one byte
  switch (status) {
    case 0xF1: case 0xF3: return 1;
    case 0xF2: return 2;
    default: return 0;
  }
}

struct Event {
  std::uint64_t tick = 0;          // absolute time in ticks from the start of the track
  std::uint32_t data_offset = 0;   // meta/SysEx: start of the payload in Track::payload
  std::uint32_t data_size = 0;     // meta/SysEx: payload length in bytes
  std::uint8_t status = 0;         // 0x80..0xEF channel message; F0, F7 SysEx; FF meta; F1..FE stray
  std::uint8_t data1 = 0;          // channel/system: first data byte; meta: the meta type
  std::uint8_t data2 = 0;          // channel/system: second data byte (0 if none)
  std::uint8_t reserved = 0;

  bool is_channel() const { return status >= 0x80 && status < 0xF0; }
  bool is_meta() const { return status == kMeta; }
  bool is_meta(std::uint8_t type) const { return status == kMeta && data1 == type; }
  bool is_sysex() const { return status == kSysEx || status == kSysExEscape; }
  bool is_system() const { return status > 0xF0 && status < 0xFF && status != kSysExEscape; }
  ChannelMessage message() const { return static_cast<ChannelMessage>(status & 0xF0); }
  int channel() const { return status & 0x0F; }  // 0-based; only for channel messages
  std::uint8_t meta_type() const { return data1; }
  // Note-on with velocity > 0. A note-on with velocity 0 is a note-off.
  bool is_note_on() const { return (status & 0xF0) == 0x90 && data2 > 0; }
  bool is_note_off() const {
    return (status & 0xF0) == 0x80 || ((status & 0xF0) == 0x90 && data2 == 0);
  }
  // Pitch bend value in -8192..8191.
  int pitch_bend() const { return (data1 | (data2 << 7)) - 8192; }
};
static_assert(sizeof(Event) == 24, "Event is a fixed 24-byte record");

struct Track {
  std::vector<Event> events;
  std::vector<std::uint8_t> payload;  // the bytes of this track's meta and SysEx events

  std::span<const std::uint8_t> data(const Event& e) const {
    return {payload.data() + e.data_offset, e.data_size};
  }
  std::string_view text(const Event& e) const {
    return {reinterpret_cast<const char*>(payload.data()) + e.data_offset, e.data_size};
  }

  // Builders; events are appended in the order given (ticks must not decrease).
  Event& add_channel(std::uint64_t tick, std::uint8_t status, std::uint8_t data1,
                     std::uint8_t data2 = 0);
  Event& add_meta(std::uint64_t tick, std::uint8_t type, std::span<const std::uint8_t> bytes);
  Event& add_meta_text(std::uint64_t tick, std::uint8_t type, std::string_view text);
  Event& add_tempo(std::uint64_t tick, std::uint32_t microseconds_per_quarter);
  Event& add_sysex(std::uint64_t tick, std::span<const std::uint8_t> bytes, bool escape = false);
  Event& add_end_of_track(std::uint64_t tick);
  std::uint64_t end_tick() const { return events.empty() ? 0 : events.back().tick; }
};

// The header's time division: ticks per quarter note, or SMPTE frames and ticks per frame.
struct TimeDivision {
  bool smpte = false;
  std::uint16_t ticks_per_quarter = 480;  // PPQ files
  int frames_per_second = 0;              // SMPTE files: 24, 25, 29 (= 29.97 drop frame), 30
  int ticks_per_frame = 0;                // SMPTE files

  static TimeDivision ppq(std::uint16_t ticks) { return {false, ticks, 0, 0}; }
  static TimeDivision frames(int fps, int ticks_per_frame) { return {true, 0, fps, ticks_per_frame}; }
  // The two header bytes. Throws std::invalid_argument for a division from_raw would refuse
  // (PPQ 0 or >= 0x8000, SMPTE fps other than 24/25/29/30, ticks per frame not in 1..255).
  std::uint16_t raw() const;
  static std::optional<TimeDivision> from_raw(std::uint16_t raw);
  double ticks_per_second_smpte() const;     // SMPTE only: 29 counts as 29.97 frames/s
};

// A chunk that is neither MThd nor MTrk, kept so a rewrite does not lose it.
struct UnknownChunk {
  std::array<char, 4> id{};
  std::vector<std::uint8_t> data;
  std::size_t before_track = 0;  // written before track chunk number before_track
};

// Decoded fixed-size metas. Each returns nullopt when the event is not of that kind or malformed.
struct TimeSignature {
  int numerator, denominator, clocks_per_click, thirty_seconds_per_quarter;
};
struct KeySignature {
  int sharps;  // -7..7, negative = flats
  bool minor;
};
struct SmpteOffset {
  int hours, minutes, seconds, frames, fractional_frames;
};
std::optional<std::uint32_t> tempo_of(const Track& t, const Event& e);  // microseconds per quarter
std::optional<TimeSignature> time_signature_of(const Track& t, const Event& e);
std::optional<KeySignature> key_signature_of(const Track& t, const Event& e);
std::optional<SmpteOffset> smpte_offset_of(const Track& t, const Event& e);

struct MidiFile {
  int format = 1;  // 0, 1 or 2
  TimeDivision division;
  std::vector<Track> tracks;
  std::vector<UnknownChunk> unknown_chunks;
  bool rmid = false;                  // the file was wrapped in a RIFF RMID container
  std::vector<Diagnostic> warnings;   // every repair the reader made, in file order

  std::size_t event_count() const;
};

// Human-readable names, for dumps and messages.
// mido's snake_case names: "set_tempo", "key_signature", ...; "unknown_meta" for other types.
std::string_view meta_type_name(std::uint8_t type);
// One line: "note_on ch=1 note=60 vel=100" (channel 0-based, as mido), "meta set_tempo tempo=500000".
std::string describe(const Track& track, const Event& e);

}  // namespace midi
