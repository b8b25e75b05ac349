// The plan of the persistent CUDA LSTM (src/cuda/lstm_persistent.cu): whether a layer's shape
// fits the GPU, and how it is cut up. Pure host code with no CUDA headers, so the host tests
// (tests/libnn/test_lstm_plan.cpp) check it without a GPU.
//
// The persistent kernel (the Persistent RNN idea) launches one cooperative grid for all T
// steps. Block p owns `units` adjacent hidden units j0 .. j0+units-1 and keeps their part of
// w_hh in shared memory for the whole sequence:
//   forward:  the rows j, H+j, 2H+j, 3H+j of w_hh (4 x H floats per unit), so the block
//             computes the four gate pre-activations of its units, then their cell update;
//   backward: the column j of w_hh (4H floats per unit), so the block computes its units'
//             part of dh_{t} = dG_{t+1} w_hh, then their gate gradients.
// Either way a unit costs 4 H weights of shared memory: float32 (4 bytes), or bf16 (2 bytes)
// under the bf16 matmul precision, which so holds twice the weights per block. One grid-wide
// synchronisation per step publishes h_t (forward) or dG_t (backward) to every block.
//
// A shape fits when every block's slice fits the shared memory a block may opt into and the
// grid (at most one block per multiprocessor: they must all be resident at once) covers H.
// The caller also asks the runtime for the occupancy of the kernel with that much shared
// memory (cudaOccupancyMaxActiveBlocksPerMultiprocessor) and passes it in: 0 does not fit.
#pragma once

#include <cstdint>
#include <string>

namespace nn::kernels {

struct LstmGpuLimits {
  int sm_count = 0;                 // multiprocessors (cudaDevAttrMultiProcessorCount)
  std::int64_t smem_per_block = 0;  // bytes a block may opt into (...SharedMemoryPerBlockOptin)
  int blocks_per_sm = 1;            // occupancy of the kernel at the planned shared memory
                                    // (-1: not asked yet, assume 1)
};

struct LstmPersistentPlan {
  bool fits = false;
  std::string reason;           // why not, in words, when !fits
  int blocks = 0;               // the cooperative grid
  int threads = 0;              // per block
  std::int64_t units = 0;       // hidden units per block (the last block may have fewer)
  std::int64_t smem_bytes = 0;  // dynamic shared memory per block
  int weight_bytes = 4;         // bytes of one w_hh value on chip: 4 float32, 2 bf16
};

inline constexpr int kLstmPersistentThreads = 256;
// The slice of w_hh a unit keeps on chip: 4 H values (forward rows or backward columns) of
// weight_bytes each.
inline std::int64_t lstm_persistent_unit_bytes(std::int64_t H, int weight_bytes = 4) {
  return 4 * H * static_cast<std::int64_t>(weight_bytes);
}

// The plan for a layer of H hidden units and B batch rows on a GPU with `limits`. As few
// units per block as the multiprocessors allow (the work of a step is spread over the most
// blocks), and then as few blocks as that many units per block need. weight_bytes: 4 (w_hh
// in float32 on chip) or 2 (bf16).
inline LstmPersistentPlan plan_lstm_persistent(std::int64_t B, std::int64_t H,
                                               const LstmGpuLimits& limits, int weight_bytes = 4) {
  LstmPersistentPlan plan;
  plan.threads = kLstmPersistentThreads;
  plan.weight_bytes = weight_bytes;
  if (B <= 0 || H <= 0) {
    plan.reason = "an empty batch or layer";
    return plan;
  }
  if (limits.sm_count <= 0 || limits.smem_per_block <= 0) {
    plan.reason = "no GPU limits (multiprocessor count or shared memory unknown)";
    return plan;
  }
  if (limits.blocks_per_sm == 0) {
    plan.reason = "the kernel cannot be resident with its shared memory (occupancy 0)";
    return plan;
  }
  const std::int64_t sms = limits.sm_count;
  plan.units = (H + sms - 1) / sms;
  plan.blocks = static_cast<int>((H + plan.units - 1) / plan.units);
  plan.smem_bytes = plan.units * lstm_persistent_unit_bytes(H, weight_bytes);
  if (plan.smem_bytes > limits.smem_per_block) {
    plan.reason = "w_hh does not fit on chip: " + std::to_string(plan.units) +
                  " hidden units per block x 4H " + (weight_bytes == 2 ? "bf16 values" : "floats") +
                  " = " + std::to_string(plan.smem_bytes) +
                  " bytes of shared memory per block, the GPU allows " +
                  std::to_string(limits.smem_per_block) + " (H = " + std::to_string(H) + " on " +
                  std::to_string(limits.sm_count) + " multiprocessors)";
    return plan;
  }
  plan.fits = true;
  return plan;
}

}  // namespace nn::kernels
