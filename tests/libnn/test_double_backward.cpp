// Double backward (create_graph=true) and nn::grad.
//
//  Gradgradcheck   for every golden case (tests/libnn/golden/ops.safetensors) of an op with a
//                  double backward: with L = sum_j <out_j, gout_j> and v_i random, the
//                  gradient of L2 = sum_i <v_i, dL/dx_i> with respect to every input x_i and
//                  every upstream gradient gout_j, computed by differentiating the recorded
//                  backward, against a fourth-order central difference of L2, where L2 is
//                  computed from the plain (first-order) backward only. Same precision
//                  argument and tolerance as test_gradcheck.cpp: 3e-3 + 1e-2 * |analytic|.
//  Unsupported     every golden case of an op without one: create_graph through it throws
//                  an nn::Error naming the op.
//  Grad*           nn::grad's contract: .grad untouched, unused inputs, non-leaf inputs,
//                  backward(create_graph=true) leaving a .grad with history.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/random.hpp"

namespace {

using nn::Tensor;
using Forward = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// The ops whose every node has a double backward (docs/libnn.md, "Double backward").
const std::set<std::string> kSupported = {"add",
                                          "sub",
                                          "mul",
                                          "div",
                                          "affine",
                                          "neg",
                                          "exp",
                                          "log",
                                          "tanh",
                                          "sigmoid",
                                          "relu",
                                          "leaky_relu",
                                          "sqrt",
                                          "pow",
                                          "clamp",
                                          "matmul",
                                          "bmm",
                                          "linear",
                                          "sum",
                                          "mean",
                                          "max",
                                          "binary_cross_entropy_with_logits",
                                          "gan_discriminator_loss",
                                          "gan_generator_loss",
                                          "feature_matching_loss",
                                          "wasserstein_critic_loss",
                                          "wasserstein_generator_loss",
                                          "layer_norm",
                                          "cat",
                                          "stack",
                                          "slice",
                                          "flip",
                                          "transpose",
                                          "reshape",
                                          "conv1d",
                                          "conv_transpose1d",
                                          "conv2d",
                                          "conv_transpose2d"};

double dot(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<float>();
  const auto vb = b.to_vector<float>();
  double total = 0.0;
  for (std::size_t k = 0; k < va.size(); ++k) total += static_cast<double>(va[k]) * vb[k];
  return total;
}

// The outputs that get an upstream gradient, and those gradients.
void roots_of(const std::vector<Tensor>& outputs, const std::vector<Tensor>& gouts,
              std::vector<Tensor>& roots, std::vector<Tensor>& seeds) {
  for (std::size_t j = 0; j < outputs.size(); ++j) {
    if (j < gouts.size() && gouts[j].defined()) {
      roots.push_back(outputs[j]);
      seeds.push_back(gouts[j]);
    }
  }
}

// L2 = sum_i <v_i, dL/dx_i> by the first-order backward alone (no create_graph).
double first_order_l2(const Forward& forward, const std::vector<Tensor>& inputs,
                      const std::vector<int>& diff, const std::vector<Tensor>& gouts,
                      const std::vector<Tensor>& vs) {
  std::vector<Tensor> leaves, wrt;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].clone();
    if (std::find(diff.begin(), diff.end(), static_cast<int>(i)) != diff.end()) {
      t.set_requires_grad(true);
      wrt.push_back(t);
    }
    leaves.push_back(t);
  }
  std::vector<Tensor> roots, seeds;
  roots_of(forward(leaves), gouts, roots, seeds);
  const std::vector<Tensor> grads =
      nn::grad(roots, wrt, seeds, /*create_graph=*/false, std::nullopt, /*allow_unused=*/true);
  double total = 0.0;
  for (std::size_t k = 0; k < grads.size(); ++k) {
    if (grads[k].defined()) total += dot(grads[k], vs[k]);
  }
  return total;
}

// d L2 / d inputs[i] for i in diff, then d L2 / d gouts[j] for each defined gout, by
// differentiating the recorded backward (create_graph=true); undefined where L2 does not
// depend on it (zero).
std::vector<Tensor> second_order(const std::string& label, const Forward& forward,
                                 const std::vector<Tensor>& inputs, const std::vector<int>& diff,
                                 const std::vector<Tensor>& gouts_in,
                                 const std::vector<Tensor>& vs) {
  std::vector<Tensor> leaves, wrt, gouts;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].clone();
    if (std::find(diff.begin(), diff.end(), static_cast<int>(i)) != diff.end()) {
      t.set_requires_grad(true);
      wrt.push_back(t);
    }
    leaves.push_back(t);
  }
  for (const Tensor& g : gouts_in) {
    gouts.push_back(g.defined() ? g.clone().set_requires_grad(true) : Tensor());
  }
  std::vector<Tensor> roots, seeds;
  roots_of(forward(leaves), gouts, roots, seeds);
  const std::vector<Tensor> grads =
      nn::grad(roots, wrt, seeds, /*create_graph=*/true, std::nullopt, /*allow_unused=*/true);
  Tensor l2;
  for (std::size_t k = 0; k < grads.size(); ++k) {
    if (!grads[k].defined()) continue;
    const Tensor term = nn::sum(nn::mul(grads[k], vs[k]));
    l2 = l2.defined() ? nn::add(l2, term) : term;
  }
  EXPECT_TRUE(l2.defined()) << label << ": no gradient at all";
  if (!l2.defined()) return {};
  EXPECT_TRUE(l2.requires_grad()) << label << ": the gradients have no history";
  if (!l2.requires_grad()) return {};
  std::vector<Tensor> all = wrt;
  all.insert(all.end(), seeds.begin(), seeds.end());
  return nn::grad({l2}, all, {}, /*create_graph=*/false, std::nullopt, /*allow_unused=*/true);
}

// Checks d L2 / d inputs[i] (i in diff) and d L2 / d gouts[j] against finite differences.
void gradgradcheck(const std::string& label, const Forward& forward,
                   const std::vector<Tensor>& inputs, const std::vector<int>& diff,
                   const std::vector<Tensor>& gouts_in, std::uint64_t seed) {
  nn::Generator gen(seed);
  std::vector<Tensor> vs;
  for (int i : diff) vs.push_back(nn::randn(inputs[i].sizes(), &gen));
  const std::vector<Tensor> analytic = second_order(label, forward, inputs, diff, gouts_in, vs);
  ASSERT_FALSE(analytic.empty()) << label;

  // Numeric, by the first-order backward: perturb one element of one tensor at a time.
  const double h = 5e-3;
  auto check = [&](const std::string& what, const Tensor& base_tensor, const Tensor& analytic_t,
                   const std::function<double(const Tensor&)>& l2_at) {
    const auto base = base_tensor.to_vector<float>();
    const std::vector<float> ana = analytic_t.defined() ? analytic_t.to_vector<float>()
                                                        : std::vector<float>(base.size(), 0.0f);
    double worst = 0.0, worst_numeric = 0.0;
    std::size_t worst_k = 0;
    for (std::size_t k = 0; k < base.size(); ++k) {
      auto at = [&](double delta) {
        std::vector<float> v = base;
        v[k] = static_cast<float>(base[k] + delta);
        return l2_at(nn::from_vector(v, base_tensor.sizes()));
      };
      const double h1 = static_cast<float>(base[k] + h) - base[k];
      const double numeric = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h1);
      const double tol = 3e-3 + 1e-2 * std::abs(ana[k]);
      const double fraction = std::abs(numeric - ana[k]) / tol;
      if (!(fraction <= worst)) {
        worst = std::isnan(fraction) ? INFINITY : fraction;
        worst_k = k;
        worst_numeric = numeric;
      }
    }
    EXPECT_LE(worst, 1.0) << label << ", " << what << ": worst error " << worst * 100
                          << "% of the allowed at element " << worst_k << ": analytic "
                          << ana[worst_k] << ", finite difference " << worst_numeric;
  };
  for (std::size_t k = 0; k < diff.size(); ++k) {
    const int i = diff[k];
    check("input " + std::to_string(i), inputs[i], analytic[k], [&](const Tensor& probe) {
      std::vector<Tensor> in = inputs;
      in[i] = probe;
      return first_order_l2(forward, in, diff, gouts_in, vs);
    });
  }
  for (std::size_t j = 0, s = 0; j < gouts_in.size(); ++j) {
    if (!gouts_in[j].defined()) continue;
    check("gout " + std::to_string(j), gouts_in[j], analytic[diff.size() + s++],
          [&](const Tensor& probe) {
            std::vector<Tensor> g = gouts_in;
            g[j] = probe;
            return first_order_l2(forward, inputs, diff, g, vs);
          });
  }
}

struct Loaded {
  std::vector<Tensor> inputs, gouts;
};

Loaded load(const golden::Case& c) {
  const nn::io::StFile& file = golden::ops_file();
  Loaded l;
  for (int i = 0; i < c.inputs; ++i) {
    l.inputs.push_back(golden::to_tensor(golden::tensor(file, c.name + "/in" + std::to_string(i))));
  }
  for (int j = 0; j < c.outputs; ++j) {
    const auto* g = file.find(c.name + "/gout" + std::to_string(j));
    l.gouts.push_back(g ? golden::to_tensor(*g) : Tensor());
  }
  return l;
}

std::vector<golden::Case> cases(bool supported) {
  std::vector<golden::Case> out;
  for (const golden::Case& c : golden::load_cases(golden::ops_file())) {
    if (c.grads.empty()) continue;
    if ((kSupported.count(c.op) != 0) == supported) out.push_back(c);
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<golden::Case>& info) {
  return info.param.name;
}

class Gradgradcheck : public ::testing::TestWithParam<golden::Case> {};

TEST_P(Gradgradcheck, MatchesFiniteDifferencesOfTheGradient) {
  const golden::Case& c = GetParam();
  const Loaded l = load(c);
  gradgradcheck(
      c.name, [&](const std::vector<Tensor>& in) { return golden::run(c.op, c.args, in); },
      l.inputs, c.grads, l.gouts, 1000 + c.name.size());
}

INSTANTIATE_TEST_SUITE_P(Ops, Gradgradcheck, ::testing::ValuesIn(cases(true)), case_name);

class DoubleBackwardUnsupported : public ::testing::TestWithParam<golden::Case> {};

TEST_P(DoubleBackwardUnsupported, ThrowsNamingTheOp) {
  const golden::Case& c = GetParam();
  const Loaded l = load(c);
  std::vector<Tensor> leaves, wrt;
  for (int i = 0; i < c.inputs; ++i) {
    Tensor t = l.inputs[i].clone();
    if (std::find(c.grads.begin(), c.grads.end(), i) != c.grads.end()) {
      t.set_requires_grad(true);
      wrt.push_back(t);
    }
    leaves.push_back(t);
  }
  std::vector<Tensor> roots, seeds;
  roots_of(golden::run(c.op, c.args, leaves), l.gouts, roots, seeds);
  try {
    nn::grad(roots, wrt, seeds, /*create_graph=*/true, std::nullopt, /*allow_unused=*/true);
    ADD_FAILURE() << c.name << ": expected create_graph through " << c.op << " to throw";
  } catch (const nn::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("double backward"), std::string::npos) << what;
    // The node's name: the op's own, or (dropout's mask, the LSTM) the op it is built from.
    EXPECT_NE(what.find("'"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, DoubleBackwardUnsupported, ::testing::ValuesIn(cases(false)),
                         case_name);

// --- against PyTorch (tests/libnn/golden/double_backward.safetensors) -------------------------

const nn::io::StFile& double_backward_file() {
  static const nn::io::StFile file =
      nn::io::read_safetensors(golden::fixture_path("double_backward.safetensors"));
  return file;
}

Tensor fixture(const std::string& name) {
  return golden::to_tensor(golden::tensor(double_backward_file(), name));
}

// Second derivatives in float32 against float64: the first-order tolerance (golden_support's
// expect_close: atol 2e-5, rtol 1e-4) widened tenfold, as the backward's own rounding is now
// differentiated too.
void expect_close_2nd(const Tensor& ours, const std::string& name) {
  const nn::io::StTensor& ref = golden::tensor(double_backward_file(), name);
  const std::vector<double> expected = golden::to_doubles(ref);
  ASSERT_EQ(ours.sizes(), nn::Shape(ref.shape.begin(), ref.shape.end())) << name << ": shape";
  const std::vector<double> got = golden::values_of(ours);
  std::size_t where = 0;
  const double fraction = golden::worst_fraction(got, expected, 2e-4, 1e-3, &where);
  EXPECT_LE(fraction, 1.0) << name << ": worst error is " << fraction * 100
                           << "% of the allowed at element " << where << ": ours " << got[where]
                           << ", PyTorch " << expected[where];
}

// A WGAN-GP critic step as the fixture's case describes it (make_fixtures.py,
// WGAN_GP_CASES): the critic's layers consume the parameters in order.
Tensor run_critic(const test_json::Value& layers, const std::vector<Tensor>& params, Tensor x) {
  std::size_t k = 0;
  for (const auto& layer : layers.array) {
    const std::string kind = layer.array[0].string;
    if (kind == "linear") {
      x = nn::linear(x, params[k], params[k + 1]);
      k += 2;
    } else if (kind == "conv1d") {
      x = nn::conv1d(x, params[k], params[k + 1], layer.array[4].integer(),
                     layer.array[5].integer());
      k += 2;
    } else if (kind == "leaky_relu") {
      x = nn::leaky_relu(x, layer.array[1].num());
    } else if (kind == "tanh") {
      x = nn::tanh(x);
    } else if (kind == "layer_norm") {
      x = nn::layer_norm(x, golden::int_list(layer.array[1]), params[k], params[k + 1]);
      k += 2;
    } else if (kind == "flatten") {
      x = x.reshape({x.size(0), -1});
    } else {
      throw std::runtime_error("unknown critic layer " + kind);
    }
  }
  return x;
}

void check_wgan_gp(const golden::Case& c) {
  const Tensor real = fixture(c.name + "/in0");
  const Tensor fake = fixture(c.name + "/in1");
  const Tensor eps = fixture(c.name + "/in2");
  std::vector<Tensor> params;
  for (int i = 3; i < c.inputs; ++i) {
    params.push_back(fixture(c.name + "/in" + std::to_string(i)).set_requires_grad(true));
  }
  const test_json::Value& layers = c.args["layers"];
  const double lambda = c.args["lambda"].num();
  auto critic = [&](const Tensor& x) { return run_critic(layers, params, x); };
  const Tensor critic_loss = nn::wasserstein_critic_loss(critic(real), critic(fake));
  // x_hat = eps real + (1 - eps) fake, a leaf of its own
  Tensor x_hat = nn::add(nn::mul(eps, real), nn::mul(nn::affine(eps, -1.0, 1.0), fake));
  x_hat.set_requires_grad(true);
  const Tensor g = nn::grad({nn::sum(critic(x_hat))}, {x_hat}, {}, /*create_graph=*/true)[0];
  const Tensor g2 = g.reshape({g.size(0), -1});
  const Tensor norm = nn::sqrt(nn::sum(nn::mul(g2, g2), {1}));
  const Tensor penalty = nn::mean(nn::pow(nn::affine(norm, 1.0, -1.0), 2.0));
  const Tensor loss = nn::add(critic_loss, nn::affine(penalty, lambda, 0.0));
  expect_close_2nd(critic_loss, c.name + "/out0");
  expect_close_2nd(penalty, c.name + "/out1");
  expect_close_2nd(loss, c.name + "/out2");
  const std::vector<Tensor> grads = nn::grad({loss}, params);
  for (std::size_t k = 0; k < params.size(); ++k) {
    expect_close_2nd(grads[k], c.name + "/grad" + std::to_string(3 + k));
  }
}

class DoubleBackwardGolden : public ::testing::TestWithParam<golden::Case> {};

TEST_P(DoubleBackwardGolden, MatchesPyTorch) {
  const golden::Case& c = GetParam();
  if (c.op == "wgan_gp") {
    check_wgan_gp(c);
    return;
  }
  std::vector<Tensor> inputs, gouts, vs;
  for (int i = 0; i < c.inputs; ++i) inputs.push_back(fixture(c.name + "/in" + std::to_string(i)));
  for (int j = 0; j < c.outputs; ++j) {
    const auto* g = double_backward_file().find(c.name + "/gout" + std::to_string(j));
    gouts.push_back(g ? golden::to_tensor(*g) : Tensor());
  }
  for (int i : c.grads) vs.push_back(fixture(c.name + "/v" + std::to_string(i)));
  const std::vector<Tensor> ours = second_order(
      c.name, [&](const std::vector<Tensor>& in) { return golden::run(c.op, c.args, in); }, inputs,
      c.grads, gouts, vs);
  ASSERT_FALSE(ours.empty());
  auto or_zeros = [](const Tensor& t, const Tensor& like) {
    return t.defined() ? t : nn::zeros(like.sizes());
  };
  for (std::size_t k = 0; k < c.grads.size(); ++k) {
    const int i = c.grads[k];
    expect_close_2nd(or_zeros(ours[k], inputs[i]), c.name + "/ggrad" + std::to_string(i));
  }
  for (std::size_t j = 0, s = 0; j < gouts.size(); ++j) {
    if (!gouts[j].defined()) continue;
    expect_close_2nd(or_zeros(ours[c.grads.size() + s++], gouts[j]),
                     c.name + "/ggout" + std::to_string(j));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixture, DoubleBackwardGolden,
                         ::testing::ValuesIn(golden::load_cases(double_backward_file())),
                         case_name);

// Every op with a double backward has golden cases in the fixture.
TEST(DoubleBackwardGolden, EverySupportedOpHasACase) {
  std::set<std::string> covered;
  for (const golden::Case& c : golden::load_cases(double_backward_file())) covered.insert(c.op);
  for (const std::string& op : kSupported) EXPECT_EQ(covered.count(op), 1u) << op;
  EXPECT_EQ(covered.count("wgan_gp"), 1u);
}

TEST(DoubleBackward, UnsupportedErrorNamesTheOp) {
  Tensor x = nn::from_vector({0.5f, -1.0f, 2.0f}, {1, 3}).set_requires_grad(true);
  Tensor y = nn::softmax(x, 1);
  Tensor loss = nn::sum(nn::mul(y, y));
  try {
    nn::grad({loss}, {x}, {}, /*create_graph=*/true);
    FAIL() << "expected a throw";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'softmax'"), std::string::npos) << e.what();
  }
  // Without create_graph the same graph differentiates fine.
  Tensor y2 = nn::softmax(x, 1);
  EXPECT_TRUE(nn::grad({nn::sum(nn::mul(y2, y2))}, {x})[0].defined());
}

// f = sum x^3: df/dx = 3 x^2 (with history), d/dx sum(df/dx) = 6 x.
TEST(DoubleBackward, CubeByHand) {
  Tensor x = nn::from_vector({0.5f, -1.5f, 2.0f}, {3}).set_requires_grad(true);
  Tensor f = nn::sum(nn::mul(nn::mul(x, x), x));
  const std::vector<Tensor> g = nn::grad({f}, {x}, {}, /*create_graph=*/true);
  ASSERT_TRUE(g[0].requires_grad());
  const auto gv = g[0].to_vector<float>();
  EXPECT_FLOAT_EQ(gv[0], 0.75f);
  EXPECT_FLOAT_EQ(gv[1], 6.75f);
  EXPECT_FLOAT_EQ(gv[2], 12.0f);
  const std::vector<Tensor> gg = nn::grad({nn::sum(g[0])}, {x});
  const auto ggv = gg[0].to_vector<float>();
  EXPECT_FLOAT_EQ(ggv[0], 3.0f);
  EXPECT_FLOAT_EQ(ggv[1], -9.0f);
  EXPECT_FLOAT_EQ(ggv[2], 12.0f);
  EXPECT_FALSE(x.grad().defined()) << "grad() must not accumulate into .grad";
}

TEST(Grad, LeavesDotGradUntouchedAndRunsOnlyWhatItNeeds) {
  Tensor a = nn::from_vector({1.0f, 2.0f}, {2}).set_requires_grad(true);
  Tensor b = nn::from_vector({3.0f, 4.0f}, {2}).set_requires_grad(true);
  Tensor out = nn::sum(nn::mul(a, b));
  const std::vector<Tensor> g = nn::grad({out}, {a});
  EXPECT_EQ(g[0].to_vector<float>(), (std::vector<float>{3.0f, 4.0f}));
  EXPECT_FALSE(g[0].requires_grad());
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Grad, UnusedInputThrowsUnlessAllowed) {
  Tensor a = nn::from_vector({1.0f, 2.0f}, {2}).set_requires_grad(true);
  Tensor c = nn::from_vector({5.0f}, {1}).set_requires_grad(true);
  Tensor out = nn::sum(nn::mul(a, a));
  EXPECT_THROW(nn::grad({out}, {a, c}, {}, false, /*retain_graph=*/true), nn::Error);
  const std::vector<Tensor> g = nn::grad({out}, {a, c}, {}, false, std::nullopt, true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
  Tensor no_grad = nn::from_vector({1.0f}, {1});
  EXPECT_THROW(nn::grad({nn::sum(nn::mul(a, a))}, {no_grad}), nn::Error);
}

TEST(Grad, NonLeafInput) {
  Tensor x = nn::from_vector({1.0f, -2.0f, 3.0f}, {3}).set_requires_grad(true);
  Tensor h = nn::mul(x, x);  // non-leaf
  Tensor out = nn::sum(nn::tanh(h));
  const std::vector<Tensor> g = nn::grad({out}, {h});
  const auto gv = g[0].to_vector<float>();
  const auto hv = h.to_vector<float>();
  for (std::size_t k = 0; k < gv.size(); ++k) {
    const double t = std::tanh(static_cast<double>(hv[k]));
    EXPECT_NEAR(gv[k], 1.0 - t * t, 1e-6);
  }
}

TEST(DoubleBackward, BackwardWithCreateGraphLeavesAGradWithHistory) {
  Tensor x = nn::from_vector({0.5f, -1.0f}, {2}).set_requires_grad(true);
  Tensor f = nn::sum(nn::exp(nn::mul(x, x)));  // df/dx = 2 x exp(x^2)
  f.backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
  Tensor gx = x.grad();
  ASSERT_TRUE(gx.requires_grad());
  // d/dx sum(2 x exp(x^2)) = (2 + 4 x^2) exp(x^2)
  const std::vector<Tensor> gg = nn::grad({nn::sum(gx)}, {x});
  const auto xv = x.to_vector<float>();
  const auto ggv = gg[0].to_vector<float>();
  for (std::size_t k = 0; k < xv.size(); ++k) {
    const double v = xv[k];
    EXPECT_NEAR(ggv[k], (2 + 4 * v * v) * std::exp(v * v), 1e-5);
  }
  // x.grad's history refers to x: a reference cycle until .grad is cleared (PyTorch has the
  // same one, and warns); zero_grad() breaks it, so nothing leaks (the ASan job checks).
  x.zero_grad();
}

}  // namespace
