// Note extraction: pairs note-ons with note-offs, assigns programs, applies the sustain pedal,
// and collects control changes and pitch bends, all with times in ticks and seconds.
//
// Every channel event of every track is visited once, in (tick, track index, file order): the
// order a sequencer playing the tracks side by side would send them. Channel state (program,
// pedal) is shared by all tracks of a format 0/1 file, since they drive the same 16 channels;
// each track of a format 2 file is its own sequence with its own state and tempo map.
// Pairing is per (track, channel, pitch), first in first out.
#include "libmidi/notes.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>

namespace midi {
namespace {

constexpr int kChannels = 16;
constexpr std::uint8_t kSustainController = 64;  // CC64: damper pedal, >= 64 is down
constexpr int kDrumChannel = 9;                  // channel 10 in 1-based numbering

// One channel event, by position; sorted into playing order.
struct EventRef {
  std::uint64_t tick;
  std::uint32_t track;
  std::uint32_t index;
  bool operator<(const EventRef& o) const {
    return std::tie(tick, track, index) < std::tie(o.tick, o.track, o.index);
  }
};

// What the 16 channels of one sequence remember between events.
struct ChannelState {
  std::uint8_t program = 0;
  bool pedal_down = false;
  std::vector<std::size_t> sustained;  // notes whose note-off came while the pedal was down
};

std::uint64_t key_of(std::size_t track, int channel, int pitch) {
  return (static_cast<std::uint64_t>(track) << 11) | (static_cast<std::uint64_t>(channel) << 7) |
         static_cast<std::uint64_t>(pitch);
}

class NoteExtractor {
 public:
  NoteExtractor(const MidiFile& file, const NoteOptions& options) : file_(file), options_(options) {
    if (file.tracks.size() > 0xFFFF)
      throw std::invalid_argument("extract_notes: more than 65535 tracks");
    const std::size_t sequences = file.format == 2 ? file.tracks.size() : 1;
    channels_.resize(sequences * kChannels);
    track_end_.reserve(file.tracks.size());
    // Track::end_tick() for a well-ordered track; the max guards against hand-built unordered ones.
    for (const Track& t : file.tracks) {
      std::uint64_t end = 0;
      for (const Event& e : t.events) end = std::max(end, e.tick);
      track_end_.push_back(end);
    }
  }

  Performance run() {
    for (const EventRef& ref : playing_order()) {
      const Event& e = file_.tracks[ref.track].events[ref.index];
      switch (e.message()) {
        case ChannelMessage::NoteOn:
        case ChannelMessage::NoteOff:
          if (e.is_note_on()) note_on(ref, e);
          else note_off(ref, e);
          break;
        case ChannelMessage::ProgramChange:
          state(ref.track, e.channel()).program = e.data1;
          break;
        case ChannelMessage::ControlChange:
          out_.controls.push_back({e.tick, 0.0, static_cast<std::uint16_t>(ref.track),
                                   static_cast<std::uint8_t>(e.channel()), e.data1, e.data2});
          if (options_.sustain_pedal() && e.data1 == kSustainController) pedal(ref, e);
          break;
        case ChannelMessage::PitchBend:
          out_.pitch_bends.push_back({e.tick, 0.0, static_cast<std::uint16_t>(ref.track),
                                      static_cast<std::uint8_t>(e.channel()), e.pitch_bend()});
          break;
        default:
          break;
      }
    }
    close_what_is_left();
    add_seconds();
    std::stable_sort(out_.notes.begin(), out_.notes.end(), [](const Note& a, const Note& b) {
      return std::tie(a.start_tick, a.track, a.channel, a.pitch, a.end_tick) <
             std::tie(b.start_tick, b.track, b.channel, b.pitch, b.end_tick);
    });
    return std::move(out_);
  }

 private:
  std::vector<EventRef> playing_order() const {
    std::vector<EventRef> refs;
    for (std::size_t t = 0; t < file_.tracks.size(); ++t) {
      const auto& events = file_.tracks[t].events;
      for (std::size_t i = 0; i < events.size(); ++i)
        if (events[i].is_channel())
          refs.push_back({events[i].tick, static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(i)});
    }
    std::sort(refs.begin(), refs.end());  // keys are unique, so no tie is left to chance
    return refs;
  }

  ChannelState& state(std::size_t track, int channel) {
    const std::size_t sequence = file_.format == 2 ? track : 0;
    return channels_[sequence * kChannels + static_cast<std::size_t>(channel)];
  }

  // A held note ends at `tick`, but never after its own track has ended.
  void end_sustained(std::size_t note, std::uint64_t tick) {
    Note& n = out_.notes[note];
    n.end_tick = std::min(tick, track_end_[n.track]);
  }

  void note_on(const EventRef& ref, const Event& e) {
    ChannelState& channel = state(ref.track, e.channel());
    if (options_.sustain_pedal()) {
      // A new onset of a pitch the pedal is holding ends the held note (re-striking a string).
      auto& held = channel.sustained;
      const auto same_pitch = [&](std::size_t i) { return out_.notes[i].pitch == e.data1; };
      for (const std::size_t i : held)
        if (same_pitch(i)) end_sustained(i, e.tick);
      held.erase(std::remove_if(held.begin(), held.end(), same_pitch), held.end());
    }
    Note note;
    note.pitch = e.data1;
    note.velocity = e.data2;
    note.channel = static_cast<std::uint8_t>(e.channel());
    note.program = channel.program;
    note.track = static_cast<std::uint16_t>(ref.track);
    note.drum = e.channel() == kDrumChannel;
    note.start_tick = note.end_tick = e.tick;
    open_[key_of(ref.track, e.channel(), e.data1)].push_back(out_.notes.size());
    out_.notes.push_back(note);
  }

  void note_off(const EventRef& ref, const Event& e) {
    const auto found = open_.find(key_of(ref.track, e.channel(), e.data1));
    if (found == open_.end() || found->second.empty()) return;  // nothing to close: ignored
    const std::size_t note = found->second.front();             // first in, first out
    found->second.pop_front();
    ChannelState& channel = state(ref.track, e.channel());
    if (options_.sustain_pedal() && channel.pedal_down) channel.sustained.push_back(note);
    else out_.notes[note].end_tick = e.tick;
  }

  void pedal(const EventRef& ref, const Event& e) {
    ChannelState& channel = state(ref.track, e.channel());
    const bool down = e.data2 >= 64;
    if (channel.pedal_down && !down) {
      for (const std::size_t i : channel.sustained) end_sustained(i, e.tick);
      channel.sustained.clear();
    }
    channel.pedal_down = down;
  }

  void close_what_is_left() {
    for (ChannelState& channel : channels_)
      for (const std::size_t i : channel.sustained) end_sustained(i, track_end_[out_.notes[i].track]);

    // Notes never closed: end them with their track, and say so, in a stable order.
    std::vector<std::size_t> unclosed;
    for (const auto& [key, queue] : open_) unclosed.insert(unclosed.end(), queue.begin(), queue.end());
    // By track, then by note index (the playing order of the note-ons).
    std::sort(unclosed.begin(), unclosed.end(), [&](std::size_t a, std::size_t b) {
      return std::tie(out_.notes[a].track, a) < std::tie(out_.notes[b].track, b);
    });
    for (const std::size_t i : unclosed) {
      Note& n = out_.notes[i];
      n.end_tick = track_end_[n.track];
      out_.warnings.push_back(Diagnostic{
          std::nullopt, static_cast<int>(n.track), 0,
          "note " + std::to_string(n.pitch) + " on channel " + std::to_string(n.channel) + " opened at tick " +
              std::to_string(n.start_tick) + " was never closed; closed at tick " + std::to_string(n.end_tick)});
    }
  }

  void add_seconds() {
    // Format 2: every track keeps its own time; otherwise one map serves all tracks.
    std::vector<std::optional<TempoMap>> maps(file_.format == 2 ? file_.tracks.size() : 1);
    const auto map_of = [&](std::size_t track) -> const TempoMap& {
      const std::size_t m = file_.format == 2 ? track : 0;
      if (!maps[m]) maps[m].emplace(file_.format == 2 ? TempoMap(file_, track) : TempoMap(file_));
      return *maps[m];
    };
    for (Note& n : out_.notes) {
      const TempoMap& map = map_of(n.track);
      n.start_seconds = map.seconds(n.start_tick);
      n.end_seconds = map.seconds(n.end_tick);
    }
    for (ControlChange& c : out_.controls) c.seconds = map_of(c.track).seconds(c.tick);
    for (PitchBend& b : out_.pitch_bends) b.seconds = map_of(b.track).seconds(b.tick);
  }

  const MidiFile& file_;
  const NoteOptions& options_;
  std::vector<ChannelState> channels_;  // [sequence × 16 + channel]
  std::vector<std::uint64_t> track_end_;
  std::unordered_map<std::uint64_t, std::deque<std::size_t>> open_;  // (track, channel, pitch) -> notes
  Performance out_;
};

}  // namespace

Performance extract_notes(const MidiFile& file, const NoteOptions& options) {
  return NoteExtractor(file, options).run();
}

}  // namespace midi
