// The Codec: names, parameters and vocabulary of an encoding, and the parts every encoding
// shares (MIDI → Piece, Piece → MIDI, augmentation). The encodings themselves are in
// codec_events.cpp, codec_roll.cpp and codec_notes.cpp.
#include <algorithm>
#include <array>
#include <map>
#include <stdexcept>

#include "codec_internal.hpp"
#include "libmidi/notes.hpp"
#include "libmidi/tempo_map.hpp"

namespace musegen {

namespace {

constexpr std::array<std::string_view, 12> kPitchClassNames = {
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};

// The encodings' table: the one place that lists them.
const std::array<const detail::EncodingSpec*, 4>& specs() {
  static const std::array<const detail::EncodingSpec*, 4> table = {
      &detail::notes_spec(), &detail::events_spec(), &detail::roll_spec(),
      &detail::multitrack_spec()};
  return table;
}

const detail::EncodingSpec& spec(Encoding encoding) {
  for (const detail::EncodingSpec* s : specs())
    if (s->encoding == encoding) return *s;
  throw std::invalid_argument("unknown encoding " + std::to_string(static_cast<int>(encoding)));
}

}  // namespace

std::string_view encoding_name(Encoding encoding) { return spec(encoding).name; }

Encoding parse_encoding(std::string_view name) {
  std::string choices;
  for (const detail::EncodingSpec* s : specs()) {
    if (s->name == name) return s->encoding;
    choices += (choices.empty() ? "" : ", ") + std::string(s->name);
  }
  throw std::invalid_argument("encoding: expected one of " + choices + ", found \"" +
                              std::string(name) + "\"");
}

StepKind step_kind(Encoding encoding) { return spec(encoding).step_kind; }

bool vocabulary_from_data(Encoding encoding) { return spec(encoding).vocabulary_from_data; }

std::string token_grammar(Encoding encoding, const CodecParams& params) {
  return spec(encoding).token_grammar(params);
}

std::string pitch_name(int pitch) {
  if (pitch < 0 || pitch > 127) throw std::out_of_range("pitch " + std::to_string(pitch));
  return std::string(kPitchClassNames[static_cast<std::size_t>(pitch % 12)]) +
         std::to_string(pitch / 12 - 1);
}

int parse_pitch_name(std::string_view name) {
  if (name.empty()) return -1;
  static constexpr std::array<int, 7> kLetter = {9, 11, 0, 2, 4, 5, 7};  // A B C D E F G
  const char letter = name[0];
  if (letter < 'A' || letter > 'G') return -1;
  int pc = kLetter[static_cast<std::size_t>(letter - 'A')];
  std::size_t i = 1;
  if (i < name.size() && (name[i] == '#' || name[i] == 'b')) {
    pc += name[i] == '#' ? 1 : -1;
    ++i;
  }
  // Octave: -1..9, as digits with an optional minus sign.
  const std::string_view octave_text = name.substr(i);
  if (octave_text.empty() || octave_text.size() > 2) return -1;
  int sign = 1;
  std::size_t j = 0;
  if (octave_text[0] == '-') {
    sign = -1;
    j = 1;
  }
  if (j + 1 != octave_text.size() || octave_text[j] < '0' || octave_text[j] > '9') return -1;
  const int octave = sign * (octave_text[j] - '0');
  const int pitch = (octave + 1) * 12 + pc;
  return pitch >= 0 && pitch <= 127 ? pitch : -1;
}

// ---------------------------------------------------------------------------------------------
// Sequences

Sequence Sequence::of_tokens(std::string source, std::vector<std::int32_t> tokens) {
  Sequence s;
  s.source = std::move(source);
  s.tokens = std::move(tokens);
  return s;
}

Sequence Sequence::of_frames(std::string source, std::int64_t width, std::vector<std::uint8_t> frames) {
  if (width < 1 || frames.size() % static_cast<std::size_t>(width) != 0)
    throw std::invalid_argument(source + ": expected frames in rows of " + std::to_string(width) +
                                ", found " + std::to_string(frames.size()) + " values");
  Sequence s;
  s.source = std::move(source);
  s.kind = StepKind::frame;
  s.width = width;
  s.frames = std::move(frames);
  return s;
}

Sequence Sequence::empty_of(const StepFormat& format, std::string source) {
  return format.kind == StepKind::frame ? of_frames(std::move(source), format.size)
                                        : of_tokens(std::move(source));
}

std::int64_t Sequence::steps() const {
  return kind == StepKind::frame ? static_cast<std::int64_t>(frames.size()) / width
                                 : static_cast<std::int64_t>(tokens.size());
}

void Sequence::truncate(std::int64_t n) {
  if (n >= steps()) return;
  n = std::max<std::int64_t>(n, 0);
  if (kind == StepKind::frame) {
    frames.resize(static_cast<std::size_t>(n * width));
  } else {
    tokens.resize(static_cast<std::size_t>(n));
  }
}

void Sequence::append(const Sequence& other) {
  if (other.kind != kind || (kind == StepKind::frame && other.width != width))
    throw std::invalid_argument("append: " + other.source + " has other steps than " + source);
  tokens.insert(tokens.end(), other.tokens.begin(), other.tokens.end());
  frames.insert(frames.end(), other.frames.begin(), other.frames.end());
}

bool Sequence::matches(const StepFormat& format) const {
  return kind == format.kind && (kind == StepKind::token || width == format.size);
}

// ---------------------------------------------------------------------------------------------
// Pieces

Piece piece_from_midi(const midi::MidiFile& file, const midi::NoteOptions& options) {
  const midi::Performance performance = midi::extract_notes(file, options);
  Piece piece;
  piece.notes.reserve(performance.notes.size());
  const bool smpte = file.division.smpte;
  const double ticks_per_quarter = smpte ? 1.0 : file.division.ticks_per_quarter;
  for (const midi::Note& n : performance.notes) {
    PieceNote p;
    p.start_seconds = n.start_seconds;
    p.end_seconds = n.end_seconds;
    if (smpte) {  // no quarter notes in the file: read it at 120 bpm
      p.start_quarters = n.start_seconds * 2;
      p.end_quarters = n.end_seconds * 2;
    } else {
      p.start_quarters = static_cast<double>(n.start_tick) / ticks_per_quarter;
      p.end_quarters = static_cast<double>(n.end_tick) / ticks_per_quarter;
    }
    p.pitch = n.pitch;
    p.velocity = std::max<int>(1, n.velocity);
    p.program = n.program;
    p.drum = n.drum;
    piece.notes.push_back(p);
  }
  // The parts: (track, channel) pairs with notes, in that order; named after their track.
  std::map<std::pair<int, int>, int> part_of;
  for (const midi::Note& n : performance.notes)
    part_of.emplace(std::pair<int, int>{n.track, n.channel}, 0);
  for (auto& [key, index] : part_of) {
    index = static_cast<int>(piece.tracks.size());
    PieceTrack part;
    part.drum = key.second == 9;
    part.midi_track = key.first;
    part.channel = key.second;
    const midi::Track& track = file.tracks[static_cast<std::size_t>(key.first)];
    for (const midi::Event& e : track.events) {
      if (e.is_meta(midi::meta::kTrackName)) {
        part.name = std::string(track.text(e));
        break;
      }
    }
    piece.tracks.push_back(std::move(part));
  }
  std::vector<bool> seen(piece.tracks.size(), false);
  for (std::size_t i = 0; i < performance.notes.size(); ++i) {
    const midi::Note& n = performance.notes[i];
    const int part = part_of.at({n.track, n.channel});
    piece.notes[i].track = part;
    if (!seen[static_cast<std::size_t>(part)]) {  // notes are in time order: the first one
      seen[static_cast<std::size_t>(part)] = true;
      piece.tracks[static_cast<std::size_t>(part)].program = n.program;
    }
  }
  return piece;
}

bool transpose_piece(Piece& piece, int semitones) {
  for (const PieceNote& n : piece.notes) {
    if (n.drum) continue;
    const int p = n.pitch + semitones;
    if (p < 0 || p > 127) return false;
  }
  for (PieceNote& n : piece.notes)
    if (!n.drum) n.pitch += semitones;
  return true;
}

void stretch_piece(Piece& piece, double factor) {
  if (!(factor > 0)) throw std::invalid_argument("stretch: expected a factor > 0");
  for (PieceNote& n : piece.notes) {
    n.start_quarters *= factor;
    n.end_quarters *= factor;
    n.start_seconds *= factor;
    n.end_seconds *= factor;
  }
}

namespace {

constexpr std::uint16_t kPpq = 480;

std::uint64_t tick_of(double quarters) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, detail::round_half_up(quarters * kPpq)));
}

// A piece with parts: one MIDI track per part after the tempo track. Melodic parts take
// channels 0..15 in turn (10 skipped), drums channel 10.
void write_parts(const Piece& piece, midi::MidiFile& file) {
  int next = 0;
  for (std::size_t t = 0; t < piece.tracks.size(); ++t) {
    int channel = 9;
    if (!piece.tracks[t].drum) {
      channel = next;
      next = (next + 1) % 16;
      if (next == 9) next = 10;
    }
    file.tracks.push_back(part_to_track(piece, static_cast<int>(t), channel, kPpq));
  }
}

}  // namespace

midi::Track part_to_track(const Piece& piece, int part, int channel, int ticks_per_quarter) {
  const auto tick = [&](double quarters) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, detail::round_half_up(quarters * ticks_per_quarter)));
  };
  struct MidiEvent {
    std::uint64_t tick;
    int on, pitch, velocity;
  };
  const int parts = static_cast<int>(piece.tracks.size());
  std::vector<MidiEvent> events;
  for (const PieceNote& n : piece.notes) {
    if ((n.track >= 0 && n.track < parts ? n.track : 0) != part) continue;  // no part: the first
    const std::uint64_t start = tick(n.start_quarters);
    const std::uint64_t end = std::max(tick(n.end_quarters), start + 1);
    events.push_back({start, 1, n.pitch, std::clamp(n.velocity, 1, 127)});
    events.push_back({end, 0, n.pitch, 0});
  }
  std::stable_sort(events.begin(), events.end(), [](const MidiEvent& a, const MidiEvent& b) {
    if (a.tick != b.tick) return a.tick < b.tick;
    if (a.on != b.on) return a.on < b.on;
    return a.pitch < b.pitch;
  });
  const PieceTrack& info = piece.tracks.at(static_cast<std::size_t>(part));
  midi::Track track;
  const auto ch = static_cast<std::uint8_t>(channel);
  if (!info.name.empty()) track.add_meta_text(0, midi::meta::kTrackName, info.name);
  if (!info.drum)
    track.add_channel(0, static_cast<std::uint8_t>(0xC0 | ch),
                      static_cast<std::uint8_t>(std::clamp(info.program, 0, 127)));
  for (const MidiEvent& e : events)
    track.add_channel(e.tick, static_cast<std::uint8_t>((e.on ? 0x90 : 0x80) | ch),
                      static_cast<std::uint8_t>(e.pitch), static_cast<std::uint8_t>(e.velocity));
  track.add_end_of_track(track.end_tick());
  return track;
}

midi::MidiFile piece_to_midi(const Piece& piece, const DecodeOptions& options) {
  if (!(options.tempo_bpm >= kMinTempoBpm && options.tempo_bpm <= kMaxTempoBpm))
    throw std::invalid_argument("tempo: expected " + std::to_string(static_cast<int>(kMinTempoBpm)) + ".." +
                                std::to_string(static_cast<int>(kMaxTempoBpm)) + " bpm, found " +
                                std::to_string(options.tempo_bpm));
  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kPpq);
  file.tracks.resize(1);
  midi::Track& tempo_track = file.tracks[0];
  tempo_track.add_meta_text(0, midi::meta::kTrackName, "musegen");
  tempo_track.add_tempo(0, static_cast<std::uint32_t>(std::lround(60e6 / options.tempo_bpm)));
  tempo_track.add_end_of_track(0);
  if (!piece.tracks.empty()) {
    write_parts(piece, file);
    return file;
  }
  file.tracks.resize(2);

  // Channels are given to instruments as they appear, drums always on channel 10 (index 9).
  // With more than 15 melodic instruments, the channel used longest ago among those with no
  // sounding note is taken over, with a program change just before its next note.
  struct MidiEvent {
    std::uint64_t tick;
    int on;  // 0 off, 1 on: offs first at equal ticks
    int instrument, pitch;
    std::size_t note;
  };
  std::vector<MidiEvent> events;
  events.reserve(piece.notes.size() * 2);
  for (std::size_t i = 0; i < piece.notes.size(); ++i) {
    const PieceNote& n = piece.notes[i];
    const int instrument = n.drum ? 128 : n.program;
    const std::uint64_t start = tick_of(n.start_quarters);
    const std::uint64_t end = std::max(tick_of(n.end_quarters), start + 1);
    events.push_back({start, 1, instrument, n.pitch, i});
    events.push_back({end, 0, instrument, n.pitch, i});
  }
  std::stable_sort(events.begin(), events.end(), [](const MidiEvent& a, const MidiEvent& b) {
    if (a.tick != b.tick) return a.tick < b.tick;
    if (a.on != b.on) return a.on < b.on;
    if (a.instrument != b.instrument) return a.instrument < b.instrument;
    return a.pitch < b.pitch;
  });

  struct Channel {
    int program = -1;  // none yet
    int sounding = 0;
    std::uint64_t last_used = 0;
  };
  std::array<Channel, 16> channels;
  std::vector<int> channel_of_note(piece.notes.size(), 0);
  midi::Track& notes = file.tracks[1];
  for (const MidiEvent& e : events) {
    const PieceNote& n = piece.notes[e.note];
    if (!e.on) {
      const int ch = channel_of_note[e.note];
      --channels[static_cast<std::size_t>(ch)].sounding;
      notes.add_channel(e.tick, static_cast<std::uint8_t>(0x80 | ch), static_cast<std::uint8_t>(n.pitch), 0);
      continue;
    }
    int ch = 9;
    if (e.instrument != 128) {
      ch = -1;
      for (int c = 0; c < 16 && ch < 0; ++c)
        if (c != 9 && channels[static_cast<std::size_t>(c)].program == e.instrument) ch = c;
      for (int c = 0; c < 16 && ch < 0; ++c)
        if (c != 9 && channels[static_cast<std::size_t>(c)].program < 0) ch = c;
      if (ch < 0) {  // take over the channel used longest ago, silent ones first
        for (int c = 0; c < 16; ++c) {
          if (c == 9) continue;
          const Channel& cand = channels[static_cast<std::size_t>(c)];
          if (ch < 0) {
            ch = c;
            continue;
          }
          const Channel& best = channels[static_cast<std::size_t>(ch)];
          if ((cand.sounding == 0) != (best.sounding == 0) ? cand.sounding == 0 : cand.last_used < best.last_used)
            ch = c;
        }
      }
      Channel& chosen = channels[static_cast<std::size_t>(ch)];
      if (chosen.program != e.instrument) {
        notes.add_channel(e.tick, static_cast<std::uint8_t>(0xC0 | ch), static_cast<std::uint8_t>(e.instrument));
        chosen.program = e.instrument;
      }
    }
    Channel& used = channels[static_cast<std::size_t>(ch)];
    ++used.sounding;
    used.last_used = e.tick;
    channel_of_note[e.note] = ch;
    notes.add_channel(e.tick, static_cast<std::uint8_t>(0x90 | ch), static_cast<std::uint8_t>(n.pitch),
                      static_cast<std::uint8_t>(std::clamp(n.velocity, 1, 127)));
  }
  notes.add_end_of_track(notes.end_tick());
  return file;
}

// ---------------------------------------------------------------------------------------------
// Codec

namespace detail {

void check_param_range(std::string_view encoding, std::string_view name, std::int64_t value,
                       std::int64_t lo, std::int64_t hi) {
  if (value < lo || value > hi)
    throw std::invalid_argument(std::string(encoding) + ": " + std::string(name) + ": expected " +
                                std::to_string(lo) + ".." + std::to_string(hi) + ", found " +
                                std::to_string(value));
}

CodecImpl::CodecImpl(Encoding encoding, const CodecParams& params, std::vector<std::string> tokens)
    : encoding_(encoding), params_(params), tokens_(std::move(tokens)) {
  ids_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (!ids_.emplace(tokens_[i], static_cast<std::int32_t>(i)).second)
      throw std::invalid_argument(std::string(encoding_name(encoding)) +
                                  " vocabulary: token \"" + tokens_[i] + "\" appears twice");
  }
}

const std::string& CodecImpl::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
    throw std::out_of_range(std::string(encoding_name(encoding_)) + ": token id " +
                            std::to_string(id) + " outside the vocabulary (0.." +
                            std::to_string(static_cast<std::int64_t>(tokens_.size()) - 1) + ")");
  return tokens_[static_cast<std::size_t>(id)];
}

bool CodecImpl::transposable(const Piece& piece, int semitones) const {
  for (const PieceNote& n : piece.notes)
    if (!n.drum && (n.pitch + semitones < 0 || n.pitch + semitones > 127)) return false;
  return true;
}

std::int32_t CodecImpl::find(std::string_view name) const {
  auto it = ids_.find(std::string(name));
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace detail

void validate_params(Encoding encoding, const CodecParams& p) { spec(encoding).validate(p); }

Codec::Codec() : Codec(detail::events_spec().make(CodecParams{}, {})) {}

Codec::Codec(std::shared_ptr<const detail::CodecImpl> impl) : impl_(std::move(impl)) {}

Codec Codec::roll(int frames_per_quarter) {
  CodecParams p;
  p.frames_per_quarter = frames_per_quarter;
  return make(Encoding::roll, p);
}

Codec Codec::events(const CodecParams& params) { return make(Encoding::events, params); }

Codec Codec::notes(const CodecParams& params, std::vector<std::string> vocabulary) {
  return make(Encoding::notes, params, std::move(vocabulary));
}

Codec Codec::make(Encoding encoding, const CodecParams& params, std::vector<std::string> vocabulary) {
  return Codec(spec(encoding).make(params, std::move(vocabulary)));
}

Encoding Codec::encoding() const { return impl_->encoding(); }
const CodecParams& Codec::params() const { return impl_->params(); }
StepFormat Codec::step() const { return impl_->step(); }
std::int64_t Codec::vocab_size() const { return static_cast<std::int64_t>(impl_->tokens().size()); }
const std::string& Codec::token(std::int32_t id) const { return impl_->token(id); }
const std::vector<std::string>& Codec::vocabulary() const { return impl_->tokens(); }
std::int32_t Codec::find(std::string_view name) const { return impl_->find(name); }
std::string Codec::describe() const { return impl_->describe(); }

std::vector<std::pair<std::string, int*>> encoding_parameters(Encoding encoding, CodecParams& p) {
  std::vector<std::pair<std::string, int*>> list;
  for (const auto& [name, member] : spec(encoding).parameters) list.emplace_back(std::string(name), &(p.*member));
  return list;
}

std::vector<std::pair<std::string, std::int64_t>> Codec::parameter_list() const {
  std::vector<std::pair<std::string, std::int64_t>> list;
  for (const auto& [name, member] : spec(encoding()).parameters)
    list.emplace_back(std::string(name), params().*member);
  return list;
}

Sequence Codec::encode(const midi::MidiFile& file, std::string source, std::int64_t* dropped) const {
  EncodeStats stats;
  Sequence s = encode(piece_from_midi(file), std::move(source), &stats);
  if (dropped) *dropped = stats.tokens_dropped;
  return s;
}

std::vector<std::string> Codec::notes_token_names(const Piece& piece, EncodeStats* stats) const {
  if (encoding() != Encoding::notes)
    throw std::logic_error("notes_token_names on a " + std::string(encoding_name(encoding())) +
                           " codec");
  return detail::encode_notes_names(params(), piece, stats);
}

bool Codec::transposable(const Piece& piece, int semitones) const {
  return impl_->transposable(piece, semitones);
}

Sequence Codec::encode(const Piece& piece, std::string source, EncodeStats* stats) const {
  return impl_->encode(piece, std::move(source), stats);
}

Piece Codec::decode_piece(const Sequence& sequence, const DecodeOptions& options) const {
  if (!(options.tempo_bpm > 0))
    throw std::invalid_argument("tempo: expected bpm > 0, found " + std::to_string(options.tempo_bpm));
  if (options.program < 0 || options.program > 127)
    throw std::invalid_argument("program: expected 0..127, found " + std::to_string(options.program));
  if (options.velocity < 1 || options.velocity > 127)
    throw std::invalid_argument("velocity: expected 1..127, found " + std::to_string(options.velocity));
  const StepFormat format = step();
  if (!sequence.matches(format) ||
      (format.kind == StepKind::frame && sequence.frames.size() % static_cast<std::size_t>(format.size) != 0)) {
    const auto what = [](StepKind kind, std::int64_t width) {
      return kind == StepKind::token ? std::string("tokens") : "frames of " + std::to_string(width);
    };
    throw std::invalid_argument(std::string(encoding_name(encoding())) + ": expected " +
                                what(format.kind, format.size) + ", found " +
                                what(sequence.kind, sequence.width) +
                                (sequence.is_frames() ? " (" + std::to_string(sequence.frames.size()) + " values)" : ""));
  }
  return impl_->decode(sequence, options);
}

midi::MidiFile Codec::decode(const Sequence& sequence, const DecodeOptions& options) const {
  return piece_to_midi(decode_piece(sequence, options), options);
}

std::vector<std::string> build_notes_vocabulary(const CodecParams& params,
                                                const std::vector<std::vector<std::string>>& pieces,
                                                std::int64_t min_chord_count) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& piece : pieces)
    for (const std::string& name : piece) ++counts[name];
  // Rare chords are spelled as their notes: move their counts there.
  std::map<std::string, std::int64_t> kept;
  detail::NotesToken t;
  for (const auto& [name, count] : counts) {
    if (!detail::parse_notes_token(params, name, t))
      throw std::invalid_argument("notes vocabulary: not a notes token: \"" + name + "\"");
    if (t.wait) continue;  // every wait is in the vocabulary anyway
    if (t.pitches.size() > 1 && count < min_chord_count) {
      for (int p : t.pitches) kept[detail::notes_token_name(params, {false, {p}, t.units})] += count;
    } else {
      kept[name] += count;
    }
  }
  std::vector<std::string> vocabulary;
  for (int units = 1; units <= params.max_duration; ++units)
    vocabulary.push_back(detail::notes_token_name(params, {true, {}, units}));
  std::vector<std::pair<std::string, std::int64_t>> sorted(kept.begin(), kept.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (auto& [name, count] : sorted) vocabulary.push_back(name);
  return vocabulary;
}

}  // namespace musegen
