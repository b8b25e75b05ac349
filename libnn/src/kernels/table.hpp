// The per-backend kernel table: one per kernel, one slot per device type.
//
// The CPU kernel is the reference and fills the CPU slot when the table is defined (in
// src/cpu/<family>.cpp). Another backend adds its kernel with set() when it initializes
// (src/cuda/register.cu), so adding a CUDA kernel for an op touches neither the op nor its
// callers. Calling a table for a device without a kernel throws nn::Error naming both.
#pragma once

#include <array>

#include "core/check.hpp"
#include "libnn/dtype.hpp"

namespace nn::kernels {

template <class Signature> class Table;

template <class R, class... Args> class Table<R(Args...)> {
 public:
  using Fn = R (*)(Args...);

  constexpr Table(const char* name, Fn cpu_kernel) : name_(name) {
    fns_[static_cast<int>(DeviceType::CPU)] = cpu_kernel;
  }

  void set(DeviceType device, Fn kernel) { fns_[static_cast<int>(device)] = kernel; }
  bool supports(DeviceType device) const { return fns_[static_cast<int>(device)] != nullptr; }
  const char* name() const { return name_; }

  Fn get(Device device) const {
    Fn kernel = fns_[static_cast<int>(device.type)];
    NN_CHECK(kernel != nullptr, "kernel '{}' has no implementation for device {}", name_,
             device.str());
    return kernel;
  }
  R operator()(Device device, Args... args) const { return get(device)(args...); }

 private:
  const char* name_;
  std::array<Fn, kNumDeviceTypes> fns_{};
};

}  // namespace nn::kernels
