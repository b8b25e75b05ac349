#include "piece_maker.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <libmidi/io.hpp>
#include <memory>
#include <stdexcept>

#include "generate.hpp"
#include "multitrack_rules.hpp"
#include "plot.hpp"
#include "primer.hpp"
#include "render.hpp"

namespace musegen::server {

namespace {

// Ends a token model's piece once it lasts `seconds`: every kCheckEvery tokens the tokens so
// far are decoded and the end of their last note compared. A piece therefore ends at most
// kCheckEvery tokens past the length asked. Another rule (multitrack's grammar) still
// decides every token.
class DurationRule : public TokenRule {
 public:
  static constexpr std::size_t kCheckEvery = 16;
  DurationRule(const Codec& codec, DecodeOptions decode, double seconds,
               std::shared_ptr<TokenRule> inner)
      : codec_(codec), decode_(decode), seconds_(seconds), inner_(std::move(inner)) {}

  std::int32_t next(std::span<const std::int32_t> so_far, std::span<float> logits) override {
    if (so_far.size() >= last_check_ + kCheckEvery) {
      last_check_ = so_far.size();
      if (lasts(so_far) >= seconds_) return kEnd;
    }
    return inner_ ? inner_->next(so_far, logits) : kSample;
  }

 private:
  double lasts(std::span<const std::int32_t> tokens) const {
    try {
      const Piece piece =
          codec_.decode_piece(Sequence::of_tokens("", {tokens.begin(), tokens.end()}), decode_);
      double end = 0;
      for (const PieceNote& n : piece.notes) end = std::max(end, n.end_seconds);
      return end;
    } catch (const std::exception&) {
      return 0;  // a sequence cut where it cannot be decoded yet: go on
    }
  }
  const Codec& codec_;
  DecodeOptions decode_;
  double seconds_;
  std::shared_ptr<TokenRule> inner_;
  std::size_t last_check_ = 0;
};

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error(path.string() + ": could not be written");
}

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool render_with_builtin_synth(const midi::MidiFile& file, const std::filesystem::path& wav,
                               std::stop_token) {
  // About 1000 times real time (docs/perf.md): the longest piece takes about a second.
  render_midi_to_wav(file, RenderRequest{}, wav);
  return true;
}

std::optional<MadePiece> make_piece(OpenedRun& run, const GenerationRequest& request,
                                    const PieceDraft& draft, std::stop_token stop,
                                    const ProgressFn& progress, const WavRenderer& wav) {
  const Codec& codec = run.dataset.codec;
  DecodeOptions decode;
  if (request.tempo > 0) decode.tempo_bpm = request.tempo;

  PrimerOptions primer_options;
  primer_options.sequence = request.primer_sequence;
  primer_options.steps = request.primer_steps;
  primer_options.seed = static_cast<std::uint64_t>(request.seed);
  std::optional<midi::MidiFile> primer_file;
  if (!request.primer_midi_bytes.empty()) {
    primer_file =
        midi::read(request.primer_midi_bytes, midi::ReadOptions().source_name("primer.mid"));
    primer_options.midi = "primer.mid";
    primer_options.midi_file = &*primer_file;
  }
  Primer primer;
  try {
    primer = choose_primer(run.dataset, run.dataset_path.filename().string(), primer_options);
  } catch (const PrimerSequenceOutOfRange& e) {
    throw std::invalid_argument(std::string("primer.sequence: ") + e.what());
  }

  std::shared_ptr<TokenRule> rule = generation_rule(codec);
  if (const std::vector<int> ensemble = resolve_instruments(request, codec); !ensemble.empty()) {
    // A primer asked for (a MIDI file, or steps of the data) keeps its notes, which must then
    // fit the ensemble; as generate --instruments.
    const bool keep = !request.primer_midi_bytes.empty() || request.primer_steps > 0;
    primer.sequence = primer_for_ensemble(codec, primer.sequence, ensemble, keep);
    rule = multitrack_rule(codec, true);
  }

  GenerateOptions g;
  g.steps = request.steps;
  g.sample.temperature = request.temperature;
  g.sample.top_k = request.top_k;
  g.sample.top_p = request.top_p;
  g.sample.seed = static_cast<std::uint64_t>(request.seed);
  g.rule = rule;
  g.stop = stop;
  g.progress = progress;
  if (request.seconds) {
    if (codec.frames()) {
      // A roll frame is a fixed fraction of a quarter note: the length is known up front.
      const double quarters = *request.seconds * decode.tempo_bpm / 60.0;
      const double frames = std::ceil(quarters * codec.params().frames_per_quarter) -
                            static_cast<double>(primer.sequence.steps());
      g.steps =
          static_cast<std::int64_t>(std::clamp(frames, 1.0, static_cast<double>(kMaxRequestSteps)));
    } else {
      g.steps = kMaxRequestSteps;
      g.rule = std::make_shared<DurationRule>(codec, decode, *request.seconds, g.rule);
    }
  }

  MadePiece made;
  const GenerateResult result = generate(*run.loaded.model, primer.sequence, g);
  if (result.stopped) return std::nullopt;
  made.primer_steps = result.primer_steps;
  made.generated = result.generated;
  made.ended_by_rule = result.ended;
  made.generate_seconds = result.seconds;

  const auto render_start = std::chrono::steady_clock::now();
  constexpr std::int64_t kRenderStages = 3;
  const auto rendered = [&](std::int64_t done) {
    if (progress) progress({"render", done, kRenderStages});
  };
  rendered(0);
  const midi::MidiFile file = codec.decode(result.sequence, decode);
  made.seconds = file_seconds(file);
  if (made.seconds > kMaxPieceSeconds)
    throw std::runtime_error(
        "the piece lasts " + std::to_string(static_cast<long long>(made.seconds)) +
        " s, more than a server renders (" + std::to_string(static_cast<int>(kMaxPieceSeconds)) +
        " s): ask for fewer steps or a faster tempo");
  midi::save(file, draft.file(PieceFile::midi));
  made.metrics = compute_metrics(file);
  rendered(1);
  if (stop.stop_requested()) return std::nullopt;
  if (!wav(file, draft.file(PieceFile::wav), stop)) return std::nullopt;
  rendered(2);
  if (stop.stop_requested()) return std::nullopt;
  plot::PianoRollOptions roll;
  roll.title = "seed " + std::to_string(request.seed);
  write_text(draft.file(PieceFile::svg), plot::render_svg(plot::piano_roll(file, roll)));
  rendered(3);
  made.render_seconds = since(render_start);
  return made;
}

}  // namespace musegen::server
