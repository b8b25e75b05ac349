// Tests of the convolutions conv1d, conv_transpose1d, conv2d, conv_transpose2d and their
// modules. The ops'
// PyTorch golden cases and finite-difference checks run with every other op's
// (test_golden.cpp, test_gradcheck.cpp, from golden/ops.safetensors); here:
//
//  - the modules with PyTorch's own initialised weights, loaded from a safetensors file that
//    make_fixtures.py writes (conv_modules.safetensors): names, shapes, output and gradients;
//  - PyTorch's default initialisation bounds;
//  - at sizes where the kernels and GEMMs run on several threads: a direct-sum convolution in
//    double (an oracle independent of im2col), the adjoint identity between conv1d and
//    conv_transpose1d, and 1-vs-2-thread bit-identity of forward and backward;
//  - the error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/modules/conv.hpp"
#include "libnn/random.hpp"
#include "thread_scope.hpp"

namespace {

using nn::Shape;
using nn::Size2;
using nn::Tensor;

template <class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const nn::Error& e) {
    return e.what();
  }
  return "<no nn::Error thrown>";
}

// --- modules with PyTorch's weights (conv_modules.safetensors) -------------------------------

const nn::io::StFile& modules_file() {
  static const nn::io::StFile file =
      nn::io::read_safetensors(golden::fixture_path("conv_modules.safetensors"));
  return file;
}

using golden::ModuleCase;

std::vector<ModuleCase> module_cases() { return golden::module_cases(modules_file()); }

std::int64_t kw_int(const test_json::Value& kw, const char* key, std::int64_t fallback) {
  return kw.has(key) ? kw[key].integer() : fallback;
}

Size2 kw_pair(const test_json::Value& kw, const char* key, std::int64_t fallback) {
  if (!kw.has(key)) return {fallback, fallback};
  const auto v = golden::int_list(kw[key]);
  return v.size() == 1 ? Size2{v[0], v[0]} : Size2{v.at(0), v.at(1)};
}

std::shared_ptr<nn::Module> make_module(const ModuleCase& c) {
  const test_json::Value& kw = c.meta["kwargs"];
  const std::string& kind = c.meta["module"].string;
  const std::int64_t in = kw["in_channels"].integer(), out = kw["out_channels"].integer();
  const bool bias = !kw.has("bias") || kw["bias"].boolean;
  const std::int64_t groups = kw_int(kw, "groups", 1);
  if (kind == "Conv1d") {
    return std::make_shared<nn::Conv1d>(nn::Conv1dOptions(in, out, kw["kernel_size"].integer())
                                            .stride(kw_int(kw, "stride", 1))
                                            .padding(kw_int(kw, "padding", 0))
                                            .dilation(kw_int(kw, "dilation", 1))
                                            .groups(groups)
                                            .bias(bias));
  }
  if (kind == "ConvTranspose1d") {
    return std::make_shared<nn::ConvTranspose1d>(
        nn::ConvTranspose1dOptions(in, out, kw["kernel_size"].integer())
            .stride(kw_int(kw, "stride", 1))
            .padding(kw_int(kw, "padding", 0))
            .output_padding(kw_int(kw, "output_padding", 0))
            .dilation(kw_int(kw, "dilation", 1))
            .groups(groups)
            .bias(bias));
  }
  if (kind == "ConvTranspose2d") {
    return std::make_shared<nn::ConvTranspose2d>(
        nn::ConvTranspose2dOptions(in, out, kw_pair(kw, "kernel_size", 1))
            .stride(kw_pair(kw, "stride", 1))
            .padding(kw_pair(kw, "padding", 0))
            .output_padding(kw_pair(kw, "output_padding", 0))
            .dilation(kw_pair(kw, "dilation", 1))
            .groups(groups)
            .bias(bias));
  }
  return std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, kw_pair(kw, "kernel_size", 1))
                                          .stride(kw_pair(kw, "stride", 1))
                                          .padding(kw_pair(kw, "padding", 0))
                                          .dilation(kw_pair(kw, "dilation", 1))
                                          .groups(groups)
                                          .bias(bias));
}

Tensor run_module(const nn::Module& m, const Tensor& x) {
  if (auto* c = dynamic_cast<const nn::Conv1d*>(&m)) return c->forward(x);
  if (auto* c = dynamic_cast<const nn::ConvTranspose1d*>(&m)) return c->forward(x);
  if (auto* c = dynamic_cast<const nn::ConvTranspose2d*>(&m)) return c->forward(x);
  return dynamic_cast<const nn::Conv2d&>(m).forward(x);
}

class ConvModuleGolden : public ::testing::TestWithParam<ModuleCase> {};

TEST_P(ConvModuleGolden, LoadsPyTorchWeightsAndMatchesItsOutputAndGradients) {
  const ModuleCase& c = GetParam();
  const nn::io::StFile& file = modules_file();
  auto get = [&](const std::string& n) {
    return golden::to_tensor(golden::tensor(file, c.name + "/" + n));
  };
  auto ref = [&](const std::string& n) -> const nn::io::StTensor& {
    return golden::tensor(file, c.name + "/" + n);
  };

  std::shared_ptr<nn::Module> module = make_module(c);
  // PyTorch's parameter names, in its order, with its shapes.
  const nn::NamedTensors params = module->named_parameters();
  std::vector<std::string> names, torch_names;
  for (const auto& [name, t] : params) names.push_back(name);
  for (const auto& n : c.meta["params"].array) torch_names.push_back(n.string);
  ASSERT_EQ(names, torch_names);
  nn::StateDict state;
  for (const std::string& n : torch_names) {
    Tensor p = get("param/" + n);
    EXPECT_EQ(params.at(n).sizes(), p.sizes()) << n;
    state.insert(n, p);
  }
  module->load_state_dict(state);

  Tensor x = get("input").set_requires_grad(true);
  Tensor out = run_module(*module, x);
  golden::expect_close(out, ref("output"), c.name + " output");
  out.backward(get("gout"));
  golden::expect_close(x.grad(), ref("grad/input"), c.name + " grad input");
  for (const std::string& n : torch_names) {
    golden::expect_close(module->named_parameters().at(n).grad(), ref("grad/" + n),
                         c.name + " grad " + n);
  }
}

INSTANTIATE_TEST_SUITE_P(Modules, ConvModuleGolden, ::testing::ValuesIn(module_cases()),
                         [](const auto& info) { return info.param.name; });

// --- default initialisation -----------------------------------------------------------------

// Every value in [-bound, bound] and, for tensors of a few hundred values (where U(-bound,
// bound) misses the outer tenth on one side with probability 0.9^n < 1e-20), the extremes
// near both ends.
void expect_uniform(const Tensor& t, double bound, const std::string& what) {
  const auto v = t.to_vector<float>();
  double lo = 0.0, hi = 0.0;
  for (float f : v) {
    ASSERT_LE(std::abs(f), bound * (1 + 1e-6)) << what;
    lo = std::min<double>(lo, f);
    hi = std::max<double>(hi, f);
  }
  if (v.size() < 400) return;
  EXPECT_LT(lo, -0.8 * bound) << what;
  EXPECT_GT(hi, 0.8 * bound) << what;
}

TEST(ConvInit, PyTorchDefaultBoundsFromFanIn) {
  // PyTorch: kaiming_uniform_(w, a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias too;
  // fan_in = weight.size(1) * taps.
  nn::Conv1d c1(nn::Conv1dOptions(6, 32, 5).groups(2));
  expect_uniform(c1.weight, 1 / std::sqrt(3.0 * 5), "Conv1d weight");
  expect_uniform(c1.bias, 1 / std::sqrt(3.0 * 5), "Conv1d bias");
  nn::ConvTranspose1d t1(nn::ConvTranspose1dOptions(32, 16, 4).groups(2));
  EXPECT_EQ(t1.weight.sizes(), (Shape{32, 8, 4}));  // (C_in, C_out/groups, K)
  expect_uniform(t1.weight, 1 / std::sqrt(8.0 * 4), "ConvTranspose1d weight");
  expect_uniform(t1.bias, 1 / std::sqrt(8.0 * 4), "ConvTranspose1d bias");
  nn::Conv2d c2(nn::Conv2dOptions(4, 32, Size2{3, 2}).bias(false));
  EXPECT_EQ(c2.weight.sizes(), (Shape{32, 4, 3, 2}));
  EXPECT_FALSE(c2.bias.defined());
  EXPECT_EQ(c2.named_parameters().size(), 1u);
  expect_uniform(c2.weight, 1 / std::sqrt(4.0 * 6), "Conv2d weight");
  nn::ConvTranspose2d t2(nn::ConvTranspose2dOptions(16, 12, 3).groups(4));
  EXPECT_EQ(t2.weight.sizes(), (Shape{16, 3, 3, 3}));  // (C_in, C_out/groups, KH, KW)
  expect_uniform(t2.weight, 1 / std::sqrt(3.0 * 9), "ConvTranspose2d weight");
  expect_uniform(t2.bias, 1 / std::sqrt(3.0 * 9), "ConvTranspose2d bias");
}

// --- larger shapes, several threads ---------------------------------------------------------

// out[b][o][i][j] = bias[o] + sum over c in o's group, kh, kw of x at the tap times weight,
// in double: the definition of a convolution, sharing no code with im2col.
std::vector<double> direct_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias,
                                  Size2 stride, Size2 pad, Size2 dil, std::int64_t G,
                                  std::int64_t OH, std::int64_t OW) {
  const auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), bv = bias.to_vector<float>();
  const std::int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t O = w.size(0), CG = w.size(1), KH = w.size(2), KW = w.size(3);
  std::vector<double> out(B * O * OH * OW);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t i = 0; i < OH; ++i)
        for (std::int64_t j = 0; j < OW; ++j) {
          double s = bv[o];
          const std::int64_t g = o / (O / G);
          for (std::int64_t cg = 0; cg < CG; ++cg)
            for (std::int64_t kh = 0; kh < KH; ++kh)
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t ih = i * stride[0] - pad[0] + kh * dil[0];
                const std::int64_t iw = j * stride[1] - pad[1] + kw * dil[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const std::int64_t c = g * CG + cg;
                s += static_cast<double>(xv[((b * C + c) * H + ih) * W + iw]) *
                     wv[((o * CG + cg) * KH + kh) * KW + kw];
              }
          out[((b * O + o) * OH + i) * OW + j] = s;
        }
  (void)C;
  return out;
}

TEST(Conv2d, MatchesADirectSumAtALargerShape) {
  nn::Generator gen(7);
  const Tensor x = nn::randn({3, 8, 19, 23}, &gen);
  const Tensor w = nn::randn({12, 4, 3, 5}, &gen);
  const Tensor b = nn::randn({12}, &gen);
  const Size2 stride{2, 1}, pad{1, 2}, dil{2, 1};
  const Tensor out = nn::conv2d(x, w, b, stride, pad, dil, 2);
  const std::int64_t OH = (19 + 2 - 2 * 2 - 1) / 2 + 1, OW = (23 + 4 - 4 - 1) / 1 + 1;
  ASSERT_EQ(out.sizes(), (Shape{3, 12, OH, OW}));
  const auto want = direct_conv2d(x, w, b, stride, pad, dil, 2, OH, OW);
  const auto got = out.to_vector<float>();
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-4 + 1e-4 * std::abs(want[i])) << "element " << i;
  }
}

// conv_transpose1d is the adjoint of conv1d (same weight, same stride/padding/dilation/groups):
// <conv_transpose1d(y, w), x> = <y, conv1d(x, w)> for every x of the matching length.
TEST(ConvTranspose1d, IsTheAdjointOfConv1d) {
  nn::Generator gen(11);
  const std::int64_t B = 2, C_in = 6, C_out = 4, L = 41, K = 5, stride = 3, pad = 2, dil = 2, G = 2;
  const Tensor w = nn::randn({C_out, C_in / G, K}, &gen);  // conv1d: (C_out, C_in/G, K)
  const Tensor x = nn::randn({B, C_in, L}, &gen);
  const Tensor y_shape = nn::conv1d(x, w, Tensor(), stride, pad, dil, G);
  const Tensor y = nn::randn(y_shape.sizes(), &gen);
  // Transposed weight layout (C_in', C_out'/G, K) with C_in' = C_out: the same tensor.
  const std::int64_t L_back = (y.size(2) - 1) * stride - 2 * pad + dil * (K - 1) + 1;
  const std::int64_t out_pad = L - L_back;  // recovers L exactly
  ASSERT_GE(out_pad, 0);
  ASSERT_LT(out_pad, stride);
  const Tensor xt = nn::conv_transpose1d(y, w, Tensor(), stride, pad, out_pad, G, dil);
  ASSERT_EQ(xt.sizes(), x.sizes());
  auto dot = [](const Tensor& a, const Tensor& b) {
    const auto av = a.to_vector<float>(), bv = b.to_vector<float>();
    double s = 0;
    for (std::size_t i = 0; i < av.size(); ++i) s += static_cast<double>(av[i]) * bv[i];
    return s;
  };
  const double lhs = dot(xt, x), rhs = dot(y, y_shape);
  EXPECT_NEAR(lhs, rhs, 1e-4 * (std::abs(lhs) + 1));
}

// Forward and every gradient of `op` on 1 and on 2 threads.
std::vector<std::vector<float>> run_with_threads(int threads, const std::vector<Tensor>& inputs,
                                                 Tensor (*op)(const std::vector<Tensor>&)) {
  test_util::ThreadScope scope(threads);
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) leaves.push_back(t.clone().set_requires_grad(true));
  Tensor out = op(leaves);
  nn::Generator gen(3);
  out.backward(nn::randn(out.sizes(), &gen));
  std::vector<std::vector<float>> result{out.to_vector<float>()};
  for (const Tensor& l : leaves) result.push_back(l.grad().to_vector<float>());
  return result;
}

void expect_thread_independent(const char* what, const std::vector<Tensor>& inputs,
                               Tensor (*op)(const std::vector<Tensor>&)) {
  const auto one = run_with_threads(1, inputs, op), two = run_with_threads(2, inputs, op);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i], two[i]) << what << ": " << (i == 0 ? "output" : "gradient of input ")
                              << (i == 0 ? "" : std::to_string(i - 1))
                              << " differs between 1 and 2 threads";
  }
}

TEST(ConvDeterminism, BitIdenticalOnOneAndTwoThreads) {
  nn::Generator gen(5);
  // Large enough that im2col, col2im and the GEMMs split their work over both threads.
  expect_thread_independent(
      "conv1d",
      {nn::randn({4, 32, 200}, &gen), nn::randn({64, 16, 5}, &gen), nn::randn({64}, &gen)},
      [](const std::vector<Tensor>& in) { return nn::conv1d(in[0], in[1], in[2], 2, 2, 1, 2); });
  expect_thread_independent(
      "conv_transpose1d",
      {nn::randn({4, 64, 100}, &gen), nn::randn({64, 32, 4}, &gen), nn::randn({32}, &gen)},
      [](const std::vector<Tensor>& in) {
        return nn::conv_transpose1d(in[0], in[1], in[2], 2, 1, 0, 1, 1);
      });
  expect_thread_independent(
      "conv2d",
      {nn::randn({4, 16, 32, 32}, &gen), nn::randn({32, 16, 4, 4}, &gen), nn::randn({32}, &gen)},
      [](const std::vector<Tensor>& in) {
        return nn::conv2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {1, 1}, 1);
      });
  expect_thread_independent(
      "conv_transpose2d",
      {nn::randn({4, 32, 16, 16}, &gen), nn::randn({32, 16, 4, 4}, &gen), nn::randn({16}, &gen)},
      [](const std::vector<Tensor>& in) {
        return nn::conv_transpose2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {0, 0}, 1, {1, 1});
      });
}

// --- errors: the argument, what was expected, what was found ---------------------------------

TEST(ConvErrors, NameTheArgumentTheExpectationAndTheFinding) {
  const Tensor x = nn::zeros({2, 3, 10});
  const Tensor w = nn::zeros({4, 3, 3});
  EXPECT_EQ(error_message([&] {
              nn::conv1d(nn::zeros({3, 10}), w);
            }),
            "conv1d: expected input of shape (B,C_in,L), got (3,10)");
  EXPECT_EQ(error_message([&] {
              nn::conv1d(nn::zeros({2, 5, 10}), w);
            }),
            "conv1d: expected input of shape (B,C_in,L) with C_in = 3 (weight "
            "(C_out,C_in/groups,K) (4,3,3), groups 1), got (2,5,10)");
  EXPECT_EQ(error_message([&] { nn::conv1d(x, w, nn::zeros({5})); }),
            "conv1d: expected bias of shape (C_out) = (4), got (5)");
  EXPECT_EQ(error_message([&] {
              nn::conv1d(x, nn::zeros({4, 1, 3}), Tensor(), 1, 0, 1, 2);
            }),
            "conv1d: expected input of shape (B,C_in,L) with C_in = 2 (weight "
            "(C_out,C_in/groups,K) (4,1,3), groups 2), got (2,3,10)");
  EXPECT_EQ(error_message([&] {
              nn::conv1d(x, nn::zeros({4, 3, 13}));
            }),
            "conv1d: expected input (2,3,10) (padding 0) at least as large as the dilated "
            "kernel 13, got an output of size -2");
  EXPECT_EQ(error_message([&] {
              nn::conv_transpose1d(nn::zeros({2, 3, 2}), nn::zeros({3, 2, 3}), Tensor(), 1, 3);
            }),
            "conv_transpose1d: expected an output of size >= 1 from input (2,3,2), dilated "
            "kernel 3, stride 1 and padding 3, got an output of size -2");
  EXPECT_EQ(error_message([&] { nn::conv1d(x, w, Tensor(), 0); }),
            "conv1d: expected stride >= 1, got 0");
  EXPECT_EQ(error_message([&] {
              nn::conv_transpose1d(x, nn::zeros({3, 2, 3}), Tensor(), 2, 0, 2);
            }),
            "conv_transpose1d: expected output_padding smaller than stride 2 or dilation 1, got 2");
  EXPECT_EQ(error_message([&] {
              nn::conv2d(nn::zeros({1, 3, 5, 5}), nn::zeros({2, 3, 3}));
            }),
            "conv2d: expected weight of shape (C_out,C_in/groups,KH,KW), got (2,3,3)");
  EXPECT_EQ(
      error_message([&] {
        nn::conv2d(nn::zeros({1, 3, 5, 5}), nn::zeros({2, 3, 3, 3}), Tensor(), {1, 1}, {0, -1});
      }),
      "conv2d: expected padding >= 0, got (0,-1)");
  EXPECT_EQ(error_message([] { nn::Conv1d(nn::Conv1dOptions(3, 4, 3).groups(2)); }),
            "Conv1d: expected in_channels > 0 and divisible by groups=2, got 3");
}

}  // namespace
