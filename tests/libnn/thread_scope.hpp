// Sets libnn's thread count (nn::set_num_threads) for the scope of a test and restores it
// afterwards; shared by the tests that compare results across thread counts.
#pragma once

#include "libnn/threads.hpp"

namespace test_util {

class ThreadScope {
 public:
  explicit ThreadScope(int threads) : saved_(nn::get_num_threads()) { nn::set_num_threads(threads); }
  ~ThreadScope() { nn::set_num_threads(saved_); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

}  // namespace test_util
