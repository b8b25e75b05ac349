// The CPU tensors' allocator behind Storage (libnn/cpu/memory.hpp says what it caches, and
// why). 64-byte aligned.
#pragma once

#include <cstddef>
#include <optional>

namespace nn::detail {

void* cpu_allocate(std::size_t nbytes);
void cpu_deallocate(void* ptr);

// LIBNN_CPU_CACHING_ALLOCATOR's value: "0", "off", "false" -> false; "1", "on", "true" ->
// true; anything else -> nullopt (the allocator warns on stderr and stays on).
std::optional<bool> parse_cache_switch(const char* value);

}  // namespace nn::detail
