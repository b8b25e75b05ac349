// nn::cuda (libnn/cuda.hpp) in a build without the CUDA backend (NN_CUDA=OFF, or no toolkit
// found): nothing is available, and whatever needs a GPU says why. In a build with it the
// same functions live in src/cuda/context.cu and src/cuda/allocator.cu.
#ifndef LIBNN_WITH_CUDA

#include "core/check.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {

namespace {
constexpr const char* kNotBuilt =
    "libnn was built without CUDA (configure with -DNN_CUDA=ON on a machine with nvcc and "
    "the CUDA toolkit)";

[[noreturn]] void not_built(const char* what) {
  throw Error(fmt::format("nn::cuda::{}: {}", what, kNotBuilt));
}
}  // namespace

bool is_built() { return false; }
bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return kNotBuilt; }
void init() { not_built("init"); }
void synchronize(int) {}
StreamHandle get_current_stream(int) { not_built("get_current_stream"); }
StreamHandle get_default_stream(int) { not_built("get_default_stream"); }
StreamGuard::StreamGuard(StreamHandle, int device) : device_(device), previous_(nullptr) {
  not_built("StreamGuard");
}
StreamGuard::~StreamGuard() = default;
MemoryStats memory_stats(int) { return {}; }
std::string memory_summary(int) { return std::string("CUDA memory: ") + kNotBuilt; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void set_poison_allocations(bool) {}

}  // namespace nn::cuda

#endif  // LIBNN_WITH_CUDA
