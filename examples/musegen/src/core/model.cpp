#include "model.hpp"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "dataset.hpp"
#include "libnn/io/state_file.hpp"
#include "run_dir.hpp"

namespace musegen {

namespace {

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
  return config;
}

std::string ModelConfig::describe() const {
  std::ostringstream out;
  out << encoding_name(encoding) << ": "
      << (is_roll() ? "Linear(" : "Embedding(") << vocab << "," << embed << ") → LSTM(" << embed
      << "," << hidden << ")×" << layers << " → Linear(" << hidden << "," << vocab << ")"
      << ", dropout " << dropout;
  return out.str();
}

MusicModel::MusicModel(const ModelConfig& config, nn::Generator* generator,
                       nn::Generator* dropout_generator)
    : config_(config), dropout_generator_(dropout_generator) {
  if (config.vocab <= 0 || config.embed <= 0 || config.hidden <= 0 || config.layers <= 0) {
    throw std::invalid_argument("MusicModel: vocab, embed, hidden and layers must be positive");
  }
  if (config.is_roll()) {
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
  nn::Tensor x = config_.is_roll() ? project_->forward(input) : embed_->forward(input);
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

LoadedModel load_model(const std::filesystem::path& run_dir_or_weights) {
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
  nn::NamedTensors weights = nn::load_safetensors(path, &loaded.metadata);
  ModelConfig config = ModelConfig::from_metadata(loaded.metadata, path.string());
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
  loaded.model->eval();
  loaded.weights = path;
  return loaded;
}

}  // namespace musegen
