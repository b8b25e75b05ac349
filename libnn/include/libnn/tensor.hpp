// nn::Tensor: a shared handle to an n-dimensional array with an optional autograd history.
//
// Layout: every tensor is contiguous and row-major over its own shape, starting at an element
// offset into a shared Storage. Views (reshape, view, flatten, squeeze/unsqueeze, and slice
// when the slice is itself contiguous) share the storage; transpose and the other slices make
// a copy. Kernels therefore never deal with strides, which keeps every kernel -- CPU and CUDA
// -- simple; matmul takes transpose flags so backward needs no transposed copies. See
// docs/libnn.md, "Tensors".
//
// Copying a Tensor copies the handle (as in libtorch): both refer to the same data. clone()
// copies the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libnn/dtype.hpp"
#include "libnn/error.hpp"
#include "libnn/shape.hpp"

namespace nn {

class Node;
class Tensor;
class Generator;

// A block of device memory, freed when the last tensor using it goes.
class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

// Options for factories, with chained setters: TensorOptions().dtype(DType::Int64).
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(DType dtype) : dtype_(dtype) {}  // NOLINT: implicit, as in libtorch
  TensorOptions(Device device) : device_(device) {}  // NOLINT

  TensorOptions dtype(DType value) const { auto o = *this; o.dtype_ = value; return o; }
  TensorOptions device(Device value) const { auto o = *this; o.device_ = value; return o; }
  TensorOptions requires_grad(bool value) const {
    auto o = *this;
    o.requires_grad_ = value;
    return o;
  }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool requires_grad() const { return requires_grad_; }

 private:
  DType dtype_ = DType::Float32;
  Device device_ = Device::cpu();
  bool requires_grad_ = false;
};

// The state behind a Tensor handle. Users go through Tensor; ops and the autograd engine
// use the fields directly.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::Float32;
  Device device;

  // Autograd. A leaf that requires grad gets its gradient accumulated into `grad` through
  // a lazily created AccumulateGrad node (grad_accumulator); a tensor made by an op that
  // saw a requires-grad input has grad_fn (its output `output_nr`).
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles refer to the same tensor (not merely equal values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // --- shape, type, device ------------------------------------------------------------
  const Shape& sizes() const { return checked().shape; }
  const Shape& shape() const { return checked().shape; }
  std::int64_t size(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t dim() const { return static_cast<std::int64_t>(checked().shape.size()); }
  std::int64_t numel() const { return nn::numel(checked().shape); }
  DType dtype() const { return checked().dtype; }
  Device device() const { return checked().device; }
  TensorOptions options() const { return TensorOptions().dtype(dtype()).device(device()); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype()); }
  std::string str() const;  // "Tensor(shape=(2,3), dtype=float32, device=cpu)"

  // --- data ---------------------------------------------------------------------------
  // Pointer to the first element (device memory for a CUDA tensor). Throws when T does not
  // match dtype().
  template <class T> T* data_ptr() const {
    check_dtype(DTypeOf<T>::value, "data_ptr");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;
  // The single value of a one-element tensor (copied to the host).
  template <class T> T item() const;
  // All values, row-major (copied to the host).
  template <class T> std::vector<T> to_vector() const;

  // --- autograd -----------------------------------------------------------------------
  bool requires_grad() const { return checked().requires_grad; }
  // Only leaves (tensors no op made) can change it; returns *this for chaining.
  Tensor& set_requires_grad(bool value = true);
  bool is_leaf() const { return checked().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return checked().grad_fn; }
  // The accumulated gradient (undefined until a backward reaches this leaf).
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  // Sets the gradient to undefined (set_to_none, PyTorch's default) or to zeros.
  void zero_grad(bool set_to_none = true) const;
  // Back-propagates from this tensor. `gradient` may be omitted for a one-element tensor
  // (it is then 1). The graph is freed afterwards unless retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  // The same data, cut from the graph (shares storage).
  Tensor detach() const;

  // --- copies and in-place updates (no autograd history; see docs/libnn.md, "Autograd") ----------
  Tensor clone() const;                    // a copy of the data, with history
  Tensor contiguous() const { return *this; }  // always contiguous; kept for libtorch users
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor& copy_(const Tensor& src);        // same shape (or broadcastable) and dtype
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& mul_(double value);
  // Random fills from `gen` (the global generator when null).
  Tensor& normal_(double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
  Tensor& uniform_(double low = 0.0, double high = 1.0, Generator* gen = nullptr);

  // --- views and shape ops (with autograd) ----------------------------------------------
  Tensor reshape(const Shape& shape) const;   // one size may be -1
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;  // a copy
  Tensor t() const { return transpose(0, 1); }
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
    return slice(dim, start, start + length);
  }

  // --- math (the functional forms in ops.hpp, as methods) --------------------------------
  Tensor matmul(const Tensor& other) const;
  Tensor sum(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor sqrt() const;
  Tensor pow(double exponent) const;
  Tensor clamp(std::optional<double> min, std::optional<double> max) const;
  Tensor softmax(std::int64_t dim) const;
  Tensor log_softmax(std::int64_t dim) const;

 private:
  const TensorImpl& checked() const {
    if (!impl_) throw_undefined();
    return *impl_;
  }
  [[noreturn]] static void throw_undefined();
  void check_dtype(DType expected, const char* what) const;

  std::shared_ptr<TensorImpl> impl_;
};

// --- factories ------------------------------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);
Tensor empty_like(const Tensor& like);
Tensor scalar_tensor(double value, TensorOptions options = {});  // 0-dim
// 0, 1, ..., n-1
Tensor arange(std::int64_t n, TensorOptions options = {});
// From host values, row-major; values.size() must equal numel(shape). On another device
// than the CPU the values are copied there.
Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                   TensorOptions options = {});
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape,
                   TensorOptions options = DType::Int64);
// A braced list is float32: from_vector({1, 2, 3, 4}, {2, 2}). For int64 pass a
// std::vector<std::int64_t>.
Tensor from_vector(std::initializer_list<float> values, const Shape& shape,
                   TensorOptions options = {});

// Random tensors (float32) from `gen`, the global generator when null.
Tensor randn(const Shape& shape, Generator* gen = nullptr, TensorOptions options = {});
Tensor rand(const Shape& shape, Generator* gen = nullptr, TensorOptions options = {});
// 1 with probability p, else 0 (float32).
Tensor bernoulli(const Shape& shape, double p, Generator* gen = nullptr,
                 TensorOptions options = {});
// Integers uniform in [low, high) (int64).
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator* gen = nullptr);

}  // namespace nn
