// Shape helpers (libnn/shape.hpp).
#include "libnn/shape.hpp"

#include "core/check.hpp"

namespace nn {

std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t size : shape) n *= size;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

int normalize_dim(std::int64_t dim, std::size_t rank, const char* what) {
  const auto r = static_cast<std::int64_t>(rank);
  NN_CHECK(dim >= -r && dim < r, "{}: expected a dimension in [{}, {}] for a {}-d tensor, got {}",
           what, -r, r - 1, r, dim);
  return static_cast<int>(dim < 0 ? dim + r : dim);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* what) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    NN_CHECK(sa == sb || sa == 1 || sb == 1,
             "{}: shapes {} and {} do not broadcast (dimension {}: {} vs {})", what,
             shape_str(a), shape_str(b), i, sa, sb);
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

}  // namespace nn
