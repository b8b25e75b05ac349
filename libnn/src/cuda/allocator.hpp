// The CUDA caching allocator's entry points for the tensors' allocator table
// (src/core/allocator.hpp). The design is in allocator.cu's opening comment.
#pragma once

#include <cstddef>

namespace nn::cuda {

// A block of at least nbytes on device `device_index`, for use on that device's current
// stream. Throws nn::Error on out of memory, saying what was asked, reserved and free.
void* caching_allocate(std::size_t nbytes, int device_index);
// Returns the block to the cache; no CUDA call, so it is safe from any destructor.
void caching_deallocate(void* ptr, int device_index);

}  // namespace nn::cuda
