// The token loop of nn::LSTMTokenLoop (libnn/modules/lstm_stepper.hpp): batch-1 generation
// with the embedding folded into layer 0, the LSTM layers, a linear head, temperature
// softmax and sampling, per device. The CPU backend (src/modules/lstm_token_loop.cpp) is the
// reference; the CUDA one (src/cuda/lstm_step.cu) keeps everything on the device and replays
// a CUDA graph of several tokens.
//
// The sampling rule, the same on every backend: musegen's sample_token
// (examples/musegen/src/core/sampling.cpp), with top-k and top-p:
//   u = uniform53(philox4x32(seed, d, 0))  for generation step d (53 random bits, core/philox.hpp)
//   p_i = exp((logit_i - max) / temperature) / total  in double
//   keep the top_k most likely (0: all; ties by index), then the fewest of those whose mass
//   reaches top_p (1: all); q_i = p_i / (their mass) for the kept, 0 for the others
//   token = the first i with u < q_0 + ... + q_i  (the last kept i when rounding leaves none)
// The CPU backend (sample_index) does it step for step as musegen does, so on the same logits
// it draws musegen's tokens. The CUDA one sums in other orders (a block reduction, a warp
// scan): the same distribution, the same token except where u falls within rounding of a
// boundary. Without top-k / top-p it skips the sort and compares u * total with the running
// sum of exp((logit_i - max) / temperature), which is the same up to rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/table.hpp"
#include "libnn/tensor.hpp"

namespace nn::kernels {

// What a backend is built from: the stepper's layers and table, and the head. Tensors on the
// backend's device; weights float32 or float16 (weight_dtype), the rest float32.
struct TokenLoopSpec {
  std::vector<Tensor> w_ih, w_hh, bias;  // per layer; w_ih[0] unused (the table has it)
  Tensor table;                          // (V,4H)
  Tensor head_weight;                    // (K,H) float32
  Tensor head_bias;                      // (K) float32 or undefined
  std::int64_t hidden_size = 0;
  double temperature = 1.0;
  std::uint64_t seed = 1;
  std::int64_t top_k = 0;         // 0: every token
  double top_p = 1.0;             // 1: every token
  std::int64_t graph_tokens = 0;  // tokens per CUDA graph (0: none); backends may ignore it
};

class TokenLoopBackend {
 public:
  virtual ~TokenLoopBackend() = default;
  // Feeds `token`, then samples n tokens (generation steps first_draw, first_draw + 1, ...),
  // feeding each but the last back in. h, c (L,1,H) float32 on the device: the state, updated
  // in place. Writes the n tokens to out.
  virtual void generate(std::int64_t token, Tensor& h, Tensor& c, std::int64_t n,
                        std::uint64_t first_draw, std::int64_t* out) = 0;
  // How the last generate ran ("eager", "graph of 16 tokens", "eager (...: why)").
  virtual std::string how() const = 0;
};

using MakeTokenLoopFn = std::unique_ptr<TokenLoopBackend>(const TokenLoopSpec& spec);
extern Table<MakeTokenLoopFn> make_token_loop;

// The host side of the sampling rule above (the CPU backend, and the tests' reference).
double token_uniform(std::uint64_t seed, std::uint64_t draw);
std::int64_t sample_index(const float* logits, std::int64_t K, double temperature,
                          std::int64_t top_k, double top_p, double u);

}  // namespace nn::kernels
