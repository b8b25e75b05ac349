// musegen generate: sample a new piece from a trained run (generate.hpp).
#include <iostream>
#include <libmidi/io.hpp>
#include <optional>

#include "cli.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "device_option.hpp"
#include "generate.hpp"
#include "instruments.hpp"
#include "multitrack_rules.hpp"
#include "outputs.hpp"
#include "primer.hpp"
#include "progress.hpp"
#include "session.hpp"

namespace musegen {

namespace {

// A ceiling for counts of steps and sequences: far past any piece or dataset, low enough
// that a typo is an error rather than an allocation that fails later.
constexpr std::int64_t kMaxCount = 100'000'000;

}  // namespace

int cmd_generate(Args args) {
  std::string run, out = "generated.tokens", midi_out, primer_midi, dataset_path;
  std::int64_t steps = 512, top_k = 0, seed = 1, primer_sequence = -1, primer_steps = 16;
  double temperature = 1.0, top_p = 0.95, tempo = 0;
  std::int64_t program = -1, velocity = 0;
  bool drop_primer = false, quiet = false, host_sampling = false;
  std::string weights = "fp32", instruments_list;
  cli::Parser p("generate", "RUN_DIR|WEIGHTS [options]",
                "Samples a new piece from a model trained by `musegen train`: runs an optional\n"
                "primer through the LSTM, then draws one token (or roll frame) at a time with\n"
                "temperature, top-k and top-p. Writes the tokens (--out) and, with --midi, a MIDI\n"
                "file. The same --seed gives the same piece.");
  p.positional("RUN_DIR|WEIGHTS", run,
               "a --run-dir of musegen train (uses best.safetensors, else model.safetensors) or a "
               ".safetensors file")
      .option("steps", steps, "N", "tokens (or frames) to generate", cli::range(1, kMaxCount))
      .option("temperature", temperature, "T",
              "divide the logits by T: < 1 safer, > 1 more adventurous",
              cli::range(0, 100).open_low())
      .option("top-k", top_k, "K", "sample among the K most likely tokens only (0: all)",
              cli::range(0, 100'000))
      .option("top-p", top_p, "P",
              "sample among the most likely tokens holding probability P (1: all)",
              cli::range(0, 1).open_low())
      .option("seed", seed, "N", "seed of the sampling", cli::range(0, cli::kMaxSeed))
      .option("primer", primer_midi, "FILE.mid",
              "start from this MIDI file (encoded with the run's codec)")
      .option("primer-sequence", primer_sequence, "I",
              "start from validation sequence I of the dataset",
              cli::range(0, kMaxCount).or_value(-1, "the sequence picked by --seed"))
      .option("primer-steps", primer_steps, "N",
              "how many steps of the primer to use (0: none; roll then starts from silence)",
              cli::range(0, kMaxCount))
      .flag("drop-primer", drop_primer, "leave the primer out of the output")
      .option(
          "weights", weights, "fp32|fp16",
          "precision of the LSTM weights while sampling: fp32 is the trained model exactly; fp16 "
          "halves the memory read per step: faster for large models, logits move by the weights' "
          "rounding to half (docs/perf.md, \"LSTM\", has both measured)")
      .flag(
          "host-sampling", host_sampling,
          "on a GPU, copy the logits to the host and sample there every step; without it, token\n"
          "models without a multitrack rule sample whole on the GPU, 64 tokens per trip (the same\n"
          "draws and rule; a token differs only within float rounding of a boundary)")
      .option(
          "instruments", instruments_list, "LIST",
          "multitrack: write for this ensemble, one part per entry in order, each a name (violin,\n"
          "viola, cello, soprano, alto, tenor, bass, piano, flute, ...: `musegen instruments` "
          "lists\n"
          "them with their ranges) or a GM program number, e.g. violin,violin,viola,cello\n"
          "(default: the primer's ensemble)")
      .option("dataset", dataset_path, "FILE",
              "the dataset file (default: the one the run was trained on)")
      .option("out", out, "FILE", "where to write the tokens")
      .option("midi", midi_out, "FILE.mid", "also write the piece as a MIDI file")
      .option("tempo", tempo, "BPM", "MIDI tempo",
              cli::range(kMinTempoBpm, kMaxTempoBpm).or_value(0, "the codec's default"))
      .option("program", program, "N", "General MIDI program of the MIDI track",
              cli::range(0, 127).or_value(-1, "the codec's default"))
      .option("velocity", velocity, "V", "note velocity where the encoding has none",
              cli::range(1, 127).or_value(0, "the codec's default"))
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen generate runs/jsb --steps 128 --midi chorale.mid\n"
          "  musegen generate runs/piano --primer theme.mid --temperature 0.9 --top-p 0.9 --midi "
          "out.mid\n"
          "  musegen generate runs/quartets --instruments violin,violin,viola,cello --steps 2000 "
          "--midi q.mid\n\n"
          "With a multitrack model every part stays inside its instrument's range.\n");
  cli::ComputeOptions compute;
  compute.add_to(p);
  if (!p.parse(args)) return 0;
  const nn::Device device = compute.resolve(quiet ? nullptr : &std::cerr);
  if (weights != "fp32" && weights != "fp16") {
    throw cli::UsageError("--weights: expected fp32 or fp16, found \"" + weights + "\"");
  }

  OpenedRun opened = open_run(run, dataset_path, device);
  const Codec& codec = opened.dataset.codec;
  {
    cli::OutputCheck check;
    check.run_folder(run).input("the dataset", opened.dataset_path);
    if (!primer_midi.empty()) check.input("--primer", primer_midi);
    check.output("--out", out);
    if (!midi_out.empty()) check.output("--midi", midi_out);
  }

  PrimerOptions primer_options;
  primer_options.midi = primer_midi;
  primer_options.sequence = primer_sequence;
  primer_options.steps = primer_steps;
  primer_options.seed = static_cast<std::uint64_t>(seed);
  Primer chosen;
  try {
    chosen = choose_primer(opened.dataset, opened.dataset_path.string(), primer_options);
  } catch (const PrimerSequenceOutOfRange& e) {
    throw cli::UsageError(e.what());  // --primer-sequence past the split's end
  }
  if (!quiet && chosen.dropped > 0) {
    std::cerr << "generate: " << primer_midi << ": " << chosen.dropped
              << " tokens are not in the model's vocabulary and were left out\n";
  }
  Sequence primer = chosen.sequence;
  std::shared_ptr<TokenRule> rule = generation_rule(codec);
  if (!instruments_list.empty()) {
    if (codec.encoding() != Encoding::multitrack)
      throw cli::UsageError("--instruments: the run's encoding is " + std::string(encoding_name(codec.encoding())) +
                            "; only multitrack models know instruments");
    {
      // The ensemble given: it replaces the primer's header (a primer's notes must then fit it).
      try {
        const std::vector<int> ensemble =
            parse_instrument_list(instruments_list, codec.params().instruments);
        // A primer asked for keeps its notes; otherwise the piece starts from the ensemble alone.
        primer = primer_for_ensemble(codec, primer, ensemble,
                                     !primer_midi.empty() || primer_sequence >= 0);
      } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        throw cli::UsageError(what.rfind("--", 0) == 0 ? what : "--instruments: " + what);
      }
    }
    rule = multitrack_rule(codec, true);
    if (const std::string warning = unseen_instruments_warning(opened.dataset, multitrack_ensemble(codec, primer));
        !quiet && !warning.empty())
      std::cerr << "generate: warning: " << warning << "\n";
  }

  GenerateOptions g;
  g.steps = steps;
  g.keep_primer = !drop_primer;
  g.weights = weights == "fp16" ? nn::DType::Float16 : nn::DType::Float32;
  g.device_sampling = !host_sampling;
  g.sample.temperature = temperature;
  g.sample.top_k = top_k;
  g.sample.top_p = top_p;
  g.sample.seed = static_cast<std::uint64_t>(seed);
  g.rule = rule;
  std::optional<Progress> line;  // the console's progress line, fed by generate's callback
  if (!quiet) {
    g.progress = [&line](const ProgressUpdate& u) {
      if (!line) line.emplace(std::string(u.stage), u.total, std::cerr, 5.0);
      line->update(u.done, "");
    };
  }
  GenerateResult result = generate(*opened.loaded.model, primer, g);
  if (line) line->finish();

  save_tokens(out, codec, result.sequence);
  if (!quiet) {
    std::cerr << "generate: " << steps << " steps in " << result.seconds << " s ("
              << static_cast<double>(steps) / result.seconds << " steps/s) after a primer of "
              << result.primer_steps << " steps"
              << (primer.source.empty() ? "" : " (" + primer.source + ")") << "\n"
              << "generate: tokens written to " << out << "\n";
  }
  if (!midi_out.empty()) {
    DecodeOptions d;
    if (tempo > 0) d.tempo_bpm = tempo;
    if (program >= 0) d.program = static_cast<int>(program);
    if (velocity > 0) d.velocity = static_cast<int>(velocity);
    midi::save(codec.decode(result.sequence, d), midi_out);
    if (!quiet) std::cerr << "generate: MIDI written to " << midi_out << "\n";
  }
  return 0;
}

}  // namespace musegen
