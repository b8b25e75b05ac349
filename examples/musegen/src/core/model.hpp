// The music model: input layer → stacked LSTM → linear head, one prediction per time step.
// The codec's step format (Codec::step()) decides the input layer and the head:
//
//   tokens (notes, events): tokens (T,B) int64 → Embedding(V,E) → LSTM(E,H,L)
//                           → Linear(H,V) → logits (T,B,V), softmax cross-entropy
//   frames (roll):          frames (T,B,K) float 0/1 → Linear(K,E) → LSTM(E,H,L)
//                           → Linear(H,K) → logits (T,B,K), K independent sigmoids (roll: 88)
//
// Parameter names follow PyTorch (`embed.weight`, `lstm.weight_ih_l0`, …, `head.weight`), so
// a checkpoint's weights load into the equivalent torch.nn model unchanged (docs/musegen.md
// has the PyTorch class). load_model() reads a trained one back from a run folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include <libnn/libnn.hpp>

#include "codec.hpp"

namespace musegen {

struct ModelConfig {
  Encoding encoding = Encoding::events;
  std::int64_t vocab = 0;       // the step format's size: tokens, or values per frame (roll: 88)
  std::int64_t embed = 256;     // E: embedding / input projection size
  std::int64_t hidden = 512;    // H
  std::int64_t layers = 3;      // L
  double dropout = 0.3;         // after the input layer, between LSTM layers, before the head

  // What one step is, for this encoding and vocabulary (Codec::step() of the data's codec).
  StepFormat step() const { return {step_kind(encoding), vocab}; }
  bool frames() const { return step_kind(encoding) == StepKind::frame; }
  // Stored with the weights (safetensors metadata) and read back by generate / eval.
  std::map<std::string, std::string> to_metadata() const;
  static ModelConfig from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source);
  std::string describe() const;  // "roll: Linear(88,256) → LSTM(256,512)×3 → Linear(512,88)"

  // The parameters a MusicModel of this configuration has, computed without building it, in
  // floating point so that crafted sizes cannot overflow.
  double parameter_count() const;
  // Throws std::runtime_error, starting with `source` (a weights file, the train options),
  // when the model is too big to build: above kMaxParameters, or `bytes_per_parameter` per
  // parameter (4: float32 weights; training needs more) beyond this machine's memory. Checked
  // before any allocation, so a crafted size fails at once instead of as bad_alloc (or the OOM
  // killer) minutes later.
  void check_size(const std::string& source, double bytes_per_parameter = 4) const;
  static constexpr double kMaxParameters = 2147483648.0;  // 2^31
};

class MusicModel : public nn::Module {
 public:
  // `init` draws the initial weights; `dropout` (kept by the model) every dropout mask, so a
  // training run saves and restores it to resume exactly. Null: the global generator.
  MusicModel(const ModelConfig& config, nn::Generator* init, nn::Generator* dropout = nullptr);

  // input: tokens (T,B) int64, or frames (T,B,K) float32. Returns logits (T,B,V) and the
  // LSTM's final state (h, c), each (L,B,H).
  std::tuple<nn::Tensor, nn::LSTMState> forward(const nn::Tensor& input,
                                                const std::optional<nn::LSTMState>& state = {});

  const ModelConfig& config() const { return config_; }
  std::int64_t parameter_count() const;
  // Where the weights are (nn::Module::to moves them; every layer moves together). Inputs of
  // forward() must be there too: make_batch() and generate() put them there.
  nn::Device device() const { return head_->weight.device(); }

  // The layers, for generation's step-by-step path (generate.cpp): the token embedding
  // (null for frames), the frame input projection (null for tokens), the LSTM and the head.
  const nn::Embedding* embedding() const { return embed_.get(); }
  const nn::Linear* projection() const { return project_.get(); }
  const nn::LSTM& lstm() const { return *lstm_; }
  const nn::Linear& head() const { return *head_; }

 private:
  ModelConfig config_;
  nn::Generator* dropout_generator_;
  std::shared_ptr<nn::Embedding> embed_;  // token encodings
  std::shared_ptr<nn::Linear> project_;   // frames (registered as "embed" too: one name)
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> head_;
};

struct LoadedModel {
  std::unique_ptr<MusicModel> model;
  std::map<std::string, std::string> metadata;  // the weights file's metadata
  std::filesystem::path weights;                // the file read
};

// Writes a model's weights as safetensors (atomically) with `metadata` and "musegen.sha256":
// the SHA-256 of the tensors' bytes, concatenated in name order, which load_model() checks.
// The tensors are copied to the host first: a file is the same whichever device trained it.
void save_model_weights(const MusicModel& model, const std::filesystem::path& path,
                        std::map<std::string, std::string> metadata);

// A model from a run dir (RunDir's best weights if there are any, else its latest) or from a
// .safetensors file written by `musegen train`. The model is in eval mode, so several
// generations may share it (generate.hpp). Safe to call from several threads at once: it
// draws nothing from nn::default_generator().
// Refuses, naming the file, before building the model: a configuration too big to build
// (ModelConfig::check_size) or whose parameter count is not what the tensors hold (edited
// metadata); tensors whose bytes do not match the file's "musegen.sha256" (files without it,
// from before it was written, load unchecked); a tensor holding NaN or infinity (named).
// Everything is read and checked on the host; the model is then moved to `device`, so weights
// trained on either device load on either.
LoadedModel load_model(const std::filesystem::path& run_dir_or_weights,
                       nn::Device device = nn::Device::cpu());

}  // namespace musegen
