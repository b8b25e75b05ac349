// The CUDA backend's start-up and context: finding the GPUs, nn::cuda::init() (which
// registers every kernel family, the allocator and the cross-device copies), the current
// device and stream of each thread, and the checked-call error.
//
// Streams: each device has one stream of libnn's own, created non-blocking so that it never
// waits on the legacy default stream; a thread's current stream of a device is that one
// unless a StreamGuard names another. Kernels take no stream argument: a launcher asks
// current_stream() (as PyTorch's getCurrentCUDAStream), which keeps the kernel tables'
// signatures the same for every device. docs/libnn.md, "Devices", says why.
#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "core/allocator.hpp"
#include "cuda/allocator.hpp"
#include "cuda/common.cuh"
#include "cuda/register.hpp"
#include "kernels/table.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {

void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line) {
  throw Error(fmt::format("CUDA error: {} failed with {} ({}) at {}:{}", call,
                          cudaGetErrorName(error), cudaGetErrorString(error), file, line));
}

namespace {

// --- what the machine has ---------------------------------------------------------------

struct Probe {
  int count = 0;
  std::string reason;  // why count is 0
};

const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    const cudaError_t status = cudaGetDeviceCount(&p.count);
    if (status != cudaSuccess) {
      // No driver, an old driver, no device: all read as "no GPU". Clear the sticky error.
      (void)cudaGetLastError();
      p.count = 0;
      p.reason = fmt::format("no usable CUDA device: cudaGetDeviceCount failed with {} ({})",
                             cudaGetErrorName(status), cudaGetErrorString(status));
    } else if (p.count == 0) {
      p.reason = "no CUDA device found (cudaGetDeviceCount returned 0)";
    }
    return p;
  }();
  return result;
}

void require_device(int index) {
  const Probe& p = probe();
  NN_CHECK(p.count > 0, "cannot use cuda:{}: {}", index, p.reason);
  NN_CHECK(index >= 0 && index < p.count, "cannot use cuda:{}: this machine has {} CUDA device{} "
           "(cuda:0 to cuda:{})", index, p.count, p.count == 1 ? "" : "s", p.count - 1);
}

// --- the current device and stream of each thread ----------------------------------------

thread_local int t_current_device = -1;  // what this thread last passed to cudaSetDevice

// libnn's own stream of each device, made on first use.
struct DeviceStreams {
  std::once_flag once;
  cudaStream_t stream = nullptr;
};
std::vector<DeviceStreams>& device_streams() {
  // Never destroyed: streams outlive static destructors that may still free tensors.
  static auto* streams = new std::vector<DeviceStreams>(static_cast<std::size_t>(probe().count));
  return *streams;
}

thread_local std::vector<cudaStream_t> t_current_streams;  // per device; null = libnn's own

int current_device_index() {
  if (t_current_device < 0) {
    int index = 0;
    NN_CUDA_CHECK(cudaGetDevice(&index));
    t_current_device = index;
  }
  return t_current_device;
}

cudaStream_t own_stream(int device) {
  require_device(device);
  DeviceStreams& d = device_streams()[static_cast<std::size_t>(device)];
  std::call_once(d.once, [&] {
    int previous = 0;
    NN_CUDA_CHECK(cudaGetDevice(&previous));
    NN_CUDA_CHECK(cudaSetDevice(device));
    NN_CUDA_CHECK(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
    NN_CUDA_CHECK(cudaSetDevice(previous));
  });
  return d.stream;
}

cudaStream_t stream_of(int device) {
  if (static_cast<std::size_t>(device) < t_current_streams.size() &&
      t_current_streams[static_cast<std::size_t>(device)] != nullptr) {
    return t_current_streams[static_cast<std::size_t>(device)];
  }
  return own_stream(device);
}

// --- copies between devices ----------------------------------------------------------------

// dst = src across devices. From the host: cudaMemcpyAsync returns once the pageable source
// is staged, so the caller may change it at once. To the host: waits for the data. Between
// two GPUs: the source's stream is drained first, then a peer copy on the destination's.
void copy_across(const Tensor& src, Tensor& dst) {
  NN_CHECK(src.dtype() == dst.dtype() && src.numel() == dst.numel(),
           "copy between devices: expected the same dtype and size, got {} and {}", src.str(),
           dst.str());
  const std::size_t nbytes = src.nbytes();
  if (nbytes == 0) return;
  if (src.device().is_cpu()) {
    activate(dst.device());
    NN_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyHostToDevice,
                                  stream_of(dst.device().index)));
  } else if (dst.device().is_cpu()) {
    activate(src.device());
    const cudaStream_t stream = stream_of(src.device().index);
    NN_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), nbytes, cudaMemcpyDeviceToHost,
                                  stream));
    NN_CUDA_CHECK(cudaStreamSynchronize(stream));
  } else {
    activate(src.device());
    NN_CUDA_CHECK(cudaStreamSynchronize(stream_of(src.device().index)));
    activate(dst.device());
    NN_CUDA_CHECK(cudaMemcpyPeerAsync(dst.raw_data(), dst.device().index, src.raw_data(),
                                      src.device().index, nbytes, stream_of(dst.device().index)));
  }
}

}  // namespace

// --- the API of libnn/cuda.hpp and common.cuh ------------------------------------------------

void activate(Device device) {
  if (device.index != t_current_device) {
    require_device(device.index);
    NN_CUDA_CHECK(cudaSetDevice(device.index));
    t_current_device = device.index;
  }
}

bool is_built() { return true; }
bool is_available() { return probe().count > 0; }
int device_count() { return probe().count; }
std::string unavailable_reason() { return probe().reason; }

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_memory_kernels();
    register_elementwise_kernels();
    register_gemm_kernels();
    register_reduce_kernels();
    register_softmax_kernels();
    register_loss_kernels();
    register_norm_kernels();
    register_embedding_kernels();
    register_optim_kernels();
    register_lstm_kernels();
    register_lstm_step_kernels();
    register_conv_kernels();
    kernels::activate_device[static_cast<int>(DeviceType::CUDA)] = activate;
    detail::register_allocator(DeviceType::CUDA, {caching_allocate, caching_deallocate});
    detail::register_copy_across(copy_across);
  });
}

cudaStream_t current_stream() { return stream_of(current_device_index()); }

void copy_to_host(void* host, const void* device, std::size_t nbytes) {
  const cudaStream_t stream = current_stream();
  NN_CUDA_CHECK(cudaMemcpyAsync(host, device, nbytes, cudaMemcpyDeviceToHost, stream));
  NN_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void synchronize(int device) {
  if (!is_available()) return;
  const int previous = current_device_index();
  for (int d = 0; d < device_count(); ++d) {
    if (device >= 0 && d != device) continue;
    NN_CUDA_CHECK(cudaSetDevice(d));
    NN_CUDA_CHECK(cudaDeviceSynchronize());
  }
  NN_CUDA_CHECK(cudaSetDevice(previous));
}

StreamHandle get_current_stream(int device) { return stream_of(device); }
StreamHandle get_default_stream(int device) { return own_stream(device); }

StreamGuard::StreamGuard(StreamHandle stream, int device)
    : device_(device), previous_(nullptr) {
  require_device(device);
  if (t_current_streams.size() <= static_cast<std::size_t>(device)) {
    t_current_streams.resize(static_cast<std::size_t>(device) + 1, nullptr);
  }
  previous_ = t_current_streams[static_cast<std::size_t>(device)];
  t_current_streams[static_cast<std::size_t>(device)] = static_cast<cudaStream_t>(stream);
}

StreamGuard::~StreamGuard() {
  t_current_streams[static_cast<std::size_t>(device_)] = static_cast<cudaStream_t>(previous_);
}

}  // namespace nn::cuda
