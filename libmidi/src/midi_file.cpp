// The in-memory MIDI file model: Track builders, the header's time division, decoders of the
// fixed-layout metas, and one-line descriptions of events for dumps and messages.
//
// The builders validate what the writer would otherwise have to refuse later (data bytes over
// 127, decreasing ticks, payloads too long for a variable-length quantity), so a mistake is
// reported at the line that made it, not at save time.
#include "libmidi/midi_file.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace midi {
namespace {

// The largest length or delta time a 4-byte variable-length quantity can hold.
constexpr std::uint32_t kMaxVlq = 0x0FFFFFFF;

std::string hex2(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {kDigits[b >> 4], kDigits[b & 15]};
}

// "7E 7F 09 01"; long payloads (bulk dumps) are cut after kShown bytes so a dump stays one line.
std::string hex_bytes(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kShown = 32;
  std::string s;
  const std::size_t n = std::min(bytes.size(), kShown);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += hex2(bytes[i]);
  }
  if (bytes.size() > kShown) s += " ... (" + std::to_string(bytes.size()) + " bytes)";
  return s;
}

// Single-quoted, with quote, backslash and non-printable bytes escaped as \' \\ \xNN.
std::string quoted(std::string_view text) {
  std::string s = "'";
  for (const char c : text) {
    const auto b = static_cast<std::uint8_t>(c);
    if (c == '\'' || c == '\\') {
      s += '\\';
      s += c;
    } else if (b < 0x20 || b >= 0x7F) {
      s += "\\x" + hex2(b);
    } else {
      s += c;
    }
  }
  return s + "'";
}

void check_tick_order(const Track& track, std::uint64_t tick) {
  if (!track.events.empty() && tick < track.events.back().tick)
    throw std::invalid_argument("event at tick " + std::to_string(tick) + " added after an event at tick " +
                                std::to_string(track.events.back().tick) + "; ticks must not decrease");
}

void check_data_byte(std::uint8_t value, const char* which, std::uint8_t status) {
  if (value > 0x7F)
    throw std::invalid_argument(std::string{which} + " of status 0x" + hex2(status) +
                                " must be a data byte (0..127), got " + std::to_string(value));
}

// Appends bytes to the track's payload and the event that points at them.
Event& add_payload_event(Track& track, std::uint64_t tick, std::uint8_t status, std::uint8_t type,
                         std::span<const std::uint8_t> bytes) {
  check_tick_order(track, tick);
  if (bytes.size() > kMaxVlq)
    throw std::invalid_argument("meta/SysEx payload of " + std::to_string(bytes.size()) +
                                " bytes is longer than a MIDI file can hold (0x0FFFFFFF)");
  if (track.payload.size() + bytes.size() > UINT32_MAX)
    throw std::invalid_argument("track payload would exceed 4 GiB");
  const auto offset = static_cast<std::uint32_t>(track.payload.size());
  // bytes may point into the payload itself (copying an event within a track); inserting a
  // vector's own range into it is undefined, so copy first in that case.
  const std::uint8_t* first = bytes.data();
  const bool aliases = !bytes.empty() && first >= track.payload.data() &&
                       first < track.payload.data() + track.payload.size();
  if (aliases) {
    const std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    track.payload.insert(track.payload.end(), copy.begin(), copy.end());
  } else {
    track.payload.insert(track.payload.end(), bytes.begin(), bytes.end());
  }
  track.events.push_back(Event{tick, offset, static_cast<std::uint32_t>(bytes.size()), status, type, 0, 0});
  return track.events.back();
}

std::string_view channel_message_name(ChannelMessage m) {
  switch (m) {
    case ChannelMessage::NoteOff: return "note_off";
    case ChannelMessage::NoteOn: return "note_on";
    case ChannelMessage::PolyAftertouch: return "polytouch";
    case ChannelMessage::ControlChange: return "control_change";
    case ChannelMessage::ProgramChange: return "program_change";
    case ChannelMessage::ChannelAftertouch: return "aftertouch";
    case ChannelMessage::PitchBend: return "pitchwheel";
  }
  return "unknown";
}

std::string describe_channel(const Event& e) {
  std::string s{channel_message_name(e.message())};
  s += " ch=" + std::to_string(e.channel());
  const std::string d1 = std::to_string(e.data1), d2 = std::to_string(e.data2);
  switch (e.message()) {
    case ChannelMessage::NoteOff:
    case ChannelMessage::NoteOn: return s + " note=" + d1 + " vel=" + d2;
    case ChannelMessage::PolyAftertouch: return s + " note=" + d1 + " value=" + d2;
    case ChannelMessage::ControlChange: return s + " control=" + d1 + " value=" + d2;
    case ChannelMessage::ProgramChange: return s + " program=" + d1;
    case ChannelMessage::ChannelAftertouch: return s + " value=" + d1;
    case ChannelMessage::PitchBend: return s + " pitch=" + std::to_string(e.pitch_bend());
  }
  return s;
}

// 01..09 are the named text metas; 0A..0F are reserved text types shown with the unknown ones.
bool is_text_meta(std::uint8_t type) { return type >= meta::kText && type <= meta::kDeviceName; }

std::string describe_meta(const Track& track, const Event& e) {
  const std::uint8_t type = e.meta_type();
  std::string s = "meta ";
  s += meta_type_name(type);
  const auto data = track.data(e);
  const std::string malformed = " (malformed) data=" + hex_bytes(data);
  if (is_text_meta(type)) return s + " " + quoted(track.text(e));
  switch (type) {
    case meta::kEndOfTrack:
      return data.empty() ? s : s + malformed;
    case meta::kTempo:
      if (const auto t = tempo_of(track, e)) return s + " tempo=" + std::to_string(*t);
      return s + malformed;
    case meta::kTimeSignature:
      if (const auto t = time_signature_of(track, e))
        return s + " " + std::to_string(t->numerator) + "/" + std::to_string(t->denominator) +
               " clocks_per_click=" + std::to_string(t->clocks_per_click) +
               " notated_32nd_notes_per_beat=" + std::to_string(t->thirty_seconds_per_quarter);
      return s + malformed;
    case meta::kKeySignature:
      if (const auto k = key_signature_of(track, e))
        return s + " sf=" + std::to_string(k->sharps) + " mode=" + (k->minor ? "minor" : "major");
      return s + malformed;
    case meta::kSmpteOffset:
      if (const auto o = smpte_offset_of(track, e))
        return s + " hours=" + std::to_string(o->hours) + " minutes=" + std::to_string(o->minutes) +
               " seconds=" + std::to_string(o->seconds) + " frames=" + std::to_string(o->frames) +
               " sub_frames=" + std::to_string(o->fractional_frames);
      return s + malformed;
    case meta::kSequenceNumber:
      if (data.size() == 2) return s + " number=" + std::to_string((data[0] << 8) | data[1]);
      if (data.empty()) return s;  // an empty sequence number means "the track's position"
      return s + malformed;
    case meta::kChannelPrefix:
      if (data.size() == 1) return s + " channel=" + std::to_string(data[0]);
      return s + malformed;
    case meta::kMidiPort:
      if (data.size() == 1) return s + " port=" + std::to_string(data[0]);
      return s + malformed;
    case meta::kSequencerSpecific:
      return s + " data=" + hex_bytes(data);
    default:
      return s + " type=0x" + hex2(type) + " data=" + hex_bytes(data);
  }
}

}  // namespace

// ---- Track builders ----

Event& Track::add_channel(std::uint64_t tick, std::uint8_t status, std::uint8_t data1, std::uint8_t data2) {
  // Channel messages, and the system common / real-time statuses the reader keeps as events.
  const bool system = status > kSysEx && status < kMeta && status != kSysExEscape;
  if (status < 0x80 || (status >= 0xF0 && !system))
    throw std::invalid_argument("add_channel: status 0x" + hex2(status) +
                                " is not a channel or system status (use add_meta / add_sysex for FF, F0, F7)");
  const int length = data_length(status);
  if (length >= 1) check_data_byte(data1, "first data byte", status);
  else if (data1 != 0) throw std::invalid_argument("status 0x" + hex2(status) + " takes no data bytes; data1 must be 0");
  if (length == 2) check_data_byte(data2, "second data byte", status);
  else if (data2 != 0)
    throw std::invalid_argument("status 0x" + hex2(status) + " takes " + std::to_string(length) +
                                " data byte(s); data2 must be 0");
  check_tick_order(*this, tick);
  events.push_back(Event{tick, 0, 0, status, data1, data2, 0});
  return events.back();
}

Event& Track::add_meta(std::uint64_t tick, std::uint8_t type, std::span<const std::uint8_t> bytes) {
  if (type > 0x7F)
    throw std::invalid_argument("meta type must be 0..127, got 0x" + hex2(type));
  return add_payload_event(*this, tick, kMeta, type, bytes);
}

Event& Track::add_meta_text(std::uint64_t tick, std::uint8_t type, std::string_view text) {
  return add_meta(tick, type, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

Event& Track::add_tempo(std::uint64_t tick, std::uint32_t microseconds_per_quarter) {
  if (microseconds_per_quarter == 0 || microseconds_per_quarter > 0xFFFFFF)
    throw std::invalid_argument("tempo must be 1..16777215 microseconds per quarter note, got " +
                                std::to_string(microseconds_per_quarter));
  const std::uint8_t bytes[3] = {static_cast<std::uint8_t>(microseconds_per_quarter >> 16),
                                 static_cast<std::uint8_t>(microseconds_per_quarter >> 8),
                                 static_cast<std::uint8_t>(microseconds_per_quarter)};
  return add_meta(tick, meta::kTempo, bytes);
}

Event& Track::add_sysex(std::uint64_t tick, std::span<const std::uint8_t> bytes, bool escape) {
  // The payload is written verbatim after the length: for F0 it normally ends with F7; an F7
  // "escape" event may carry any bytes at all, so neither is checked.
  return add_payload_event(*this, tick, escape ? kSysExEscape : kSysEx, 0, bytes);
}

Event& Track::add_end_of_track(std::uint64_t tick) {
  return add_meta(tick, meta::kEndOfTrack, {});
}

// ---- Time division ----

std::uint16_t TimeDivision::raw() const {
  if (!smpte) {
    if (ticks_per_quarter == 0 || ticks_per_quarter > 0x7FFF)
      throw std::invalid_argument("ticks per quarter note must be 1..32767, got " +
                                  std::to_string(ticks_per_quarter));
    return ticks_per_quarter;
  }
  if (frames_per_second != 24 && frames_per_second != 25 && frames_per_second != 29 && frames_per_second != 30)
    throw std::invalid_argument("SMPTE frames per second must be 24, 25, 29 or 30, got " +
                                std::to_string(frames_per_second));
  if (ticks_per_frame < 1 || ticks_per_frame > 255)
    throw std::invalid_argument("SMPTE ticks per frame must be 1..255, got " + std::to_string(ticks_per_frame));
  // High byte: the frame rate negated, as a two's-complement byte (so the top bit is set).
  const auto high = static_cast<std::uint8_t>(-frames_per_second);
  return static_cast<std::uint16_t>((high << 8) | ticks_per_frame);
}

std::optional<TimeDivision> TimeDivision::from_raw(std::uint16_t raw) {
  if (!(raw & 0x8000)) {
    if (raw == 0) return std::nullopt;
    return ppq(raw);
  }
  const int fps = -static_cast<int>(static_cast<std::int8_t>(raw >> 8));
  const int ticks = raw & 0xFF;
  if ((fps != 24 && fps != 25 && fps != 29 && fps != 30) || ticks == 0) return std::nullopt;
  return frames(fps, ticks);
}

double TimeDivision::ticks_per_second_smpte() const {
  if (!smpte) return 0.0;
  // "29" is NTSC drop-frame timecode, whose real rate is 30000/1001 = 29.97 frames per second.
  if (frames_per_second == 29) return 30000.0 * ticks_per_frame / 1001.0;
  return static_cast<double>(frames_per_second) * ticks_per_frame;
}

// ---- Fixed-layout metas ----

std::optional<std::uint32_t> tempo_of(const Track& t, const Event& e) {
  if (!e.is_meta(meta::kTempo) || e.data_size != 3) return std::nullopt;
  const auto d = t.data(e);
  const std::uint32_t tempo = (std::uint32_t{d[0]} << 16) | (std::uint32_t{d[1]} << 8) | d[2];
  // A tempo of 0 would stop time; no player can honour it, so it counts as malformed.
  if (tempo == 0) return std::nullopt;
  return tempo;
}

std::optional<TimeSignature> time_signature_of(const Track& t, const Event& e) {
  if (!e.is_meta(meta::kTimeSignature) || e.data_size != 4) return std::nullopt;
  const auto d = t.data(e);
  // The denominator is stored as a power of two; beyond 2^30 it is no longer an int.
  if (d[1] > 30) return std::nullopt;
  return TimeSignature{d[0], 1 << d[1], d[2], d[3]};
}

std::optional<KeySignature> key_signature_of(const Track& t, const Event& e) {
  if (!e.is_meta(meta::kKeySignature) || e.data_size != 2) return std::nullopt;
  const auto d = t.data(e);
  const int sharps = static_cast<std::int8_t>(d[0]);
  if (sharps < -7 || sharps > 7 || d[1] > 1) return std::nullopt;
  return KeySignature{sharps, d[1] == 1};
}

std::optional<SmpteOffset> smpte_offset_of(const Track& t, const Event& e) {
  if (!e.is_meta(meta::kSmpteOffset) || e.data_size != 5) return std::nullopt;
  const auto d = t.data(e);
  // The hour byte is 0rrhhhhh: bits 5-6 carry the frame rate (as in MIDI time code), the low
  // five bits the hours.
  const SmpteOffset o{d[0] & 0x1F, d[1], d[2], d[3], d[4]};
  if (o.hours > 23 || o.minutes > 59 || o.seconds > 59 || o.frames > 29 || o.fractional_frames > 99)
    return std::nullopt;
  return o;
}

// ---- File ----

std::size_t MidiFile::event_count() const {
  std::size_t n = 0;
  for (const Track& t : tracks) n += t.events.size();
  return n;
}

// ---- Names ----

std::string_view meta_type_name(std::uint8_t type) {
  switch (type) {
    case meta::kSequenceNumber: return "sequence_number";
    case meta::kText: return "text";
    case meta::kCopyright: return "copyright";
    case meta::kTrackName: return "track_name";
    case meta::kInstrumentName: return "instrument_name";
    case meta::kLyric: return "lyrics";
    case meta::kMarker: return "marker";
    case meta::kCuePoint: return "cue_marker";
    case meta::kProgramName: return "program_name";
    case meta::kDeviceName: return "device_name";
    case meta::kChannelPrefix: return "channel_prefix";
    case meta::kMidiPort: return "midi_port";
    case meta::kEndOfTrack: return "end_of_track";
    case meta::kTempo: return "set_tempo";
    case meta::kSmpteOffset: return "smpte_offset";
    case meta::kTimeSignature: return "time_signature";
    case meta::kKeySignature: return "key_signature";
    case meta::kSequencerSpecific: return "sequencer_specific";
    default: return "unknown_meta";
  }
}

std::string describe(const Track& track, const Event& e) {
  if (e.is_channel()) return describe_channel(e);
  if (e.is_meta()) return describe_meta(track, e);
  if (e.is_sysex())
    return std::string{e.status == kSysEx ? "sysex" : "sysex_escape"} + " data=" + hex_bytes(track.data(e));
  if (e.is_system()) {
    std::string s = "system " + hex2(e.status);
    const int n = data_length(e.status);
    if (n >= 1) s += " data=" + hex2(e.data1);
    if (n == 2) s += " " + hex2(e.data2);
    return s;
  }
  return "invalid status " + hex2(e.status);
}

}  // namespace midi
