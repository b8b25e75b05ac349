// Test hooks of the GEMM driver (gemm.cpp), for tests/libnn/test_gemm.cpp: they play a busy
// machine inside the shared-B path and tell a test which path a product took. Not part of
// libnn's interface.
#pragma once

#include <chrono>
#include <cstdint>

namespace nn::cpu::gemm_testing {

// Every participant of the shared-B path other than the calling thread (slot >= 1) sleeps this
// long after it claims each of its tasks, before it runs it: a worker that the scheduler sets
// aside while it holds a B-packing slice or a block of C. Zero (the default): no delay.
void set_task_delay(std::chrono::microseconds delay);

// How many sgemm calls have taken the shared-B path (several threads sharing one packed B
// block) since the process started.
int64_t shared_b_calls();

// Products of at least `rows` rows per thread take the shared-B path (0: the default, 512);
// returns the previous value. Lets a test reach the path with products small enough to check
// quickly.
int64_t set_shared_min_rows_per_thread(int64_t rows);

}  // namespace nn::cpu::gemm_testing
