// Tensor, Storage and the factories (libnn/tensor.hpp). The math methods forward to the
// functional ops (src/ops/); the data movers call the kernels in src/kernels/memory.hpp.
#include "libnn/tensor.hpp"

#include <cstdlib>
#include <cstring>

#include "core/allocator.hpp"
#include "core/check.hpp"
#include "core/cpu_allocator.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/memory.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"
#include "libnn/ops.hpp"
#include "libnn/random.hpp"

namespace nn {

// --- storage ----------------------------------------------------------------------------

namespace {

void* cpu_allocate(std::size_t nbytes, int /*device_index*/) {
  return detail::cpu_allocate(nbytes);
}
void cpu_deallocate(void* ptr, int /*device_index*/) { detail::cpu_deallocate(ptr); }

detail::CopyAcrossFn& copy_across() {
  static detail::CopyAcrossFn fn = nullptr;
  return fn;
}

std::array<detail::Allocator, kNumDeviceTypes>& allocators() {
  static std::array<detail::Allocator, kNumDeviceTypes> table = [] {
    std::array<detail::Allocator, kNumDeviceTypes> t{};
    t[static_cast<int>(DeviceType::CPU)] = {cpu_allocate, cpu_deallocate};
    return t;
  }();
  return table;
}

}  // namespace

void detail::register_allocator(DeviceType type, Allocator allocator) {
  allocators()[static_cast<int>(type)] = allocator;
}

void detail::register_copy_across(CopyAcrossFn copy) { copy_across() = copy; }

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  // The first CUDA tensor starts the backend (in a build without it, init() throws saying so).
  if (device.is_cuda() && allocators()[static_cast<int>(device.type)].allocate == nullptr) {
    cuda::init();
  }
  const auto& allocator = allocators()[static_cast<int>(device.type)];
  NN_CHECK(allocator.allocate != nullptr,
           "cannot allocate on {}: libnn was built without that backend", device.str());
  data_ = allocator.allocate(nbytes, device.index);
}

Storage::~Storage() {
  allocators()[static_cast<int>(device_.type)].deallocate(data_, device_.index);
}

// --- Tensor basics ------------------------------------------------------------------------

void Tensor::throw_undefined() {
  throw Error("expected a defined tensor, got an undefined one (default-constructed Tensor)");
}

void Tensor::check_dtype(DType expected, const char* what) const {
  NN_CHECK(dtype() == expected, "{}: expected dtype {}, got {} for {}", what,
           dtype_name(expected), dtype_name(dtype()), str());
}

std::int64_t Tensor::size(std::int64_t d) const {
  return sizes()[static_cast<std::size_t>(normalize_dim(d, sizes().size(), "size"))];
}

std::string Tensor::str() const {
  if (!impl_) return "Tensor(undefined)";
  return fmt::format("Tensor(shape={}, dtype={}, device={})", shape_str(impl_->shape),
                     dtype_name(impl_->dtype), impl_->device.str());
}

void* Tensor::raw_data() const {
  const TensorImpl& t = checked();
  return static_cast<std::byte*>(t.storage->data()) + t.offset * static_cast<std::int64_t>(element_size(t.dtype));
}

template <class T> T Tensor::item() const {
  NN_CHECK(numel() == 1, "item: expected a tensor with one element, got shape {}",
           shape_str(sizes()));
  return to_vector<T>()[0];
}

template <class T> std::vector<T> Tensor::to_vector() const {
  check_dtype(DTypeOf<T>::value, "to_vector");
  Tensor host = device().is_cpu() ? *this : to(Device::cpu());
  const T* p = host.data_ptr<T>();
  return std::vector<T>(p, p + host.numel());
}

template float Tensor::item<float>() const;
template std::int64_t Tensor::item<std::int64_t>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

// --- autograd accessors -------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool value) {
  if (!impl_) throw_undefined();
  TensorImpl& t = *impl_;
  NN_CHECK(t.grad_fn == nullptr,
           "set_requires_grad: expected a leaf tensor, got the output of '{}' (use detach())",
           t.grad_fn ? t.grad_fn->name() : std::string());
  NN_CHECK(!value || t.dtype == DType::Float32 || t.dtype == DType::Float16 || t.dtype == DType::BFloat16,
           "set_requires_grad: only floating tensors can require grad, got {}", dtype_name(t.dtype));
  t.requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& grad) const {
  if (!impl_) throw_undefined();
  if (grad.defined()) {
    NN_CHECK(grad.sizes() == sizes(), "set_grad: expected a gradient of shape {}, got {}",
             shape_str(sizes()), shape_str(grad.sizes()));
  }
  impl_->grad = grad.impl_ptr();
}

void Tensor::zero_grad(bool set_to_none) const {
  if (!impl_) throw_undefined();
  if (set_to_none || !impl_->grad) {
    impl_->grad.reset();
  } else {
    Tensor(impl_->grad).zero_();
  }
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  nn::backward({*this}, {gradient}, retain_graph, create_graph);
}

Tensor Tensor::detach() const {
  const TensorImpl& t = checked();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->offset = t.offset;
  impl->shape = t.shape;
  impl->dtype = t.dtype;
  impl->device = t.device;
  return Tensor(std::move(impl));
}

// --- copies and in-place updates -------------------------------------------------------------

namespace {

// In-place updates write through the storage and are not recorded: refuse them on tensors
// the graph needs (PyTorch refuses a leaf requiring grad in grad mode, too).
void check_inplace(const Tensor& t, const char* what) {
  NN_CHECK(!(grad_mode_enabled() && t.requires_grad()),
           "{}: in-place update of a tensor that requires grad while grad mode is on "
           "(wrap it in nn::NoGradGuard, as optimizers do)", what);
}

}  // namespace

Tensor Tensor::clone() const {
  Tensor out = empty(sizes(), options());
  kernels::copy(device(), *this, out);
  if (autograd::needs_history({this})) {
    autograd::record(
        "clone", {*this}, {out},
        [](const std::vector<Tensor>& g, const std::vector<bool>&) {
          return std::vector<Tensor>{g[0]};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(sizes(), options().device(target));
  NN_CHECK(copy_across() != nullptr,
           "to({}): copies between devices need the CUDA backend, which this build lacks",
           target.str());
  if (numel() > 0) copy_across()(*this, out);
  if (autograd::needs_history({this})) {
    autograd::record(
        "to", {*this}, {out},
        [source = device()](const std::vector<Tensor>& g, const std::vector<bool>&) {
          // out = x on another device: the gradient goes back to x's device
          return std::vector<Tensor>{g[0].to(source)};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(sizes(), options().dtype(target));
  kernels::convert(device(), *this, out);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  NN_CHECK(src.dtype() == dtype(), "copy_: expected a source of dtype {}, got {}",
           dtype_name(dtype()), dtype_name(src.dtype()));
  NN_CHECK(src.device() == device(), "copy_: expected a source on {}, got {}", device().str(),
           src.device().str());
  if (src.sizes() == sizes()) {
    kernels::copy(device(), src, *this);
  } else {
    NN_CHECK(broadcast_shapes(src.sizes(), sizes(), "copy_") == sizes(),
             "copy_: expected a source broadcastable to {}, got {}", shape_str(sizes()),
             shape_str(src.sizes()));
    kernels::expand(device(), src, *this);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  kernels::fill(device(), *this, value);
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  NN_CHECK(other.sizes() == sizes(), "add_: expected a tensor of shape {}, got {}",
           shape_str(sizes()), shape_str(other.sizes()));
  kernels::axpy(device(), static_cast<float>(alpha), other, *this);
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  kernels::unary(device(), kernels::UnaryOp::Affine, *this, *this, static_cast<float>(value), 0.0f);
  return *this;
}

Tensor& Tensor::normal_(double mean, double std, Generator* gen) {
  check_inplace(*this, "normal_");
  Generator& g = gen ? *gen : default_generator();
  const auto blocks = static_cast<std::uint64_t>((numel() + 3) / 4);
  kernels::random(device(), kernels::RandomKind::Normal, *this, g.seed(), g.reserve(blocks), mean, std);
  return *this;
}

Tensor& Tensor::uniform_(double low, double high, Generator* gen) {
  check_inplace(*this, "uniform_");
  Generator& g = gen ? *gen : default_generator();
  const auto blocks = static_cast<std::uint64_t>((numel() + 3) / 4);
  kernels::random(device(), kernels::RandomKind::Uniform, *this, g.seed(), g.reserve(blocks), low, high);
  return *this;
}

// --- views and shape ops ------------------------------------------------------------------

Tensor Tensor::reshape(const Shape& shape) const { return nn::reshape(*this, shape); }

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int s = normalize_dim(start_dim, sizes().size(), "flatten");
  const int e = normalize_dim(end_dim, sizes().size(), "flatten");
  NN_CHECK(s <= e, "flatten: expected start_dim <= end_dim, got {} > {}", s, e);
  Shape shape(sizes().begin(), sizes().begin() + s);
  std::int64_t merged = 1;
  for (int i = s; i <= e; ++i) merged *= sizes()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), sizes().begin() + e + 1, sizes().end());
  return reshape(shape);
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  const int where = normalize_dim(d, sizes().size() + 1, "unsqueeze");
  Shape shape = sizes();
  shape.insert(shape.begin() + where, 1);
  return reshape(shape);
}

Tensor Tensor::squeeze(std::int64_t d) const {
  const int where = normalize_dim(d, sizes().size(), "squeeze");
  if (sizes()[where] != 1) return *this;
  Shape shape = sizes();
  shape.erase(shape.begin() + where);
  return reshape(shape);
}

Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const { return nn::transpose(*this, d0, d1); }
Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end) const {
  return nn::slice(*this, d, start, end);
}

Tensor Tensor::matmul(const Tensor& other) const { return nn::matmul(*this, other); }
Tensor Tensor::sum(const std::vector<std::int64_t>& dims, bool keepdim) const { return nn::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const std::vector<std::int64_t>& dims, bool keepdim) const { return nn::mean(*this, dims, keepdim); }
Tensor Tensor::exp() const { return nn::exp(*this); }
Tensor Tensor::log() const { return nn::log(*this); }
Tensor Tensor::tanh() const { return nn::tanh(*this); }
Tensor Tensor::sigmoid() const { return nn::sigmoid(*this); }
Tensor Tensor::relu() const { return nn::relu(*this); }
Tensor Tensor::sqrt() const { return nn::sqrt(*this); }
Tensor Tensor::pow(double exponent) const { return nn::pow(*this, exponent); }
Tensor Tensor::clamp(std::optional<double> min, std::optional<double> max) const { return nn::clamp(*this, min, max); }
Tensor Tensor::softmax(std::int64_t d) const { return nn::softmax(*this, d); }
Tensor Tensor::log_softmax(std::int64_t d) const { return nn::log_softmax(*this, d); }

// --- factories ------------------------------------------------------------------------------

Tensor empty(const Shape& shape, TensorOptions options) {
  for (std::int64_t size : shape) {
    NN_CHECK(size >= 0, "empty: expected sizes >= 0, got shape {}", shape_str(shape));
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = options.dtype();
  impl->device = options.device();
  impl->storage = std::make_shared<Storage>(
      static_cast<std::size_t>(numel(shape)) * element_size(options.dtype()), options.device());
  Tensor t(std::move(impl));
  if (options.requires_grad()) t.set_requires_grad(true);
  return t;
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, options.requires_grad(false));
  kernels::fill(t.device(), t, value);
  if (options.requires_grad()) t.set_requires_grad(true);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor zeros_like(const Tensor& like) { return zeros(like.sizes(), like.options()); }
Tensor ones_like(const Tensor& like) { return ones(like.sizes(), like.options()); }
Tensor empty_like(const Tensor& like) { return empty(like.sizes(), like.options()); }
Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor arange(std::int64_t n, TensorOptions options) {
  if (!options.device().is_cpu()) {  // made on the CPU, then moved
    return arange(n, options.device(Device::cpu())).to(options.device());
  }
  Tensor t = empty({n}, options);
  if (t.dtype() == DType::Int64) {
    auto* p = t.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = i;
  } else {
    auto* p = t.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i);
  }
  return t;
}

template <class T>
static Tensor from_host(const std::vector<T>& values, const Shape& shape, TensorOptions options) {
  NN_CHECK(static_cast<std::int64_t>(values.size()) == numel(shape),
           "from_vector: expected {} values for shape {}, got {}", numel(shape), shape_str(shape),
           values.size());
  NN_CHECK(options.dtype() == DTypeOf<T>::value, "from_vector: expected dtype {}, got {}",
           dtype_name(DTypeOf<T>::value), dtype_name(options.dtype()));
  Tensor t = empty(shape, options.requires_grad(false).device(Device::cpu()));
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  if (!options.device().is_cpu()) t = t.to(options.device());
  if (options.requires_grad()) t.set_requires_grad(true);
  return t;
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, TensorOptions options) {
  return from_host(values, shape, options);
}
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape,
                   TensorOptions options) {
  return from_host(values, shape, options);
}
Tensor from_vector(std::initializer_list<float> values, const Shape& shape,
                   TensorOptions options) {
  return from_host(std::vector<float>(values), shape, options);
}

static Tensor random_tensor(kernels::RandomKind kind, const Shape& shape, double p0, double p1,
                            Generator* gen, TensorOptions options) {
  Tensor t = empty(shape, options.requires_grad(false));
  Generator& g = gen ? *gen : default_generator();
  const auto blocks = static_cast<std::uint64_t>((t.numel() + 3) / 4);
  kernels::random(t.device(), kind, t, g.seed(), g.reserve(blocks), p0, p1);
  if (options.requires_grad()) t.set_requires_grad(true);
  return t;
}

Tensor randn(const Shape& shape, Generator* gen, TensorOptions options) {
  return random_tensor(kernels::RandomKind::Normal, shape, 0.0, 1.0, gen, options);
}
Tensor rand(const Shape& shape, Generator* gen, TensorOptions options) {
  return random_tensor(kernels::RandomKind::Uniform, shape, 0.0, 1.0, gen, options);
}
Tensor bernoulli(const Shape& shape, double p, Generator* gen, TensorOptions options) {
  NN_CHECK(p >= 0.0 && p <= 1.0, "bernoulli: expected p in [0, 1], got {}", p);
  return random_tensor(kernels::RandomKind::Bernoulli, shape, p, 0.0, gen, options);
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator* gen) {
  NN_CHECK(low < high, "randint: expected low < high, got [{}, {})", low, high);
  Tensor u = rand(shape, gen);
  Tensor out = empty(shape, DType::Int64);
  const float* pu = u.data_ptr<float>();
  std::int64_t* po = out.data_ptr<std::int64_t>();
  const double span = static_cast<double>(high - low);
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    po[i] = std::min(high - 1, low + static_cast<std::int64_t>(pu[i] * span));
  }
  return out;
}

}  // namespace nn
