// What a device backend plugs into the tensors: its allocator and its copies to and from
// other devices. The CPU allocator is built in; the CUDA backend registers both when it
// initializes (nn::cuda::init(), src/cuda/context.cu).
#pragma once

#include <cstddef>

#include "libnn/dtype.hpp"

namespace nn {
class Tensor;
}

namespace nn::detail {

struct Allocator {
  void* (*allocate)(std::size_t nbytes, int device_index) = nullptr;
  void (*deallocate)(void* ptr, int device_index) = nullptr;
};

void register_allocator(DeviceType type, Allocator allocator);

// dst = src where the two are on different devices (same dtype and numel). Returns when src
// may be changed again; a copy to the CPU returns when the data is there.
using CopyAcrossFn = void (*)(const Tensor& src, Tensor& dst);
void register_copy_across(CopyAcrossFn copy);

}  // namespace nn::detail
