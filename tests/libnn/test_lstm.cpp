// Tests of the LSTM: the fused op lstm_layer (its PyTorch golden cases and finite-difference
// checks run with every other op in test_golden.cpp / test_gradcheck.cpp) and the modules
// LSTM and LSTMCell.
//
// Oracles: PyTorch's nn.LSTM / nn.LSTMCell on the same parameters (tests/libnn/golden/
// lstm.safetensors, made by make_fixtures.py: state-dict names, shapes and order, outputs,
// final states and every gradient); LSTMCell, written with the elementwise ops, against the
// fused layer at T = 1; a whole sequence against the same sequence fed one step at a time.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "golden_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cpu/gemm.hpp"
#include "libnn/modules/lstm.hpp"
#include "libnn/random.hpp"
#include "thread_scope.hpp"

namespace {

using nn::Shape;
using nn::Tensor;

// |got - want| <= atol + rtol * |want| everywhere.
void expect_close(const Tensor& got, const std::vector<double>& want, const std::string& what,
                  double atol = 2e-5, double rtol = 1e-4) {
  const std::vector<float> g = got.to_vector<float>();
  ASSERT_EQ(g.size(), want.size()) << what;
  double worst = 0.0;
  std::size_t where = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double f = std::abs(g[i] - want[i]) / (atol + rtol * std::abs(want[i]));
    if (!(f <= worst)) {
      worst = std::isnan(f) ? INFINITY : f;
      where = i;
    }
  }
  EXPECT_LE(worst, 1.0) << what << ": worst error " << worst * 100 << "% of the allowed at "
                        << where << ": ours " << g[where] << ", reference " << want[where];
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what,
                  double atol = 2e-5, double rtol = 1e-4) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  std::vector<double> w;
  for (float v : want.to_vector<float>()) w.push_back(v);
  expect_close(got, w, what, atol, rtol);
}

void expect_equal(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>()) << what << ": not bit-identical";
}

// --- module golden cases (lstm.safetensors) -------------------------------------------------

const nn::io::StFile& modules_file() {
  static const nn::io::StFile file =
      nn::io::read_safetensors(golden::fixture_path("lstm.safetensors"));
  return file;
}

using golden::ModuleCase;

std::vector<ModuleCase> module_cases() { return golden::module_cases(modules_file()); }

class LstmModuleGolden : public ::testing::TestWithParam<ModuleCase> {};

TEST_P(LstmModuleGolden, MatchesPyTorch) {
  const ModuleCase& c = GetParam();
  const nn::io::StFile& file = modules_file();
  const test_json::Value& kw = c.meta["kwargs"];
  auto get = [&](const std::string& name) { return golden::to_tensor(golden::tensor(file, c.name + "/" + name)); };
  auto ref = [&](const std::string& name) { return golden::to_doubles(golden::tensor(file, c.name + "/" + name)); };
  const bool is_cell = c.meta["module"].string == "LSTMCell";
  const std::int64_t I = kw["input_size"].integer(), H = kw["hidden_size"].integer();
  const bool bias = !kw.has("bias") || kw["bias"].boolean;

  std::shared_ptr<nn::Module> module;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::LSTMCell> cell;
  if (is_cell) {
    module = cell = std::make_shared<nn::LSTMCell>(nn::LSTMCellOptions(I, H).bias(bias));
  } else {
    module = lstm = std::make_shared<nn::LSTM>(
        nn::LSTMOptions(I, H)
            .num_layers(kw.has("num_layers") ? kw["num_layers"].integer() : 1)
            .bias(bias)
            .batch_first(kw.has("batch_first") && kw["batch_first"].boolean)
            .bidirectional(kw.has("bidirectional") && kw["bidirectional"].boolean));
  }

  // PyTorch's parameter names, in its order, with its shapes.
  const nn::NamedTensors params = module->named_parameters();
  std::vector<std::string> names;
  for (const auto& [name, t] : params) names.push_back(name);
  std::vector<std::string> torch_names;
  for (const auto& n : c.meta["params"].array) torch_names.push_back(n.string);
  ASSERT_EQ(names, torch_names);
  nn::StateDict state;
  for (const std::string& n : torch_names) {
    Tensor p = get("param/" + n);
    EXPECT_EQ(params.at(n).sizes(), p.sizes()) << n;
    state.insert(n, p);
  }
  module->load_state_dict(state);

  Tensor input = get("input").set_requires_grad(true);
  std::optional<nn::LSTMState> hx;
  Tensor h0, c0;
  if (c.meta["hx"].boolean) {
    h0 = get("h0").set_requires_grad(true);
    c0 = get("c0").set_requires_grad(true);
    hx = nn::LSTMState{h0, c0};
  }
  std::vector<Tensor> outs;
  if (is_cell) {
    auto [h, cc] = cell->forward(input, hx);
    outs = {h, cc};
  } else {
    auto [output, state_n] = lstm->forward(input, hx);
    outs = {output, std::get<0>(state_n), std::get<1>(state_n)};
  }
  std::vector<Tensor> gouts;
  std::size_t j = 0;
  for (const auto& name : c.meta["outputs"].array) {
    expect_close(outs[j], ref("out/" + name.string), c.name + " " + name.string);
    gouts.push_back(get("gout/" + name.string));
    ++j;
  }
  nn::backward(outs, gouts);
  expect_close(input.grad(), ref("grad/input"), c.name + " grad input");
  if (hx) {
    expect_close(h0.grad(), ref("grad/h0"), c.name + " grad h0");
    expect_close(c0.grad(), ref("grad/c0"), c.name + " grad c0");
  }
  for (const std::string& n : torch_names) {
    ASSERT_TRUE(params.at(n).grad().defined()) << n;
    expect_close(params.at(n).grad(), ref("grad/param/" + n), c.name + " grad " + n);
  }
}

std::string module_case_name(const ::testing::TestParamInfo<ModuleCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Modules, LstmModuleGolden, ::testing::ValuesIn(module_cases()),
                         module_case_name);

// --- LSTM against itself and its cell --------------------------------------------------------

// Random (T,B,I) data and parameters drawn from one seeded generator.
struct LayerData {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh;
  LayerData(std::int64_t T, std::int64_t B, std::int64_t I, std::int64_t H, std::uint64_t seed) {
    nn::Generator gen(seed);
    x = nn::randn({T, B, I}, &gen);
    h0 = nn::randn({B, H}, &gen).mul_(0.5);
    c0 = nn::randn({B, H}, &gen).mul_(0.5);
    w_ih = nn::rand({4 * H, I}, &gen).add_(nn::full({4 * H, I}, -0.5)).mul_(1.2);
    w_hh = nn::rand({4 * H, H}, &gen).add_(nn::full({4 * H, H}, -0.5)).mul_(1.2);
    b_ih = nn::randn({4 * H}, &gen).mul_(0.3);
    b_hh = nn::randn({4 * H}, &gen).mul_(0.3);
  }
  std::vector<Tensor> leaves() const { return {x, h0, c0, w_ih, w_hh, b_ih, b_hh}; }
};

std::vector<Tensor> fresh_leaves(const LayerData& d) {
  std::vector<Tensor> out;
  for (const Tensor& t : d.leaves()) out.push_back(t.clone().set_requires_grad(true));
  return out;
}

TEST(LstmCell, MatchesFusedLayerAtOneStep) {
  const std::int64_t B = 3, I = 7, H = 5;
  nn::Generator gen(11);
  nn::LSTMCell cell(nn::LSTMCellOptions(I, H).generator(&gen));
  const LayerData d(1, B, I, H, 12);
  Tensor x = d.x.squeeze(0).clone().set_requires_grad(true);
  Tensor h0 = d.h0.clone().set_requires_grad(true);
  Tensor c0 = d.c0.clone().set_requires_grad(true);
  auto [h1, c1] = cell.forward(x, nn::LSTMState{h0, c0});

  std::vector<Tensor> v = fresh_leaves(d);
  {  // the same parameters: the cell's own
    nn::NoGradGuard no_grad;
    v[3].copy_(cell.weight_ih);
    v[4].copy_(cell.weight_hh);
    v[5].copy_(cell.bias_ih);
    v[6].copy_(cell.bias_hh);
  }
  const nn::LSTMLayerResult r = nn::lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
  expect_close(r.h, h1, "h");
  expect_close(r.c, c1, "c");
  expect_close(r.output.squeeze(0), h1, "output");

  nn::Generator g2(13);
  const Tensor gh = nn::randn({B, H}, &g2), gc = nn::randn({B, H}, &g2);
  nn::backward({h1, c1}, {gh, gc});
  nn::backward({r.h, r.c}, {gh, gc});
  expect_close(v[0].grad().squeeze(0), x.grad(), "dx");
  expect_close(v[1].grad(), h0.grad(), "dh0");
  expect_close(v[2].grad(), c0.grad(), "dc0");
  expect_close(v[3].grad(), cell.weight_ih.grad(), "dw_ih");
  expect_close(v[4].grad(), cell.weight_hh.grad(), "dw_hh");
  expect_close(v[5].grad(), cell.bias_ih.grad(), "db_ih");
  expect_close(v[6].grad(), cell.bias_hh.grad(), "db_hh");
}

// The sequence in one call, and the same sequence one step at a time carrying the state (how
// generation runs): the same outputs and final state.
TEST(LstmLayer, WholeSequenceEqualsStepByStep) {
  for (std::int64_t B : {1, 4, 20}) {  // matrix-vector steps up to 4, GEMM steps above
    const std::int64_t T = 6, I = 24, H = 40;
    const LayerData d(T, B, I, H, 21 + static_cast<std::uint64_t>(B));
    nn::NoGradGuard no_grad;
    const nn::LSTMLayerResult whole = nn::lstm_layer(d.x, d.h0, d.c0, d.w_ih, d.w_hh, d.b_ih, d.b_hh);
    Tensor h = d.h0, c = d.c0;
    for (std::int64_t t = 0; t < T; ++t) {
      const nn::LSTMLayerResult step =
          nn::lstm_layer(d.x.slice(0, t, t + 1), h, c, d.w_ih, d.w_hh, d.b_ih, d.b_hh);
      expect_close(step.output.squeeze(0), whole.output.slice(0, t, t + 1).squeeze(0),
                   "B=" + std::to_string(B) + " step " + std::to_string(t), 1e-6, 1e-5);
      h = step.h;
      c = step.c;
    }
    expect_close(h, whole.h, "h_n", 1e-6, 1e-5);
    expect_close(c, whole.c, "c_n", 1e-6, 1e-5);
  }
}

// Forward and backward give the same bits with 1 and 2 threads (GEMMs split no sums, the
// elementwise kernels own their rows, the bias gradient sums each column in row order).
TEST(LstmLayer, DeterministicAcrossThreadCounts) {
  struct Size { std::int64_t T, B, I, H; };
  // The GEMM step path, then the matrix-vector one (one fused step, and several), each large
  // enough to run on 2 threads.
  for (const Size z : {Size{7, 33, 48, 64}, Size{1, 2, 256, 256}, Size{3, 1, 200, 256}}) {
    const LayerData d(z.T, z.B, z.I, z.H, 31);
    nn::Generator gen(32);
    const Tensor gy = nn::randn({z.T, z.B, z.H}, &gen), gh = nn::randn({z.B, z.H}, &gen),
                 gc = nn::randn({z.B, z.H}, &gen);
    auto run = [&](int threads) {
      test_util::ThreadScope scope(threads);
      std::vector<Tensor> v = fresh_leaves(d);
      nn::LSTMLayerResult r = nn::lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
      nn::backward({r.output, r.h, r.c}, {gy, gh, gc});
      std::vector<Tensor> out{r.output, r.h, r.c};
      for (const Tensor& t : v) out.push_back(t.grad());
      return out;
    };
    const std::vector<Tensor> one = run(1), two = run(2);
    for (std::size_t i = 0; i < one.size(); ++i) {
      expect_equal(one[i], two[i], "B=" + std::to_string(z.B) + " tensor " + std::to_string(i));
    }
  }
}

TEST(LstmLayer, SavesNothingWithoutGrad) {
  const LayerData d(3, 2, 4, 5, 41);
  std::vector<Tensor> v = fresh_leaves(d);
  {
    nn::NoGradGuard no_grad;
    nn::LSTMLayerResult r = nn::lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    EXPECT_FALSE(r.output.requires_grad());
    EXPECT_EQ(r.output.grad_fn(), nullptr);
  }
  nn::LSTMLayerResult r = nn::lstm_layer(d.x, d.h0, d.c0, d.w_ih, d.w_hh, d.b_ih, d.b_hh);
  EXPECT_FALSE(r.h.requires_grad());
  nn::LSTMLayerResult g = nn::lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
  ASSERT_NE(g.output.grad_fn(), nullptr);
  EXPECT_EQ(g.output.grad_fn()->name(), "lstm_layer");
  expect_equal(g.output, r.output, "output with and without grad");
}

// Only some outputs used: the others get zero gradients (h_n alone, the usual classifier).
TEST(LstmLayer, GradientFromFinalStateOnly) {
  const LayerData d(4, 2, 3, 4, 51);
  std::vector<Tensor> a = fresh_leaves(d), b = fresh_leaves(d);
  nn::Generator gen(52);
  const Tensor gh = nn::randn({2, 4}, &gen);
  nn::LSTMLayerResult ra = nn::lstm_layer(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  nn::backward({ra.h}, {gh});
  nn::LSTMLayerResult rb = nn::lstm_layer(b[0], b[1], b[2], b[3], b[4], b[5], b[6]);
  // h_n is the last step of the output: seeding the output's last step is the same.
  Tensor gy = nn::zeros({4, 2, 4});
  gy.slice(0, 3, 4).copy_(gh.unsqueeze(0));
  nn::backward({rb.output}, {gy});
  for (std::size_t i = 0; i < a.size(); ++i) {
    expect_close(a[i].grad(), b[i].grad(), "input " + std::to_string(i), 1e-6, 1e-5);
  }
}

// Every kernel set (AVX-512, AVX2, portable: different register blocks, so different
// panel widths for the gate-interleaved packing) against LSTMCell unrolled over the steps,
// an independent implementation made of the elementwise ops, at both step paths. H = 400
// spans several K blocks of the step products (forward K = H, backward K = 4H), which the
// small golden cases do not.
TEST(LstmLayer, EveryInstructionSetMatchesTheUnrolledCell) {
  using nn::cpu::GemmIsa;
  struct Size { std::int64_t T, B, I, H; };
  for (const Size z : {Size{5, 2, 12, 20}, Size{5, 20, 12, 20}, Size{3, 6, 16, 400},
                       Size{3, 2, 16, 400}}) {
    const std::int64_t T = z.T, B = z.B, I = z.I, H = z.H;
    nn::Generator gen(91);
    nn::LSTMCell cell(nn::LSTMCellOptions(I, H).generator(&gen));
    const LayerData d(T, B, I, H, 92);
    const Tensor gy = nn::randn({T, B, H}, &gen), gc = nn::randn({B, H}, &gen);

    // Reference: the cell, step by step; the fused layer gets the cell's parameters.
    std::vector<Tensor> ref = fresh_leaves(d);
    {
      nn::NoGradGuard no_grad;
      ref[3].copy_(cell.weight_ih);
      ref[4].copy_(cell.weight_hh);
      ref[5].copy_(cell.bias_ih);
      ref[6].copy_(cell.bias_hh);
    }
    nn::LSTMState state{ref[1], ref[2]};
    std::vector<Tensor> hs;
    for (std::int64_t t = 0; t < T; ++t) {
      state = cell.forward(ref[0].slice(0, t, t + 1).squeeze(0), state);
      hs.push_back(std::get<0>(state));
    }
    const Tensor y_ref = nn::stack(hs, 0);
    nn::backward({y_ref, std::get<1>(state)}, {gy, gc});
    const std::vector<Tensor> ref_grads{ref[0].grad(), ref[1].grad(), ref[2].grad(),
                                        cell.weight_ih.grad(), cell.weight_hh.grad(),
                                        cell.bias_ih.grad(), cell.bias_hh.grad()};

    for (GemmIsa isa : {GemmIsa::Avx512, GemmIsa::Avx2, GemmIsa::Generic}) {
      if (!nn::cpu::gemm_isa_available(isa)) continue;
      nn::cpu::set_gemm_isa(isa);
      const std::string what = std::string(nn::cpu::gemm_isa_name(isa)) + " B=" +
                               std::to_string(B) + " H=" + std::to_string(H);
      std::vector<Tensor> v = fresh_leaves(d);
      {
        nn::NoGradGuard no_grad;
        for (int k = 3; k < 7; ++k) v[k].copy_(ref[k]);
      }
      const nn::LSTMLayerResult r = nn::lstm_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
      nn::backward({r.output, r.c}, {gy, gc});
      nn::cpu::set_gemm_isa(GemmIsa::Auto);
      expect_close(r.output, y_ref, what + " output");
      expect_close(r.c, std::get<1>(state), what + " c_n");
      for (std::size_t k = 0; k < v.size(); ++k) {
        expect_close(v[k].grad(), ref_grads[k], what + " grad " + std::to_string(k));
      }
    }
  }
}

// --- the module ---------------------------------------------------------------------------

TEST(LstmModule, ParametersAsPyTorch) {
  // torch.nn.LSTM(3, 5, num_layers=2): [(n, tuple(p.shape)) for n, p in m.named_parameters()]
  nn::LSTM lstm(nn::LSTMOptions(3, 5).num_layers(2));
  std::vector<std::pair<std::string, Shape>> got;
  for (const auto& [name, t] : lstm.named_parameters()) got.emplace_back(name, t.sizes());
  const std::vector<std::pair<std::string, Shape>> want = {
      {"weight_ih_l0", {20, 3}}, {"weight_hh_l0", {20, 5}}, {"bias_ih_l0", {20}},
      {"bias_hh_l0", {20}},      {"weight_ih_l1", {20, 5}}, {"weight_hh_l1", {20, 5}},
      {"bias_ih_l1", {20}},      {"bias_hh_l1", {20}}};
  EXPECT_EQ(got, want);
  nn::LSTM nobias(nn::LSTMOptions(3, 5).bias(false));
  EXPECT_EQ(nobias.named_parameters().keys(),
            (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"}));
  EXPECT_EQ(lstm.str(), "LSTM(3, 5, num_layers=2)");
  // Initialization: U(-1/sqrt(H), 1/sqrt(H)) for every parameter.
  nn::LSTM big(nn::LSTMOptions(64, 100));
  for (const auto& [name, t] : big.named_parameters()) {
    double lo = 1, hi = -1;
    for (float v : t.to_vector<float>()) {
      lo = std::min<double>(lo, v);
      hi = std::max<double>(hi, v);
    }
    EXPECT_GE(lo, -0.1) << name;
    EXPECT_LE(hi, 0.1) << name;
    EXPECT_LT(lo, -0.09) << name;
    EXPECT_GT(hi, 0.09) << name;
  }
}

TEST(LstmModule, BatchFirstIsTheTransposedLayout) {
  nn::Generator g1(61), g2(61), data(62);
  nn::LSTM tb(nn::LSTMOptions(4, 6).num_layers(2).generator(&g1));
  nn::LSTM bt(nn::LSTMOptions(4, 6).num_layers(2).batch_first(true).generator(&g2));
  const Tensor x = nn::randn({5, 3, 4}, &data);
  auto [y1, s1] = tb.forward(x);
  auto [y2, s2] = bt.forward(x.transpose(0, 1));
  expect_equal(y2.transpose(0, 1), y1, "output");
  expect_equal(std::get<0>(s2), std::get<0>(s1), "h_n");
  expect_equal(std::get<1>(s2), std::get<1>(s1), "c_n");
}

TEST(LstmModule, DropoutBetweenLayersIsSeeded) {
  auto run = [](std::uint64_t seed, bool training) {
    nn::Generator gen(seed);
    nn::LSTM lstm(nn::LSTMOptions(4, 8).num_layers(3).dropout(0.5).generator(&gen));
    lstm.train(training);
    nn::Generator data(71);
    const Tensor x = nn::randn({6, 2, 4}, &data);
    return std::get<0>(lstm.forward(x));
  };
  expect_equal(run(5, true), run(5, true), "same seed");
  EXPECT_NE(run(5, true).to_vector<float>(), run(5, false).to_vector<float>())
      << "dropout did nothing in training mode";
  // Evaluation mode: no dropout, and layers chain through lstm_layer exactly.
  nn::Generator gen(5);
  nn::LSTM lstm(nn::LSTMOptions(4, 8).num_layers(3).dropout(0.5).generator(&gen));
  lstm.eval();
  nn::Generator data(71);
  Tensor x = nn::randn({6, 2, 4}, &data);
  const Tensor y = std::get<0>(lstm.forward(x));
  for (int k = 0; k < 3; ++k) {
    x = nn::lstm_layer(x, Tensor(), Tensor(), lstm.weight_ih[k], lstm.weight_hh[k],
                       lstm.bias_ih[k], lstm.bias_hh[k])
            .output;
  }
  expect_equal(y, x, "eval output");
  expect_equal(y, run(5, false), "eval output of a fresh module with the same seed");
}

// Generation: one step per call with the state carried equals the whole sequence.
TEST(LstmModule, StepByStepStateCarry) {
  nn::Generator gen(81), data(82);
  nn::LSTM lstm(nn::LSTMOptions(5, 7).num_layers(3).generator(&gen));
  const Tensor x = nn::randn({4, 1, 5}, &data);
  nn::NoGradGuard no_grad;
  auto [y, state] = lstm.forward(x);
  std::optional<nn::LSTMState> s;
  for (std::int64_t t = 0; t < 4; ++t) {
    auto [yt, st] = lstm.forward(x.slice(0, t, t + 1), s);
    expect_close(yt, y.slice(0, t, t + 1), "step " + std::to_string(t), 1e-6, 1e-5);
    s = st;
  }
  expect_close(std::get<0>(*s), std::get<0>(state), "h_n", 1e-6, 1e-5);
  expect_close(std::get<1>(*s), std::get<1>(state), "c_n", 1e-6, 1e-5);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nn::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(LstmModule, ClearErrors) {
  nn::LSTM lstm(nn::LSTMOptions(128, 16).num_layers(2));
  EXPECT_EQ(error_of([&] { lstm.forward(nn::zeros({5, 3, 64})); }),
            "LSTM: expected input of shape (T,B,128), got (5,3,64)");
  nn::LSTM bf(nn::LSTMOptions(128, 16).batch_first(true));
  EXPECT_EQ(error_of([&] { bf.forward(nn::zeros({3, 64})); }),
            "LSTM: expected input of shape (B,T,128), got (3,64)");
  EXPECT_EQ(error_of([&] {
              lstm.forward(nn::zeros({5, 3, 128}), nn::LSTMState{nn::zeros({1, 3, 16}),
                                                                 nn::zeros({2, 3, 16})});
            }),
            "LSTM: expected h0 of shape (num_layers,B,H) = (2,3,16), got (1,3,16)");
  nn::LSTMCell cell(10, 4);
  EXPECT_EQ(error_of([&] { cell.forward(nn::zeros({2, 9})); }),
            "LSTMCell: expected input of shape (B,10), got (2,9)");
  EXPECT_EQ(error_of([&] {
              nn::lstm_layer(nn::zeros({2, 3, 4}), Tensor(), Tensor(), nn::zeros({20, 4}),
                             nn::zeros({20, 6}), Tensor(), Tensor());
            }),
            "lstm_layer: expected w_hh of shape (4H,H) with H >= 1, got (20,6)");
  EXPECT_EQ(error_of([&] {
              nn::lstm_layer(nn::zeros({2, 3, 4}), Tensor(), Tensor(), nn::zeros({20, 3}),
                             nn::zeros({20, 5}), Tensor(), Tensor());
            }),
            "lstm_layer: expected w_ih of shape (4H,I) = (20,4), got (20,3)");
  EXPECT_EQ(error_of([&] {
              nn::lstm_layer(nn::zeros({2, 3, 4}), nn::zeros({2, 5}), Tensor(),
                             nn::zeros({20, 4}), nn::zeros({20, 5}), Tensor(), Tensor());
            }),
            "lstm_layer: expected h0 of shape (B,H) = (3,5), got (2,5)");
  EXPECT_EQ(error_of([&] {
              nn::lstm_layer(nn::zeros({0, 3, 4}), Tensor(), Tensor(), nn::zeros({20, 4}),
                             nn::zeros({20, 5}), Tensor(), Tensor());
            }),
            "lstm_layer: expected x of shape (T,B,I) with T >= 1, got (0,3,4)");
}

// --- bidirectional LSTM ------------------------------------------------------------------------
// (Its PyTorch golden cases, from PyTorch-initialised weights, are the bilstm_* cases of
// LstmModuleGolden above.)

// PyTorch's [n for n, _ in torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
// .named_parameters()], and the shapes: layer 1 reads both directions (2H inputs).
TEST(BidirectionalLstm, ParametersAsPyTorch) {
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true));
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  for (const auto& [name, t] : lstm.named_parameters()) {
    names.push_back(name);
    shapes.push_back(t.sizes());
  }
  const std::vector<std::string> torch_names{
      "weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_ih_l1",         "weight_hh_l1",         "bias_ih_l1",         "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  EXPECT_EQ(names, torch_names);
  const std::vector<Shape> torch_shapes{{16, 3}, {16, 4}, {16}, {16}, {16, 3}, {16, 4}, {16}, {16},
                                        {16, 8}, {16, 4}, {16}, {16}, {16, 8}, {16, 4}, {16}, {16}};
  EXPECT_EQ(shapes, torch_shapes);
  EXPECT_EQ(lstm.extra_repr(), "3, 4, num_layers=2, bidirectional=true");
  nn::LSTM nobias(nn::LSTMOptions(3, 4).bias(false).bidirectional(true));
  names.clear();
  for (const auto& [name, t] : nobias.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse",
                                             "weight_hh_l0_reverse"}));
}

// The reverse direction is the forward op run on the input reversed in time, reversed back;
// the output is [forward, reverse] and the state layer 0 forward, layer 0 reverse.
TEST(BidirectionalLstm, ReverseIsTheLayerOnTheFlippedSequence) {
  nn::Generator gen(91), data(92);
  nn::LSTM lstm(nn::LSTMOptions(3, 5).bidirectional(true).generator(&gen));
  const Tensor x = nn::randn({6, 2, 3}, &data);
  const Tensor h0 = nn::randn({2, 2, 5}, &data), c0 = nn::randn({2, 2, 5}, &data);
  nn::NoGradGuard no_grad;
  auto [y, state] = lstm.forward(x, nn::LSTMState{h0, c0});
  ASSERT_EQ(y.sizes(), (Shape{6, 2, 10}));
  ASSERT_EQ(std::get<0>(state).sizes(), (Shape{2, 2, 5}));
  auto state_of = [](const Tensor& s, std::int64_t j) { return s.slice(0, j, j + 1).squeeze(0); };
  const nn::LSTMLayerResult f =
      nn::lstm_layer(x, state_of(h0, 0), state_of(c0, 0), lstm.weight_ih[0], lstm.weight_hh[0],
                     lstm.bias_ih[0], lstm.bias_hh[0]);
  const nn::LSTMLayerResult r =
      nn::lstm_layer(nn::flip(x, 0), state_of(h0, 1), state_of(c0, 1), lstm.weight_ih[1],
                     lstm.weight_hh[1], lstm.bias_ih[1], lstm.bias_hh[1]);
  expect_equal(y.slice(2, 0, 5), f.output, "forward half");
  expect_equal(y.slice(2, 5, 10), nn::flip(r.output, 0), "reverse half");
  expect_equal(state_of(std::get<0>(state), 0), f.h, "h_n forward");
  expect_equal(state_of(std::get<0>(state), 1), r.h, "h_n reverse");
  expect_equal(state_of(std::get<1>(state), 0), f.c, "c_n forward");
  expect_equal(state_of(std::get<1>(state), 1), r.c, "c_n reverse");
}

// Finite differences of L = <y, gy> + <h_n, gh> + <c_n, gc> against the backward, for every
// element of the input, the initial state and all sixteen parameters of a 2-layer module.
TEST(BidirectionalLstm, GradientsMatchFiniteDifferences) {
  nn::Generator gen(93), data(94);
  nn::LSTM lstm(nn::LSTMOptions(2, 2).num_layers(2).bidirectional(true).generator(&gen));
  const Tensor x = nn::randn({3, 2, 2}, &data);
  const Tensor h0 = nn::randn({4, 2, 2}, &data).mul_(0.5),
               c0 = nn::randn({4, 2, 2}, &data).mul_(0.5);
  const Tensor gy = nn::randn({3, 2, 4}, &data), gh = nn::randn({4, 2, 2}, &data),
               gc = nn::randn({4, 2, 2}, &data);
  auto dot = [](const Tensor& a, const Tensor& b) {
    const auto u = a.to_vector<float>(), v = b.to_vector<float>();
    double s = 0.0;
    for (std::size_t k = 0; k < u.size(); ++k) s += static_cast<double>(u[k]) * v[k];
    return s;
  };
  std::vector<Tensor> leaves{x.clone(), h0.clone(), c0.clone()};
  std::vector<std::string> names{"input", "h0", "c0"};
  for (const auto& [name, p] : lstm.named_parameters()) {
    leaves.push_back(p);
    names.push_back(name);
  }
  for (Tensor& t : leaves) t.set_requires_grad(true);
  auto objective = [&] {
    auto [y, s] = lstm.forward(leaves[0], nn::LSTMState{leaves[1], leaves[2]});
    return std::make_tuple(y, std::get<0>(s), std::get<1>(s));
  };
  {
    auto [y, h, c] = objective();
    nn::backward({y, h, c}, {gy, gh, gc});
  }
  nn::NoGradGuard no_grad;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    ASSERT_TRUE(leaves[i].grad().defined()) << names[i];
    const auto analytic = leaves[i].grad().to_vector<float>();
    const auto base = leaves[i].to_vector<float>();
    float* p = leaves[i].data_ptr<float>();
    double worst = 0.0;
    for (std::size_t k = 0; k < base.size(); ++k) {
      const double h = 5e-3;
      auto at = [&](double delta) {
        p[k] = static_cast<float>(base[k] + delta);
        auto [y, hn, cn] = objective();
        p[k] = base[k];
        return dot(y, gy) + dot(hn, gh) + dot(cn, gc);
      };
      const double h1 = static_cast<float>(base[k] + h) - base[k];
      const double numeric = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h1);
      worst =
          std::max(worst, std::abs(numeric - analytic[k]) / (3e-3 + 1e-2 * std::abs(analytic[k])));
    }
    EXPECT_LE(worst, 1.0) << names[i] << ": worst error " << worst * 100 << "% of the allowed";
  }
}

// The same bits on 1 and 2 threads: output, final state and every gradient, at a size large
// enough for the kernels to split their work.
TEST(BidirectionalLstm, DeterministicAcrossThreadCounts) {
  nn::Generator data(95);
  const Tensor x = nn::randn({5, 33, 48}, &data);
  const Tensor h0 = nn::randn({4, 33, 64}, &data), c0 = nn::randn({4, 33, 64}, &data);
  const Tensor gy = nn::randn({5, 33, 128}, &data), gh = nn::randn({4, 33, 64}, &data),
               gc = nn::randn({4, 33, 64}, &data);
  auto run = [&](int threads) {
    test_util::ThreadScope scope(threads);
    nn::Generator gen(96);
    nn::LSTM lstm(nn::LSTMOptions(48, 64).num_layers(2).bidirectional(true).generator(&gen));
    std::vector<Tensor> leaves{x.clone().set_requires_grad(true),
                               h0.clone().set_requires_grad(true),
                               c0.clone().set_requires_grad(true)};
    auto [y, s] = lstm.forward(leaves[0], nn::LSTMState{leaves[1], leaves[2]});
    nn::backward({y, std::get<0>(s), std::get<1>(s)}, {gy, gh, gc});
    std::vector<Tensor> out{y, std::get<0>(s), std::get<1>(s)};
    for (const Tensor& t : leaves) out.push_back(t.grad());
    for (const auto& [name, p] : lstm.named_parameters()) out.push_back(p.grad());
    return out;
  };
  const std::vector<Tensor> one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i)
    expect_equal(one[i], two[i], "tensor " + std::to_string(i));
}

// Dropout acts between layers (on the concatenated [forward, reverse] output), in training
// mode only, drawn from the module's generator.
TEST(BidirectionalLstm, DropoutBetweenLayers) {
  nn::Generator data(97);
  const Tensor x = nn::randn({4, 2, 3}, &data);
  auto run = [&](bool training, double p) {
    nn::Generator gen(98);
    nn::LSTM lstm(
        nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true).dropout(p).generator(&gen));
    lstm.train(training);
    return std::get<0>(lstm.forward(x));
  };
  expect_equal(run(false, 0.5), run(false, 0.0), "eval: no dropout");
  expect_equal(run(true, 0.5), run(true, 0.5), "training: seeded");
  EXPECT_NE(run(true, 0.5).to_vector<float>(), run(true, 0.0).to_vector<float>());
}

TEST(BidirectionalLstm, ClearErrors) {
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true));
  const std::string e = error_of([&] {
    lstm.forward(nn::zeros({5, 2, 3}), nn::LSTMState{nn::zeros({2, 2, 4}), nn::zeros({2, 2, 4})});
  });
  EXPECT_NE(e.find("(num_layers*2,B,H) = (4,2,4), got (2,2,4)"), std::string::npos) << e;
}

}  // namespace
