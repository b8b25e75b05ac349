// `musegen eval`: objective music metrics of a set of MIDI files, against a reference set.
// The metrics are in metrics.hpp and, for pieces with several instruments,
// multitrack_metrics.hpp (definitions: docs/metrics.md); this file turns command-line inputs
// into pieces, prints the tables and writes the JSON.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <libmidi/io.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "device_option.hpp"
#include "evaluate.hpp"
#include "gpu_memory.hpp"
#include "jsb.hpp"
#include "metrics.hpp"
#include "midi_files.hpp"
#include "multitrack_metrics.hpp"
#include "outputs.hpp"
#include "session.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

// --melody-part's largest value: far more parts than any score has.
constexpr std::int64_t kMaxMelodyPart = 1023;

bool is_json(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".json";
}

// One set's pieces, each measured both ways (a piece of one part has no ensemble measures).
struct EvalSet {
  MeasuredSet measured;
  std::vector<MultitrackPieceMetrics> multitrack;  // one per piece of `measured`, same order
};

// The pieces of one set: MIDI files and folders, and JSB chorale files (.json, every split),
// named "<file>#<split>/<index>".
EvalSet measure_inputs(const std::vector<std::string>& inputs, const MetricOptions& options,
                       const std::string& what) {
  std::vector<std::string> midi_inputs;
  EvalSet set;
  for (const std::string& input : inputs) {
    const fs::path path(input);
    if (fs::is_regular_file(path) && is_json(path)) {
      const int frames_per_quarter = jsb_frames_per_quarter(path);
      if (frames_per_quarter == 0)
        throw std::runtime_error(input +
                                 ": cannot tell the resolution of these JSB chorales from "
                                 "the file name (expected quarter, 8th or 16th in it)");
      const JsbChorales chorales = read_jsb(path);
      const std::pair<const char*, const std::vector<JsbChorale>*> splits[] = {
          {"train", &chorales.train}, {"valid", &chorales.valid}, {"test", &chorales.test}};
      for (const auto& [split, list] : splits)
        for (std::size_t i = 0; i < list->size(); ++i) {
          const midi::MidiFile file =
              piece_to_midi(jsb_piece((*list)[i], frames_per_quarter), DecodeOptions{});
          PieceMetrics m = compute_metrics(file, options);
          m.name = input + "#" + split + "/" + std::to_string(i);
          MultitrackPieceMetrics parts = compute_multitrack_metrics(file, options);
          parts.name = m.name;
          set.measured.pieces.push_back(std::move(m));
          set.multitrack.push_back(std::move(parts));
        }
      continue;
    }
    if (fs::is_directory(path) && collect_midi_files(std::vector<std::string>{input}).empty())
      throw std::runtime_error(input + ": no .mid or .midi file in this folder (" + what +
                               "); for the JSB chorales name a .json file, e.g. " +
                               (path / "jsb-chorales-16th.json").string());
    midi_inputs.push_back(input);
  }
  if (!midi_inputs.empty()) {
    try {
      MeasuredSet midi_set =
          measure_files(collect_midi_files(midi_inputs), options,
                        [&](const midi::MidiFile& file, const std::string& name) {
                          MultitrackPieceMetrics parts = compute_multitrack_metrics(file, options);
                          parts.name = name;
                          set.multitrack.push_back(std::move(parts));
                        });
      for (auto& p : midi_set.pieces) set.measured.pieces.push_back(std::move(p));
      for (auto& s : midi_set.skipped) set.measured.skipped.push_back(std::move(s));
    } catch (const std::invalid_argument& e) {
      throw cli::UsageError(e.what());  // a path that does not exist, or bad metric options
    }
  }
  return set;
}

// The files the --json output must not be: the inputs, and the MIDI files of input folders.
void add_inputs(cli::OutputCheck& check, const std::string& role, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs) {
    check.input(role, input);
    if (fs::is_directory(input))
      for (const fs::path& file : midi_files_in(input)) check.input(role, file);
  }
}

void report_skipped(const MeasuredSet& set, const std::string& what) {
  if (set.skipped.empty()) return;
  std::cerr << "skipped " << set.skipped.size() << " of " << set.skipped.size() + set.pieces.size()
            << " " << what << " files that could not be read:\n";
  for (const std::string& s : set.skipped) std::cerr << "  " << s << '\n';
}

}  // namespace

int cmd_eval(Args args) {
  std::vector<std::string> generated_inputs;
  std::string reference;
  std::string json_path;
  std::string time_signature = "4/4";
  std::int64_t ngram = 4;
  double tolerance = kDefaultTolerance;
  std::int64_t melody_part = -1;
  bool zero_length_off_first = false;
  bool per_file = false;
  std::string checkpoint, dataset_path, split = "test";
  std::int64_t nll_window = 0, nll_batch = 32;

  cli::Parser p(
      "eval", "GENERATED... [options]",
      "Objective music metrics of a set of MIDI files, and how far they are from a "
      "reference set (Yang & Lerch 2018; MusPy): pitch-class histogram, pitch range, "
      "polyphony, scale consistency, repeated n-grams, the longest run of one note or "
      "chord (which exposes a model that repeats one note over and over), empty bars "
      "and note lengths; for pieces with several parts also, per part, the share of notes "
      "inside the instrument's range, pitch range and polyphony, and between parts "
      "MuseGAN's tonal distance, voice crossings and (--melody-part) the harmony "
      "agreement with a melody; and the GAN papers' measures: C-RNN-GAN's polyphony "
      "(onsets with 2+ tones), repetitions, tone span (pitch range) and scale consistency, "
      "MuseGAN's empty bars, used pitch classes per bar and qualified notes (per part too) "
      "and tonal distance. docs/metrics.md defines each. Prints a table of mean ± "
      "std per set and the distance between the sets, each measure's relative difference "
      "and whether it is within --tolerance; --json writes the same for machines.");
  p.option("reference", reference, "PATH[,PATH...]",
           "the reference set: MIDI files, folders (searched recursively for .mid/.midi), or "
           "JSB chorales .json files (all splits), several separated by commas")
      .option("json", json_path, "FILE", "also write the report as JSON to FILE (atomically)")
      .flag("per-file", per_file, "put every file's metrics into the JSON too")
      .option("ngram", ngram, "N",
              "n of the repeated n-gram share (onsets per n-gram) and of C-RNN-GAN's "
              "repetitions (tones per subsequence)",
              cli::range(1, 64))
      .option("tolerance", tolerance, "R",
              "with --reference: a measure is within the reference when |generated - "
              "reference| / |reference| <= R (0.15: within 15%)",
              cli::range(0, 1000))
      .option("time-signature", time_signature, "N/D",
              "time signature assumed before a file's first one, for the empty-bar share and the "
              "tonal distance")
      .option("melody-part", melody_part, "K",
              "pieces with several parts: measure how often every other part is consonant with "
              "part K (0 = the first part; a chorale's soprano) while both sound",
              cli::range(0, kMaxMelodyPart).or_value(-1, "not measured"))
      .flag("zero-length-off-first", zero_length_off_first,
            "read a note-off with nothing to end, then a note-on of its key in the same tick, as "
            "a note of no length (music21's grace notes; without it such a note lasts until its "
            "key's next release). Use it for music21-multitrack and other music21 exports")
      .option("checkpoint", checkpoint, "RUN",
              "also report the negative log-likelihood of this model (a musegen train --run-dir "
              "or its .safetensors) on a dataset split")
      .option("dataset", dataset_path, "FILE",
              "the dataset file for --checkpoint (default: the one the run was trained on)")
      .option("split", split, "NAME",
              "the split scored by --checkpoint: test, valid or train (test falls back to valid "
              "when the dataset has no test split)")
      .option("nll-window", nll_window, "T",
              "--checkpoint: score each sequence in one window from a zero state (0), or in "
              "windows of T predictions",
              cli::range(0, 100'000'000))
      .option("nll-batch", nll_batch, "B", "--checkpoint: sequences scored at once",
              cli::range(1, 65536))
      .positionals("GENERATED", generated_inputs,
                   "the generated MIDI files or folders (or a JSB .json file); optional with "
                   "--checkpoint",
                   0)
      .epilog(
          "Files that cannot be read are skipped; each is listed with the reason and counted.\n"
          "\n"
          "examples:\n"
          "  musegen eval out/ --reference $MUSEGEN_DATA_DIR/classical-piano-composer/midi_songs\n"
          "  musegen eval out.mid --reference "
          "$MUSEGEN_DATA_DIR/jsb-chorales/jsb-chorales-16th.json\n"
          "  musegen eval a.mid b.mid --json metrics.json --per-file\n"
          "  musegen eval quartets-out/ --zero-length-off-first\n"
          "      --reference $MUSEGEN_DATA_DIR/music21-multitrack/quartets\n"
          "  musegen eval chorales-out/ --zero-length-off-first --melody-part 0\n"
          "      --reference $MUSEGEN_DATA_DIR/music21-multitrack/chorales\n"
          "  musegen eval --checkpoint runs/jsb --split test   # frame NLL, the JSB benchmark\n"
          "\n"
          "The NLL is in nats per prediction: per token (cross-entropy; perplexity = e^NLL) or,\n"
          "for roll datasets, per frame summed over the 88 keys (the published JSB figure).\n");
  cli::ComputeOptions compute;
  compute.add_to(p);
  if (!p.parse(args)) return 0;
  const nn::Device device = compute.resolve(&std::cerr);

  MetricOptions options;
  options.ngram = static_cast<int>(ngram);
  options.melody_part = static_cast<int>(melody_part);
  options.zero_length_off_first = zero_length_off_first;
  {
    const auto slash = time_signature.find('/');
    if (slash == std::string::npos)
      throw cli::UsageError("--time-signature: expected N/D such as 3/4, found \"" +
                            time_signature + "\"");
    options.default_numerator =
        static_cast<int>(cli::parse_int(time_signature.substr(0, slash), "--time-signature"));
    options.default_denominator =
        static_cast<int>(cli::parse_int(time_signature.substr(slash + 1), "--time-signature"));
    try {
      compute_metrics(midi::MidiFile{}, options);  // validates the options
    } catch (const std::invalid_argument& e) {
      throw cli::UsageError(std::string("--time-signature: ") + e.what());
    }
  }

  if (generated_inputs.empty() && checkpoint.empty()) {
    throw cli::UsageError("expected at least 1 GENERATED, found 0 (or give --checkpoint)");
  }
  // --json is checked before any work, but with --checkpoint only once the run is opened: the
  // dataset it was trained on is known from its weights.
  // --reference: one path, or several separated by commas (a path that exists as given is one,
  // commas and all).
  std::vector<std::string> reference_inputs;
  if (!reference.empty()) {
    if (fs::exists(reference)) {
      reference_inputs.push_back(reference);
    } else {
      std::size_t begin = 0;
      for (std::size_t comma; (comma = reference.find(',', begin)) != std::string::npos;
           begin = comma + 1)
        reference_inputs.push_back(reference.substr(begin, comma - begin));
      reference_inputs.push_back(reference.substr(begin));
      std::erase(reference_inputs, std::string());
    }
  }
  cli::OutputCheck check;
  add_inputs(check, "the input", generated_inputs);
  if (!reference_inputs.empty()) add_inputs(check, "--reference", reference_inputs);
  const auto check_json = [&] {
    if (!json_path.empty()) check.output("--json", json_path);
  };
  if (!checkpoint.empty()) {
    const OpenedRun opened = open_run(checkpoint, dataset_path, device);
    const LoadedModel& loaded = opened.loaded;
    const Dataset& data = opened.dataset;
    dataset_path = opened.dataset_path.string();
    check.run_folder(checkpoint).input("the dataset", dataset_path);
    check_json();
    const std::vector<Sequence>* chosen = nullptr;
    if (split == "test") {
      chosen = data.test.empty() ? &data.valid : &data.test;
      if (data.test.empty()) split = "valid";
    } else if (split == "valid") {
      chosen = &data.valid;
    } else if (split == "train") {
      chosen = &data.train;
    } else {
      throw cli::UsageError("--split: expected test, valid or train, found \"" + split + "\"");
    }
    if (chosen->empty()) throw std::runtime_error(dataset_path + ": the " + split + " split is empty");
    NllResult nll;
    try {
      nll = evaluate_nll(*loaded.model, *chosen, nll_window, nll_batch);
    } catch (const std::exception& e) {
      if (!is_out_of_memory(e)) throw;
      throw std::runtime_error(out_of_memory_message(
          device, "scoring " + split,
          "try a smaller --nll-batch (now " + std::to_string(nll_batch) + ") or a --nll-window",
          e));
    }
    const bool roll = data.codec.frames();  // a frame's NLL sums its values: no perplexity
    std::cout << "NLL of " << loaded.weights.string() << " on " << dataset_path << " (" << split
              << ", " << chosen->size() << " sequences, " << nll.predictions
              << (roll ? " frames" : " tokens") << "): " << nll.mean()
              << (roll ? " nats per frame" : " nats per token");
    if (!roll) std::cout << ", perplexity " << std::exp(nll.mean());
    std::cout << "\n";
    if (generated_inputs.empty()) return 0;
  } else {
    check_json();
  }

  const EvalSet generated = measure_inputs(generated_inputs, options, "generated");
  report_skipped(generated.measured, "generated");
  if (generated.measured.pieces.empty())
    throw std::runtime_error("no readable generated piece among the inputs");
  const SetMetrics generated_set = summarize(generated.measured.pieces);
  const MultitrackSetMetrics generated_parts = summarize_multitrack(generated.multitrack);

  std::optional<EvalSet> reference_pieces;
  std::optional<SetMetrics> reference_set;
  std::optional<MultitrackSetMetrics> reference_parts;
  if (!reference.empty()) {
    reference_pieces = measure_inputs(reference_inputs, options, "reference");
    report_skipped(reference_pieces->measured, "reference");
    if (reference_pieces->measured.pieces.empty())
      throw std::runtime_error(reference + ": no readable reference piece");
    reference_set = summarize(reference_pieces->measured.pieces);
    reference_parts = summarize_multitrack(reference_pieces->multitrack);
  }

  const SetMetrics* ref = reference_set ? &*reference_set : nullptr;
  const MultitrackSetMetrics* ref_parts = reference_parts ? &*reference_parts : nullptr;
  std::cout << format_report(generated_set, ref, tolerance)
            << format_multitrack_report(generated_parts, ref_parts, tolerance);
  if (!json_path.empty()) {
    ReportedSet gen{generated_set, generated_parts};
    if (per_file) {
      gen.pieces = generated.measured.pieces;
      gen.multitrack_pieces = generated.multitrack;
    }
    std::optional<ReportedSet> ref_report;
    if (ref) {
      ref_report.emplace(ReportedSet{*ref, *ref_parts});
      if (per_file) {
        ref_report->pieces = reference_pieces->measured.pieces;
        ref_report->multitrack_pieces = reference_pieces->multitrack;
      }
    }
    const std::string json = to_json(gen, ref_report ? &*ref_report : nullptr, tolerance);
    midi::write_file_atomically(
        json_path, std::span(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()));
    std::cout << "wrote " << json_path << '\n';
  }
  return 0;
}

}  // namespace musegen
