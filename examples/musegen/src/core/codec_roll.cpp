// The roll encoding: one frame per grid step, 88 values per frame (MIDI 21..108, A0..C8),
// 1 where the key sounds. A note sounds in the frames from its rounded start to its rounded
// end, at least one. Held and repeated notes look alike (as in the JSB chorales): decoding
// turns every run of 1s into one note. Drums and pitches off the keyboard are left out.
#include <algorithm>

#include "codec_internal.hpp"

namespace musegen::detail {

std::vector<std::string> roll_vocabulary() {
  std::vector<std::string> keys;
  keys.reserve(kRollKeys);
  for (int k = 0; k < kRollKeys; ++k) keys.push_back(pitch_name(kRollLowestPitch + k));
  return keys;
}

std::vector<std::uint8_t> encode_roll(const CodecParams& params, const Piece& piece,
                                      EncodeStats* stats) {
  const double fpq = params.frames_per_quarter;
  struct Span {
    std::int64_t begin, end;
    int key;
  };
  std::vector<Span> spans;
  spans.reserve(piece.notes.size());
  std::int64_t frames = 0;
  for (const PieceNote& n : piece.notes) {
    if (stats) ++stats->notes;
    const int key = n.pitch - kRollLowestPitch;
    if (n.drum || key < 0 || key >= kRollKeys) {
      if (stats) ++stats->notes_dropped;
      continue;
    }
    const std::int64_t begin = std::max<std::int64_t>(0, round_half_up(n.start_quarters * fpq));
    const std::int64_t end = std::max(begin + 1, round_half_up(n.end_quarters * fpq));
    spans.push_back({begin, end, key});
    frames = std::max(frames, end);
  }
  std::vector<std::uint8_t> roll(static_cast<std::size_t>(frames) * kRollKeys, 0);
  for (const Span& s : spans)
    for (std::int64_t f = s.begin; f < s.end; ++f)
      roll[static_cast<std::size_t>(f) * kRollKeys + static_cast<std::size_t>(s.key)] = 1;
  return roll;
}

Piece decode_roll(const CodecParams& params, std::span<const std::uint8_t> frames,
                  const DecodeOptions& options) {
  const std::int64_t steps = static_cast<std::int64_t>(frames.size() / kRollKeys);
  const double quarters_per_frame = 1.0 / params.frames_per_quarter;
  const double seconds_per_quarter = 60.0 / options.tempo_bpm;
  Piece piece;
  for (int key = 0; key < kRollKeys; ++key) {
    std::int64_t run_start = -1;
    for (std::int64_t f = 0; f <= steps; ++f) {
      const bool on = f < steps && frames[static_cast<std::size_t>(f * kRollKeys + key)] != 0;
      if (on && run_start < 0) run_start = f;
      if (!on && run_start >= 0) {
        PieceNote n;
        n.start_quarters = static_cast<double>(run_start) * quarters_per_frame;
        n.end_quarters = static_cast<double>(f) * quarters_per_frame;
        n.start_seconds = n.start_quarters * seconds_per_quarter;
        n.end_seconds = n.end_quarters * seconds_per_quarter;
        n.pitch = kRollLowestPitch + key;
        n.velocity = options.velocity;
        n.program = options.program;
        piece.notes.push_back(n);
        run_start = -1;
      }
    }
  }
  std::stable_sort(piece.notes.begin(), piece.notes.end(), [](const PieceNote& a, const PieceNote& b) {
    return a.start_quarters < b.start_quarters;
  });
  return piece;
}

// ---------------------------------------------------------------------------------------------
// The codec

namespace {

class RollCodec final : public CodecImpl {
 public:
  explicit RollCodec(const CodecParams& params) : CodecImpl(Encoding::roll, params, roll_vocabulary()) {}

  StepFormat step() const override { return {StepKind::frame, kRollKeys}; }

  std::string describe() const override {
    return "roll: 88 keys (A0..C8), " + std::to_string(params().frames_per_quarter) +
           " frames per quarter note";
  }

  Sequence encode(const Piece& piece, std::string source, EncodeStats* stats) const override {
    return Sequence::of_frames(std::move(source), kRollKeys, encode_roll(params(), piece, stats));
  }

  Piece decode(const Sequence& sequence, const DecodeOptions& options) const override {
    return decode_roll(params(), sequence.frames, options);
  }
};

void validate_roll(const CodecParams& p) {
  check_param_range("roll", "frames per quarter", p.frames_per_quarter, 1, kMaxFramesPerQuarter);
}

}  // namespace

const EncodingSpec& roll_spec() {
  static const EncodingSpec spec{
      Encoding::roll,
      "roll",
      StepKind::frame,
      false,
      [](const CodecParams&) -> std::string { return "piano key names A0..C8 separated by single spaces"; },
      {{"frames_per_quarter", &CodecParams::frames_per_quarter}},
      validate_roll,
      [](const CodecParams& params, std::vector<std::string>) -> std::shared_ptr<const CodecImpl> {
        validate_roll(params);
        return std::make_shared<RollCodec>(params);
      }};
  return spec;
}

}  // namespace musegen::detail
