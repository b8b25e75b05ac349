// cuBLAS opened with dlopen on first use: why, in cublas_api.hpp.
#include "cuda/cublas_api.hpp"

#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "libnn/error.hpp"

#ifndef LIBNN_CUBLAS_DIR
#define LIBNN_CUBLAS_DIR ""
#endif

namespace nn::cuda::cublas {

namespace {

std::atomic<bool> loaded{false};

// Where to look, in order: the library's versioned name, which the loader resolves through
// LD_LIBRARY_PATH, the program's run path and the system's cache (ldconfig), as it would
// have for a linked library; then the toolkit that libnn was built against. The major
// version is the one of the headers libnn was compiled with: another major version may
// change the entry points' behaviour, so it is never tried.
std::vector<std::string> candidates() {
  const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  std::vector<std::string> out{name};
  const std::string dir = LIBNN_CUBLAS_DIR;
  if (!dir.empty()) out.push_back(dir + "/" + name);
  return out;
}

template <class Fn>
void bind(void* library, const char* symbol, Fn& slot, const std::string& path) {
  dlerror();
  void* address = dlsym(library, symbol);
  if (const char* reason = dlerror(); reason != nullptr || address == nullptr) {
    throw Error(std::string("cuBLAS: ") + path + " has no entry point " + symbol + " (" +
                (reason ? reason : "null address") + "); libnn needs cuBLAS " +
                std::to_string(CUBLAS_VER_MAJOR) + ".x");
  }
  slot = reinterpret_cast<Fn>(address);
}

Api open_library() {
  void* library = nullptr;
  std::string path;
  std::string reasons;
  for (const std::string& candidate : candidates()) {
    library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) {
      path = candidate;
      break;
    }
    const char* reason = dlerror();
    reasons += "\n  " + candidate + ": " + (reason ? reason : "not found");
  }
  if (library == nullptr) {
    throw Error("cuBLAS could not be opened; libnn's CUDA matrix products need it (install the "
                "CUDA toolkit's cuBLAS, or add its folder to LD_LIBRARY_PATH). Tried:" + reasons);
  }
  // The handle is never closed: cuBLAS handles made from it live as long as the process.
  Api api{};
  bind(library, "cublasCreate_v2", api.create, path);
  bind(library, "cublasSetStream_v2", api.set_stream, path);
  bind(library, "cublasGemmEx", api.gemm_ex, path);
  bind(library, "cublasGemmStridedBatchedEx", api.gemm_strided_batched_ex, path);
  return api;
}

}  // namespace

const Api& api() {
  // A failed open throws out of the initialiser and the next call tries again, as a linked
  // library cannot: installing cuBLAS (or fixing LD_LIBRARY_PATH) mid-process is rare, but a
  // retry costs nothing.
  static std::mutex mutex;
  static std::optional<Api> table;
  if (loaded.load(std::memory_order_acquire)) return *table;
  const std::lock_guard lock(mutex);
  if (!table) {
    table = open_library();
    loaded.store(true, std::memory_order_release);  // after the table is whole
  }
  return *table;
}

}  // namespace nn::cuda::cublas
