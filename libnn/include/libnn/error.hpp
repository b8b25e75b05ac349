// The one exception type libnn throws for misuse: a wrong shape, dtype or device, an index
// out of range, a file that is not what it claims. Messages say what was expected and what
// was found, e.g. "matmul: expected b of shape (4,N), got (5,3)".
#pragma once

#include <stdexcept>
#include <string>

namespace nn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace nn
