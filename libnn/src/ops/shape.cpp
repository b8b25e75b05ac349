// Shape ops with autograd: reshape (a view), transpose (a copy), slice (a view when the
// result is contiguous, else a copy), cat, stack. Kernels: src/cpu/memory.cpp.
#include "core/check.hpp"
#include "kernels/memory.hpp"
#include "libnn/autograd.hpp"
#include "libnn/ops.hpp"

namespace nn {

namespace {

std::int64_t product(const Shape& shape, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= shape[i];
  return p;
}

// A tensor sharing x's storage with another shape and offset (no history).
Tensor alias(const Tensor& x, Shape shape, std::int64_t extra_offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = x.impl()->offset + extra_offset;
  impl->shape = std::move(shape);
  impl->dtype = x.dtype();
  impl->device = x.device();
  return Tensor(std::move(impl));
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& requested) {
  Shape shape = requested;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      NN_CHECK(infer < 0, "reshape: expected at most one -1 in {}", shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      NN_CHECK(shape[i] >= 0, "reshape: expected sizes >= 0 or -1, got {}", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    NN_CHECK(known > 0 && x.numel() % known == 0,
             "reshape: cannot infer the -1 in {} for {} elements (shape {})", shape_str(requested),
             x.numel(), shape_str(x.sizes()));
    shape[infer] = x.numel() / known;
  }
  NN_CHECK(numel(shape) == x.numel(), "reshape: expected a shape of {} elements (from {}), got {}",
           x.numel(), shape_str(x.sizes()), shape_str(requested));
  Tensor out = alias(x, shape, 0);
  if (autograd::needs_history({&x})) {
    autograd::record(
        "reshape", {x}, {out},
        [x_shape = x.sizes()](const std::vector<Tensor>& g, const std::vector<bool>&) {
          return std::vector<Tensor>{g[0].reshape(x_shape)};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  int d0 = normalize_dim(dim0, x.sizes().size(), "transpose");
  int d1 = normalize_dim(dim1, x.sizes().size(), "transpose");
  if (d0 > d1) std::swap(d0, d1);
  const Shape& s = x.sizes();
  Shape out_shape = s;
  std::swap(out_shape[d0], out_shape[d1]);
  Tensor out = empty(out_shape, x.options());
  if (d0 == d1) {
    kernels::copy(x.device(), x, out);
  } else {
    kernels::transpose(x.device(), x, out, product(s, 0, d0), s[d0], product(s, d0 + 1, d1), s[d1],
                       product(s, d1 + 1, s.size()));
  }
  if (autograd::needs_history({&x})) {
    autograd::record(
        "transpose", {x}, {out},
        [d0, d1](const std::vector<Tensor>& g, const std::vector<bool>&) {
          return std::vector<Tensor>{transpose(g[0], d0, d1)};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end) {
  const int d = normalize_dim(dim, x.sizes().size(), "slice");
  const Shape& s = x.sizes();
  const std::int64_t size = s[d];
  // Python's rules: negative counts from the end, then clamp to [0, size].
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<std::int64_t>(start, 0, size);
  end = std::clamp<std::int64_t>(end, start, size);
  Shape out_shape = s;
  out_shape[d] = end - start;
  const std::int64_t outer = product(s, 0, d), inner = product(s, d + 1, s.size());
  Tensor out;
  if (outer == 1) {
    out = alias(x, out_shape, start * inner);  // the slice is contiguous: a view
  } else {
    out = empty(out_shape, x.options());
    kernels::copy_block(x.device(), x, start * inner, size * inner, out, 0, (end - start) * inner,
                        outer, (end - start) * inner);
  }
  if (autograd::needs_history({&x})) {
    autograd::record(
        "slice", {x}, {out},
        [s, start, end, outer, inner, size](const std::vector<Tensor>& g,
                                            const std::vector<bool>&) {
          // x[..., start:end, ...] = out: the gradient is g there, 0 elsewhere
          Tensor gx = zeros(s, g[0].options());
          kernels::copy_block(gx.device(), g[0], 0, (end - start) * inner, gx, start * inner,
                              size * inner, outer, (end - start) * inner);
          return std::vector<Tensor>{gx};
        },
        autograd::DoubleBackward(
            [s, d, start, end](const std::vector<Tensor>& g, const std::vector<bool>&) {
              // the same as recorded ops: g between zeros along d
              std::vector<Tensor> parts;
              auto zeros_along = [&](std::int64_t n) {
                Shape z = s;
                z[d] = n;
                return zeros(z, g[0].options());
              };
              if (start > 0) parts.push_back(zeros_along(start));
              parts.push_back(g[0]);
              if (end < s[d]) parts.push_back(zeros_along(s[d] - end));
              return std::vector<Tensor>{parts.size() == 1 ? g[0] : cat(parts, d)};
            }));
  }
  return out;
}

Tensor flip(const Tensor& x, std::int64_t dim) {
  const int d = normalize_dim(dim, x.sizes().size(), "flip");
  const Shape& s = x.sizes();
  const std::int64_t size = s[d];
  // x viewed as (outer, size, inner): out[o, size-1-i, :] = x[o, i, :], one block copy per i
  // (the copy_block kernel of x's device, so flip runs wherever copy_block does).
  const std::int64_t outer = product(s, 0, d), inner = product(s, d + 1, s.size());
  Tensor out = empty(s, x.options());
  if (x.numel() > 0) {
    for (std::int64_t i = 0; i < size; ++i) {
      kernels::copy_block(x.device(), x, i * inner, size * inner, out, (size - 1 - i) * inner,
                          size * inner, outer, inner);
    }
  }
  if (autograd::needs_history({&x})) {
    autograd::record(
        "flip", {x}, {out},
        [d](const std::vector<Tensor>& g, const std::vector<bool>&) {
          // out = flip(x, d): the gradient is the output's, flipped back
          return std::vector<Tensor>{flip(g[0], d)};
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  NN_CHECK(!tensors.empty(), "cat: expected at least one tensor, got none");
  const Tensor& first = tensors[0];
  const int d = normalize_dim(dim, first.sizes().size(), "cat");
  std::int64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    bool same = t.dim() == first.dim() && t.dtype() == first.dtype() && t.device() == first.device();
    for (int k = 0; same && k < first.dim(); ++k) same = k == d || t.sizes()[k] == first.sizes()[k];
    NN_CHECK(same, "cat: expected tensor {} to match {} in every dim but {} (and in dtype and "
             "device), got {}", i, first.str(), d, t.str());
    total += t.sizes()[d];
  }
  Shape out_shape = first.sizes();
  out_shape[d] = total;
  const std::int64_t outer = product(out_shape, 0, d);
  const std::int64_t inner = product(out_shape, d + 1, out_shape.size());
  Tensor out = empty(out_shape, first.options());
  std::vector<std::int64_t> sizes;
  std::int64_t at = 0;
  for (const Tensor& t : tensors) {
    const std::int64_t n = t.sizes()[d];
    kernels::copy_block(out.device(), t, 0, n * inner, out, at * inner, total * inner, outer, n * inner);
    sizes.push_back(n);
    at += n;
  }
  if (autograd::needs_history(tensors)) {
    autograd::record(
        "cat", tensors, {out},
        [sizes, d](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
          // out = [t0; t1; ...] along d: each input gets its slice of g
          std::vector<Tensor> grads;
          std::int64_t from = 0;
          for (std::size_t i = 0; i < sizes.size(); ++i) {
            grads.push_back(needs[i] ? slice(g[0], d, from, from + sizes[i]).clone() : Tensor());
            from += sizes[i];
          }
          return grads;
        },
        autograd::DoubleBackward::same());
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  NN_CHECK(!tensors.empty(), "stack: expected at least one tensor, got none");
  const int d = normalize_dim(dim, tensors[0].sizes().size() + 1, "stack");
  std::vector<Tensor> expanded;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    NN_CHECK(tensors[i].sizes() == tensors[0].sizes(),
             "stack: expected every tensor of shape {}, got {} for tensor {}",
             shape_str(tensors[0].sizes()), shape_str(tensors[i].sizes()), i);
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(expanded, d);
}

}  // namespace nn
