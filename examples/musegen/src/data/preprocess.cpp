#include "preprocess.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "jsb.hpp"
#include "midi_files.hpp"
#include "libmidi/io.hpp"

namespace musegen {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_json(const std::filesystem::path& p) { return lower(p.extension().string()) == ".json"; }

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A piece on its way into the dataset.
struct Item {
  std::string source;
  Piece piece;
  int split;  // 0 train, 1 valid, 2 test
};

std::string format_factor(double f) {
  std::ostringstream out;
  out << f;
  return out.str();
}

}  // namespace

std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::uint64_t state = seed;
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(splitmix64(state) % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<std::filesystem::path> find_midi_files(const std::vector<std::filesystem::path>& inputs) {
  std::vector<std::filesystem::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      const std::vector<std::filesystem::path> found = midi_files_in(input);
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(input, ec)) {
      if (!is_json(input)) files.push_back(input);
    } else {
      throw std::runtime_error(input.string() + ": no such file or folder");
    }
  }
  return files;
}

Dataset preprocess(const std::vector<std::filesystem::path>& inputs, const PreprocessOptions& options,
                   PreprocessReport* report_out) {
  PreprocessReport local_report;
  PreprocessReport& report = report_out ? *report_out : local_report;
  report = PreprocessReport{};
  CodecParams params = options.params;
  if (!(options.encoding == Encoding::roll && params.frames_per_quarter == 0))
    validate_params(options.encoding, params);
  if (!(options.valid_fraction >= 0 && options.valid_fraction < 1))
    throw std::invalid_argument("valid fraction: expected 0 <= f < 1, found " +
                                format_factor(options.valid_fraction));
  if (options.transpose < 0 || options.transpose > kMaxTranspose)
    throw std::invalid_argument("transpose: expected 0.." + std::to_string(kMaxTranspose) +
                                " semitones, found " +
                                std::to_string(options.transpose));
  for (double f : options.stretch)
    if (!(f >= kMinStretch && f <= kMaxStretch))
      throw std::invalid_argument("stretch: expected factors in " + format_factor(kMinStretch) + ".." +
                                  format_factor(kMaxStretch) + ", found " + format_factor(f));
  if (options.jsb_frames_per_quarter < 0 || options.jsb_frames_per_quarter > kMaxFramesPerQuarter)
    throw std::invalid_argument("JSB frames per quarter: expected 0.." + std::to_string(kMaxFramesPerQuarter) + ", found " +
                                std::to_string(options.jsb_frames_per_quarter));
  if (inputs.empty()) throw std::invalid_argument("preprocess: no input given");

  std::vector<Item> items;

  // The JSB chorales keep their own split.
  for (const auto& input : inputs) {
    if (!is_json(input) || std::filesystem::is_directory(input)) continue;
    const JsbChorales jsb = read_jsb(input);
    int fpq = options.jsb_frames_per_quarter ? options.jsb_frames_per_quarter : jsb_frames_per_quarter(input);
    if (fpq == 0)
      throw std::invalid_argument(input.string() + ": the file name does not say the resolution " +
                                  "(quarter, 8th, 16th): give --jsb-frames-per-quarter");
    // Roll at the JSB file's own resolution unless asked otherwise: frames as published.
    if (options.encoding == Encoding::roll && params.frames_per_quarter == 0) params.frames_per_quarter = fpq;
    const std::vector<JsbChorale>* splits[] = {&jsb.train, &jsb.valid, &jsb.test};
    const char* names[] = {"train", "valid", "test"};
    for (int s = 0; s < 3; ++s) {
      for (std::size_t i = 0; i < splits[s]->size(); ++i) {
        items.push_back({input.filename().string() + ":" + names[s] + "[" + std::to_string(i) + "]",
                         jsb_piece((*splits[s])[i], fpq), s});
        ++report.jsb_pieces;
      }
    }
  }

  if (options.encoding == Encoding::roll && params.frames_per_quarter == 0) params.frames_per_quarter = 4;
  validate_params(options.encoding, params);

  // MIDI files: read, then a seeded split by file.
  const std::vector<std::filesystem::path> files = find_midi_files(inputs);
  report.midi_files = static_cast<std::int64_t>(files.size());
  midi::ReadOptions read_options = options.strict ? midi::ReadOptions::strict() : midi::ReadOptions::lenient();
  std::vector<Item> midi_items;
  for (const auto& path : files) {
    midi::MidiFile file;
    try {
      file = midi::load(path, read_options);
    } catch (const midi::ParseError& e) {
      report.skipped.push_back({path.string(), e.diagnostic().to_string()});
      continue;
    } catch (const std::system_error& e) {
      report.skipped.push_back({path.string(), e.code().message()});
      continue;
    }
    Piece piece = piece_from_midi(file, midi::NoteOptions()
                                            .sustain_pedal(options.sustain_pedal)
                                            .zero_length_off_first(options.zero_length_off_first));
    if (!options.drums)
      std::erase_if(piece.notes, [](const PieceNote& n) { return n.drum; });
    if (options.merge_parts) {
      piece.tracks.clear();
      for (PieceNote& n : piece.notes) {
        n.track = -1;
        if (!n.drum) n.program = 0;
      }
    }
    if (piece.notes.empty()) {
      report.skipped.push_back({path.string(), "no notes"});
      continue;
    }
    if (!file.warnings.empty()) {
      ++report.midi_repaired;
      report.repair_warnings += static_cast<std::int64_t>(file.warnings.size());
    }
    ++report.midi_read;
    midi_items.push_back({path.string(), std::move(piece), 0});
  }
  if (!midi_items.empty()) {
    std::size_t valid_count = static_cast<std::size_t>(
        std::llround(options.valid_fraction * static_cast<double>(midi_items.size())));
    if (options.valid_fraction > 0 && midi_items.size() >= 2) valid_count = std::max<std::size_t>(valid_count, 1);
    valid_count = std::min(valid_count, midi_items.size() - 1);
    const std::vector<std::size_t> order = seeded_permutation(midi_items.size(), options.seed);
    for (std::size_t k = 0; k < valid_count; ++k) midi_items[order[k]].split = 1;
    for (Item& item : midi_items) items.push_back(std::move(item));
  }

  // What the encoding can take (notes: before its vocabulary is known; the transpositions it
  // accepts do not depend on it).
  const Codec shape = options.encoding == Encoding::notes ? Codec::notes(params, {})
                                                          : Codec::make(options.encoding, params);

  // Augmentation: every combination of transposition and stretch, for the training split.
  std::vector<double> factors{1.0};
  factors.insert(factors.end(), options.stretch.begin(), options.stretch.end());
  std::vector<Item> augmented;
  for (const Item& item : items) {
    if (item.split != 0) continue;
    for (int t = -options.transpose; t <= options.transpose; ++t) {
      for (std::size_t f = 0; f < factors.size(); ++f) {
        if (t == 0 && f == 0) continue;
        Item copy{item.source, item.piece, 0};
        if (t != 0) {
          if (!shape.transposable(copy.piece, t) || !transpose_piece(copy.piece, t)) {
            ++report.augment_out_of_range;
            continue;
          }
          copy.source += std::string(" transposed ") + (t > 0 ? "+" : "") + std::to_string(t);
        }
        if (f != 0) {
          stretch_piece(copy.piece, factors[f]);
          copy.source += " stretched x" + format_factor(factors[f]);
        }
        augmented.push_back(std::move(copy));
      }
    }
  }
  report.augmented = static_cast<std::int64_t>(augmented.size());
  for (Item& item : augmented) items.push_back(std::move(item));

  if (items.empty()) {
    // Each file's reason: "no piece could be read" alone leaves the user to guess which.
    std::string message = "preprocess: no piece could be read from the inputs";
    if (report.skipped.empty()) message += " (no MIDI file or JSB chorales .json among them)";
    else message += ":";
    for (const PreprocessReport::Skipped& s : report.skipped) message += "\n  " + s.file + ": " + s.reason;
    throw std::runtime_error(message);
  }

  // The codec (notes: its vocabulary comes from the data, every split included).
  Dataset dataset;
  if (options.encoding == Encoding::notes) {
    const Codec bare = Codec::notes(params, {});
    std::vector<std::vector<std::string>> names;
    names.reserve(items.size());
    for (const Item& item : items) names.push_back(bare.notes_token_names(item.piece));
    dataset.codec = Codec::notes(params, build_notes_vocabulary(params, names, options.min_chord_count));
  } else {
    dataset.codec = shape;
  }

  std::vector<Sequence>* splits[] = {&dataset.train, &dataset.valid, &dataset.test};
  for (const Item& item : items) {
    Sequence s = dataset.codec.encode(item.piece, item.source, &report.stats);
    if (s.steps() == 0) {
      report.skipped.push_back({item.source, "nothing " + std::string(encoding_name(options.encoding)) +
                                                 " can encode (no notes in its range)"});
      continue;
    }
    splits[item.split]->push_back(std::move(s));
  }
  if (dataset.train.empty()) throw std::runtime_error("preprocess: no training sequence");

  std::ostringstream settings;
  settings << "encoding=" << encoding_name(options.encoding);
  for (const auto& [name, value] : dataset.codec.parameter_list()) settings << " " << name << "=" << value;
  settings << " valid_fraction=" << options.valid_fraction << " seed=" << options.seed
           << " transpose=" << options.transpose << " stretch=";
  for (std::size_t i = 0; i < options.stretch.size(); ++i) settings << (i ? "," : "") << options.stretch[i];
  settings << " strict=" << options.strict << " drums=" << options.drums
           << " sustain_pedal=" << options.sustain_pedal;
  if (options.zero_length_off_first) settings << " zero_length_off_first=1";
  if (options.merge_parts) settings << " merge_parts=1";
  if (options.encoding == Encoding::notes) settings << " min_chord_count=" << options.min_chord_count;
  dataset.options = settings.str();
  dataset.summary = report.text(dataset);
  return dataset;
}

std::string PreprocessReport::text(const Dataset& dataset) const {
  std::ostringstream out;
  if (midi_files > 0) {
    out << "MIDI: read " << midi_read << " of " << midi_files << " files";
    if (midi_repaired > 0)
      out << " (" << midi_repaired << " repaired, " << repair_warnings << " repairs in all)";
    out << "\n";
  }
  if (jsb_pieces > 0) out << "JSB: read " << jsb_pieces << " chorales\n";
  if (!skipped.empty()) {
    out << "skipped " << skipped.size() << ":\n";
    for (const Skipped& s : skipped) out << "  " << s.file << ": " << s.reason << "\n";
  }
  out << "encoding: " << dataset.codec.describe() << "\n";
  out << "notes: " << stats.notes << " encoded";
  if (stats.notes_dropped > 0) out << ", " << stats.notes_dropped << " outside the encoding (drums or off the keyboard)";
  if (stats.tokens_dropped > 0) out << ", " << stats.tokens_dropped << " tokens outside the vocabulary dropped";
  out << "\n";
  if (augmented > 0 || augment_out_of_range > 0) {
    out << "augmentation: " << augmented << " training copies";
    if (augment_out_of_range > 0) out << " (" << augment_out_of_range << " transpositions out of range left out)";
    out << "\n";
  }
  const std::pair<const char*, const std::vector<Sequence>*> splits[] = {
      {"train", &dataset.train}, {"valid", &dataset.valid}, {"test", &dataset.test}};
  for (const auto& [name, split] : splits)
    out << name << ": " << split->size() << " sequences, " << dataset.steps(*split) << " steps\n";

  // The vocabulary: size, how much of it the data uses, the most frequent tokens.
  const Codec& codec = dataset.codec;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(codec.vocab_size()), 0);
  for (const auto& [name, split] : splits) {
    for (const Sequence& s : *split) {
      if (s.is_frames()) {  // a frame's columns are the vocabulary (roll: the keys)
        const auto K = static_cast<std::size_t>(s.width);
        for (std::size_t i = 0; i < s.frames.size(); ++i) counts[i % K] += s.frames[i];
      } else {
        for (std::int32_t id : s.tokens) ++counts[static_cast<std::size_t>(id)];
      }
    }
  }
  std::vector<std::int32_t> ids(counts.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](std::int32_t a, std::int32_t b) {
    return counts[static_cast<std::size_t>(a)] > counts[static_cast<std::size_t>(b)];
  });
  const auto used = std::count_if(counts.begin(), counts.end(), [](std::int64_t c) { return c > 0; });
  out << "vocabulary: " << codec.vocab_size() << " " << (codec.frames() ? "keys" : "tokens")
      << ", " << used << " used; most frequent:";
  for (std::size_t i = 0; i < std::min<std::size_t>(8, ids.size()); ++i) {
    if (counts[static_cast<std::size_t>(ids[i])] == 0) break;
    out << " " << codec.token(ids[i]) << " (" << counts[static_cast<std::size_t>(ids[i])] << ")";
  }
  out << "\n";
  return out.str();
}

}  // namespace musegen
