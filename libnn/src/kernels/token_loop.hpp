// The token loop of nn::LSTMTokenLoop (libnn/modules/lstm_stepper.hpp): batch-1 generation
// with the embedding folded into layer 0, the LSTM layers, a linear head, temperature
// softmax and sampling, per device. The CPU backend (src/modules/lstm_token_loop.cpp) is the
// reference; the CUDA one (src/cuda/lstm_step.cu) keeps everything on the device and replays
// a CUDA graph of several tokens.
//
// The sampling rule, the same on every backend: the draw of generation step d is
//   u = uniform53(philox4x32(seed, d, 0))  (53 random bits, core/philox.hpp)
//   p_i = exp((logit_i - max) / temperature)  in double,  total = sum of the p_i
//   token = the first i with u * total < p_0 + ... + p_i  (the last i with p_i > 0 when
//           rounding leaves none)
// which is musegen's sample_token without top-k / top-p (examples/musegen/src/core/sampling.cpp):
// the same distribution, and the same token except where u falls within rounding of a
// boundary (the sums run in another order on each device).
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
std::int64_t sample_index(const float* logits, std::int64_t K, double temperature, double u);

}  // namespace nn::kernels
