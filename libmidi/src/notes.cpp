// Note extraction: pairs note-ons with note-offs, assigns programs, applies the sustain pedal,
// and collects control changes and pitch bends, all with times in ticks and seconds.
//
// Playing order is (tick, track index, file order): the order a sequencer playing the tracks
// side by side sends events. Channel state (program, pedal) is shared by all tracks of a
// format 0/1 file, since they drive the same 16 channels; each track of a format 2 file is its
// own sequence with its own state and tempo map.
//
// Pairing is per (track, channel, pitch), first in first out, so it only ever looks at one
// track: it runs track by track in file order with a direct 16 x 128 table of queues, no
// merge and no hashing. Only the program and the pedal depend on the other tracks; they are
// resolved afterwards by searching the program changes and pedal events of the note's
// channel, compared by position in playing order. The tracks' runs of notes are then merged. That keeps the common path (one pass
// over the events) fast: this is what turns MIDI files into training data.
#include "libmidi/notes.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

namespace midi {
namespace {

constexpr int kChannels = 16;
constexpr int kKeys = kChannels * 128;           // (channel, pitch) pairs
constexpr std::uint8_t kSustainController = 64;  // CC64: damper pedal, >= 64 is down
constexpr int kDrumChannel = 9;                  // channel 10 in 1-based numbering
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// Where an event stands in playing order.
struct Position {
  std::uint64_t tick;
  std::uint32_t track;
  std::uint32_t index;  // within the track
  bool operator<(const Position& o) const { return std::tie(tick, track, index) < std::tie(o.tick, o.track, o.index); }
};

// Per note, while extracting: where its note-on and note-off stand in playing order, and the
// next note in the same open-note queue.
struct NoteWork {
  std::uint32_t on;    // index of the note-on in the note's track (its tick and track are in Note)
  std::uint32_t off;   // index of the note-off in the track; kNone: never released by its key
  std::uint32_t next;  // next note in the same open-note queue
};

// Stable merge of sorted [a, a_end) and [b, b_end) into out (ties: from a first). Branch-free
// selection: which input gives the next element is unpredictable when two hands interleave.
template <typename T, typename Less>
T* merge_two(const T* a, const T* a_end, const T* b, const T* b_end, T* out, Less less) {
  while (a != a_end && b != b_end) {
    const bool from_b = less(*b, *a);
    *out++ = *(from_b ? b : a);
    b += from_b;
    a += !from_b;
  }
  out = std::copy(a, a_end, out);
  return std::copy(b, b_end, out);
}

// Sorts v, made of runs [begins[r], begins[r + 1]) each sorted by `less`, with a stable merge
// (on ties the earlier run comes first). O(size × log runs).
template <typename T, typename Less>
void merge_runs(std::vector<T>& v, const std::vector<std::size_t>& begins, Less less) {
  std::vector<std::size_t> runs;  // boundaries of the non-empty runs
  for (std::size_t r = 0; r + 1 < begins.size(); ++r)
    if (begins[r] < begins[r + 1]) runs.push_back(begins[r]);
  runs.push_back(v.size());
  if (runs.size() <= 2) return;  // one run: already sorted
  if (runs.size() <= 5) {
    // A few runs (the usual MIDI file): fold them in one by one, in place. The sorted prefix
    // moves to a scratch buffer and is merged with the next run back into v from the front;
    // the write position never passes the next run's read position.
    std::vector<T> prefix;
    for (std::size_t r = 1; r + 1 < runs.size(); ++r) {
      prefix.assign(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(runs[r]));
      merge_two(prefix.data(), prefix.data() + prefix.size(), v.data() + runs[r], v.data() + runs[r + 1], v.data(),
                less);
    }
    return;
  }
  struct Head {
    std::size_t at, end, run;
  };
  std::vector<Head> heap;
  for (std::size_t r = 0; r + 1 < begins.size(); ++r)
    if (begins[r] < begins[r + 1]) heap.push_back({begins[r], begins[r + 1], r});
  // A heap ordered so that the smallest head (earliest run on ties) is on top.
  const auto later = [&](const Head& a, const Head& b) {
    if (less(v[b.at], v[a.at])) return true;
    if (less(v[a.at], v[b.at])) return false;
    return a.run > b.run;
  };
  std::make_heap(heap.begin(), heap.end(), later);
  std::vector<T> out;
  out.reserve(v.size());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Head& h = heap.back();
    // Take this run's elements while they stay ahead of every other run's head.
    const Head* rival = heap.size() > 1 ? &heap.front() : nullptr;
    do {
      out.push_back(std::move(v[h.at++]));
    } while (h.at < h.end && (!rival || less(v[h.at], v[rival->at]) ||
                              (!less(v[rival->at], v[h.at]) && h.run < rival->run)));
    if (h.at < h.end) std::push_heap(heap.begin(), heap.end(), later);
    else heap.pop_back();
  }
  v = std::move(out);
}

// A program change or pedal event of one channel of one sequence.
struct ChannelEvent {
  std::uint32_t lane;  // sequence × 16 + channel
  Position at;
  std::uint8_t value;  // program, or pedal value
};

class NoteExtractor {
 public:
  NoteExtractor(const MidiFile& file, const NoteOptions& options)
      : file_(file), options_(options), zero_length_off_first_(options.zero_length_off_first()) {
    if (file.tracks.size() > 0xFFFF) throw std::invalid_argument("extract_notes: more than 65535 tracks");
    for (const Track& t : file.tracks)  // events are indexed in 32 bits (a file of over 8 GB)
      if (t.events.size() >= kNone) throw std::invalid_argument("extract_notes: a track of 2^32 events or more");
    // At most one note per two channel events: reserving up front spares the regrowth copies.
    const std::size_t events = file.event_count();
    out_.notes.reserve(events / 2);
    work_.reserve(events / 2);
    head_.fill(kNone);
    tail_.fill(kNone);
  }

  Performance run() {
    if (file_.format != 2) shared_map_.emplace(file_);
    for (std::size_t t = 0; t < file_.tracks.size(); ++t) {
      track_notes_.push_back(out_.notes.size());
      track_controls_.push_back(out_.controls.size());
      track_bends_.push_back(out_.pitch_bends.size());
      pair_track(static_cast<std::uint32_t>(t));
    }
    track_notes_.push_back(out_.notes.size());
    track_controls_.push_back(out_.controls.size());
    track_bends_.push_back(out_.pitch_bends.size());
    assign_programs();
    if (options_.sustain_pedal()) apply_sustain();
    into_playing_order();
    return std::move(out_);
  }

 private:
  // Format 0/1: one tempo map for all tracks; format 2: each track keeps its own time.
  const TempoMap& map_of(std::uint32_t track) {
    if (shared_map_) return *shared_map_;
    if (track_map_track_ != track) {
      track_map_.emplace(file_, track);
      track_map_track_ = track;
    }
    return *track_map_;
  }

  std::uint32_t lane(std::uint32_t track, int channel) const {
    return (file_.format == 2 ? track : 0) * kChannels + static_cast<std::uint32_t>(channel);
  }

  // Tracks are in tick order (the reader and the builders guarantee it), so a track ends at
  // its last event.
  std::uint64_t track_end(std::uint32_t track) const { return file_.tracks[track].end_tick(); }

  // Pairs the notes of one track in file order and collects its programs, pedal, controls
  // and bends.
  void pair_track(std::uint32_t t) {
    // The event array and its size in locals: the byte-sized stores into each Note may alias
    // anything, so the compiler would otherwise reload them from the vector after every note.
    const Event* const events = file_.tracks[t].events.data();
    const auto count = static_cast<std::uint32_t>(file_.tracks[t].events.size());
    for (std::uint32_t i = 0; i < count; ++i) {
      const Event& e = events[i];
      if (!e.is_channel()) continue;
      const int channel = e.channel();
      switch (e.message()) {
        case ChannelMessage::NoteOn:
          if (e.data2 > 0) {
            open(t, i, e);
            break;
          }
          [[fallthrough]];  // velocity 0: a note-off
        case ChannelMessage::NoteOff: {
          const int key = channel * 128 + e.data1;
          const std::uint32_t n = head_[key];  // first in, first out
          if (n == kNone) {  // nothing to close: ignored (but see zero_length_off_first)
            if (zero_length_off_first_) stray_off_[key] = {e.tick, i};
            break;
          }
          head_[key] = work_[n].next;
          --open_count_;
          out_.notes[n].end_tick = e.tick;
          work_[n].off = i;
          break;
        }
        case ChannelMessage::ProgramChange:
          programs_.push_back({lane(t, channel), {e.tick, t, i}, e.data1});
          break;
        case ChannelMessage::ControlChange:
          out_.controls.push_back({e.tick, 0.0, static_cast<std::uint16_t>(t), static_cast<std::uint8_t>(channel),
                                   e.data1, e.data2});
          if (e.data1 == kSustainController) pedals_.push_back({lane(t, channel), {e.tick, t, i}, e.data2});
          break;
        case ChannelMessage::PitchBend:
          out_.pitch_bends.push_back(
              {e.tick, 0.0, static_cast<std::uint16_t>(t), static_cast<std::uint8_t>(channel), e.pitch_bend()});
          break;
        default:
          break;
      }
    }
    close_unclosed(t);
    add_seconds(t);
  }

  // Times of track t's notes, controls and bends, in one tight pass per kind once the track is
  // paired: the queries come in (nearly) increasing tick order, so the hinted lookup is O(1),
  // and the divisions are independent of each other, so they overlap in the pipeline.
  void add_seconds(std::uint32_t t) {
    const TempoMap& map = map_of(t);
    std::size_t start_segment = 0, end_segment = 0;
    for (std::size_t n = track_notes_[t]; n < out_.notes.size(); ++n) {
      Note& note = out_.notes[n];
      note.start_seconds = map.seconds(note.start_tick, start_segment);
      note.end_seconds = map.seconds(note.end_tick, end_segment);
    }
    std::size_t segment = 0;
    for (std::size_t c = track_controls_[t]; c < out_.controls.size(); ++c)
      out_.controls[c].seconds = map.seconds(out_.controls[c].tick, segment);
    segment = 0;
    for (std::size_t b = track_bends_[t]; b < out_.pitch_bends.size(); ++b)
      out_.pitch_bends[b].seconds = map.seconds(out_.pitch_bends[b].tick, segment);
  }

  void open(std::uint32_t t, std::uint32_t i, const Event& e) {
    const auto n = static_cast<std::uint32_t>(out_.notes.size());
    // Filled in place: a Note assembled on the stack from byte-sized stores and then copied
    // with wide loads stalls store forwarding, which cost a third of the whole extraction.
    Note& note = out_.notes.emplace_back();
    note.pitch = e.data1;
    note.velocity = e.data2;
    note.channel = static_cast<std::uint8_t>(e.channel());
    note.track = static_cast<std::uint16_t>(t);
    note.drum = e.channel() == kDrumChannel;
    note.start_tick = note.end_tick = e.tick;
    const int key = e.channel() * 128 + e.data1;
    if (StrayOff& stray = stray_off_[key]; stray.index != kNone && stray.tick == e.tick) {
      // zero_length_off_first: a note-off with nothing open, then a note-on of that key in the
      // same tick: a note of no length whose off was sorted first. It ends where it starts.
      work_.push_back({i, i, kNone});  // released where it starts (the pedal may hold it)
      stray.index = kNone;
      return;
    }
    work_.push_back({i, kNone, kNone});
    if (head_[key] == kNone) head_[key] = n;
    else work_[tail_[key]].next = n;
    tail_[key] = n;
    ++open_count_;
  }

  // Notes of track t never closed end with their track, with a warning, in the order they began.
  void close_unclosed(std::uint32_t t) {
    for (StrayOff& stray : stray_off_) stray.index = kNone;
    if (open_count_ == 0) return;
    std::vector<std::uint32_t> unclosed;
    for (int key = 0; key < kKeys; ++key)
      for (std::uint32_t n = head_[key]; n != kNone; n = work_[n].next) unclosed.push_back(n);
    open_count_ = 0;
    head_.fill(kNone);  // every queue is empty again (a queue that empties resets its own head)
    std::sort(unclosed.begin(), unclosed.end());
    const std::uint64_t end = track_end(t);
    for (const std::uint32_t n : unclosed) {
      Note& note = out_.notes[n];
      note.end_tick = std::max(note.start_tick, end);
      out_.warnings.push_back(Diagnostic{std::nullopt, static_cast<int>(t), 0,
                                         "note " + std::to_string(note.pitch) + " on channel " +
                                             std::to_string(note.channel) + " opened at tick " +
                                             std::to_string(note.start_tick) + " was never closed; closed at tick " +
                                             std::to_string(note.end_tick)});
    }
  }

  // Sorts channel events by (lane, playing order).
  static void sort_by_lane(std::vector<ChannelEvent>& v) {
    std::sort(v.begin(), v.end(), [](const ChannelEvent& a, const ChannelEvent& b) {
      return std::tie(a.lane, a.at) < std::tie(b.lane, b.at);
    });
  }
  // The events of one lane: a sub-range of a vector sorted by sort_by_lane.
  static std::pair<const ChannelEvent*, const ChannelEvent*> lane_range(const std::vector<ChannelEvent>& v,
                                                                        std::uint32_t lane) {
    const auto lo = std::lower_bound(v.begin(), v.end(), lane,
                                     [](const ChannelEvent& e, std::uint32_t l) { return e.lane < l; });
    const auto hi = std::upper_bound(lo, v.end(), lane,
                                     [](std::uint32_t l, const ChannelEvent& e) { return l < e.lane; });
    return {v.data() + (lo - v.begin()), v.data() + (hi - v.begin())};
  }
  // The last event of [begin, end) strictly before `at` in playing order, or nullptr.
  static const ChannelEvent* last_before(const ChannelEvent* begin, const ChannelEvent* end, const Position& at) {
    const ChannelEvent* it =
        std::lower_bound(begin, end, at, [](const ChannelEvent& e, const Position& p) { return e.at < p; });
    return it == begin ? nullptr : it - 1;
  }

  // A note's program: the last program change on its channel before the note-on.
  void assign_programs() {
    if (programs_.empty()) return;  // every note keeps program 0
    sort_by_lane(programs_);
    // A track's notes are in playing order, so on each channel the last change before the
    // next note only moves forward: one cursor per channel, advanced by galloping search.
    for (std::uint32_t t = 0; t < file_.tracks.size(); ++t) {
      const ChannelEvent* begin[kChannels];
      const ChannelEvent* end[kChannels];
      const ChannelEvent* cursor[kChannels];
      for (int ch = 0; ch < kChannels; ++ch) {
        std::tie(begin[ch], end[ch]) = lane_range(programs_, lane(t, ch));
        cursor[ch] = begin[ch];
      }
      for (std::size_t n = track_notes_[t]; n < track_notes_[t + 1]; ++n) {
        Note& note = out_.notes[n];
        const int ch = note.channel;
        if (begin[ch] == end[ch]) continue;
        const Position at{note.start_tick, t, work_[n].on};
        const ChannelEvent*& c = cursor[ch];
        if (c != end[ch] && c->at < at) {
          // The first change at or after `at`: double the step until past it, then bisect.
          std::size_t step = 1;
          const ChannelEvent* lo = c;
          while (static_cast<std::size_t>(end[ch] - lo) > step && lo[step].at < at) lo += step, step *= 2;
          const ChannelEvent* hi = static_cast<std::size_t>(end[ch] - lo) > step ? lo + step + 1 : end[ch];
          c = std::lower_bound(lo, hi, at, [](const ChannelEvent& e, const Position& p) { return e.at < p; });
        }
        if (c != begin[ch]) note.program = (c - 1)->value;
      }
    }
  }

  // Magenta's sustain rule: a note released while the pedal is down on its channel ends at the
  // pedal's release, at the next onset of the same pitch on that channel, or with its track,
  // whichever comes first.
  void apply_sustain() {
    if (pedals_.empty()) return;
    sort_by_lane(pedals_);
    // Onsets by (lane, pitch, playing order), to find the next re-strike of a held pitch.
    struct Onset {
      std::uint32_t lane;
      std::uint8_t pitch;
      Position at;
    };
    std::vector<Onset> onsets;
    onsets.reserve(out_.notes.size());
    for (std::size_t n = 0; n < out_.notes.size(); ++n)
      onsets.push_back({lane(out_.notes[n].track, out_.notes[n].channel), out_.notes[n].pitch,
                        {out_.notes[n].start_tick, out_.notes[n].track, work_[n].on}});
    const auto onset_less = [](const Onset& a, const Onset& b) {
      return std::tie(a.lane, a.pitch, a.at) < std::tie(b.lane, b.pitch, b.at);
    };
    std::sort(onsets.begin(), onsets.end(), onset_less);

    for (std::size_t n = 0; n < out_.notes.size(); ++n) {
      if (work_[n].off == kNone) continue;  // never released by its key: ends with its track
      Note& note = out_.notes[n];
      const Position off{note.end_tick, note.track, work_[n].off};
      const std::uint32_t l = lane(note.track, note.channel);
      const auto [begin, end] = lane_range(pedals_, l);
      const ChannelEvent* before = last_before(begin, end, off);
      if (!before || before->value < 64) continue;  // pedal up at the release
      std::uint64_t until = track_end(note.track);
      // The pedal's release: the first pedal event after the note-off with a value below 64.
      for (const ChannelEvent* p = before + 1; p < end; ++p)
        if (p->value < 64) {
          until = std::min(until, p->at.tick);
          break;
        }
      // The next onset of the same pitch on the channel.
      const Onset probe{l, note.pitch, off};
      const auto next = std::upper_bound(onsets.begin(), onsets.end(), probe, onset_less);
      if (next != onsets.end() && next->lane == l && next->pitch == note.pitch) until = std::min(until, next->at.tick);
      note.end_tick = std::max(note.start_tick, until);
      note.end_seconds = map_of(note.track).seconds(note.end_tick);
    }
  }

  // Notes into (start_tick, track, channel, pitch, end_tick) order; controls and bends into
  // (tick, track, file order). Each track's records are already in tick order, one track after
  // another: a stable merge of the tracks' runs gives (tick, track, file order); then each group
  // of notes sharing (start_tick, track), a chord, is sorted by channel, pitch and end.
  void into_playing_order() {
    if (file_.tracks.size() > 1) {
      merge_runs(out_.notes, track_notes_, [](const Note& a, const Note& b) { return a.start_tick < b.start_tick; });
      merge_runs(out_.controls, track_controls_,
                 [](const ControlChange& a, const ControlChange& b) { return a.tick < b.tick; });
      merge_runs(out_.pitch_bends, track_bends_, [](const PitchBend& a, const PitchBend& b) { return a.tick < b.tick; });
    }
    // Each group of notes sharing (start_tick, track), a chord, by channel, pitch and end: in
    // one pass, by insertion (stable, no allocation; chords are small and mostly in order
    // already). A group that grows past 16 notes is finished with std::stable_sort instead.
    const auto within = [](const Note& a, const Note& b) {
      const int ka = a.channel << 7 | a.pitch, kb = b.channel << 7 | b.pitch;
      return ka < kb || (ka == kb && a.end_tick < b.end_tick);
    };
    Note* const notes = out_.notes.data();
    const std::size_t count = out_.notes.size();
    std::vector<std::pair<std::size_t, std::size_t>> large;  // [begin, end) of big groups
    for (std::size_t i = 1, group = 0; i < count; ++i) {
      if (notes[i].start_tick != notes[i - 1].start_tick || notes[i].track != notes[i - 1].track) {
        group = i;
        continue;
      }
      if (i - group >= 16) {
        if (large.empty() || large.back().first != group) large.emplace_back(group, i);
        large.back().second = i + 1;
        continue;
      }
      if (!within(notes[i], notes[i - 1])) continue;  // already in place: the usual case
      const Note note = notes[i];
      std::size_t j = i;
      for (; j > group && within(note, notes[j - 1]); --j) notes[j] = notes[j - 1];
      notes[j] = note;
    }
    for (const auto& [begin, end] : large) std::stable_sort(notes + begin, notes + end, within);
  }


  const MidiFile& file_;
  const NoteOptions& options_;
  const bool zero_length_off_first_;
  Performance out_;
  std::optional<TempoMap> shared_map_, track_map_;  // track_map_: format 2, of track_map_track_
  std::uint32_t track_map_track_ = kNone;
  // Per note (same index as out_.notes until into_playing_order).
  std::vector<NoteWork> work_;
  // Open notes of the track being paired: a queue per (channel, pitch), linked through
  // NoteWork::next.
  std::array<std::uint32_t, kKeys> head_, tail_;
  std::size_t open_count_ = 0;
  // The last note-off per (channel, pitch) of the track being paired that found no open note.
  struct StrayOff {
    std::uint64_t tick = 0;
    std::uint32_t index = kNone;  // in the track; kNone: none
  };
  std::array<StrayOff, kKeys> stray_off_{};
  // Where each track's notes, controls and bends begin (one extra entry: the end).
  std::vector<std::size_t> track_notes_, track_controls_, track_bends_;
  std::vector<ChannelEvent> programs_, pedals_;
};

}  // namespace

Performance extract_notes(const MidiFile& file, const NoteOptions& options) {
  return NoteExtractor(file, options).run();
}

}  // namespace midi
