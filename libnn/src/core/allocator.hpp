// Device memory allocation, one allocator per device type. The CPU one is built in; a GPU
// backend registers its own when it initializes.
#pragma once

#include <cstddef>

#include "libnn/dtype.hpp"

namespace nn::detail {

struct Allocator {
  void* (*allocate)(std::size_t nbytes, int device_index) = nullptr;
  void (*deallocate)(void* ptr, int device_index) = nullptr;
};

void register_allocator(DeviceType type, Allocator allocator);

}  // namespace nn::detail
