// nn::cuda: libnn's CUDA backend as a user sees it -- whether it is there, its streams, its
// caching allocator's statistics, and the matrix-product precision.
//
// Every function here exists in every build. In a build without the backend (NN_CUDA=OFF,
// or no toolkit found) is_built() and is_available() are false, device_count() is 0, and
// the functions that need a GPU throw nn::Error saying libnn was built without CUDA.
//
// Making a tensor on a CUDA device starts the backend (init()); nothing needs calling first.
// Design: docs/libnn.md, "Devices".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "libnn/dtype.hpp"

namespace nn {

// The float32 matrix-product precision, as PyTorch's torch.set_float32_matmul_precision:
//   "highest" (the default)  float32 products and sums
//   "high"    TF32: operands rounded to a 10-bit mantissa on tensor cores, float32 sums
//   "medium"  bf16: operands rounded to bfloat16 (8-bit mantissa) on tensor cores, float32
//             sums (CUBLAS_COMPUTE_32F_FAST_16BF)
// It applies to every CUDA matrix product: the cuBLAS GEMMs of Linear, matmul and the LSTM
// (its input projection, its recurrence when stepwise, its weight and input gradients), and
// cuDNN's math type. Tensors, master weights, gradients, optimizer state, the LSTM's gates and
// cell state stay float32: only the products' operands are rounded (docs/libnn.md, "Matrix
// product precision"). The CPU always computes in float32 and ignores the setting.
// Process-wide, for every thread; meant for start-up (or a Float32MatmulPrecisionGuard).
enum class MatmulPrecision { Highest, High, Medium };
void set_float32_matmul_precision(MatmulPrecision precision);
// "highest", "high" or "medium"; throws nn::Error naming the accepted values otherwise.
void set_float32_matmul_precision(const std::string& precision);
MatmulPrecision float32_matmul_precision();
// "highest", "high" or "medium".
std::string matmul_precision_name(MatmulPrecision precision);

// Sets the precision for its lifetime, then restores the one before (an autocast-style
// scope; the setting stays process-wide while it lives).
class Float32MatmulPrecisionGuard {
 public:
  explicit Float32MatmulPrecisionGuard(MatmulPrecision precision)
      : previous_(float32_matmul_precision()) {
    set_float32_matmul_precision(precision);
  }
  ~Float32MatmulPrecisionGuard() { set_float32_matmul_precision(previous_); }
  Float32MatmulPrecisionGuard(const Float32MatmulPrecisionGuard&) = delete;
  Float32MatmulPrecisionGuard& operator=(const Float32MatmulPrecisionGuard&) = delete;

 private:
  MatmulPrecision previous_;
};

namespace cuda {

// True when libnn was compiled with its CUDA backend.
bool is_built();
// True when the backend is built and at least one GPU can be used. Never throws: any CUDA
// error while looking (no driver, a driver too old) reads as "no device".
bool is_available();
// Number of usable GPUs (0 when !is_available()).
int device_count();
// Why is_available() is false, in words ("libnn was built without CUDA", "CUDA driver
// version is insufficient for CUDA runtime version"); empty when it is true.
std::string unavailable_reason();

// Registers the CUDA kernels with the kernel tables and the allocator with the tensors.
// Idempotent and thread-safe. Called by the first CUDA allocation; call it yourself only to
// see the kernel tables filled without a GPU (the tests do). Needs no GPU.
void init();

// Waits until every kernel queued on the device's streams has finished (-1: every device).
void synchronize(int device = -1);

// --- streams ------------------------------------------------------------------------------
// Every libnn kernel and copy for a device runs on that device's *current stream*, which is
// libnn's own non-blocking stream until a StreamGuard names another (never the legacy
// default stream). A stream is a cudaStream_t, passed as an opaque handle so this header
// needs no CUDA headers.
using StreamHandle = void*;
StreamHandle get_current_stream(int device = 0);
// libnn's own stream of the device (what get_current_stream() is without a guard).
StreamHandle get_default_stream(int device = 0);

// Makes `stream` the current stream of `device` for this thread until the guard goes.
class StreamGuard {
 public:
  StreamGuard(StreamHandle stream, int device = 0);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  StreamHandle previous_;
};

// --- the caching allocator ----------------------------------------------------------------
// CUDA memory comes from cudaMalloc in segments that libnn keeps when tensors are freed and
// hands out again (a free block is reused on the stream that freed it at once, on another
// stream only after the work queued before the free has finished). Sizes are rounded up to a
// size class (8 classes per power of two, at least 512 bytes), so a reused block is at most
// 12.5% larger than asked.
struct MemoryStats {
  std::size_t allocated = 0;        // bytes in blocks held by tensors now
  std::size_t reserved = 0;         // bytes obtained from cudaMalloc and not yet returned
  std::size_t peak_allocated = 0;   // the most `allocated` has been (since the last reset)
  std::size_t peak_reserved = 0;
  std::int64_t allocations = 0;     // blocks handed out
  std::int64_t cache_hits = 0;      // of those, blocks reused from the cache
  std::int64_t cuda_mallocs = 0;    // cudaMalloc calls
  std::int64_t cuda_frees = 0;      // cudaFree calls (empty_cache, out-of-memory retries)
};
MemoryStats memory_stats(int device = 0);
// The statistics as a few lines of text, in MiB, for printing.
std::string memory_summary(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Returns every cached block that no tensor holds to the driver (cudaFree).
void empty_cache();

// --- the LSTM's algorithm -----------------------------------------------------------------
// How nn::lstm_layer (and so nn::LSTM) runs on a CUDA device (docs/libnn.md, "The LSTM on
// CUDA"):
//   Stepwise    per step one cuBLAS product h_{t-1} w_hh^T and one fused pointwise kernel
//   Persistent  one cooperative kernel for all steps that keeps w_hh in shared memory across
//               the multiprocessors (one grid-wide sync per step), forward and backward; a
//               shape that does not fit (src/kernels/lstm_plan.hpp) runs Stepwise instead
//   Cudnn       cuDNN's RNN (cudnnRNNForward, cudnnRNNBackwardData_v8 / Weights_v8), opened
//               with dlopen on first use; an error naming where it looked when it is missing
//   Auto        Stepwise for now: the other two become the default only once a GPU run has
//               checked them (scripts/gpu-check.sh)
// The setting is process-wide; the CPU ignores it. The backward of a cuDNN forward is
// cuDNN's whatever the setting then (it needs the forward's reserve space); the others'
// backward follows the setting when it runs (they save the same tensors).
enum class LstmAlgorithm { Auto, Stepwise, Persistent, Cudnn };
void set_lstm_algorithm(LstmAlgorithm algorithm);
// "auto", "stepwise", "persistent" or "cudnn"; throws nn::Error naming them otherwise.
void set_lstm_algorithm(const std::string& algorithm);
LstmAlgorithm lstm_algorithm();
std::string lstm_algorithm_name(LstmAlgorithm algorithm);
// What the last CUDA lstm_layer forward and backward on this thread ran: "stepwise",
// "persistent" or "cudnn", followed by why when it is not what was asked for ("stepwise
// (persistent does not fit: ...)"); empty before the first.
struct LstmRun {
  std::string forward;
  std::string backward;
};
LstmRun last_lstm_run();

// Testing aid: while on, every block handed out is first filled with 0xFF bytes (NaN as
// float32, -1 as int64), so a kernel that leaves an output element unwritten shows up.
void set_poison_allocations(bool on);

}  // namespace cuda
}  // namespace nn
