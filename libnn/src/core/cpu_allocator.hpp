// The CPU tensors' allocator behind Storage (libnn/cpu/memory.hpp says what it caches, and
// why). 64-byte aligned.
#pragma once

#include <cstddef>

namespace nn::detail {

void* cpu_allocate(std::size_t nbytes);
void cpu_deallocate(void* ptr);

}  // namespace nn::detail
