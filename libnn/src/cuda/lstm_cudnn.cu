// The LSTM through cuDNN's RNN API (cudnnRNNForward, cudnnRNNBackwardData_v8,
// cudnnRNNBackwardWeights_v8), with PyTorch's parameter layout: w_ih (4H,I), w_hh (4H,H),
// b_ih, b_hh (4H), gates i, f, g, o, the order of cuDNN's linear layers 0-3 (input) and 4-7
// (recurrent). Each call copies the weights into cuDNN's packed weight space at the
// addresses cudnnGetRNNWeightParams gives, as PyTorch's _copyParams does.
//
// cuDNN is opened with dlopen on first use, as cuBLAS is (cublas_api.hpp says why): a program
// that never asks for the cuDNN algorithm needs no libcudnn. A build whose toolkit has no
// cudnn.h (LIBNN_WITH_CUDNN unset, cmake/NNCuda.cmake) compiles the stubs at the end, which
// say so.
//
// The descriptors of a layer shape (and the workspace sizes cuDNN asks for it) are made once
// and kept, keyed by (device, stream, T, B, I, H, bias, math type), in a least-recently-used
// cache of 32 shapes (core/lru_cache.hpp, tested on the CPU by test_lru_cache.cpp): a
// training step's forward and backward of every layer reuse them instead of creating and
// querying five descriptors per call. The cache is never destroyed (its descriptors would
// outlive cuDNN and the allocator at exit).
//
// The forward in training mode keeps what cuDNN's backward needs in the op's saved tensors
// (lstm_paths.hpp): `gates` becomes a 1-D tensor holding the reserve space, `cells` one
// holding the packed weights.
#include "core/lru_cache.hpp"
#include "cuda/common.cuh"
#include "cuda/lstm_paths.hpp"
#include "libnn/cuda.hpp"

#ifdef LIBNN_WITH_CUDNN

#include <cudnn.h>
#include <dlfcn.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#ifndef LIBNN_CUBLAS_DIR
#define LIBNN_CUBLAS_DIR ""
#endif

namespace nn::cuda::lstm {
namespace {

#define NN_CUDNN_ENTRY_POINTS(X)                                                                   \
  X(cudnnCreate)                                                                                   \
  X(cudnnSetStream)                                                                                \
  X(cudnnGetErrorString) X(cudnnCreateRNNDescriptor) X(cudnnDestroyRNNDescriptor)                  \
      X(cudnnSetRNNDescriptor_v8) X(cudnnCreateRNNDataDescriptor) X(cudnnDestroyRNNDataDescriptor) \
          X(cudnnSetRNNDataDescriptor) X(cudnnCreateTensorDescriptor)                              \
              X(cudnnDestroyTensorDescriptor) X(cudnnSetTensorNdDescriptor)                        \
                  X(cudnnCreateDropoutDescriptor) X(cudnnDestroyDropoutDescriptor)                 \
                      X(cudnnSetDropoutDescriptor) X(cudnnGetRNNWeightSpaceSize)                   \
                          X(cudnnGetRNNTempSpaceSizes) X(cudnnGetRNNWeightParams)                  \
                              X(cudnnRNNForward) X(cudnnRNNBackwardData_v8)                        \
                                  X(cudnnRNNBackwardWeights_v8)

struct Api {
#define NN_CUDNN_SLOT(name) decltype(&::name) name = nullptr;
  NN_CUDNN_ENTRY_POINTS(NN_CUDNN_SLOT)
#undef NN_CUDNN_SLOT
};

Api open_library() {
  const std::string name = "libcudnn.so." + std::to_string(CUDNN_MAJOR);
  std::vector<std::string> candidates{name};
  if (const std::string dir = LIBNN_CUBLAS_DIR; !dir.empty()) {
    candidates.push_back(dir + "/" + name);
  }
  void* library = nullptr;
  std::string path, reasons;
  for (const std::string& candidate : candidates) {
    library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library) {
      path = candidate;
      break;
    }
    const char* reason = dlerror();
    reasons += "\n  " + candidate + ": " + (reason ? reason : "not found");
  }
  if (!library) {
    throw Error("cuDNN could not be opened; the cudnn LSTM algorithm needs it (install cuDNN " +
                std::to_string(CUDNN_MAJOR) +
                ", add its folder to LD_LIBRARY_PATH, or use set_lstm_algorithm(\"stepwise\")). "
                "Tried:" +
                reasons);
  }
  Api api;
#define NN_CUDNN_BIND(name)                                                      \
  {                                                                              \
    dlerror();                                                                   \
    void* address = dlsym(library, #name);                                       \
    if (const char* reason = dlerror(); reason || !address) {                    \
      throw Error("cuDNN: " + path + " has no entry point " #name " (" +         \
                  (reason ? reason : "null address") + "); libnn needs cuDNN " + \
                  std::to_string(CUDNN_MAJOR) + ".x");                           \
    }                                                                            \
    api.name = reinterpret_cast<decltype(api.name)>(address);                    \
  }
  NN_CUDNN_ENTRY_POINTS(NN_CUDNN_BIND)
#undef NN_CUDNN_BIND
  return api;
}

const Api& api() {
  static std::mutex mutex;
  static std::optional<Api> table;
  const std::lock_guard lock(mutex);
  if (!table) table = open_library();
  return *table;
}

void check(cudnnStatus_t status, const char* call, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  throw Error(fmt::format("cuDNN error: {} failed with {} ({}) at {}:{}", call,
                          static_cast<int>(status), api().cudnnGetErrorString(status), __FILE__,
                          line));
}
#define NN_CUDNN_CHECK(call) check(call, #call, __LINE__)

// One handle per device, made on first use; its stream set to the current one at each call.
cudnnHandle_t handle() {
  static std::mutex mutex;
  static std::vector<cudnnHandle_t> handles;
  int device = 0;
  NN_CUDA_CHECK(cudaGetDevice(&device));
  const Api& a = api();
  {
    const std::lock_guard lock(mutex);
    if (handles.size() <= static_cast<std::size_t>(device)) handles.resize(device + 1, nullptr);
    if (!handles[device]) NN_CUDNN_CHECK(a.cudnnCreate(&handles[device]));
  }
  cudnnHandle_t h = handles[device];
  NN_CUDNN_CHECK(a.cudnnSetStream(h, current_stream()));
  return h;
}

__global__ void fill_int_kernel(int* out, int n, int value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

Tensor scratch_bytes(std::size_t bytes, Device device) {
  const auto n = static_cast<std::int64_t>((bytes + sizeof(float) - 1) / sizeof(float));
  return empty({n > 0 ? n : 1}, TensorOptions().device(device));
}

void copy_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  NN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, current_stream()));
}

// The math type follows the float32 matmul precision, as PyTorch's
// torch.backends.cudnn.allow_tf32: "highest" is FMA math (no TF32: the CPU's float32 is the
// reference), "high" the default math, which lets cuDNN use TF32 tensor cores for float32
// data. "medium" (bf16) never gets here: cuDNN has no bf16 math for float32 tensors, so
// lstm.cu runs it stepwise.
cudnnMathType_t math_type() {
  return float32_matmul_precision() == MatmulPrecision::High ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// The descriptors of one layer of shape (T, B, I, H), destroyed with it.
struct Layer {
  const Api& a;
  cudnnHandle_t h;
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnDropoutDescriptor_t dropout = nullptr;
  cudnnRNNDataDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnTensorDescriptor_t h_desc = nullptr;
  Tensor seq_lengths;  // B int32 on the device, each T
  std::size_t weight_bytes = 0, work_bytes = 0, reserve_bytes = 0;
  std::int64_t T, B, I, H;
  bool bias;

  Layer(std::int64_t T_, std::int64_t B_, std::int64_t I_, std::int64_t H_, bool bias_,
        Device device)
      : a(api()), h(handle()), T(T_), B(B_), I(I_), H(H_), bias(bias_) {
    NN_CUDNN_CHECK(a.cudnnCreateDropoutDescriptor(&dropout));
    NN_CUDNN_CHECK(a.cudnnSetDropoutDescriptor(dropout, h, 0.0f, nullptr, 0, 0));
    NN_CUDNN_CHECK(a.cudnnCreateRNNDescriptor(&rnn));
    // float32 in and out; the math type: math_type().
    const cudnnMathType_t math = math_type();
    NN_CUDNN_CHECK(a.cudnnSetRNNDescriptor_v8(
        rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, bias ? CUDNN_RNN_DOUBLE_BIAS : CUDNN_RNN_NO_BIAS,
        CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, math,
        static_cast<int32_t>(I), static_cast<int32_t>(H), static_cast<int32_t>(H), 1, dropout,
        CUDNN_RNN_PADDED_IO_DISABLED));
    // Every sequence T long: the packed sequence-major layout is (T,B,features) as it is.
    const std::vector<int> lengths(static_cast<std::size_t>(B), static_cast<int>(T));
    float pad = 0.0f;
    NN_CUDNN_CHECK(a.cudnnCreateRNNDataDescriptor(&x_desc));
    NN_CUDNN_CHECK(a.cudnnSetRNNDataDescriptor(
        x_desc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, static_cast<int>(T),
        static_cast<int>(B), static_cast<int>(I), lengths.data(), &pad));
    NN_CUDNN_CHECK(a.cudnnCreateRNNDataDescriptor(&y_desc));
    NN_CUDNN_CHECK(a.cudnnSetRNNDataDescriptor(
        y_desc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, static_cast<int>(T),
        static_cast<int>(B), static_cast<int>(H), lengths.data(), &pad));
    const int dims[3] = {1, static_cast<int>(B), static_cast<int>(H)};
    const int strides[3] = {static_cast<int>(B * H), static_cast<int>(H), 1};
    NN_CUDNN_CHECK(a.cudnnCreateTensorDescriptor(&h_desc));
    NN_CUDNN_CHECK(a.cudnnSetTensorNdDescriptor(h_desc, CUDNN_DATA_FLOAT, 3, dims, strides));
    NN_CUDNN_CHECK(a.cudnnGetRNNWeightSpaceSize(h, rnn, &weight_bytes));
    NN_CUDNN_CHECK(a.cudnnGetRNNTempSpaceSizes(h, rnn, CUDNN_FWD_MODE_TRAINING, x_desc, &work_bytes,
                                               &reserve_bytes));
    seq_lengths = scratch_bytes(static_cast<std::size_t>(B) * sizeof(int), device);
    fill_int_kernel<<<static_cast<unsigned>((B + 255) / 256), 256, 0, current_stream()>>>(
        reinterpret_cast<int*>(seq_lengths.data_ptr<float>()), static_cast<int>(B),
        static_cast<int>(T));
    NN_CUDA_CHECK_LAUNCH();
  }
  ~Layer() {
    if (h_desc) a.cudnnDestroyTensorDescriptor(h_desc);
    if (y_desc) a.cudnnDestroyRNNDataDescriptor(y_desc);
    if (x_desc) a.cudnnDestroyRNNDataDescriptor(x_desc);
    if (rnn) a.cudnnDestroyRNNDescriptor(rnn);
    if (dropout) a.cudnnDestroyDropoutDescriptor(dropout);
  }
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const int* lengths() const { return reinterpret_cast<const int*>(seq_lengths.data_ptr<float>()); }

  // Copies between PyTorch's tensors and a packed weight space: to_space true packs w_ih,
  // w_hh, b_ih, b_hh (an undefined bias as zeros) into `space`; false unpacks `space` into
  // whichever of them are defined.
  void transfer(float* space, const float* w_ih, const float* w_hh, const float* b_ih,
                const float* b_hh, bool to_space, float* dw_ih = nullptr, float* dw_hh = nullptr,
                float* db_ih = nullptr, float* db_hh = nullptr) {
    cudnnTensorDescriptor_t m_desc = nullptr, b_desc = nullptr;
    NN_CUDNN_CHECK(a.cudnnCreateTensorDescriptor(&m_desc));
    NN_CUDNN_CHECK(a.cudnnCreateTensorDescriptor(&b_desc));
    try {
      for (int id = 0; id < 8; ++id) {
        void* m_addr = nullptr;
        void* b_addr = nullptr;
        NN_CUDNN_CHECK(a.cudnnGetRNNWeightParams(h, rnn, 0, weight_bytes, space, id, m_desc,
                                                 &m_addr, b_desc, &b_addr));
        const bool input = id < 4;
        const std::int64_t q = id % 4, cols = input ? I : H;
        const std::size_t m_bytes = sizeof(float) * static_cast<std::size_t>(H * cols);
        const std::size_t b_bytes = sizeof(float) * static_cast<std::size_t>(H);
        NN_CHECK(m_addr != nullptr, "cuDNN LSTM: no address for weight matrix {}", id);
        if (to_space) {
          copy_device(m_addr, (input ? w_ih : w_hh) + q * H * cols, m_bytes);
          if (b_addr) {
            const float* b = input ? b_ih : b_hh;
            if (b) {
              copy_device(b_addr, b + q * H, b_bytes);
            } else {
              NN_CUDA_CHECK(cudaMemsetAsync(b_addr, 0, b_bytes, current_stream()));
            }
          }
        } else {
          if (float* dw = input ? dw_ih : dw_hh) copy_device(dw + q * H * cols, m_addr, m_bytes);
          if (float* db = input ? db_ih : db_hh; db && b_addr)
            copy_device(db + q * H, b_addr, b_bytes);
        }
      }
    } catch (...) {
      a.cudnnDestroyTensorDescriptor(b_desc);
      a.cudnnDestroyTensorDescriptor(m_desc);
      throw;
    }
    a.cudnnDestroyTensorDescriptor(b_desc);
    a.cudnnDestroyTensorDescriptor(m_desc);
  }
};

// What a cached Layer is made for: equal keys give interchangeable descriptors.
struct LayerKey {
  int device;
  std::uintptr_t stream;  // seq_lengths was filled on it: reused on it, in order
  std::int64_t T, B, I, H;
  bool bias;
  int math;
  bool operator==(const LayerKey& o) const {
    return device == o.device && stream == o.stream && T == o.T && B == o.B && I == o.I &&
           H == o.H && bias == o.bias && math == o.math;
  }
};

// The layer of this shape on the current device and stream: cached, or made and cached. Its
// handle (one per device) is set to the current stream again, as handle() does.
std::shared_ptr<Layer> layer_for(std::int64_t T, std::int64_t B, std::int64_t I, std::int64_t H,
                                 bool bias, Device device) {
  static auto* cache = new LruCache<LayerKey, Layer>(32);  // never destroyed: see the top
  const LayerKey key{device.index,
                     reinterpret_cast<std::uintptr_t>(current_stream()),
                     T,
                     B,
                     I,
                     H,
                     bias,
                     static_cast<int>(math_type())};
  std::shared_ptr<Layer> layer =
      cache->get(key, [&] { return std::make_shared<Layer>(T, B, I, H, bias, device); });
  handle();
  return layer;
}

const float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* ptr_or_null(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

}  // namespace

bool is_cudnn_saved(const Tensor& gates) { return gates.defined() && gates.dim() == 1; }

void cudnn_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                   const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, Tensor& y,
                   Tensor& h_n, Tensor& c_n, Tensor& gates, Tensor& cells) {
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const Device device = x.device();
  const bool train = gates.defined() && cells.defined();
  const std::shared_ptr<Layer> cached =
      layer_for(T, B, I, H, b_ih.defined() || b_hh.defined(), device);
  Layer& layer = *cached;
  Tensor weights = scratch_bytes(layer.weight_bytes, device);
  layer.transfer(weights.data_ptr<float>(), w_ih.data_ptr<float>(), w_hh.data_ptr<float>(),
                 ptr_or_null(b_ih), ptr_or_null(b_hh), true);
  std::size_t work_bytes = layer.work_bytes, reserve_bytes = layer.reserve_bytes;
  if (!train) {
    NN_CUDNN_CHECK(layer.a.cudnnGetRNNTempSpaceSizes(layer.h, layer.rnn, CUDNN_FWD_MODE_INFERENCE,
                                                     layer.x_desc, &work_bytes, &reserve_bytes));
  }
  Tensor work = scratch_bytes(work_bytes, device);
  Tensor reserve = train ? scratch_bytes(reserve_bytes, device) : Tensor();
  NN_CUDNN_CHECK(layer.a.cudnnRNNForward(
      layer.h, layer.rnn, train ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
      layer.lengths(), layer.x_desc, x.data_ptr<float>(), layer.y_desc, y.data_ptr<float>(),
      layer.h_desc, ptr_or_null(h0), h_n.data_ptr<float>(), layer.h_desc, ptr_or_null(c0),
      c_n.data_ptr<float>(), layer.weight_bytes, weights.data_ptr<float>(), work_bytes,
      work.data_ptr<float>(), train ? reserve_bytes : 0,
      train ? reserve.data_ptr<float>() : nullptr));
  if (train) {
    gates = reserve;
    cells = weights;
  }
}

void cudnn_backward(const Tensor& dy, const Tensor& dh_n, const Tensor& dc_n, const Tensor& x,
                    const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                    const Tensor& y, const Tensor& gates, const Tensor& cells, Tensor& dx,
                    Tensor& dh0, Tensor& dc0, Tensor& dw_ih, Tensor& dw_hh, Tensor& db_ih,
                    Tensor& db_hh) {
  (void)w_ih;
  const std::int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = w_hh.size(1);
  const Device device = x.device();
  // The forward's bias mode: its packed weights' size tells (the same shape otherwise).
  const std::shared_ptr<Layer> with_bias = layer_for(T, B, I, H, true, device);
  const bool bias =
      static_cast<std::size_t>(cells.numel()) * sizeof(float) >= with_bias->weight_bytes;
  const std::shared_ptr<Layer> cached = bias ? with_bias : layer_for(T, B, I, H, false, device);
  Layer& layer = *cached;
  NN_CHECK(static_cast<std::size_t>(gates.numel()) * sizeof(float) >= layer.reserve_bytes,
           "cuDNN LSTM backward: the saved reserve space ({} bytes) is smaller than cuDNN "
           "asks ({} bytes)",
           gates.numel() * 4, layer.reserve_bytes);
  float* weights = const_cast<float*>(cells.data_ptr<float>());
  float* reserve = const_cast<float*>(gates.data_ptr<float>());
  Tensor work = scratch_bytes(layer.work_bytes, device);
  Tensor dx_work = dx.defined() ? dx : empty({T, B, I}, x.options());
  NN_CUDNN_CHECK(layer.a.cudnnRNNBackwardData_v8(
      layer.h, layer.rnn, layer.lengths(), layer.y_desc, y.data_ptr<float>(), dy.data_ptr<float>(),
      layer.x_desc, dx_work.data_ptr<float>(), layer.h_desc, ptr_or_null(h0),
      dh_n.data_ptr<float>(), ptr_or_null(dh0), layer.h_desc, ptr_or_null(c0),
      dc_n.data_ptr<float>(), ptr_or_null(dc0), layer.weight_bytes, weights, layer.work_bytes,
      work.data_ptr<float>(), layer.reserve_bytes, reserve));
  if (dw_ih.defined() || dw_hh.defined() || db_ih.defined() || db_hh.defined()) {
    Tensor dweights = scratch_bytes(layer.weight_bytes, device);
    NN_CUDA_CHECK(
        cudaMemsetAsync(dweights.data_ptr<float>(), 0, layer.weight_bytes, current_stream()));
    NN_CUDNN_CHECK(layer.a.cudnnRNNBackwardWeights_v8(
        layer.h, layer.rnn, CUDNN_WGRAD_MODE_ADD, layer.lengths(), layer.x_desc,
        x.data_ptr<float>(), layer.h_desc, ptr_or_null(h0), layer.y_desc, y.data_ptr<float>(),
        layer.weight_bytes, dweights.data_ptr<float>(), layer.work_bytes, work.data_ptr<float>(),
        layer.reserve_bytes, reserve));
    layer.transfer(dweights.data_ptr<float>(), nullptr, nullptr, nullptr, nullptr, false,
                   ptr_or_null(dw_ih), ptr_or_null(dw_hh), ptr_or_null(db_ih), ptr_or_null(db_hh));
    // A layer without bias has no bias gradient to give: zeros (the op asks only for
    // defined biases, so this happens only if one bias was given: then cuDNN had both).
    if (!bias) {
      for (Tensor* db : {&db_ih, &db_hh}) {
        if (db->defined()) {
          NN_CUDA_CHECK(
              cudaMemsetAsync(db->data_ptr<float>(), 0, sizeof(float) * 4 * H, current_stream()));
        }
      }
    }
  }
}

}  // namespace nn::cuda::lstm

#else  // !LIBNN_WITH_CUDNN

namespace nn::cuda::lstm {

namespace {
[[noreturn]] void no_cudnn() {
  throw Error(
      "the cudnn LSTM algorithm: libnn was built without cuDNN's headers (cudnn.h was not "
      "found next to the CUDA toolkit's); use set_lstm_algorithm(\"stepwise\") or "
      "\"persistent\"");
}
}  // namespace

bool is_cudnn_saved(const Tensor& gates) { return gates.defined() && gates.dim() == 1; }

void cudnn_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                   const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cudnn();
}

void cudnn_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                    const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                    const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cudnn();
}

}  // namespace nn::cuda::lstm

#endif  // LIBNN_WITH_CUDNN
