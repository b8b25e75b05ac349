#include "gpu_memory.hpp"

#include <iomanip>
#include <libnn/cuda.hpp>
#include <sstream>
#include <string_view>

namespace musegen {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace

double gpu_gib_in_use(nn::Device device) {
  if (!device.is_cuda()) return 0;
  return static_cast<double>(nn::cuda::memory_stats(device.index).allocated) / kGiB;
}

std::string gpu_memory_field(nn::Device device) {
  if (!device.is_cuda()) return "";
  std::ostringstream out;
  out << "GPU " << std::fixed << std::setprecision(2) << gpu_gib_in_use(device) << " GiB";
  return out.str();
}

bool is_out_of_memory(const std::exception& error) {
  const std::string_view what = error.what();
  for (const std::string_view phrase :
       {"out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "cudaErrorMemoryAllocation"}) {
    if (what.find(phrase) != std::string_view::npos) return true;
  }
  return false;
}

std::string out_of_memory_message(nn::Device device, const std::string& where,
                                  const std::string& advice, const std::exception& error) {
  std::ostringstream out;
  out << (device.is_cuda() ? "out of GPU memory at " : "out of memory at ") << where;
  if (device.is_cuda()) {
    const nn::cuda::MemoryStats stats = nn::cuda::memory_stats(device.index);
    out << " (" << std::fixed << std::setprecision(2) << static_cast<double>(stats.allocated) / kGiB
        << " GiB in use, peak " << static_cast<double>(stats.peak_allocated) / kGiB << " GiB)";
  }
  out << ": " << advice << "; libnn said: " << error.what();
  return out.str();
}

}  // namespace musegen
