// The per-backend kernel table: one per kernel, one slot per device type.
//
// The CPU kernel is the reference and fills the CPU slot when the table is defined (in
// src/cpu/<family>.cpp). The CUDA backend adds its kernel with set() when it initializes
// (nn::cuda::init(), src/cuda/register.hpp), so adding a CUDA kernel for an op touches
// neither the op nor its callers. Calling a table for a device without a kernel throws
// nn::Error naming both: nothing silently runs on the CPU.
//
// Before a non-CPU kernel runs, the table makes the call's device current (the backend's
// activate hook): a CUDA kernel launches on the current device's current stream.
#pragma once

#include <array>
#include <vector>

#include "core/check.hpp"
#include "libnn/dtype.hpp"

namespace nn::kernels {

// What every table shows of itself, for the check that each has a kernel for every device
// the build has (tests/libnn/test_op_table.cpp).
struct TableInfo {
  const char* name;
  bool (*supports)(const void* table, DeviceType device);
  const void* table;
};
// Every table defined in the program, in definition order.
inline std::vector<TableInfo>& all_tables() {
  static std::vector<TableInfo> tables;
  return tables;
}

// Set by a backend when it initializes: makes `device` current for this thread.
using ActivateDeviceFn = void (*)(Device device);
inline std::array<ActivateDeviceFn, kNumDeviceTypes> activate_device{};

template <class Signature> class Table;

template <class R, class... Args> class Table<R(Args...)> {
 public:
  using Fn = R (*)(Args...);

  Table(const char* name, Fn cpu_kernel) : name_(name) {
    fns_[static_cast<int>(DeviceType::CPU)] = cpu_kernel;
    all_tables().push_back({name_, &supports_erased, this});
  }
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  void set(DeviceType device, Fn kernel) { fns_[static_cast<int>(device)] = kernel; }
  bool supports(DeviceType device) const { return fns_[static_cast<int>(device)] != nullptr; }
  const char* name() const { return name_; }

  Fn get(Device device) const {
    const int slot = static_cast<int>(device.type);
    Fn kernel = fns_[slot];
    NN_CHECK(kernel != nullptr,
             "kernel '{}' has no {} implementation (called for a tensor on {}); libnn never "
             "falls back to the CPU silently: move the tensors with .to(nn::Device::cpu())",
             name_, device.is_cuda() ? "CUDA" : "CPU", device.str());
    if (!device.is_cpu() && activate_device[slot] != nullptr) activate_device[slot](device);
    return kernel;
  }
  R operator()(Device device, Args... args) const { return get(device)(args...); }

 private:
  static bool supports_erased(const void* table, DeviceType device) {
    return static_cast<const Table*>(table)->supports(device);
  }

  const char* name_;
  // No initializer on purpose: tables are namespace-scope globals, zero-initialized before
  // any constructor runs, and the constructor writes the CPU slot only -- so a backend that
  // set() its slot from another translation unit's initializer is never undone.
  std::array<Fn, kNumDeviceTypes> fns_;
};

}  // namespace nn::kernels
