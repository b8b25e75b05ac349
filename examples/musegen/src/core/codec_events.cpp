// The events encoding: the performance representation of Oore et al. (2018), as Magenta
// writes it, plus instrument tokens.
//
//   ids [0, 128)                  note_on:P      a note of pitch P starts
//   ids [128, 256)                note_off:P     the oldest sounding note of pitch P ends
//   next max_shift_steps ids      shift:Kms      time moves on by K ms (1..max steps)
//   next velocity_bins ids        velocity_bin:B following note-ons have velocity bin B
//   next 128 ids                  program:N      following events belong to instrument N
//   last id                       drums          following events belong to the drum kit
//
// Times are quantized to steps: step = floor(seconds * 1000 / step_ms + 0.5); a note is at
// least one step long. At each step, note-offs come before note-ons, then by instrument
// (programs, drums last), pitch and velocity bin. A velocity token precedes a note-on whose
// bin differs from the last one; a program (or drums) token precedes an event whose
// instrument differs from the current one, which starts as program 0: piano-only music
// never uses them. Velocity bins are Magenta's: size ceil(127 / bins), bin = (v - 1) / size
// + 1, decoded as 1 + (bin - 1) * size. tests/musegen/events_oracle.py is an independent
// implementation (mido) that the tests compare with on real files.
#include <algorithm>
#include <map>
#include <tuple>

#include "codec_internal.hpp"

namespace musegen::detail {

namespace {

struct Layout {
  std::int32_t note_on = 0, note_off = 128, shift = 256, velocity, program, drums, size;
  int bin_size;
  explicit Layout(const CodecParams& p)
      : velocity(shift + p.max_shift_steps),
        program(velocity + p.velocity_bins),
        drums(program + 128),
        size(drums + 1),
        bin_size((127 + p.velocity_bins - 1) / p.velocity_bins) {}
};

constexpr int kDrumInstrument = 128;

}  // namespace

std::vector<std::string> events_vocabulary(const CodecParams& params) {
  const Layout l(params);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(l.size));
  for (int p = 0; p < 128; ++p) names.push_back("note_on:" + std::to_string(p));
  for (int p = 0; p < 128; ++p) names.push_back("note_off:" + std::to_string(p));
  for (int k = 1; k <= params.max_shift_steps; ++k)
    names.push_back("shift:" + std::to_string(k * params.step_ms) + "ms");
  for (int b = 1; b <= params.velocity_bins; ++b) names.push_back("velocity_bin:" + std::to_string(b));
  for (int p = 0; p < 128; ++p) names.push_back("program:" + std::to_string(p));
  names.push_back("drums");
  return names;
}

std::vector<std::int32_t> encode_events(const CodecParams& params, const Piece& piece,
                                        EncodeStats* stats) {
  const Layout l(params);
  const auto step_of = [&](double seconds) {
    return std::max<std::int64_t>(0, round_half_up(seconds * 1000.0 / params.step_ms));
  };
  struct Event {
    std::int64_t step;
    int on;  // 0 off, 1 on
    int instrument, pitch, bin;
    auto key() const { return std::tie(step, on, instrument, pitch, bin); }
  };
  std::vector<Event> events;
  events.reserve(piece.notes.size() * 2);
  for (const PieceNote& n : piece.notes) {
    if (stats) ++stats->notes;
    const int instrument = n.drum ? kDrumInstrument : n.program;
    const int bin = std::min((std::clamp(n.velocity, 1, 127) - 1) / l.bin_size + 1, params.velocity_bins);
    const std::int64_t start = step_of(n.start_seconds);
    const std::int64_t end = std::max(start + 1, step_of(n.end_seconds));
    events.push_back({start, 1, instrument, n.pitch, bin});
    events.push_back({end, 0, instrument, n.pitch, 0});
  }
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.key() < b.key(); });

  std::vector<std::int32_t> tokens;
  tokens.reserve(events.size() * 2);
  std::int64_t now = 0;
  int instrument = 0, bin = 0;  // bin 0: none yet, so the first note-on always sets one
  for (const Event& e : events) {
    for (std::int64_t gap = e.step - now; gap > 0;) {
      const std::int64_t k = std::min<std::int64_t>(gap, params.max_shift_steps);
      tokens.push_back(l.shift + static_cast<std::int32_t>(k - 1));
      gap -= k;
    }
    now = e.step;
    if (e.instrument != instrument) {
      tokens.push_back(e.instrument == kDrumInstrument ? l.drums : l.program + e.instrument);
      instrument = e.instrument;
    }
    if (e.on) {
      if (e.bin != bin) {
        tokens.push_back(l.velocity + e.bin - 1);
        bin = e.bin;
      }
      tokens.push_back(l.note_on + e.pitch);
    } else {
      tokens.push_back(l.note_off + e.pitch);
    }
  }
  return tokens;
}

Piece decode_events(const CodecParams& params, std::span<const std::int32_t> tokens,
                    const DecodeOptions& options) {
  const Layout l(params);
  const double seconds_per_step = params.step_ms / 1000.0;
  const double quarters_per_second = options.tempo_bpm / 60.0;
  Piece piece;
  // Sounding notes per (instrument, pitch), oldest first: indices into piece.notes.
  std::map<std::pair<int, int>, std::vector<std::size_t>> sounding;
  std::int64_t now = 0;
  int instrument = options.program;
  int velocity = options.velocity;
  const auto set_end = [&](PieceNote& n) {
    n.end_seconds = static_cast<double>(now) * seconds_per_step;
    n.end_quarters = n.end_seconds * quarters_per_second;
  };
  for (const std::int32_t t : tokens) {
    if (t < l.note_off) {
      PieceNote n;
      n.start_seconds = static_cast<double>(now) * seconds_per_step;
      n.start_quarters = n.start_seconds * quarters_per_second;
      n.end_seconds = n.start_seconds;
      n.end_quarters = n.start_quarters;
      n.pitch = t - l.note_on;
      n.velocity = velocity;
      n.drum = instrument == kDrumInstrument;
      n.program = n.drum ? 0 : instrument;
      sounding[{instrument, n.pitch}].push_back(piece.notes.size());
      piece.notes.push_back(n);
    } else if (t < l.shift) {
      auto it = sounding.find({instrument, t - l.note_off});
      if (it == sounding.end() || it->second.empty()) continue;  // nothing to end: ignored
      set_end(piece.notes[it->second.front()]);
      it->second.erase(it->second.begin());
    } else if (t < l.velocity) {
      now += t - l.shift + 1;
    } else if (t < l.program) {
      velocity = std::clamp(1 + (t - l.velocity) * l.bin_size, 1, 127);
    } else if (t < l.drums) {
      instrument = t - l.program;
    } else {
      instrument = kDrumInstrument;
    }
  }
  // Notes never ended stop where the sequence stops.
  for (auto& [key, open] : sounding)
    for (std::size_t i : open) set_end(piece.notes[i]);
  return piece;
}

// ---------------------------------------------------------------------------------------------
// The codec

namespace {

class EventsCodec final : public CodecImpl {
 public:
  explicit EventsCodec(const CodecParams& params)
      : CodecImpl(Encoding::events, params, events_vocabulary(params)) {}

  StepFormat step() const override {
    return {StepKind::token, static_cast<std::int64_t>(tokens().size())};
  }

  std::string describe() const override {
    const CodecParams& p = params();
    return "events: " + std::to_string(p.step_ms) + " ms steps up to " +
           std::to_string(p.step_ms * p.max_shift_steps) + " ms, " +
           std::to_string(p.velocity_bins) + " velocity bins, " + std::to_string(tokens().size()) +
           " tokens";
  }

  Sequence encode(const Piece& piece, std::string source, EncodeStats* stats) const override {
    return Sequence::of_tokens(std::move(source), encode_events(params(), piece, stats));
  }

  Piece decode(const Sequence& sequence, const DecodeOptions& options) const override {
    for (std::int32_t id : sequence.tokens) token(id);  // range check
    return decode_events(params(), sequence.tokens, options);
  }
};

void validate_events(const CodecParams& p) {
  check_param_range("events", "step (ms)", p.step_ms, 1, kMaxStepMs);
  check_param_range("events", "max shift steps", p.max_shift_steps, 1, kMaxShiftSteps);
  check_param_range("events", "velocity bins", p.velocity_bins, 1, kMaxVelocityBins);
}

}  // namespace

const EncodingSpec& events_spec() {
  static const EncodingSpec spec{
      Encoding::events,
      "events",
      StepKind::token,
      false,
      [](const CodecParams&) -> std::string { return "an events token (note_on:60, note_off:60, shift:10ms, velocity_bin:1, program:0, drums)"; },
      {{"step_ms", &CodecParams::step_ms},
       {"max_shift_steps", &CodecParams::max_shift_steps},
       {"velocity_bins", &CodecParams::velocity_bins}},
      validate_events,
      [](const CodecParams& params, std::vector<std::string>) -> std::shared_ptr<const CodecImpl> {
        validate_events(params);
        return std::make_shared<EventsCodec>(params);
      }};
  return spec;
}

}  // namespace musegen::detail
