// Shapes: a vector of sizes, outermost first (row-major). Helpers shared by ops and users.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nn {

using Shape = std::vector<std::int64_t>;

// Number of elements (1 for the 0-dim shape ()).
std::int64_t numel(const Shape& shape);

// "(2,3,4)"; "()" for a 0-dim tensor.
std::string shape_str(const Shape& shape);

// Wraps a possibly negative dimension into [0, rank); throws nn::Error naming `what` when out
// of range.
int normalize_dim(std::int64_t dim, std::size_t rank, const char* what);

// NumPy/PyTorch broadcasting of two shapes; throws nn::Error naming `what` when they don't.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* what);

}  // namespace nn
