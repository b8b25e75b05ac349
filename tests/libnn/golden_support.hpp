// Shared by the golden replays (test_golden.cpp on the CPU, cuda/test_cuda_ops.cpp on CUDA),
// the gradient check (test_gradcheck.cpp) and the op-table check (test_op_table.cpp): loading
// tests/libnn/golden/ops.safetensors, running one of its cases through libnn by op name and
// PyTorch-named arguments, and comparing a result with PyTorch's (one comparison, so that both
// replays hold every device to the same tolerances).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "libnn/checkpoint.hpp"
#include "libnn/io/safetensors.hpp"
#include "libnn/ops.hpp"
#include "mini_json.hpp"

namespace golden {

struct Case {
  std::string name;
  std::string op;
  test_json::Value args;
  int inputs = 0;
  int outputs = 0;
  std::vector<int> grads;  // input indices with a reference gradient
};

// gtest prints a parameter with this (instead of its bytes).
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " (" << c.op << ")"; }

// The environment variable LIBNN_TEST_DIR overrides the path compiled in: a test binary
// built here and run elsewhere (scripts/gpu-check.sh on a GPU machine) finds its fixtures.
inline std::string fixture_path(const char* file) {
  const char* dir = std::getenv("LIBNN_TEST_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : LIBNN_TEST_DIR) + "/golden/" + file;
}

// Every case of a fixture file, in name order (the four file-level metadata keys skipped).
inline std::vector<Case> load_cases(const nn::io::StFile& file) {
  std::vector<Case> cases;
  for (const auto& [key, value] : file.metadata) {
    if (key == "format" || key == "version" || key == "torch" || key == "generator") continue;
    const test_json::Value meta = test_json::parse(value);
    Case c;
    c.name = key;
    c.op = meta["op"].string;
    c.args = meta["args"];
    c.inputs = static_cast<int>(meta["inputs"].integer());
    c.outputs = static_cast<int>(meta["outputs"].integer());
    for (const auto& g : meta["grads"].array) c.grads.push_back(static_cast<int>(g.integer()));
    cases.push_back(std::move(c));
  }
  return cases;
}

inline const nn::io::StFile& ops_file() {
  static const nn::io::StFile file = nn::io::read_safetensors(fixture_path("ops.safetensors"));
  return file;
}

// A fixture tensor as an nn::Tensor: F32 and F64 become float32, I64 int64 (the library's
// own safetensors conversion).
inline nn::Tensor to_tensor(const nn::io::StTensor& t) { return nn::from_safetensor(t); }

// A fixture tensor's values as doubles (F64, F32 or I64).
inline std::vector<double> to_doubles(const nn::io::StTensor& t) {
  std::size_t n = 1;
  for (auto s : t.shape) n *= static_cast<std::size_t>(s);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (t.dtype == nn::io::StDType::F64) {
      std::memcpy(&v[i], t.data.data() + i * 8, 8);
    } else if (t.dtype == nn::io::StDType::F32) {
      float f;
      std::memcpy(&f, t.data.data() + i * 4, 4);
      v[i] = f;
    } else {
      std::int64_t k;
      std::memcpy(&k, t.data.data() + i * 8, 8);
      v[i] = static_cast<double>(k);
    }
  }
  return v;
}

inline const nn::io::StTensor& tensor(const nn::io::StFile& file, const std::string& name) {
  const nn::io::StTensor* t = file.find(name);
  if (!t) throw std::runtime_error("fixture has no tensor " + name);
  return *t;
}

inline std::vector<std::int64_t> int_list(const test_json::Value& v) {
  std::vector<std::int64_t> out;
  if (v.kind == test_json::Value::Kind::Array) {
    for (const auto& x : v.array) out.push_back(x.integer());
  } else if (!v.is_null()) {
    out.push_back(v.integer());
  }
  return out;
}

inline std::optional<double> opt_num(const test_json::Value& v) {
  if (v.is_null()) return std::nullopt;
  return v.num();
}

inline nn::Reduction reduction(const test_json::Value& args) {
  if (!args.has("reduction")) return nn::Reduction::Mean;
  const std::string& r = args["reduction"].string;
  return r == "sum" ? nn::Reduction::Sum : r == "none" ? nn::Reduction::None : nn::Reduction::Mean;
}

// Runs `op` on `in` with the fixture's args; returns the outputs in the fixture's order.
// batch_norm in training returns (y, running_mean, running_var): the running statistics are
// the (updated in place) inputs 1 and 2.
inline std::vector<nn::Tensor> run(const std::string& op, const test_json::Value& args,
                                   const std::vector<nn::Tensor>& in) {
  using namespace nn;
  auto arg = [&](const char* key) -> const test_json::Value& { return args[key]; };
  if (op == "add") return {add(in[0], in[1])};
  if (op == "sub") return {sub(in[0], in[1])};
  if (op == "mul") return {mul(in[0], in[1])};
  if (op == "div") return {div(in[0], in[1])};
  if (op == "affine") return {affine(in[0], arg("scale").num(), arg("shift").num())};
  if (op == "matmul") return {matmul(in[0], in[1])};
  if (op == "bmm") return {bmm(in[0], in[1])};
  if (op == "linear") return {linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
  if (op == "sum") return {sum(in[0], int_list(arg("dim")), arg("keepdim").boolean)};
  if (op == "mean") return {mean(in[0], int_list(arg("dim")), arg("keepdim").boolean)};
  if (op == "max") {
    if (arg("dim").is_null()) return {max(in[0])};
    MaxResult r = max(in[0], arg("dim").integer(), args.has("keepdim") && arg("keepdim").boolean);
    return {r.values, r.indices};
  }
  if (op == "exp") return {exp(in[0])};
  if (op == "log") return {log(in[0])};
  if (op == "tanh") return {tanh(in[0])};
  if (op == "sigmoid") return {sigmoid(in[0])};
  if (op == "relu") return {relu(in[0])};
  if (op == "neg") return {neg(in[0])};
  if (op == "sqrt") return {sqrt(in[0])};
  if (op == "leaky_relu") return {leaky_relu(in[0], arg("negative_slope").num())};
  if (op == "pow") return {pow(in[0], arg("exponent").num())};
  if (op == "clamp") return {clamp(in[0], opt_num(arg("min")), opt_num(arg("max")))};
  if (op == "softmax") return {softmax(in[0], arg("dim").integer())};
  if (op == "log_softmax") return {log_softmax(in[0], arg("dim").integer())};
  if (op == "cross_entropy") {
    return {cross_entropy(in[0], in[1],
                          CrossEntropyOptions()
                              .ignore_index(arg("ignore_index").integer())
                              .label_smoothing(arg("label_smoothing").num())
                              .reduction(reduction(args)))};
  }
  if (op == "binary_cross_entropy_with_logits") {
    BCEWithLogitsOptions options;
    options.reduction(reduction(args));
    if (in.size() > 2) options.pos_weight(in[2]);
    return {binary_cross_entropy_with_logits(in[0], in[1], options)};
  }
  if (op == "gan_discriminator_loss") return {gan_discriminator_loss(in[0], in[1])};
  if (op == "gan_generator_loss") return {gan_generator_loss(in[0])};
  if (op == "feature_matching_loss") return {feature_matching_loss(in[0], in[1])};
  if (op == "wasserstein_critic_loss") return {wasserstein_critic_loss(in[0], in[1])};
  if (op == "wasserstein_generator_loss") return {wasserstein_generator_loss(in[0])};
  if (op == "embedding") return {embedding(in[0], in[1])};
  if (op == "cat") return {cat(in, arg("dim").integer())};
  if (op == "stack") return {stack(in, arg("dim").integer())};
  if (op == "slice") return {slice(in[0], arg("dim").integer(), arg("start").integer(), arg("end").integer())};
  if (op == "flip") return {flip(in[0], arg("dim").integer())};
  if (op == "transpose") return {transpose(in[0], arg("dim0").integer(), arg("dim1").integer())};
  if (op == "reshape") return {reshape(in[0], int_list(arg("shape")))};
  if (op == "layer_norm") {
    return {layer_norm(in[0], int_list(arg("normalized_shape")), in.size() > 1 ? in[1] : Tensor(),
                       in.size() > 2 ? in[2] : Tensor(), arg("eps").num())};
  }
  if (op == "batch_norm") {
    const bool training = arg("training").boolean;
    Tensor y = batch_norm(in[0], in[1], in[2], in[3], in[4], training, arg("momentum").num(),
                          arg("eps").num());
    if (training) return {y, in[1], in[2]};
    return {y};
  }
  if (op == "lstm_layer") {
    // in: x, then h0, c0 when initial_state, then w_ih, w_hh, then b_ih, b_hh when bias
    std::size_t k = 1;
    Tensor h0, c0, b_ih, b_hh;
    if (arg("initial_state").boolean) {
      h0 = in[k++];
      c0 = in[k++];
    }
    const Tensor& w_ih = in[k++];
    const Tensor& w_hh = in[k++];
    if (arg("bias").boolean) {
      b_ih = in[k++];
      b_hh = in[k++];
    }
    LSTMLayerResult r = lstm_layer(in[0], h0, c0, w_ih, w_hh, b_ih, b_hh);
    return {r.output, r.h, r.c};
  }
  if (op == "conv1d" || op == "conv_transpose1d" || op == "conv2d" || op == "conv_transpose2d") {
    // in: x, weight, then bias when the case has one
    const Tensor bias = in.size() > 2 ? in[2] : Tensor();
    const std::int64_t groups = arg("groups").integer();
    if (op == "conv1d") {
      return {conv1d(in[0], in[1], bias, arg("stride").integer(), arg("padding").integer(),
                     arg("dilation").integer(), groups)};
    }
    if (op == "conv_transpose1d") {
      return {conv_transpose1d(in[0], in[1], bias, arg("stride").integer(),
                               arg("padding").integer(), arg("output_padding").integer(), groups,
                               arg("dilation").integer())};
    }
    auto pair = [&](const char* key) {
      const auto v = int_list(arg(key));
      return Size2{v.at(0), v.at(1)};
    };
    if (op == "conv_transpose2d") {
      return {conv_transpose2d(in[0], in[1], bias, pair("stride"), pair("padding"),
                               pair("output_padding"), groups, pair("dilation"))};
    }
    return {conv2d(in[0], in[1], bias, pair("stride"), pair("padding"), pair("dilation"), groups)};
  }
  throw std::runtime_error("golden::run: unknown op " + op);
}

// --- comparing with PyTorch -----------------------------------------------------------------

// |ours - ref| <= atol + rtol * |ref| elementwise; returns the worst ratio err / tolerance.
inline double worst_fraction(const std::vector<double>& ours, const std::vector<double>& ref,
                             double atol, double rtol, std::size_t* where) {
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double tol = atol + rtol * std::abs(ref[i]);
    const double f = std::abs(ours[i] - ref[i]) / tol;
    if (!(f <= worst)) {  // NaN counts as worst
      worst = std::isnan(f) ? INFINITY : f;
      *where = i;
    }
  }
  return worst;
}

// A tensor's values as doubles (float32 or int64), copied to the host from any device.
inline std::vector<double> values_of(const nn::Tensor& t) {
  std::vector<double> out;
  if (t.dtype() == nn::DType::Int64) {
    for (auto v : t.to_vector<std::int64_t>()) out.push_back(static_cast<double>(v));
  } else {
    for (auto v : t.to_vector<float>()) out.push_back(v);
  }
  return out;
}

// Expects `ours` to match the fixture tensor `ref`: the shape, then every value. `who` names
// ours in the failure message ("ours" on the CPU, "CUDA" in the CUDA replay).
inline void expect_close(const nn::Tensor& ours, const nn::io::StTensor& ref,
                         const std::string& what, const char* who = "ours") {
  const std::vector<double> expected = to_doubles(ref);
  ASSERT_EQ(ours.sizes(), nn::Shape(ref.shape.begin(), ref.shape.end())) << what << ": shape";
  const std::vector<double> got = values_of(ours);
  // float32 arithmetic against a float64 reference: a few float32 ulps, plus an absolute floor
  // for values near zero. Integer outputs (argmax) must match exactly.
  const bool exact = ref.dtype == nn::io::StDType::I64;
  const double atol = exact ? 0.0 : 2e-5, rtol = exact ? 0.0 : 1e-4;
  std::size_t where = 0;
  const double fraction = exact ? (got == expected ? 0.0 : INFINITY)
                                : worst_fraction(got, expected, atol, rtol, &where);
  EXPECT_LE(fraction, 1.0) << what << ": worst error is " << fraction * 100
                           << "% of the allowed (atol " << atol << ", rtol " << rtol
                           << ") at element " << where << ": " << who << " " << got[where]
                           << ", PyTorch " << expected[where];
}

// A module case of a fixture file (lstm.safetensors, conv_modules.safetensors): its name and
// the JSON metadata that describes it.
struct ModuleCase {
  std::string name;
  test_json::Value meta;
};

inline void PrintTo(const ModuleCase& c, std::ostream* os) { *os << c.name; }

// Every module case of `file`: each metadata entry but the file's own (format, version,
// torch, generator).
inline std::vector<ModuleCase> module_cases(const nn::io::StFile& file) {
  std::vector<ModuleCase> cases;
  for (const auto& [key, value] : file.metadata) {
    if (key == "format" || key == "version" || key == "torch" || key == "generator") continue;
    cases.push_back({key, test_json::parse(value)});
  }
  return cases;
}

}  // namespace golden
