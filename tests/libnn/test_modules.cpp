// Tests of the module system (libnn/module.hpp, libnn/modules/*, libnn/init.hpp).
//
// Names, shapes and order of parameters, buffers and state-dict entries are compared with
// PyTorch's (1.13): each expected literal comes from the one-line /usr/bin/python3 command in
// the comment above it. Initializations are checked by their bounds and statistics against
// PyTorch's formulas; train()/eval() by the behavior of Dropout and BatchNorm1d (BatchNorm1d
// values against PyTorch too); state_dict by round trips and each way a load can fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libnn/libnn.hpp"

namespace {

using nn::Shape;
using nn::Tensor;

using NamesAndShapes = std::vector<std::pair<std::string, Shape>>;

NamesAndShapes names_and_shapes(const nn::NamedTensors& tensors) {
  NamesAndShapes out;
  for (const auto& [name, t] : tensors) out.emplace_back(name, t.sizes());
  return out;
}

std::vector<std::string> child_names(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, child] : m.named_children()) out.push_back(name);
  return out;
}

double mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}

double std_of(const std::vector<float>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

void expect_near_vectors(const std::vector<float>& got, const std::vector<float>& want,
                         double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// The nested model of the tests below, the same as this PyTorch one:
//   class Encoder(nn.Module): fc1 = Linear(8, 16); norm = LayerNorm(16); fc2 = Linear(16, 4)
//   class Net(nn.Module): embed = Embedding(10, 8); encoder = Encoder(); bn = BatchNorm1d(4);
//                         head = Sequential(Linear(4, 4), Tanh(), Linear(4, 2))
struct Encoder : nn::Module {
  Encoder() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(8, 16));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({16})));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 4));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(norm->forward(fc1->forward(x)).relu()); }
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Linear> fc2;
};

struct Net : nn::Module {
  Net() {
    embed = register_module("embed", std::make_shared<nn::Embedding>(10, 8));
    encoder = register_module("encoder", std::make_shared<Encoder>());
    bn = register_module("bn", std::make_shared<nn::BatchNorm1d>(4));
    head = register_module("head", std::make_shared<nn::Sequential>(
                                        std::make_shared<nn::Linear>(4, 4),
                                        std::make_shared<nn::Tanh>(),
                                        std::make_shared<nn::Linear>(4, 2)));
  }
  // tokens (B) int64 -> logits (B,2)
  Tensor forward(const Tensor& tokens) {
    return head->forward(bn->forward(encoder->forward(embed->forward(tokens))));
  }
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<nn::BatchNorm1d> bn;
  std::shared_ptr<nn::Sequential> head;
};

// --- names, shapes and order, against PyTorch ------------------------------------------------

TEST(Modules, LinearNamesAndShapes) {
  // python3 -c "import torch.nn as nn; print([(n,tuple(t.shape)) for n,t in nn.Linear(3,2).named_parameters()])"
  const NamesAndShapes expected = {{"weight", {2, 3}}, {"bias", {2}}};
  nn::Linear linear(3, 2);
  EXPECT_EQ(names_and_shapes(linear.named_parameters()), expected);
  EXPECT_EQ(names_and_shapes(linear.state_dict()), expected);
  for (const Tensor& p : linear.parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(linear.parameters()[0].is_same(linear.weight));

  // python3 -c "import torch.nn as nn; print([(n,tuple(t.shape)) for n,t in nn.Linear(3,2,bias=False).state_dict().items()])"
  const NamesAndShapes expected_no_bias = {{"weight", {2, 3}}};
  nn::Linear no_bias(nn::LinearOptions(3, 2).bias(false));
  EXPECT_EQ(names_and_shapes(no_bias.state_dict()), expected_no_bias);
  EXPECT_FALSE(no_bias.bias.defined());
}

TEST(Modules, EmbeddingNamesAndShapes) {
  // python3 -c "import torch.nn as nn; print([(n,tuple(t.shape)) for n,t in nn.Embedding(10,4).state_dict().items()])"
  const NamesAndShapes expected = {{"weight", {10, 4}}};
  nn::Embedding embedding(10, 4);
  EXPECT_EQ(names_and_shapes(embedding.state_dict()), expected);
  EXPECT_TRUE(embedding.weight.requires_grad());
}

TEST(Modules, LayerNormNamesShapesAndInit) {
  // python3 -c "import torch.nn as nn; print([(n,tuple(t.shape)) for n,t in nn.LayerNorm([4,5]).state_dict().items()])"
  const NamesAndShapes expected = {{"weight", {4, 5}}, {"bias", {4, 5}}};
  nn::LayerNorm norm(nn::LayerNormOptions({4, 5}).eps(1e-6));
  EXPECT_EQ(names_and_shapes(norm.state_dict()), expected);
  EXPECT_EQ(norm.weight.to_vector<float>(), std::vector<float>(20, 1.0f));
  EXPECT_EQ(norm.bias.to_vector<float>(), std::vector<float>(20, 0.0f));
  EXPECT_EQ(norm.options.eps(), 1e-6);

  nn::LayerNorm plain(nn::LayerNormOptions({4}).elementwise_affine(false));
  EXPECT_TRUE(plain.state_dict().empty());
}

TEST(Modules, BatchNorm1dNamesShapesDtypesAndInit) {
  // python3 -c "import torch.nn as nn; m=nn.BatchNorm1d(6); print([(n,tuple(t.shape),str(t.dtype)) for n,t in m.state_dict().items()], [n for n,_ in m.named_parameters()], [n for n,_ in m.named_buffers()])"
  const NamesAndShapes expected = {{"weight", {6}},
                                   {"bias", {6}},
                                   {"running_mean", {6}},
                                   {"running_var", {6}},
                                   {"num_batches_tracked", {}}};
  nn::BatchNorm1d bn(6);
  const nn::StateDict state = bn.state_dict();
  EXPECT_EQ(names_and_shapes(state), expected);
  EXPECT_EQ(state["num_batches_tracked"].dtype(), nn::DType::Int64);
  EXPECT_EQ(state["running_mean"].dtype(), nn::DType::Float32);
  EXPECT_EQ(bn.named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(bn.named_buffers().keys(),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.running_mean.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(bn.running_var.to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 0);
  EXPECT_EQ(bn.weight.to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(bn.bias.to_vector<float>(), std::vector<float>(6, 0.0f));
  for (const Tensor& b : bn.buffers()) EXPECT_FALSE(b.requires_grad());

  // python3 -c "import torch.nn as nn; m=nn.BatchNorm1d(6, affine=False); print(list(m.state_dict().keys()))"
  nn::BatchNorm1d no_affine(nn::BatchNormOptions(6).affine(false));
  EXPECT_EQ(no_affine.state_dict().keys(),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  // python3 -c "import torch.nn as nn; m=nn.BatchNorm1d(6, affine=False, track_running_stats=False); print(list(m.state_dict().keys()))"
  nn::BatchNorm1d bare(nn::BatchNormOptions(6).affine(false).track_running_stats(false));
  EXPECT_TRUE(bare.state_dict().empty());
}

TEST(Modules, SequentialNamesAndShapes) {
  // python3 -c "import torch.nn as nn; print([(n,tuple(t.shape)) for n,t in nn.Sequential(nn.Linear(4,8),nn.ReLU(),nn.Linear(8,3)).state_dict().items()])"
  const NamesAndShapes expected = {
      {"0.weight", {8, 4}}, {"0.bias", {8}}, {"2.weight", {3, 8}}, {"2.bias", {3}}};
  nn::Sequential seq(std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Linear>(8, 3));
  EXPECT_EQ(names_and_shapes(seq.named_parameters()), expected);
  EXPECT_EQ(names_and_shapes(seq.state_dict()), expected);
  EXPECT_EQ(child_names(seq), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[1]->name(), "ReLU");
  EXPECT_EQ(seq.at<nn::Linear>(2)->options.in_features(), 8);
  EXPECT_THROW(seq.at<nn::Linear>(1), nn::Error);
  EXPECT_THROW(seq[3], nn::Error);

  // The chain: Linear -> ReLU -> Linear, by hand.
  const Tensor x = nn::randn({5, 4});
  const auto first = seq.at<nn::Linear>(0);
  const auto last = seq.at<nn::Linear>(2);
  const Tensor want = nn::linear(nn::linear(x, first->weight, first->bias).relu(), last->weight,
                                 last->bias);
  expect_near_vectors(seq.forward(x).to_vector<float>(), want.to_vector<float>(), 0.0);
}

TEST(Modules, NestedModuleNamesAndOrder) {
  // python3 /tmp/nested.py (the Net above) printing
  //   [(n, tuple(t.shape)) for n, t in m.named_parameters()]
  const NamesAndShapes expected_parameters = {
      {"embed.weight", {10, 8}},       {"encoder.fc1.weight", {16, 8}},
      {"encoder.fc1.bias", {16}},      {"encoder.norm.weight", {16}},
      {"encoder.norm.bias", {16}},     {"encoder.fc2.weight", {4, 16}},
      {"encoder.fc2.bias", {4}},       {"bn.weight", {4}},
      {"bn.bias", {4}},                {"head.0.weight", {4, 4}},
      {"head.0.bias", {4}},            {"head.2.weight", {2, 4}},
      {"head.2.bias", {2}}};
  //   [(n, tuple(t.shape)) for n, t in m.named_buffers()]
  const NamesAndShapes expected_buffers = {
      {"bn.running_mean", {4}}, {"bn.running_var", {4}}, {"bn.num_batches_tracked", {}}};
  //   list(m.state_dict().keys())
  const std::vector<std::string> expected_state = {
      "embed.weight",       "encoder.fc1.weight",  "encoder.fc1.bias",
      "encoder.norm.weight", "encoder.norm.bias",  "encoder.fc2.weight",
      "encoder.fc2.bias",   "bn.weight",           "bn.bias",
      "bn.running_mean",    "bn.running_var",      "bn.num_batches_tracked",
      "head.0.weight",      "head.0.bias",         "head.2.weight",
      "head.2.bias"};
  //   [n for n,_ in m.named_children()]  and  [n for n,_ in m.named_modules()]
  const std::vector<std::string> expected_children = {"embed", "encoder", "bn", "head"};
  const std::vector<std::string> expected_modules = {
      "", "embed", "encoder", "encoder.fc1", "encoder.norm", "encoder.fc2",
      "bn", "head", "head.0", "head.1", "head.2"};

  Net net;
  EXPECT_EQ(names_and_shapes(net.named_parameters()), expected_parameters);
  EXPECT_EQ(names_and_shapes(net.named_buffers()), expected_buffers);
  EXPECT_EQ(net.state_dict().keys(), expected_state);
  EXPECT_EQ(child_names(net), expected_children);
  std::vector<std::string> module_names;
  for (const auto& [name, m] : net.named_modules()) module_names.push_back(name);
  EXPECT_EQ(module_names, expected_modules);
  EXPECT_EQ(net.parameters().size(), expected_parameters.size());
  EXPECT_EQ(net.parameters(false).size(), 0u);
  EXPECT_EQ(net.encoder->parameters(false).size(), 0u);
  EXPECT_EQ(net.name(), "Net");

  // A forward and backward through the whole tree reaches every parameter.
  const Tensor logits = net.forward(nn::from_vector(std::vector<std::int64_t>{1, 2, 3, 9}, {4}));
  EXPECT_EQ(logits.sizes(), (Shape{4, 2}));
  logits.sum().backward();
  for (const auto& [name, p] : net.named_parameters())
    EXPECT_TRUE(p.grad().defined()) << name << " got no gradient";
}

TEST(Modules, PrintsLikePyTorch) {
  // python3 -c "import torch.nn as nn; print(nn.Sequential(nn.Linear(4,8),nn.ReLU(),nn.Dropout(0.5),nn.Linear(8,3)))"
  // (PyTorch spells the booleans True/False and Dropout adds inplace=False.)
  nn::Sequential seq(std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::Linear>(8, 3));
  EXPECT_EQ(seq.str(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=8, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Dropout(p=0.5)\n"
            "  (3): Linear(in_features=8, out_features=3, bias=true)\n"
            ")");
}

// --- registration rules -------------------------------------------------------------------------

TEST(Modules, RegistrationRejectsBadNames) {
  struct M : nn::Module {
    using nn::Module::register_buffer;
    using nn::Module::register_parameter;
  } m;
  m.register_parameter("w", nn::zeros({2}));
  EXPECT_THROW(m.register_parameter("w", nn::zeros({2})), nn::Error);
  EXPECT_THROW(m.register_buffer("w", nn::zeros({2})), nn::Error);
  EXPECT_THROW(m.register_module("w", std::make_shared<nn::ReLU>()), nn::Error);
  EXPECT_THROW(m.register_parameter("a.b", nn::zeros({2})), nn::Error);
  EXPECT_THROW(m.register_parameter("", nn::zeros({2})), nn::Error);
  // A parameter must be a leaf; a buffer must not require grad.
  const Tensor leaf = nn::ones({2}).set_requires_grad(true);
  EXPECT_THROW(m.register_parameter("made", leaf * 2.0), nn::Error);
  EXPECT_THROW(m.register_buffer("trained", nn::ones({2}).set_requires_grad(true)), nn::Error);
  // requires_grad=false: registered, listed, but not trained.
  m.register_parameter("frozen", nn::ones({2}), false);
  EXPECT_FALSE(m.named_parameters()["frozen"].requires_grad());
}

TEST(Modules, TiedParametersAreListedOnce) {
  // PyTorch: named_parameters() drops duplicates; state_dict() keeps both names.
  struct Holder : nn::Module {
    explicit Holder(const Tensor& shared) {
      register_parameter("a", shared);
      register_parameter("b", shared);
    }
  };
  const Tensor shared = nn::zeros({3});
  Holder holder(shared);
  EXPECT_EQ(holder.named_parameters().keys(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(holder.state_dict().keys(), (std::vector<std::string>{"a", "b"}));
}

// --- initialization -------------------------------------------------------------------------

TEST(Modules, LinearInitMatchesPyTorchBounds) {
  // PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)); a uniform of that bound has
  // standard deviation bound/sqrt(3) = 1/sqrt(3*in).
  nn::Generator gen(1234);
  nn::Linear linear(nn::LinearOptions(1000, 500).generator(&gen));
  const double bound = 1.0 / std::sqrt(1000.0);
  const auto w = linear.weight.to_vector<float>();
  const auto b = linear.bias.to_vector<float>();
  for (float v : w) ASSERT_LE(std::abs(v), bound);
  for (float v : b) ASSERT_LE(std::abs(v), bound);
  const double expected_std = 1.0 / std::sqrt(3.0 * 1000.0);
  EXPECT_NEAR(std_of(w), expected_std, 0.02 * expected_std);
  EXPECT_NEAR(mean_of(w), 0.0, 0.01 * expected_std * 10);  // 500k samples: |mean| << std
  EXPECT_NEAR(std_of(b), expected_std, 0.1 * expected_std);  // only 500 samples
  // The whole range is used.
  EXPECT_GT(*std::max_element(w.begin(), w.end()), 0.99 * bound);
  EXPECT_LT(*std::min_element(w.begin(), w.end()), -0.99 * bound);
}

TEST(Modules, SameSeedSameWeights) {
  nn::Generator g1(7), g2(7), g3(8);
  nn::Linear a(nn::LinearOptions(20, 10).generator(&g1));
  nn::Linear b(nn::LinearOptions(20, 10).generator(&g2));
  nn::Linear c(nn::LinearOptions(20, 10).generator(&g3));
  EXPECT_EQ(a.weight.to_vector<float>(), b.weight.to_vector<float>());
  EXPECT_EQ(a.bias.to_vector<float>(), b.bias.to_vector<float>());
  EXPECT_NE(a.weight.to_vector<float>(), c.weight.to_vector<float>());

  // The global generator: nn::manual_seed makes whole models reproducible.
  nn::manual_seed(42);
  Net first;
  nn::manual_seed(42);
  Net second;
  for (const auto& [name, t] : first.state_dict())
    EXPECT_EQ(t.to(nn::DType::Float32).to_vector<float>(),
              second.state_dict()[name].to(nn::DType::Float32).to_vector<float>())
        << name;
}

TEST(Modules, EmbeddingInitIsStandardNormal) {
  nn::Generator gen(99);
  nn::Embedding embedding(nn::EmbeddingOptions(1000, 100).generator(&gen));
  const auto w = embedding.weight.to_vector<float>();
  EXPECT_NEAR(mean_of(w), 0.0, 0.01);
  EXPECT_NEAR(std_of(w), 1.0, 0.01);
}

TEST(Modules, InitFunctions) {
  // torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(8, 3, 5)) == (15, 40)
  EXPECT_EQ(nn::init::calculate_fan_in_and_fan_out(nn::empty({8, 3, 5})),
            (std::pair<std::int64_t, std::int64_t>{15, 40}));
  EXPECT_THROW(nn::init::calculate_fan_in_and_fan_out(nn::empty({8})), nn::Error);
  // torch.nn.init.calculate_gain: tanh 5/3, relu sqrt(2), leaky_relu(sqrt(5)) sqrt(1/3)
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_NEAR(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0)),
              std::sqrt(1.0 / 3.0), 1e-12);

  nn::Generator gen(5);
  // xavier_uniform_ on (300,200): bound sqrt(6/500).
  Tensor w = nn::empty({300, 200}).set_requires_grad(true);  // works on a parameter
  nn::init::xavier_uniform_(w, 1.0, &gen);
  const double xavier_bound = std::sqrt(6.0 / 500.0);
  const auto xv = w.to_vector<float>();
  for (float v : xv) ASSERT_LE(std::abs(v), xavier_bound);
  EXPECT_NEAR(std_of(xv), xavier_bound / std::sqrt(3.0), 0.02 * xavier_bound);
  // kaiming_normal_ (relu, fan_in 200): std sqrt(2/200).
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU, &gen);
  EXPECT_NEAR(std_of(w.to_vector<float>()), 0.1, 0.002);
  EXPECT_FALSE(w.grad_fn());  // no history
  nn::init::ones_(w);
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(60000, 1.0f));
  nn::init::constant_(w, 0.25);
  EXPECT_EQ(w.to_vector<float>()[123], 0.25f);
}

// --- train / eval ------------------------------------------------------------------------

TEST(Modules, TrainEvalPropagatesToEveryModule) {
  Net net;
  net.head->push_back(std::make_shared<nn::Dropout>(0.5));
  for (const auto& [name, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << name;
  net.eval();
  for (const auto& [name, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << name;
  net.train();
  for (const auto& [name, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << name;
  net.encoder->train(false);
  EXPECT_TRUE(net.is_training());
  EXPECT_FALSE(net.encoder->fc1->is_training());
}

TEST(Modules, DropoutDependsOnMode) {
  nn::Generator gen(3);
  nn::Dropout dropout(nn::DropoutOptions(0.25).generator(&gen));
  const Tensor x = nn::ones({100, 100});
  const auto trained = dropout.forward(x).to_vector<float>();
  std::size_t zeros = 0;
  for (float v : trained) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      ASSERT_FLOAT_EQ(v, 1.0f / 0.75f);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 10000.0, 0.25, 0.02);
  dropout.eval();
  EXPECT_EQ(dropout.forward(x).to_vector<float>(), x.to_vector<float>());
}

TEST(Modules, BatchNorm1dMatchesPyTorchInTrainAndEval) {
  // python3 -c "import torch,torch.nn as nn; m=nn.BatchNorm1d(3); x=torch.tensor([[1.,2,3],[3,2,1],[2,6,5],[0,0,-1]]); y=m(x); print(m.running_mean.tolist(), m.running_var.tolist(), m.num_batches_tracked.item()); print(y.tolist()); m.eval(); print(m(x).tolist())"
  const std::vector<float> train_out = {
      -0.4472118616104126f, -0.22941547632217407f, 0.44721314311027527f,
      1.3416353464126587f,  -0.22941547632217407f, -0.44721314311027527f,
      0.44721174240112305f, 1.6059083938598633f,   1.3416393995285034f,
      -1.3416354656219482f, -1.1470774412155151f,  -1.3416393995285034f};
  const std::vector<float> eval_out = {
      0.823005199432373f,    1.41324782371521f,    2.2370121479034424f,
      2.7594878673553467f,   1.41324782371521f,    0.6391463279724121f,
      1.7912465333938599f,   4.643528938293457f,   3.8348779678344727f,
      -0.14523620903491974f, -0.20189255475997925f, -0.9587194919586182f};
  nn::BatchNorm1d bn(3);
  const Tensor x = nn::from_vector({1, 2, 3, 3, 2, 1, 2, 6, 5, 0, 0, -1}, {4, 3});
  expect_near_vectors(bn.forward(x).to_vector<float>(), train_out, 1e-5);
  expect_near_vectors(bn.running_mean.to_vector<float>(), {0.15f, 0.25f, 0.2f}, 1e-6);
  expect_near_vectors(bn.running_var.to_vector<float>(),
                      {1.066666603088379f, 1.5333333015441895f, 1.566666603088379f}, 1e-6);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);
  bn.eval();
  expect_near_vectors(bn.forward(x).to_vector<float>(), eval_out, 1e-5);
  // Evaluation neither updates the statistics nor counts the batch.
  expect_near_vectors(bn.running_mean.to_vector<float>(), {0.15f, 0.25f, 0.2f}, 1e-6);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);

  // momentum = None: the running stats are the cumulative average of the batches.
  nn::BatchNorm1d cumulative(nn::BatchNormOptions(3).momentum(std::nullopt));
  cumulative.forward(x);
  expect_near_vectors(cumulative.running_mean.to_vector<float>(), {1.5f, 2.5f, 2.0f}, 1e-6);
  cumulative.forward(x * 3.0);
  EXPECT_EQ(cumulative.num_batches_tracked.item<std::int64_t>(), 2);
  expect_near_vectors(cumulative.running_mean.to_vector<float>(), {3.0f, 5.0f, 4.0f}, 1e-5);

  EXPECT_THROW(bn.forward(nn::zeros({4, 5})), nn::Error);
}

// --- state_dict ----------------------------------------------------------------------------

TEST(Modules, StateDictRoundTrip) {
  nn::manual_seed(1);
  Net source;
  source.forward(nn::from_vector(std::vector<std::int64_t>{0, 4, 5, 7}, {4}));  // moves bn stats
  nn::manual_seed(2);
  Net target;
  const Tensor held = target.encoder->fc1->weight;  // e.g. an optimizer's handle
  const Tensor tokens = nn::from_vector(std::vector<std::int64_t>{3, 1, 4, 1}, {4});
  source.eval();
  target.eval();
  EXPECT_NE(source.forward(tokens).to_vector<float>(), target.forward(tokens).to_vector<float>());

  target.load_state_dict(source.state_dict());
  EXPECT_EQ(source.forward(tokens).to_vector<float>(), target.forward(tokens).to_vector<float>());
  EXPECT_EQ(held.to_vector<float>(), source.encoder->fc1->weight.to_vector<float>());
  EXPECT_TRUE(held.is_same(target.encoder->fc1->weight));
  EXPECT_TRUE(held.requires_grad());
  EXPECT_EQ(target.bn->num_batches_tracked.item<std::int64_t>(), 1);

  // state_dict() entries share storage with the module and carry no grad requirement.
  const nn::StateDict state = source.state_dict();
  EXPECT_FALSE(state["head.0.weight"].requires_grad());
  EXPECT_EQ(state["head.0.weight"].raw_data(), source.head->at<nn::Linear>(0)->weight.raw_data());
}

TEST(Modules, LoadStateDictErrors) {
  struct Mlp : nn::Module {
    explicit Mlp(std::int64_t hidden) {
      fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, hidden));
      fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 10));
    }
    std::shared_ptr<nn::Linear> fc1, fc2;
  };
  Mlp big(64);
  const Mlp small(32);
  const auto before = big.fc2->weight.to_vector<float>();

  try {
    big.load_state_dict(small.state_dict());
    FAIL() << "expected nn::Error";
  } catch (const nn::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("expected fc1.weight of shape (64,784), got (32,784)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("expected fc2.weight of shape (10,64), got (10,32)"), std::string::npos)
        << message;
  }
  // Nothing was loaded, not even the entries that fit (fc2.bias).
  EXPECT_EQ(big.fc2->weight.to_vector<float>(), before);

  Mlp other(64);
  // Missing keys.
  nn::StateDict partial;
  for (const auto& [name, t] : other.state_dict())
    if (name.rfind("fc1.", 0) == 0) partial.insert(name, t);
  try {
    big.load_state_dict(partial);
    FAIL() << "expected nn::Error";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key(s) 'fc2.weight', 'fc2.bias'"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(big.fc2->weight.to_vector<float>(), before);
  // Non-strict: loads what is there, ignores the rest.
  big.load_state_dict(partial, /*strict=*/false);
  EXPECT_EQ(big.fc1->weight.to_vector<float>(), other.fc1->weight.to_vector<float>());
  EXPECT_EQ(big.fc2->weight.to_vector<float>(), before);

  // Unexpected keys.
  nn::StateDict extra = other.state_dict();
  extra.insert("fc3.weight", nn::zeros({1}));
  try {
    big.load_state_dict(extra);
    FAIL() << "expected nn::Error";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected key(s) 'fc3.weight'"), std::string::npos)
        << e.what();
  }
  big.load_state_dict(extra, /*strict=*/false);
  EXPECT_EQ(big.fc2->weight.to_vector<float>(), other.fc2->weight.to_vector<float>());

  // A shape mismatch is an error even when not strict (as in PyTorch).
  EXPECT_THROW(big.load_state_dict(small.state_dict(), /*strict=*/false), nn::Error);
}

TEST(Modules, LoadStateDictConvertsDtypes) {
  // num_batches_tracked saved as float (as some converters do) still loads, as int64.
  nn::BatchNorm1d bn(2);
  nn::StateDict state;
  for (const auto& [name, t] : bn.state_dict())
    state.insert(name, name == "num_batches_tracked" ? nn::full({}, 7.0) : t.clone());
  bn.load_state_dict(state);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), nn::DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 7);
}

// --- gradients and devices --------------------------------------------------------------------

TEST(Modules, ZeroGrad) {
  nn::Sequential seq(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Sigmoid>(),
                     std::make_shared<nn::Linear>(4, 1));
  auto run_backward = [&] { seq.forward(nn::randn({2, 3})).sum().backward(); };
  run_backward();
  for (const Tensor& p : seq.parameters()) ASSERT_TRUE(p.grad().defined());
  seq.zero_grad();  // set_to_none, PyTorch's default
  for (const Tensor& p : seq.parameters()) EXPECT_FALSE(p.grad().defined());
  run_backward();
  seq.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : seq.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().to_vector<float>(), std::vector<float>(static_cast<std::size_t>(p.numel()), 0.0f));
  }
}

TEST(Modules, ToDevice) {
  nn::Linear linear(3, 2);
  const void* before = linear.weight.raw_data();
  linear.to(nn::Device::cpu());  // already there: nothing happens
  EXPECT_EQ(linear.weight.raw_data(), before);
  // Without a usable GPU the move fails with a clear error, and nothing has moved (with one,
  // tests/libnn/cuda/test_cuda_tensor.cpp checks the move itself).
  if (nn::cuda::is_available()) GTEST_SKIP() << "a GPU is present: the move succeeds";
  try {
    linear.to(nn::Device::cuda());
    FAIL() << "expected nn::Error";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Linear.to(cuda:0)"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(linear.weight.device().is_cpu());
  EXPECT_TRUE(linear.bias.device().is_cpu());
}

// --- the activation modules and the rest of the layers, against their ops ----------------------

TEST(Modules, ActivationsForwardTheirOps) {
  const Tensor x = nn::from_vector({-2.0f, -0.5f, 0.0f, 1.5f, 3.0f, -1.0f}, {2, 3});
  EXPECT_EQ(nn::ReLU().forward(x).to_vector<float>(), nn::relu(x).to_vector<float>());
  EXPECT_EQ(nn::LeakyReLU(0.2).forward(x).to_vector<float>(),
            nn::leaky_relu(x, 0.2).to_vector<float>());
  EXPECT_EQ(nn::Tanh().forward(x).to_vector<float>(), nn::tanh(x).to_vector<float>());
  EXPECT_EQ(nn::Sigmoid().forward(x).to_vector<float>(), nn::sigmoid(x).to_vector<float>());
  EXPECT_EQ(nn::Softmax(1).forward(x).to_vector<float>(), nn::softmax(x, 1).to_vector<float>());
  EXPECT_EQ(nn::LogSoftmax(-1).forward(x).to_vector<float>(),
            nn::log_softmax(x, -1).to_vector<float>());
  EXPECT_EQ(nn::LeakyReLU(0.2).str(), "LeakyReLU(negative_slope=0.2)");
  EXPECT_EQ(nn::Softmax(1).str(), "Softmax(dim=1)");
}

TEST(Modules, LayersCheckTheirInputs) {
  nn::Linear linear(3, 2);
  try {
    linear.forward(nn::zeros({4, 5}));
    FAIL() << "expected nn::Error";
  } catch (const nn::Error& e) {
    EXPECT_STREQ(e.what(), "Linear: expected input of shape (...,3), got (4,5)");
  }
  nn::Embedding embedding(4, 2);
  EXPECT_THROW(embedding.forward(nn::zeros({3})), nn::Error);  // float indices
  const Tensor rows = embedding.forward(nn::from_vector(std::vector<std::int64_t>{3, 0}, {2}));
  EXPECT_EQ(rows.sizes(), (Shape{2, 2}));
  const auto w = embedding.weight.to_vector<float>();
  EXPECT_EQ(rows.to_vector<float>(), (std::vector<float>{w[6], w[7], w[0], w[1]}));
  nn::LayerNorm norm(nn::LayerNormOptions({4}));
  EXPECT_THROW(norm.forward(nn::zeros({2, 3})), nn::Error);
  const Tensor normed = norm.forward(nn::from_vector({1, 2, 3, 4}, {1, 4}));
  EXPECT_NEAR(mean_of(normed.to_vector<float>()), 0.0, 1e-6);
  EXPECT_THROW(nn::Dropout(1.5), nn::Error);
}

}  // namespace
