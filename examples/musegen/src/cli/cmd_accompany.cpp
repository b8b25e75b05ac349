// musegen accompany: a multitrack model writes the other parts of a MIDI file around the
// parts kept (core/accompany.hpp).
#include <iostream>
#include <libmidi/io.hpp>
#include <optional>

#include "accompany.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "device_option.hpp"
#include "instruments.hpp"
#include "multitrack_rules.hpp"
#include "outputs.hpp"
#include "progress.hpp"
#include "session.hpp"
#include "tokens_file.hpp"

namespace musegen {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    items.push_back(text.substr(begin, comma == std::string::npos ? comma : comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return items;
}

}  // namespace

int cmd_accompany(Args args) {
  std::string run, input, out, keep, instruments_list, tokens_out, dataset_path, weights = "fp32";
  std::int64_t top_k = 0, seed = 1, particles = 16;
  double temperature = 1.0, top_p = 0.95;
  bool quiet = false, list = false;
  midi::NoteOptions read;
  bool zero_length = false;
  cli::Parser p("accompany", "RUN_DIR|WEIGHTS IN.mid --keep PARTS --out OUT.mid [options]",
                "A multitrack model writes the parts of IN.mid that are not kept, in time with the kept\n"
                "ones across the whole piece: the kept parts' notes are fed to the model at their times\n"
                "and the other parts are sampled around them, each inside its instrument's range.\n"
                "OUT.mid holds the kept parts exactly as they were (their MIDI events byte for byte),\n"
                "drum parts as they were, and one new track per written part.\n\n"
                "Parts are IN.mid's (track, channel) pairs with notes, numbered from 0: --list shows\n"
                "them. The ensemble is IN.mid's melodic parts, or --instruments.");
  p.positional("RUN_DIR|WEIGHTS", run,
               "a --run-dir of musegen train (a multitrack model) or a .safetensors file")
      .positional("IN.mid", input, "the MIDI file whose parts are kept")
      .option(
          "keep", keep, "PARTS",
          "comma-separated parts to keep: numbers (0,3) or names (the track name, or the part's\n"
          "instrument: soprano)")
      .option(
          "instruments", instruments_list, "LIST",
          "the ensemble of OUT.mid, one instrument per part in order (names or GM programs, as\n"
          "for generate); each kept part takes the first free part of its instrument (default:\n"
          "IN.mid's melodic parts)")
      .option("out", out, "OUT.mid", "where to write the result (written atomically)")
      .option("tokens", tokens_out, "FILE",
              "also write the whole multitrack sequence as a tokens file")
      .option("temperature", temperature, "T",
              "divide the logits by T: < 1 safer, > 1 more adventurous",
              cli::range(0, 100).open_low())
      .option("top-k", top_k, "K", "sample among the K most likely tokens only (0: all)",
              cli::range(0, 100'000))
      .option("top-p", top_p, "P",
              "sample among the most likely tokens holding probability P (1: all)",
              cli::range(0, 1).open_low())
      .option("seed", seed, "N", "seed of the sampling", cli::range(0, cli::kMaxSeed))
      .option("particles", particles, "N",
              "sample N accompaniments side by side, keep those under which the model finds the\n"
              "kept parts' next notes likely, and write one drawn by that weight (1: one plain\n"
              "left-to-right sample; docs/musegen.md, \"Accompaniment with particles\")",
              cli::range(1, 1024))
      .option("weights", weights, "fp32|fp16", "precision of the LSTM weights while sampling")
      .option("dataset", dataset_path, "FILE",
              "the dataset file (default: the one the run was trained on)")
      .flag("zero-length-off-first", zero_length,
            "read IN.mid's note-off-then-note-on of one key in one tick as a note of no length\n"
            "(music21's grace notes; see preprocess --help)")
      .flag("list", list, "list IN.mid's parts and exit")
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen accompany runs/chorales chorale.mid --list\n"
          "  musegen accompany runs/chorales chorale.mid --keep soprano --out harmonized.mid\n"
          "  musegen accompany runs/quartets melody.mid --keep 0 --instruments "
          "violin,violin,viola,cello --out q.mid\n");
  cli::ComputeOptions compute;
  compute.add_to(p);
  if (!p.parse(args)) return 0;
  const nn::Device device = compute.resolve(quiet ? nullptr : &std::cerr);
  if (weights != "fp32" && weights != "fp16")
    throw cli::UsageError("--weights: expected fp32 or fp16, found \"" + weights + "\"");
  read.zero_length_off_first(zero_length);

  OpenedRun opened = open_run(run, dataset_path, device);
  const Codec& codec = opened.dataset.codec;
  if (codec.encoding() != Encoding::multitrack)
    throw cli::UsageError("the run's encoding is " + std::string(encoding_name(codec.encoding())) +
                          "; accompany needs a model trained with --encoding multitrack");
  {
    cli::OutputCheck check;
    check.run_folder(run).input("the dataset", opened.dataset_path).input("IN.mid", input);
    if (!list) {
      if (out.empty()) throw cli::UsageError("--out: expected OUT.mid, where to write the result");
      check.output("--out", out);
      if (!tokens_out.empty()) check.output("--tokens", tokens_out);
    }
  }
  const midi::MidiFile file = midi::load(input);
  if (list) {
    std::cout << input << ": parts\n" << describe_parts(file, codec, read);
    return 0;
  }

  AccompanyOptions o;
  if (!keep.empty()) o.keep = split_list(keep);
  try {
    if (!instruments_list.empty()) o.ensemble = parse_instrument_list(instruments_list, codec.params().instruments);
  } catch (const std::invalid_argument& e) {
    throw cli::UsageError(std::string("--instruments: ") + e.what());
  }
  o.read = read;
  o.generate.weights = weights == "fp16" ? nn::DType::Float16 : nn::DType::Float32;
  o.generate.sample.temperature = temperature;
  o.generate.sample.top_k = top_k;
  o.generate.sample.top_p = top_p;
  o.generate.sample.seed = static_cast<std::uint64_t>(seed);
  o.particles = static_cast<int>(particles);
  std::optional<Progress> line;
  if (!quiet) {
    o.generate.progress = [&line](const ProgressUpdate& u) {
      if (!line) line.emplace(std::string(u.stage), u.total, std::cerr, 5.0);
      line->update(u.done, "grid units");
    };
  }
  AccompanyResult result;
  try {
    result = accompany(*opened.loaded.model, codec, file, o);
  } catch (const std::invalid_argument& e) {
    throw cli::UsageError(input + ": " + e.what());
  }
  if (line) line->finish();
  if (const std::string warning = unseen_instruments_warning(opened.dataset, result.ensemble);
      !quiet && !warning.empty())
    std::cerr << "accompany: warning: " << warning << "\n";
  midi::save(result.file, out);
  if (!tokens_out.empty()) save_tokens(tokens_out, codec, result.sequence);
  if (!quiet) {
    std::string kept_text, written_text;
    for (std::size_t k = 0; k < result.ensemble.size(); ++k) {
      const bool given = std::find(result.kept_parts.begin(), result.kept_parts.end(), static_cast<int>(k)) !=
                         result.kept_parts.end();
      std::string& text = given ? kept_text : written_text;
      text += (text.empty() ? "" : ", ") + std::string(instrument(result.ensemble[k]).name);
    }
    std::cerr << "accompany: kept " << kept_text << "; wrote " << written_text << " (" << result.notes_written
              << " notes, " << result.sequence.steps() << " tokens in " << result.seconds << " s)\n"
              << "accompany: MIDI written to " << out << "\n";
  }
  return 0;
}

}  // namespace musegen
