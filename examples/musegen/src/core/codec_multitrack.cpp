// The multitrack encoding: several instruments in one token sequence (layout: multitrack.hpp).
//
// Why this design (docs/musegen.md, "Several instruments", has the longer version):
//   - Time-ordered, like MuseNet and the Multitrack Music Transformer, not bar by bar and
//     track by track as MMM: an LSTM reads left to right, and accompaniment of a given part
//     across a whole piece needs every part's notes at an onset next to each other, so that
//     the given part's notes can be fed in as they come and the others sampled around them.
//   - The part is folded into the note token ("t2:C4"), as MuseNet folds the instrument: one
//     token per note plus its duration, where a separate part token would add a third. Parts,
//     not instruments, because a quartet has two violins and a chorale four voices on one GM
//     program; the ensemble at the start says which instrument each part is.
//   - Durations, not note-offs: a note's end is known when it starts, so the sampler can keep
//     parts monophonic or in range without bookkeeping, and decoding never leaves a note open.
//   - A fixed vocabulary (27 + 6 × 88 + 2 × 16 = 587 tokens with the defaults): small enough
//     for a fast LSTM softmax, and the same for every dataset, so models can be compared.
//
// Encoding: the onsets and durations are rounded to the grid (round half up; a note is at
// least one unit). At each onset the notes come by part, then pitch, then duration. Notes
// outside A0..C8, drum notes and the notes of parts past params.tracks are dropped and
// counted. Decoding gives the grid's times exactly: decode(encode(p)) is p on the grid.
#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "codec_internal.hpp"
#include "instruments.hpp"
#include "multitrack.hpp"

namespace musegen {

std::vector<MultitrackPart> multitrack_parts(const Piece& piece, const CodecParams& params) {
  std::vector<MultitrackPart> parts;
  if (piece.tracks.empty()) {
    std::map<int, int> programs;  // program → part
    for (const PieceNote& n : piece.notes)
      if (!n.drum) programs.emplace(n.program, 0);
    for (auto& [program, index] : programs) {
      if (static_cast<int>(parts.size()) >= params.tracks) break;
      index = static_cast<int>(parts.size());
      parts.push_back({instrument_for_track("", program, params.instruments), {program}});
    }
    return parts;
  }
  for (std::size_t t = 0; t < piece.tracks.size() && static_cast<int>(parts.size()) < params.tracks;
       ++t) {
    const PieceTrack& track = piece.tracks[t];
    if (track.drum) continue;
    parts.push_back({instrument_for_track(track.name, track.program, params.instruments),
                     {static_cast<int>(t)}});
  }
  return parts;
}

namespace detail {

namespace {

// The part of every note (-1: dropped), by the rule of multitrack_parts.
std::vector<int> part_of_notes(const Piece& piece, const std::vector<MultitrackPart>& parts) {
  std::map<int, int> part_of_source;
  for (std::size_t k = 0; k < parts.size(); ++k)
    for (int s : parts[k].source) part_of_source[s] = static_cast<int>(k);
  std::vector<int> result(piece.notes.size(), -1);
  for (std::size_t i = 0; i < piece.notes.size(); ++i) {
    const PieceNote& n = piece.notes[i];
    if (n.drum) continue;
    const int source = piece.tracks.empty() ? n.program : n.track;
    auto it = part_of_source.find(source);
    if (it != part_of_source.end()) result[i] = it->second;
  }
  return result;
}

std::vector<std::string> multitrack_vocabulary(const CodecParams& params) {
  const MultitrackLayout l(params);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(l.size));
  for (int i = 0; i < l.instruments; ++i)
    names.push_back("inst:" + std::string(instrument(i).name));
  for (int k = 0; k < l.tracks; ++k)
    for (int p = 0; p < kMultitrackPitches; ++p)
      names.push_back("t" + std::to_string(k) + ":" + pitch_name(kMultitrackLowestPitch + p));
  for (int u = 1; u <= l.max_units; ++u) names.push_back("dur:" + std::to_string(u));
  for (int u = 1; u <= l.max_units; ++u) names.push_back("wait:" + std::to_string(u));
  return names;
}

std::vector<std::int32_t> encode_multitrack(const CodecParams& params, const Piece& piece,
                                            EncodeStats* stats) {
  const MultitrackLayout l(params);
  const std::vector<MultitrackPart> parts = multitrack_parts(piece, params);
  const std::vector<int> part = part_of_notes(piece, parts);
  struct Note {
    std::int64_t start, units;
    int part, pitch;
    auto key() const { return std::tie(start, part, pitch, units); }
  };
  std::vector<Note> notes;
  notes.reserve(piece.notes.size());
  for (std::size_t i = 0; i < piece.notes.size(); ++i) {
    const PieceNote& n = piece.notes[i];
    if (stats) ++stats->notes;
    if (part[i] < 0 || n.pitch < kMultitrackLowestPitch ||
        n.pitch >= kMultitrackLowestPitch + kMultitrackPitches) {
      if (stats) ++stats->notes_dropped;
      continue;
    }
    const std::int64_t start =
        std::max<std::int64_t>(0, round_half_up(n.start_quarters * params.grid));
    const std::int64_t end = round_half_up(n.end_quarters * params.grid);
    notes.push_back({start, std::max<std::int64_t>(1, end - start), part[i], n.pitch});
  }
  std::sort(notes.begin(), notes.end(),
            [](const Note& a, const Note& b) { return a.key() < b.key(); });
  // A part sounds a pitch once: a later onset of the same pitch in the same part ends the
  // note before it (files that pair overlapping note-offs first in, first out would otherwise
  // hold notes for hundreds of bars; docs/musegen.md).
  // Every note of the pitch at the part's previous onset is cut, not only the last one: a part
  // may strike a pitch twice at one onset (a unison double stop, notes merged by the grid), and
  // cutting only one left the other sounding on, so that decode → encode cut it and the tokens
  // were no fixed point. Notes of one (start, part, pitch) are adjacent in this order.
  std::map<std::pair<int, int>, std::pair<std::size_t, std::size_t>>
      last;  // (part, pitch) → first and last index of its notes at its last onset
  for (std::size_t i = 0; i < notes.size(); ++i) {
    auto [it, fresh] = last.try_emplace({notes[i].part, notes[i].pitch}, i, i);
    if (fresh) continue;
    auto& [from, to] = it->second;
    if (notes[from].start == notes[i].start) {
      to = i;
      continue;
    }
    for (std::size_t k = from; k <= to; ++k)
      notes[k].units = std::min(notes[k].units, notes[i].start - notes[k].start);
    from = to = i;
  }

  std::vector<std::int32_t> tokens;
  tokens.reserve(parts.size() + notes.size() * 3);
  for (const MultitrackPart& p : parts) tokens.push_back(l.instrument(p.instrument));
  std::int64_t now = 0;
  for (const Note& n : notes) {
    for (std::int64_t gap = n.start - now; gap > 0;) {
      const auto u = static_cast<int>(std::min<std::int64_t>(gap, l.max_units));
      tokens.push_back(l.wait(u));
      gap -= u;
    }
    now = n.start;
    tokens.push_back(l.note(n.part, n.pitch));
    for (std::int64_t left = n.units; left > 0;) {
      const auto u = static_cast<int>(std::min<std::int64_t>(left, l.max_units));
      tokens.push_back(l.duration(u));
      left -= u;
    }
  }
  return tokens;
}

Piece decode_multitrack(const CodecParams& params, std::span<const std::int32_t> tokens,
                        const DecodeOptions& options) {
  const MultitrackLayout l(params);
  const double seconds_per_quarter = 60.0 / options.tempo_bpm;
  Piece piece;
  std::vector<int> ensemble;  // instrument of each part declared by the header
  bool in_header = true;
  std::int64_t now = 0;
  int max_part = -1;
  struct Open {
    std::size_t note;
    std::int64_t units;
  };
  std::optional<Open> open;  // the last note, while its duration tokens come
  const auto close = [&] {
    if (!open) return;
    PieceNote& n = piece.notes[open->note];
    const std::int64_t units = std::max<std::int64_t>(1, open->units);
    n.end_quarters = n.start_quarters + static_cast<double>(units) / params.grid;
    n.end_seconds = n.end_quarters * seconds_per_quarter;
    open.reset();
  };
  for (const std::int32_t id : tokens) {
    const MultitrackLayout::Token t = l.decode(id);
    if (t.kind == MultitrackLayout::Kind::duration) {
      if (open) open->units += t.value;
      continue;  // a duration with no note before it is ignored
    }
    close();
    switch (t.kind) {
      case MultitrackLayout::Kind::instrument:
        if (in_header) ensemble.push_back(t.value);  // later ones are ignored
        break;
      case MultitrackLayout::Kind::note: {
        in_header = false;
        PieceNote n;
        n.start_quarters = static_cast<double>(now) / params.grid;
        n.start_seconds = n.start_quarters * seconds_per_quarter;
        n.pitch = t.value;
        n.velocity = options.velocity;
        n.track = t.part;
        max_part = std::max(max_part, t.part);
        open = Open{piece.notes.size(), 0};
        piece.notes.push_back(n);
        break;
      }
      case MultitrackLayout::Kind::wait:
        in_header = false;
        now += t.value;
        break;
      case MultitrackLayout::Kind::duration:
        break;
    }
  }
  close();
  // Parts: the ensemble, then any part a note names beyond it (as piano).
  const std::size_t parts = std::max(ensemble.size(), static_cast<std::size_t>(max_part + 1));
  std::map<int, int> count, seen;
  for (std::size_t k = 0; k < parts; ++k) ++count[k < ensemble.size() ? ensemble[k] : 0];
  for (std::size_t k = 0; k < parts; ++k) {
    const int index = k < ensemble.size() ? ensemble[k] : 0;
    const Instrument& inst = instrument(index);
    PieceTrack track;
    track.name = std::string(inst.display);
    if (count[index] > 1) track.name += " " + std::to_string(++seen[index]);
    track.program = inst.program;
    piece.tracks.push_back(std::move(track));
  }
  for (PieceNote& n : piece.notes)
    n.program = piece.tracks[static_cast<std::size_t>(n.track)].program;
  return piece;
}

class MultitrackCodec final : public CodecImpl {
 public:
  explicit MultitrackCodec(const CodecParams& params)
      : CodecImpl(Encoding::multitrack, params, multitrack_vocabulary(params)) {}

  StepFormat step() const override {
    return {StepKind::token, static_cast<std::int64_t>(tokens().size())};
  }

  std::string describe() const override {
    const CodecParams& p = params();
    return "multitrack: grid 1/" + std::to_string(p.grid) + " quarter, durations and waits up to " +
           std::to_string(p.max_duration) + " units, " + std::to_string(p.tracks) + " parts, " +
           std::to_string(p.instruments) + " instruments, " + std::to_string(tokens().size()) +
           " tokens";
  }

  Sequence encode(const Piece& piece, std::string source, EncodeStats* stats) const override {
    return Sequence::of_tokens(std::move(source), encode_multitrack(params(), piece, stats));
  }

  Piece decode(const Sequence& sequence, const DecodeOptions& options) const override {
    for (std::int32_t id : sequence.tokens) token(id);  // range check
    return decode_multitrack(params(), sequence.tokens, options);
  }

  // Every note of every part stays within its instrument's range (notes already outside it,
  // as some parts of real music are, allow no transposition but none at all).
  bool transposable(const Piece& piece, int semitones) const override {
    if (semitones == 0) return true;
    const std::vector<MultitrackPart> parts = multitrack_parts(piece, params());
    const std::vector<int> part = part_of_notes(piece, parts);
    for (std::size_t i = 0; i < piece.notes.size(); ++i) {
      if (part[i] < 0) continue;
      const Instrument& inst = instrument(parts[static_cast<std::size_t>(part[i])].instrument);
      const int p = piece.notes[i].pitch + semitones;
      if (p < inst.lowest || p > inst.highest) return false;
    }
    return true;
  }
};

void validate_multitrack(const CodecParams& p) {
  check_param_range("multitrack", "grid (units per quarter)", p.grid, 1, kMaxGrid);
  check_param_range("multitrack", "max duration (grid units)", p.max_duration, 1,
                    kMaxDurationGrids * p.grid);
  check_param_range("multitrack", "tracks", p.tracks, 1, kMaxTracks);
  check_param_range("multitrack", "instruments", p.instruments, 1,
                    static_cast<std::int64_t>(instruments().size()));
}

}  // namespace

const EncodingSpec& multitrack_spec() {
  static const EncodingSpec spec{
      Encoding::multitrack,
      "multitrack",
      StepKind::token,
      false,
      [](const CodecParams&) -> std::string {
        return "a multitrack token (inst:violin, t0:C4, dur:1, wait:1)";
      },
      {{"grid", &CodecParams::grid},
       {"max_duration", &CodecParams::max_duration},
       {"tracks", &CodecParams::tracks},
       {"instruments", &CodecParams::instruments}},
      validate_multitrack,
      [](const CodecParams& params, std::vector<std::string>) -> std::shared_ptr<const CodecImpl> {
        validate_multitrack(params);
        return std::make_shared<MultitrackCodec>(params);
      }};
  return spec;
}

}  // namespace detail

}  // namespace musegen
