// NN_CHECK(condition, "format {}", args...): throws nn::Error with the formatted message
// when the condition is false. Private to libnn's sources (it uses fmt).
#pragma once

#include <fmt/format.h>

#include "libnn/error.hpp"
#include "libnn/shape.hpp"

#define NN_CHECK(condition, ...)                            \
  do {                                                      \
    if (!(condition)) [[unlikely]]                          \
      throw ::nn::Error(fmt::format(__VA_ARGS__));          \
  } while (false)
