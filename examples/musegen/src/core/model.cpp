#include "model.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "dataset.hpp"
#include "libnn/io/state_file.hpp"
#include "run_dir.hpp"
#include "sha256.hpp"

namespace musegen {

namespace {

constexpr const char* kChecksumKey = "musegen.sha256";

// The SHA-256 of the tensors' bytes (as stored: little-endian), concatenated in name order.
std::string tensors_sha256(const std::vector<nn::io::StTensor>& tensors) {
  std::vector<const nn::io::StTensor*> sorted;
  for (const nn::io::StTensor& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  Sha256 hash;
  for (const nn::io::StTensor* t : sorted) {
    hash.update({reinterpret_cast<const std::uint8_t*>(t->data.data()), t->data.size()});
  }
  return hash.hex_digest();
}

// Throws naming the tensor and the file when a float tensor holds NaN or infinity: a model
// that would generate nothing but garbage (a diverged run's weights, a damaged file).
void check_finite(const std::string& name, const nn::Tensor& tensor, const std::filesystem::path& file) {
  if (tensor.dtype() != nn::DType::Float32) return;
  const float* values = tensor.data_ptr<float>();
  const std::int64_t n = tensor.numel();
  std::int64_t bad = 0, first = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) return;
  std::ostringstream message;
  message << file.string() << ": tensor \"" << name << "\" holds " << bad
          << " non-finite value(s) (the first, element " << first << ", is " << values[first]
          << "); expected finite weights: the run that wrote them diverged or the file is damaged";
  throw std::runtime_error(message.str());
}

// The machine's physical memory in bytes (0 when unknown).
double physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<double>(pages) * static_cast<double>(page_size) : 0.0;
}

std::int64_t read_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                      const std::string& source) {
  auto it = metadata.find(key);
  if (it == metadata.end()) {
    throw std::runtime_error(source + ": not a musegen checkpoint: the metadata has no \"" + key +
                             "\"");
  }
  try {
    std::size_t used = 0;
    std::int64_t value = std::stoll(it->second, &used);
    if (used != it->second.size() || value <= 0) throw std::invalid_argument("");
    return value;
  } catch (const std::exception&) {
    throw std::runtime_error(source + ": metadata \"" + key +
                             "\": expected a positive integer, found \"" + it->second + "\"");
  }
}

}  // namespace

std::map<std::string, std::string> ModelConfig::to_metadata() const {
  std::ostringstream dropout_text;
  dropout_text << dropout;
  return {{"musegen.model", "lstm"},
          {"musegen.encoding", std::string(encoding_name(encoding))},
          {"musegen.vocab", std::to_string(vocab)},
          {"musegen.embed", std::to_string(embed)},
          {"musegen.hidden", std::to_string(hidden)},
          {"musegen.layers", std::to_string(layers)},
          {"musegen.dropout", dropout_text.str()}};
}

ModelConfig ModelConfig::from_metadata(const std::map<std::string, std::string>& metadata,
                                       const std::string& source) {
  ModelConfig config;
  auto kind = metadata.find("musegen.encoding");
  if (kind == metadata.end()) {
    throw std::runtime_error(source +
                             ": not a musegen checkpoint: the metadata has no \"musegen.encoding\"");
  }
  try {
    config.encoding = parse_encoding(kind->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(source + ": metadata \"musegen.encoding\": " + e.what());
  }
  config.vocab = read_int(metadata, "musegen.vocab", source);
  config.embed = read_int(metadata, "musegen.embed", source);
  config.hidden = read_int(metadata, "musegen.hidden", source);
  config.layers = read_int(metadata, "musegen.layers", source);
  if (auto it = metadata.find("musegen.dropout"); it != metadata.end()) {
    config.dropout = std::stod(it->second);
  }
  config.check_size(source);
  return config;
}

std::string ModelConfig::describe() const {
  std::ostringstream out;
  out << encoding_name(encoding) << ": "
      << (frames() ? "Linear(" : "Embedding(") << vocab << "," << embed << ") → LSTM(" << embed
      << "," << hidden << ")×" << layers << " → Linear(" << hidden << "," << vocab << ")"
      << ", dropout " << dropout;
  return out.str();
}

double ModelConfig::parameter_count() const {
  const auto V = static_cast<double>(vocab), E = static_cast<double>(embed),
             H = static_cast<double>(hidden), L = static_cast<double>(layers);
  const double input = V * E + (frames() ? E : 0.0);  // Embedding(V,E), or Linear(V,E) with bias
  // Each layer: weight_ih (4H × its input), weight_hh (4H × H), two biases of 4H.
  const double lstm = 4 * H * (E + H) + 8 * H + (L - 1) * (4 * H * (H + H) + 8 * H);
  return input + lstm + H * V + V;  // the head: Linear(H,V)
}

void ModelConfig::check_size(const std::string& source, double bytes_per_parameter) const {
  const double count = parameter_count(), bytes = bytes_per_parameter * count, memory = physical_memory();
  std::ostringstream why;
  why << std::fixed << std::setprecision(1);
  if (count > kMaxParameters) {
    why << "more than musegen builds (2^31 = " << std::setprecision(0) << kMaxParameters << ")";
  } else if (memory > 0 && bytes > memory) {
    why << "needing " << bytes / (1 << 30) << " GiB (" << std::setprecision(0) << bytes_per_parameter
        << " bytes per parameter), more than this machine's " << std::setprecision(1)
        << memory / (1 << 30) << " GiB of memory";
  } else {
    return;
  }
  std::ostringstream message;
  message << source << ": the model " << describe() << " would have " << std::fixed
          << std::setprecision(0) << count << " parameters, " << why.str();
  throw std::runtime_error(message.str());
}

MusicModel::MusicModel(const ModelConfig& config, nn::Generator* generator,
                       nn::Generator* dropout_generator)
    : config_(config), dropout_generator_(dropout_generator) {
  if (config.vocab <= 0 || config.embed <= 0 || config.hidden <= 0 || config.layers <= 0) {
    throw std::invalid_argument("MusicModel: vocab, embed, hidden and layers must be positive");
  }
  if (config.frames()) {
    project_ = register_module(
        "embed", std::make_shared<nn::Linear>(
                     nn::LinearOptions(config.vocab, config.embed).generator(generator)));
  } else {
    embed_ = register_module(
        "embed", std::make_shared<nn::Embedding>(
                     nn::EmbeddingOptions(config.vocab, config.embed).generator(generator)));
  }
  lstm_ = register_module("lstm", std::make_shared<nn::LSTM>(
                                      nn::LSTMOptions(config.embed, config.hidden)
                                          .num_layers(config.layers)
                                          .dropout(config.layers > 1 ? config.dropout : 0.0)
                                          .generator(generator)));
  lstm_->options.generator(dropout_generator);  // initialised: from now on, only dropout draws
  head_ = register_module(
      "head", std::make_shared<nn::Linear>(
                  nn::LinearOptions(config.hidden, config.vocab).generator(generator)));
}

std::tuple<nn::Tensor, nn::LSTMState> MusicModel::forward(
    const nn::Tensor& input, const std::optional<nn::LSTMState>& state) {
  nn::Tensor x = config_.frames() ? project_->forward(input) : embed_->forward(input);
  x = nn::dropout(x, config_.dropout, is_training(), dropout_generator_);  // (T,B,E)
  auto [y, final_state] = lstm_->forward(x, state);                        // (T,B,H)
  y = nn::dropout(y, config_.dropout, is_training(), dropout_generator_);
  return {head_->forward(y), final_state};                                 // (T,B,V)
}

std::int64_t MusicModel::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& p : parameters()) count += p.numel();
  return count;
}

void save_model_weights(const MusicModel& model, const std::filesystem::path& path,
                        std::map<std::string, std::string> metadata) {
  nn::io::StFile file;
  for (const auto& [name, tensor] : model.state_dict()) file.tensors.push_back(nn::to_safetensor(name, tensor));
  metadata[kChecksumKey] = tensors_sha256(file.tensors);
  file.metadata = std::move(metadata);
  nn::io::write_safetensors(path, file);
}

namespace {

// A dataset or a training state given where weights belong: the safetensors reader would read
// its magic as a header length and report an absurd one. Says what the file is instead.
void refuse_state_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() != sizeof magic || std::memcmp(magic, "MGSTATE", sizeof magic) != 0) return;
  std::string kind;
  try {
    kind = nn::io::read_state_file(path).strings.at("kind");
  } catch (const std::exception&) {
    // A damaged state file, or one without a kind: still no weights, said below.
  }
  const std::string expected = "expected a run folder (musegen train --run-dir) or its .safetensors weights";
  if (kind == kDatasetKind)
    throw std::runtime_error(path.string() + ": is a musegen dataset file (written by musegen preprocess), not a run; " + expected);
  throw std::runtime_error(path.string() + ": is a musegen state file (such as a run's " + RunDir::kState +
                           "), not weights; " + expected);
}

}  // namespace

LoadedModel load_model(const std::filesystem::path& run_dir_or_weights, nn::Device device) {
  LoadedModel loaded;
  std::filesystem::path path = run_dir_or_weights;
  if (std::filesystem::is_directory(path)) {
    const RunDir run{path};
    if (std::filesystem::exists(run.best())) {
      path = run.best();
    } else if (std::filesystem::exists(run.weights())) {
      path = run.weights();
    } else {
      throw std::runtime_error(run_dir_or_weights.string() + ": no " + RunDir::kBest + " or " +
                               RunDir::kWeights + " in this folder " +
                               "(is it the --run-dir of a `musegen train` run?)");
    }
  }
  refuse_state_file(path);
  const nn::io::StFile file = nn::io::read_safetensors(path);
  loaded.metadata = file.metadata;
  // The configuration first: its size check keeps a crafted one from allocating anything.
  ModelConfig config = ModelConfig::from_metadata(loaded.metadata, path.string());
  // Metadata that does not describe the file's tensors (a hand-edited "musegen.vocab") would
  // build a model of the wrong size before load_state_dict noticed: compare the counts first.
  double values = 0;
  for (const nn::io::StTensor& t : file.tensors) {
    double n = 1;
    for (const std::int64_t d : t.shape) n *= static_cast<double>(d);
    values += n;
  }
  if (values != config.parameter_count()) {
    std::ostringstream message;
    message << std::fixed << std::setprecision(0) << path.string() << ": the metadata describes "
            << config.describe() << ", " << config.parameter_count()
            << " parameters, but the file's tensors hold " << values
            << " values: expected the same count (is the metadata edited or damaged?)";
    throw std::runtime_error(message.str());
  }
  if (const auto saved = loaded.metadata.find(kChecksumKey); saved != loaded.metadata.end()) {
    const std::string found = tensors_sha256(file.tensors);
    if (found != saved->second) {
      throw std::runtime_error(path.string() + ": the tensors do not match the file's checksum " +
                               "(metadata \"" + kChecksumKey + "\": expected " + saved->second +
                               ", found " + found + "): the file was damaged after it was written");
    }
  }
  nn::NamedTensors weights;
  for (const nn::io::StTensor& t : file.tensors) {
    weights.insert(t.name, nn::from_safetensor(t));
    check_finite(t.name, *weights.find(t.name), path);
  }
  // The initial weights are overwritten at once; a generator of our own (used only while
  // constructing) keeps them from drawing from nn::default_generator(), which two threads
  // loading at once would share.
  nn::Generator throwaway;
  loaded.model = std::make_unique<MusicModel>(config, &throwaway);
  try {
    loaded.model->load_state_dict(weights, /*strict=*/true);
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
  loaded.model->to(device);  // nothing for the CPU
  loaded.model->eval();
  loaded.weights = path;
  return loaded;
}

}  // namespace musegen
