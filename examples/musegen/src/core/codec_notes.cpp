// The notes encoding: the note and chord tokens of the classic Keras + music21 pipeline
// (pitch names; a chord is its set of pitches), extended with durations and time advances
// so that generated music keeps its rhythm.
//
//   "E4:1/2"        the note E4 lasting an eighth (1/2 quarter note)
//   "C4.E4.G4:1"    the chord C4 E4 G4, every note lasting a quarter
//   "wait:1/4"      time moves on by a sixteenth
//
// Durations and time advances are multiples of 1/grid quarter note (grid 4: sixteenths),
// written as reduced fractions of a quarter note, up to max_duration grid units. A time
// advance may be any multiple (longer ones are several wait tokens); a note's duration is
// snapped to the nearest of the common values, to keep the vocabulary small: every multiple
// up to a quarter note, then half quarters up to two quarters, then whole quarters (grid 4:
// 1/4 1/2 3/4 1 3/2 2 3 4). Notes whose
// onsets fall on the same grid point form one chord per distinct duration (shortest first);
// all the tokens of one onset come before the wait that leaves it. Pitch names use sharps
// ("C#4"; MIDI 60 = C4). Drums are left out. Tokens sound at the time reached by the waits
// before them, so a chord can also be spelled as its notes one after another.
#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "codec_internal.hpp"

namespace musegen::detail {

namespace {

std::string fraction(int units, int grid) {
  const int g = std::gcd(units, grid);
  const int num = units / g, den = grid / g;
  return den == 1 ? std::to_string(num) : std::to_string(num) + "/" + std::to_string(den);
}

bool parse_int(std::string_view text, int& out) {
  if (text.empty() || text[0] == '+' || text[0] == '-') return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// "3/2" at grid 4 → 6 units; false unless a whole number of units in 1..max_duration written
// in lowest terms (so that every duration has exactly one spelling).
bool parse_units(const CodecParams& params, std::string_view text, int& units) {
  int num = 0, den = 1;
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    if (!parse_int(text, num)) return false;
  } else if (!parse_int(text.substr(0, slash), num) || !parse_int(text.substr(slash + 1), den)) {
    return false;
  }
  if (num <= 0 || den <= 0 || params.grid % den != 0) return false;
  const long long u = static_cast<long long>(num) * (params.grid / den);
  if (u < 1 || u > params.max_duration) return false;
  units = static_cast<int>(u);
  return fraction(units, params.grid) == text;
}

}  // namespace

bool is_note_duration(const CodecParams& params, int units) {
  const int g = params.grid;
  if (units < 1 || units > params.max_duration) return false;
  return units <= g || (g % 2 == 0 && units <= 2 * g && units % (g / 2) == 0) || units % g == 0;
}

int snap_note_duration(const CodecParams& params, std::int64_t units) {
  const int clamped = static_cast<int>(std::clamp<std::int64_t>(units, 1, params.max_duration));
  for (int d = 0;; ++d) {  // the nearest allowed duration, the shorter one on a tie
    if (is_note_duration(params, clamped - d)) return clamped - d;
    if (is_note_duration(params, clamped + d)) return clamped + d;
  }
}

std::string notes_token_name(const CodecParams& params, const NotesToken& token) {
  std::string name;
  if (token.wait) {
    name = "wait";
  } else {
    for (std::size_t i = 0; i < token.pitches.size(); ++i) {
      if (i) name += '.';
      name += pitch_name(token.pitches[i]);
    }
  }
  return name + ":" + fraction(token.units, params.grid);
}

bool parse_notes_token(const CodecParams& params, std::string_view name, NotesToken& out) {
  const std::size_t colon = name.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  NotesToken t;
  if (!parse_units(params, name.substr(colon + 1), t.units)) return false;
  const std::string_view head = name.substr(0, colon);
  if (head == "wait") {
    t.wait = true;
  } else {
    std::size_t begin = 0;
    while (true) {
      const std::size_t dot = head.find('.', begin);
      const int pitch = parse_pitch_name(head.substr(begin, dot - begin));
      if (pitch < 0) return false;
      // Ascending and distinct, so that every chord has one spelling.
      if (!t.pitches.empty() && pitch <= t.pitches.back()) return false;
      t.pitches.push_back(pitch);
      if (dot == std::string_view::npos) break;
      begin = dot + 1;
    }
    // Sharps only: the canonical spelling; only the durations notes may have.
    if (notes_token_name(params, t) != name || !is_note_duration(params, t.units)) return false;
  }
  out = std::move(t);
  return true;
}

std::vector<std::string> encode_notes_names(const CodecParams& params, const Piece& piece,
                                            EncodeStats* stats) {
  // Onsets and ends on the grid, per pitch.
  struct GridNote {
    int pitch;
    std::int64_t start, end;
  };
  std::vector<GridNote> notes;
  notes.reserve(piece.notes.size());
  for (const PieceNote& n : piece.notes) {
    if (stats) ++stats->notes;
    if (n.drum) {
      if (stats) ++stats->notes_dropped;
      continue;
    }
    const std::int64_t start = std::max<std::int64_t>(0, round_half_up(n.start_quarters * params.grid));
    notes.push_back({n.pitch, start, round_half_up(n.end_quarters * params.grid)});
  }
  // One key cannot sound twice: of notes of a pitch starting together the longest is kept,
  // and a note ends (on an allowed duration) by the time its pitch starts again. The
  // decoder does the same, so encode → decode → encode gives the same tokens.
  std::sort(notes.begin(), notes.end(), [](const GridNote& a, const GridNote& b) {
    return std::tie(a.pitch, a.start, b.end) < std::tie(b.pitch, b.start, a.end);
  });
  std::map<std::int64_t, std::map<int, std::set<int>>> onsets;  // onset → duration → pitches
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const GridNote& n = notes[i];
    if (i > 0 && notes[i - 1].pitch == n.pitch && notes[i - 1].start == n.start) continue;
    int units = snap_note_duration(params, n.end - n.start);
    std::size_t next = i + 1;  // the next onset of this pitch
    while (next < notes.size() && notes[next].pitch == n.pitch && notes[next].start == n.start) ++next;
    if (next < notes.size() && notes[next].pitch == n.pitch) {
      const std::int64_t room = notes[next].start - n.start;
      while (units > room && units > 1) --units;
      while (!is_note_duration(params, units)) --units;
    }
    onsets[n.start][units].insert(n.pitch);
  }
  std::vector<std::string> names;
  std::int64_t now = onsets.empty() ? 0 : onsets.begin()->first;  // leading silence dropped
  for (const auto& [start, chords] : onsets) {
    for (std::int64_t gap = start - now; gap > 0;) {
      const int k = static_cast<int>(std::min<std::int64_t>(gap, params.max_duration));
      names.push_back(notes_token_name(params, {true, {}, k}));
      gap -= k;
    }
    now = start;
    for (const auto& [units, pitches] : chords)
      names.push_back(notes_token_name(params, {false, {pitches.begin(), pitches.end()}, units}));
  }
  return names;
}

Piece decode_notes(const CodecParams& params, const std::vector<const std::string*>& names,
                   const DecodeOptions& options) {
  const double seconds_per_quarter = 60.0 / options.tempo_bpm;
  Piece piece;
  std::int64_t now = 0;
  NotesToken t;
  for (const std::string* name : names) {
    if (!parse_notes_token(params, *name, t))
      throw std::invalid_argument("notes: not a token of this encoding: \"" + *name + "\"");
    if (t.wait) {
      now += t.units;
      continue;
    }
    for (int pitch : t.pitches) {
      PieceNote n;
      n.start_quarters = static_cast<double>(now) / params.grid;
      n.end_quarters = static_cast<double>(now + t.units) / params.grid;
      n.start_seconds = n.start_quarters * seconds_per_quarter;
      n.end_seconds = n.end_quarters * seconds_per_quarter;
      n.pitch = pitch;
      n.velocity = options.velocity;
      n.program = options.program;
      piece.notes.push_back(n);
    }
  }
  // As in the encoder: one sounding note per key. Of notes of a pitch starting together
  // the longest stays; an earlier note is cut where its pitch starts again.
  std::stable_sort(piece.notes.begin(), piece.notes.end(), [](const PieceNote& a, const PieceNote& b) {
    return std::tie(a.pitch, a.start_quarters, b.end_quarters) < std::tie(b.pitch, b.start_quarters, a.end_quarters);
  });
  std::vector<PieceNote> kept;
  kept.reserve(piece.notes.size());
  for (const PieceNote& n : piece.notes) {
    if (!kept.empty() && kept.back().pitch == n.pitch) {
      if (kept.back().start_quarters == n.start_quarters) continue;
      if (kept.back().end_quarters > n.start_quarters) {
        kept.back().end_quarters = n.start_quarters;
        kept.back().end_seconds = n.start_seconds;
      }
    }
    kept.push_back(n);
  }
  std::stable_sort(kept.begin(), kept.end(), [](const PieceNote& a, const PieceNote& b) {
    return std::tie(a.start_quarters, a.pitch) < std::tie(b.start_quarters, b.pitch);
  });
  piece.notes = std::move(kept);
  return piece;
}

// ---------------------------------------------------------------------------------------------
// The codec

namespace {

class NotesCodec final : public CodecImpl {
 public:
  NotesCodec(const CodecParams& params, std::vector<std::string> vocabulary)
      : CodecImpl(Encoding::notes, params, std::move(vocabulary)) {}

  StepFormat step() const override {
    return {StepKind::token, static_cast<std::int64_t>(tokens().size())};
  }

  std::string describe() const override {
    const CodecParams& p = params();
    return "notes: grid 1/" + std::to_string(p.grid) + " quarter, durations up to " +
           notes_token_name(p, {true, {}, p.max_duration}).substr(5) + " quarters, " +
           std::to_string(tokens().size()) + " tokens";
  }

  Sequence encode(const Piece& piece, std::string source, EncodeStats* stats) const override {
    Sequence s = Sequence::of_tokens(std::move(source));
    const CodecParams& p = params();
    for (const std::string& name : encode_notes_names(p, piece, stats)) {
      const std::int32_t id = find(name);
      if (id >= 0) {
        s.tokens.push_back(id);
        continue;
      }
      // A chord outside the vocabulary: its single notes, sounding together, if known.
      NotesToken t;
      parse_notes_token(p, name, t);
      for (std::size_t i = 0; i < t.pitches.size(); ++i) {
        const std::int32_t single =
            t.pitches.size() > 1 ? find(notes_token_name(p, {false, {t.pitches[i]}, t.units})) : -1;
        if (single >= 0) {
          s.tokens.push_back(single);
        } else if (stats) {
          ++stats->tokens_dropped;
        }
      }
      if (t.pitches.empty() && stats) ++stats->tokens_dropped;
    }
    return s;
  }

  Piece decode(const Sequence& sequence, const DecodeOptions& options) const override {
    std::vector<const std::string*> names;
    names.reserve(sequence.tokens.size());
    for (std::int32_t id : sequence.tokens) names.push_back(&token(id));
    return decode_notes(params(), names, options);
  }
};

void validate_notes(const CodecParams& p) {
  check_param_range("notes", "grid (units per quarter)", p.grid, 1, kMaxGrid);
  check_param_range("notes", "max duration (grid units)", p.max_duration, 1, kMaxDurationGrids * p.grid);
}

}  // namespace

const EncodingSpec& notes_spec() {
  static const EncodingSpec spec{
      Encoding::notes,
      "notes",
      StepKind::token,
      true,
      [](const CodecParams& params) -> std::string {
        return "a notes token (C4.E4.G4:1/2, wait:1/4) on the 1/" + std::to_string(params.grid) + " grid";
      },
      {{"grid", &CodecParams::grid}, {"max_duration", &CodecParams::max_duration}},
      validate_notes,
      [](const CodecParams& params, std::vector<std::string> vocabulary) -> std::shared_ptr<const CodecImpl> {
        validate_notes(params);
        NotesToken t;
        for (std::size_t i = 0; i < vocabulary.size(); ++i) {
          if (!parse_notes_token(params, vocabulary[i], t))
            throw std::invalid_argument("notes vocabulary: token " + std::to_string(i) + ": expected " +
                                        "a chord \"C4.E4:1/2\" or \"wait:1/4\" on a 1/" +
                                        std::to_string(params.grid) + " grid, found \"" +
                                        vocabulary[i] + "\"");
        }
        return std::make_shared<NotesCodec>(params, std::move(vocabulary));
      }};
  return spec;
}

}  // namespace musegen::detail
