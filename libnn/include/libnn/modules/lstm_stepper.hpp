// LSTMStepper: an inference snapshot of an nn::LSTM for generating one time step at a time
// (sampling at batch 1), with the weights optionally kept in float16.
//
// The weights are copied when the stepper is constructed: later changes to the LSTM (an
// optimizer step, a loaded checkpoint) do not reach it; build a new one. No autograd: the
// outputs have no history. Float16 weights halve the bytes a step streams from memory
// (a 3-layer 512-unit step reads 24 MB of float32 weights), which is what bounds it; the
// arithmetic stays float32 (each half weight is converted exactly, products and sums are
// float32), so the only error is the rounding of each weight to half (relative 2^-11).
//
//   nn::LSTMStepper stepper(embedding, lstm, nn::LSTMStepperOptions().weight_dtype(nn::DType::Float16));
//   nn::LSTMState state;                               // zeros at the first step
//   nn::Tensor h = stepper.step_tokens(tokens, state); // tokens int64 (B) -> h (B,H)
//
// docs/libnn.md ("LSTMStepper") has the design, docs/perf.md the speed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libnn/module.hpp"
#include "libnn/modules/embedding.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/lstm.hpp"

namespace nn::kernels {
class TokenLoopBackend;
}  // namespace nn::kernels

namespace nn {

struct LSTMStepperOptions {
  // How the weight matrices are stored: DType::Float32 (the same bits as the LSTM module) or
  // DType::Float16 (IEEE half, rounded to nearest even). Biases stay float32.
  LIBNN_ARG(DType, weight_dtype, DType::Float32)
};

class LSTMStepper {
 public:
  // A snapshot of `lstm` (any batch_first: a step has no time dimension; dropout is never
  // applied: inference).
  explicit LSTMStepper(const LSTM& lstm, const LSTMStepperOptions& options = {});
  // The same, with `embedding` (V,I) folded into layer 0's input projection: a (V,4H)
  // float32 table, row v = embedding row v times w_ih_l0^T (w_ih_l0 as stored: rounded to
  // half with Float16), computed once here. step_tokens then reads one 4H row per token
  // instead of the whole 4H×I matrix.
  LSTMStepper(const Embedding& embedding, const LSTM& lstm,
              const LSTMStepperOptions& options = {});

  // One time step. x (B,I) float32; state = (h, c), each (num_layers,B,H) float32, updated
  // in place; undefined tensors (a default LSTMState) start from zeros and are replaced by
  // new (num_layers,B,H) tensors. Returns the last layer's h (B,H), a new tensor. With
  // float32 weights and B <= 4 the results are the same bits as LSTM::forward at T = 1.
  Tensor step(const Tensor& x, LSTMState& state) const;
  // One time step whose input is the embedding of `tokens`: int64 (B) in [0,V). Only for a
  // stepper constructed with an Embedding. The same as step(embedding rows) up to float32
  // rounding (the input projection is summed in another order).
  Tensor step_tokens(const Tensor& tokens, LSTMState& state) const;

  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::int64_t num_layers() const { return static_cast<std::int64_t>(layers_.size()); }
  DType weight_dtype() const { return weight_dtype_; }
  // V when constructed with an Embedding, else 0.
  std::int64_t num_embeddings() const { return table_.defined() ? table_.size(0) : 0; }

 private:
  friend class LSTMTokenLoop;
  struct Layer {
    Tensor w_ih;  // (4H,I or H) in weight_dtype
    Tensor w_hh;  // (4H,H) in weight_dtype
    Tensor bias;  // (4H) float32 = b_ih + b_hh, or undefined
  };
  void prepare_state(LSTMState& state, std::int64_t batch, const char* what) const;
  Tensor run(const Tensor& x, const Tensor& gx, LSTMState& state) const;

  std::int64_t input_size_ = 0, hidden_size_ = 0;
  DType weight_dtype_ = DType::Float32;
  std::vector<Layer> layers_;
  Tensor table_;  // (V,4H) float32: the embedding through layer 0's w_ih, or undefined
};

struct TokenLoopOptions {
  // The logits are divided by it before the softmax (> 0).
  LIBNN_ARG(double, temperature, 1.0)
  // The draw of generation step d is Philox at (seed, d) (the rule: src/kernels/token_loop.hpp).
  LIBNN_ARG(std::uint64_t, seed, 1)
  // Sample among the top_k most likely tokens only (0: all), then among the fewest of those
  // whose probability reaches top_p (1: all). On CUDA these sort the logits in one block:
  // at most LSTMTokenLoop::kMaxFilteredVocab of them.
  LIBNN_ARG(std::int64_t, top_k, 0)
  LIBNN_ARG(double, top_p, 1.0)
  // On CUDA: tokens per CUDA graph, captured at the first generate() and replayed (rounded up
  // to even; 0: launch every kernel of every token, no graph). Ignored on the CPU.
  LIBNN_ARG(std::int64_t, graph_tokens, 16)
};

// Batch-1 token generation, the whole loop on the stepper's device: the token's row of the
// folded embedding table -> the LSTM layers -> `head` (a Linear, H -> K) -> softmax of the
// logits / temperature -> a token drawn from it, fed back in. On CUDA every token is L + 2
// kernels (L layers, the head, the sampler) that read the previous token from device
// memory, and a CUDA graph of graph_tokens tokens replays them: the host launches one graph
// per graph_tokens tokens and waits once per generate() call, when the tokens come back.
// On the CPU it runs the same steps with the CPU kernels (the reference).
//
//   nn::LSTMTokenLoop loop(stepper, head, nn::TokenLoopOptions().temperature(0.9).seed(7));
//   nn::LSTMState state;                                   // zeros, or a primer's state
//   std::vector<std::int64_t> tokens = loop.generate(last_primer_token, state, 512);
//
// Sampling: the draw of step d is uniform53(Philox(seed, d, 0)); the token is the first i
// whose cumulative softmax probability (double; after top-k / top-p) exceeds it: musegen's
// sample_token (on the CPU step for step; on CUDA up to the rounding of its sums). The stepper must
// have an embedding, the head H inputs, both on one device; the loop keeps their tensors (a later
// change to the head's module does not reach it).
class LSTMTokenLoop {
 public:
  // The most logits top-k / top-p take on CUDA (one block sorts them in shared memory).
  static constexpr std::int64_t kMaxFilteredVocab = 2048;

  LSTMTokenLoop(const LSTMStepper& stepper, const Linear& head,
                const TokenLoopOptions& options = {});
  ~LSTMTokenLoop();
  LSTMTokenLoop(LSTMTokenLoop&&) noexcept;
  LSTMTokenLoop& operator=(LSTMTokenLoop&&) noexcept;

  // Feeds `token` (in [0,V)), then samples n tokens for generation steps first_draw ..
  // first_draw + n - 1, feeding each but the last back in, and returns them. state: (h, c),
  // each (num_layers,1,H) float32 on the stepper's device, updated in place (after the call
  // it is the state after feeding `token` and the first n - 1 sampled tokens); undefined
  // tensors start from zeros. So two calls continue one another when the second is given the
  // first's last token and first_draw + n.
  std::vector<std::int64_t> generate(std::int64_t token, LSTMState& state, std::int64_t n,
                                     std::uint64_t first_draw = 0);

  // How the last generate() ran: "cpu", "eager", "graph of 16 tokens" (and eager for the
  // remainder), or "eager (the graph failed: ...)".
  std::string how() const;
  Device device() const { return device_; }

 private:
  std::int64_t num_layers_ = 0, hidden_size_ = 0, vocab_ = 0;
  Device device_ = Device::cpu();
  std::unique_ptr<kernels::TokenLoopBackend> backend_;
};

}  // namespace nn
