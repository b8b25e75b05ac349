// CUDA tensors as a user meets them: moving data between the host and the GPU, factories,
// modules and optimizers on the GPU against the CPU, checkpoints across devices, the errors
// for mixed devices and missing kernels, the random generator (the same Philox streams on
// both devices), run-to-run determinism, the caching allocator's statistics, streams and the
// matmul precision.
//
// The tests named CudaNoDevice*, CudaKernelTable* and CudaMatmulPrecisionSetting* need no GPU
// and run everywhere; every other test skips without one.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#ifdef NN_TEST_HAVE_CUDART
#include <cuda_runtime.h>
#endif

#include "../temp_dir.hpp"
#include "cuda_test_support.hpp"
#include "kernels/table.hpp"
#include "libnn/autograd.hpp"
#include "libnn/checkpoint.hpp"
#include "libnn/cuda.hpp"
#include "libnn/modules/activation.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/sequential.hpp"
#include "libnn/ops.hpp"
#include "libnn/optim.hpp"

namespace {

using cuda_test::contains;
using cuda_test::contains_icase;
using cuda_test::error_message;
using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using cuda_test::same_bits;
using nn::Tensor;
using nn::TensorOptions;

const TensorOptions kCudaInt64 = TensorOptions(nn::DType::Int64).device(kCuda);

std::string where_bits_differ(const Tensor& a, const Tensor& b) {
  return "first difference at element " + std::to_string(cuda_test::first_difference(a, b));
}

// ============================================================================================
// Without a GPU
// ============================================================================================

TEST(CudaNoDevice, CudaTensorThrowsSayingWhy) {
  if (nn::cuda::is_available())
    GTEST_SKIP() << "a GPU is usable here: this test is for machines without one";
  EXPECT_EQ(nn::cuda::device_count(), 0);
  EXPECT_FALSE(nn::cuda::unavailable_reason().empty());
  const std::string msg = error_message([] { nn::empty({2}, nn::Device::cuda()); });
  EXPECT_TRUE(contains_icase(msg, "cuda")) << msg;
  EXPECT_TRUE(contains(msg, nn::cuda::unavailable_reason()))
      << "the message should say why: " << msg;

  const std::string moved = error_message([] { nn::ones({3}).to(nn::Device::cuda()); });
  EXPECT_TRUE(contains_icase(moved, "cuda")) << moved;

  // A module that cannot move stays where it was, whole.
  nn::Linear linear(3, 2);
  EXPECT_TRUE(contains_icase(error_message([&] { linear.to(nn::Device::cuda()); }), "cuda"));
  for (const Tensor& p : linear.parameters()) EXPECT_EQ(p.device(), kCpu);

  // The allocator's report works without a device.
  EXPECT_EQ(nn::cuda::memory_stats().allocated, 0u);
  EXPECT_FALSE(nn::cuda::memory_summary().empty());
}

// --- a kernel table without a CUDA kernel ----------------------------------------------------

int twice_cpu(int x) { return 2 * x; }

// At namespace scope, as every real table (whose slots rely on static zero-initialization)...
nn::kernels::Table<int(int)> test_only_kernel{"test_only_kernel", twice_cpu};
// ...and taken off kernels::all_tables() at once, so that a check over every table (the
// op-table test) never sees this one, which has no CUDA kernel on purpose.
[[maybe_unused]] const bool test_only_kernel_unlisted = [] {
  std::erase_if(nn::kernels::all_tables(),
                [](const nn::kernels::TableInfo& t) { return t.table == &test_only_kernel; });
  return true;
}();

TEST(CudaKernelTable, MissingCudaKernelThrowsNamingTheKernel) {
  // Needs no GPU: the table refuses before it touches the device.
  EXPECT_EQ(test_only_kernel(kCpu, 21), 42);
  EXPECT_FALSE(test_only_kernel.supports(nn::DeviceType::CUDA));
  const std::string msg = error_message([] { test_only_kernel(nn::Device::cuda(), 1); });
  EXPECT_TRUE(contains(msg, "test_only_kernel")) << msg;
  EXPECT_TRUE(contains(msg, "CUDA")) << msg;
  EXPECT_TRUE(contains(msg, "cuda:0")) << msg;
}

TEST(CudaMatmulPrecisionSetting, AcceptsPyTorchsThreeNamesAndNamesThemOtherwise) {
  const cuda_test::MatmulPrecisionGuard restore;  // whatever happens here is undone
  nn::set_float32_matmul_precision("high");
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::High);
  nn::set_float32_matmul_precision("medium");
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::Medium);
  nn::set_float32_matmul_precision("highest");
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::Highest);
  for (nn::MatmulPrecision p :
       {nn::MatmulPrecision::Highest, nn::MatmulPrecision::High, nn::MatmulPrecision::Medium}) {
    nn::set_float32_matmul_precision(nn::matmul_precision_name(p));
    EXPECT_EQ(nn::float32_matmul_precision(), p) << nn::matmul_precision_name(p);
  }
  nn::set_float32_matmul_precision("highest");
  const std::string msg = error_message([] { nn::set_float32_matmul_precision("low"); });
  EXPECT_TRUE(contains(msg, "\"low\"")) << msg;
  EXPECT_TRUE(contains(msg, "highest")) << msg;
  EXPECT_TRUE(contains(msg, "high")) << msg;
  EXPECT_TRUE(contains(msg, "medium")) << msg;
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::Highest)
      << "unchanged by the bad call";
}

TEST(CudaMatmulPrecisionSetting, GuardRestoresThePreviousPrecision) {
  const cuda_test::MatmulPrecisionGuard restore;
  nn::set_float32_matmul_precision("high");
  {
    const nn::Float32MatmulPrecisionGuard bf16(nn::MatmulPrecision::Medium);
    EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::Medium);
  }
  EXPECT_EQ(nn::float32_matmul_precision(), nn::MatmulPrecision::High);
}

// ============================================================================================
// Moving data
// ============================================================================================

TEST(CudaTensor, RoundTripIsBitExact) {
  NN_REQUIRE_CUDA();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> f = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.5f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::lowest(),
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min(),
                          kInf,
                          -kInf,
                          std::bit_cast<float>(0x7fc12345u),  // a NaN with a payload
                          std::bit_cast<float>(0xffa00001u)};
  nn::Generator gen = cuda_test::test_generator();
  for (float v : nn::randn({1000}, &gen).to_vector<float>()) f.push_back(v);
  const Tensor host_f = nn::from_vector(f, {static_cast<std::int64_t>(f.size())});
  const std::vector<std::int64_t> k = {0,
                                       -1,
                                       1,
                                       std::numeric_limits<std::int64_t>::min(),
                                       std::numeric_limits<std::int64_t>::max(),
                                       std::int64_t{1} << 40,
                                       -(std::int64_t{1} << 53) - 1};
  const Tensor host_k = nn::from_vector(k, {7, 1});

  for (const Tensor& host :
       {host_f, host_k, host_f.reshape({1, -1}), nn::zeros({0, 5}), nn::scalar_tensor(-2.5)}) {
    SCOPED_TRACE(host.str());
    const Tensor dev = host.to(kCuda);
    EXPECT_EQ(dev.device(), kCuda);
    EXPECT_EQ(dev.sizes(), host.sizes());
    EXPECT_EQ(dev.dtype(), host.dtype());
    EXPECT_TRUE(dev.to(kCuda).is_same(dev)) << "to() the same device returns the tensor itself";
    const Tensor back = dev.to(kCpu);
    EXPECT_EQ(back.device(), kCpu);
    EXPECT_TRUE(same_bits(back, host)) << where_bits_differ(back, host);
    // On the device: clone, and a GPU-to-GPU copy_
    const Tensor cloned = dev.clone();
    EXPECT_EQ(cloned.device(), kCuda);
    EXPECT_TRUE(same_bits(cloned, host));
    Tensor target = nn::empty(host.sizes(), host.options().device(kCuda));
    target.copy_(dev);
    EXPECT_TRUE(same_bits(target, host));
  }
}

TEST(CudaTensor, CopyBroadcastsAndConvertsDtypesOnTheDevice) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  const Tensor row = nn::from_vector({1.5f, -2.0f, 3.25f, 0.0f, 7.0f}, {5});
  Tensor expanded = nn::empty({4, 5}, kCuda);
  expanded.copy_(row.to(kCuda));
  Tensor expected = nn::empty({4, 5});
  expected.copy_(row);
  EXPECT_TRUE(same_bits(expanded, expected)) << where_bits_differ(expanded, expected);

  // float32 -> int64 truncates toward zero; int64 -> float32 rounds to nearest
  const Tensor x = nn::from_vector({1.7f, -1.7f, 2.0f, -0.5f, 1e9f, -3e9f}, {6});
  const Tensor as_int = x.to(kCuda).to(nn::DType::Int64);
  EXPECT_EQ(as_int.device(), kCuda);
  EXPECT_EQ(as_int.to_vector<std::int64_t>(), x.to(nn::DType::Int64).to_vector<std::int64_t>());
  const Tensor k = nn::from_vector(
      std::vector<std::int64_t>{-3, 0, (std::int64_t{1} << 24) + 1, 123456789}, {4});
  const Tensor as_float = k.to(kCuda).to(nn::DType::Float32);
  EXPECT_EQ(as_float.device(), kCuda);
  EXPECT_TRUE(same_bits(as_float, k.to(nn::DType::Float32)));
}

TEST(CudaTensor, ItemAndToVectorCopyToTheHost) {
  NN_REQUIRE_CUDA();
  const Tensor f = nn::from_vector({1.5f, -2.25f, 3.0f}, {3}, TensorOptions().device(kCuda));
  EXPECT_EQ(f.device(), kCuda);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1.5f, -2.25f, 3.0f}));
  EXPECT_EQ(nn::from_vector({7.25f}, {}, kCuda).item<float>(), 7.25f);
  EXPECT_EQ(f.sum().item<float>(), 2.25f);
  const std::vector<std::int64_t> k = {-5, std::int64_t{1} << 40};
  const Tensor ki = nn::from_vector(k, {2}, kCudaInt64);
  EXPECT_EQ(ki.device(), kCuda);
  EXPECT_EQ(ki.to_vector<std::int64_t>(), k);
  EXPECT_EQ(nn::from_vector(std::vector<std::int64_t>{-42}, {1}, kCudaInt64).item<std::int64_t>(),
            -42);
}

TEST(CudaTensor, FactoriesWriteEveryElement) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;  // an element a fill skips stays NaN / -1
  const Tensor z = nn::zeros({1000, 3}, kCuda);
  EXPECT_EQ(z.device(), kCuda);
  EXPECT_TRUE(same_bits(z, nn::zeros({1000, 3})));
  EXPECT_TRUE(same_bits(nn::ones({17, 5}, kCuda), nn::ones({17, 5})));
  EXPECT_TRUE(same_bits(nn::full({5, 7}, 2.5, kCuda), nn::full({5, 7}, 2.5)));
  EXPECT_TRUE(same_bits(nn::full({4097}, -0.1, kCuda), nn::full({4097}, -0.1)));
  EXPECT_EQ(nn::full({4}, -3, kCudaInt64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>(4, -3)));
  EXPECT_EQ(nn::zeros({3}, kCudaInt64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>(3, 0)));
  EXPECT_EQ(nn::arange(10, kCudaInt64).to_vector<std::int64_t>(),
            nn::arange(10, nn::DType::Int64).to_vector<std::int64_t>());
  const Tensor like = nn::zeros_like(nn::ones({2, 3}, kCuda));
  EXPECT_EQ(like.device(), kCuda);
  EXPECT_TRUE(same_bits(like, nn::zeros({2, 3})));
  EXPECT_TRUE(same_bits(nn::scalar_tensor(4.0, kCuda), nn::scalar_tensor(4.0)));
}

TEST(CudaTensor, PoisoningFillsNewBlocksWithNaNAndMinusOne) {
  NN_REQUIRE_CUDA();
  // The other tests rely on this: with poisoning on, what no kernel writes reads NaN / -1.
  cuda_test::PoisonGuard poison;
  for (float v : nn::empty({1000}, kCuda).to_vector<float>()) ASSERT_TRUE(std::isnan(v));
  for (std::int64_t v : nn::empty({7}, kCudaInt64).to_vector<std::int64_t>()) ASSERT_EQ(v, -1);
}

TEST(CudaTensor, ToIsDifferentiable) {
  NN_REQUIRE_CUDA();
  Tensor x = nn::from_vector({1.0f, -2.0f, 3.0f}, {3});
  x.set_requires_grad(true);
  const Tensor y = x.to(kCuda);
  EXPECT_TRUE(y.requires_grad());
  (y * 2.0).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), kCpu) << "the gradient goes back to x's device";
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2.0f, 2.0f, 2.0f}));
}

TEST(CudaTensor, MixingDevicesThrowsNamingBoth) {
  NN_REQUIRE_CUDA();
  const Tensor a = nn::ones({2, 3});
  const Tensor b = nn::ones({2, 3}, kCuda);
  const Tensor target = nn::from_vector(std::vector<std::int64_t>{0, 1}, {2});
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"add(cpu, cuda)", error_message([&] { nn::add(a, b); })},
      {"add(cuda, cpu)", error_message([&] { nn::add(b, a); })},
      {"mul(cuda, cpu)", error_message([&] { nn::mul(b, a); })},
      {"matmul(cpu, cuda)", error_message([&] {
         nn::matmul(a, nn::ones({3, 2}, kCuda));
       })},
      {"cat(cpu, cuda)", error_message([&] {
         nn::cat({a, b}, 0);
       })},
      {"cross_entropy(cuda logits, cpu target)",
       error_message([&] { nn::cross_entropy(b, target); })},
  };
  for (const auto& [call, msg] : messages) {
    EXPECT_TRUE(contains(msg, "cpu")) << call << ": " << msg;
    EXPECT_TRUE(contains(msg, "cuda:0")) << call << ": " << msg;
  }
}

// The checks that read a kernel's verdict back to the host (cross-entropy targets, embedding
// indices) throw on CUDA with the CPU's message, naming the first bad position, and leave the
// backend usable.
TEST(CudaTensor, BadTargetsAndIndicesThrowTheCpusMessage) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor logits = nn::randn({5, 4}, &gen);
  const Tensor target = nn::from_vector(std::vector<std::int64_t>{0, 3, -100, 7, 9}, {5});
  const auto ce = [](const Tensor& x, const Tensor& y) {
    return error_message([&] { nn::cross_entropy(x, y); });
  };
  const std::string cpu_ce = ce(logits, target);
  EXPECT_TRUE(contains(cpu_ce, "got 7 at row 3")) << cpu_ce;
  EXPECT_EQ(ce(logits.to(kCuda), target.to(kCuda)), cpu_ce);

  const Tensor weight = nn::randn({6, 3}, &gen);
  const Tensor indices = nn::from_vector(std::vector<std::int64_t>{1, 5, 6, -1}, {2, 2});
  const auto emb = [](const Tensor& w, const Tensor& i) {
    return error_message([&] { nn::embedding(w, i); });
  };
  const std::string cpu_emb = emb(weight, indices);
  EXPECT_TRUE(contains(cpu_emb, "got 6 at position (1,0)")) << cpu_emb;
  EXPECT_EQ(emb(weight.to(kCuda), indices.to(kCuda)), cpu_emb);

  // Still usable: a valid call right after gives the CPU's loss.
  const Tensor ok = nn::from_vector(std::vector<std::int64_t>{0, 3, -100, 1, 2}, {5});
  const float want = nn::cross_entropy(logits, ok).item<float>();
  EXPECT_NEAR(nn::cross_entropy(logits.to(kCuda), ok.to(kCuda)).item<float>(), want,
              1e-6f * std::max(1.0f, std::fabs(want)));
}

// ============================================================================================
// Modules, optimizers and checkpoints
// ============================================================================================

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(16, 32),
                                          std::make_shared<nn::ReLU>(),
                                          std::make_shared<nn::Linear>(32, 10));
}

// A copy of `model`'s weights in a new MLP on `device`.
std::shared_ptr<nn::Sequential> copy_to(const nn::Sequential& model, nn::Device device) {
  auto copy = make_mlp();
  copy->load_state_dict(model.state_dict());
  copy->to(device);
  return copy;
}

void expect_same_weights(const nn::Module& a, const nn::Module& b, nn::Device b_device) {
  const nn::StateDict sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.keys(), sb.keys());
  for (const auto& [name, t] : sa) {
    EXPECT_EQ(sb.at(name).device(), b_device) << name;
    EXPECT_TRUE(same_bits(sb.at(name), t)) << name << ": " << where_bits_differ(sb.at(name), t);
  }
}

TEST(CudaModule, ToCudaMovesInPlaceAndBack) {
  NN_REQUIRE_CUDA();
  auto model = make_mlp();
  Tensor weight = model->parameters()[0];  // a handle taken before the move
  const Tensor original = weight.detach().clone();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor grad = nn::randn(weight.sizes(), &gen);
  weight.set_grad(grad);

  model->to(kCuda);
  for (const Tensor& p : model->parameters()) EXPECT_EQ(p.device(), kCuda);
  EXPECT_EQ(weight.device(), kCuda) << "handles stay valid: the tensor itself moved";
  EXPECT_TRUE(same_bits(weight, original));
  ASSERT_TRUE(weight.grad().defined());
  EXPECT_EQ(weight.grad().device(), kCuda) << "the gradient moves with its parameter";
  EXPECT_TRUE(same_bits(weight.grad(), grad));

  model->to(kCpu);
  EXPECT_EQ(weight.device(), kCpu);
  EXPECT_TRUE(same_bits(weight, original));
}

TEST(CudaModule, ForwardMatchesCpu) {
  NN_REQUIRE_CUDA();
  const cuda_test::MatmulPrecisionGuard precision;
  auto cpu_model = make_mlp();
  auto cuda_model = copy_to(*cpu_model, kCuda);
  nn::Generator gen = cuda_test::test_generator();
  const Tensor x = nn::randn({64, 16}, &gen);
  const Tensor expected = cpu_model->forward(x);
  cuda_test::PoisonGuard poison;
  const Tensor got = cuda_model->forward(x.to(kCuda));
  EXPECT_EQ(got.device(), kCuda);
  EXPECT_LE(rel_error(got, expected), 1e-5);
}

TEST(CudaModule, TrainingStepsMatchCpu) {
  NN_REQUIRE_CUDA();
  const cuda_test::MatmulPrecisionGuard precision;
  auto cpu_model = make_mlp();
  auto cuda_model = copy_to(*cpu_model, kCuda);
  nn::optim::AdamW cpu_opt(cpu_model->parameters(), nn::optim::AdamWOptions(1e-2));
  nn::optim::AdamW cuda_opt(cuda_model->parameters(), nn::optim::AdamWOptions(1e-2));
  nn::Generator gen = cuda_test::test_generator();
  cuda_test::PoisonGuard poison;
  for (int step = 0; step < 3; ++step) {
    const Tensor x = nn::randn({32, 16}, &gen);
    const Tensor y = nn::randint(0, 10, {32}, &gen);
    cpu_opt.zero_grad();
    const Tensor cpu_loss = nn::cross_entropy(cpu_model->forward(x), y);
    cpu_loss.backward();
    cpu_opt.step();
    cuda_opt.zero_grad();
    const Tensor cuda_loss = nn::cross_entropy(cuda_model->forward(x.to(kCuda)), y.to(kCuda));
    cuda_loss.backward();
    cuda_opt.step();
    EXPECT_EQ(cuda_loss.device(), kCuda);
    EXPECT_LE(rel_error(cuda_loss, cpu_loss), 1e-5) << "step " << step;
  }
  const nn::StateDict a = cpu_model->state_dict(), b = cuda_model->state_dict();
  for (const auto& [name, t] : a) {
    EXPECT_EQ(b.at(name).device(), kCuda) << name;
    EXPECT_LE(rel_error(b.at(name), t), 1e-5) << name;
  }
}

TEST(CudaCheckpoint, WeightsSavedFromCudaLoadOnCpuAndBack) {
  NN_REQUIRE_CUDA();
  test_util::TempDir dir("libnn_cuda_checkpoint");
  auto source = make_mlp();
  source->to(kCuda);

  // CUDA -> file -> CPU
  nn::save_weights(*source, dir.path() / "from_cuda.safetensors");
  auto on_cpu = make_mlp();
  nn::load_weights(*on_cpu, dir.path() / "from_cuda.safetensors");
  expect_same_weights(*source, *on_cpu, kCpu);

  // CPU -> file -> a model already on CUDA: loaded in place, it stays there
  auto cpu_source = make_mlp();
  nn::save_weights(*cpu_source, dir.path() / "from_cpu.safetensors");
  auto on_cuda = make_mlp();
  on_cuda->to(kCuda);
  nn::load_weights(*on_cuda, dir.path() / "from_cpu.safetensors");
  expect_same_weights(*cpu_source, *on_cuda, kCuda);

  // state_dict to load_state_dict directly, both ways
  auto a = make_mlp();
  a->load_state_dict(source->state_dict());
  expect_same_weights(*source, *a, kCpu);
  auto b = make_mlp();
  b->to(kCuda);
  b->load_state_dict(cpu_source->state_dict());
  expect_same_weights(*cpu_source, *b, kCuda);
}

TEST(CudaCheckpoint, OptimizerStateMovesBetweenDevices) {
  NN_REQUIRE_CUDA();
  test_util::TempDir dir("libnn_cuda_optimizer_state");
  nn::Generator gen = cuda_test::test_generator();
  const std::vector<nn::Shape> shapes = {{33, 7}, {9}};
  std::vector<Tensor> cuda_params, cpu_params;
  for (const auto& s : shapes) {
    Tensor p = nn::randn(s, &gen).to(kCuda);
    p.set_requires_grad(true);
    cuda_params.push_back(p);
  }
  nn::optim::AdamW cuda_opt(cuda_params, nn::optim::AdamWOptions(1e-2).amsgrad(true));
  for (int step = 0; step < 2; ++step) {
    for (auto& p : cuda_params) p.set_grad(nn::randn(p.sizes(), &gen).to(kCuda));
    cuda_opt.step();
  }
  // Save on CUDA, through the training-state file, resume on the CPU.
  nn::TrainingState saved;
  cuda_opt.save_state(saved);
  nn::save_training_state(dir.path() / "state.mgstate", saved);
  const nn::TrainingState loaded = nn::load_training_state(dir.path() / "state.mgstate");
  for (const auto& p : cuda_params) {
    Tensor q = p.detach().to(kCpu);
    q.set_requires_grad(true);
    cpu_params.push_back(q);
  }
  nn::optim::AdamW cpu_opt(cpu_params, nn::optim::AdamWOptions(1e-2).amsgrad(true));
  cpu_opt.load_state(loaded);
  // And the CPU's state back onto a second CUDA optimizer, in memory.
  std::vector<Tensor> cuda_params2;
  for (const auto& p : cuda_params) {
    Tensor q = p.detach().clone();
    q.set_requires_grad(true);
    cuda_params2.push_back(q);
  }
  nn::optim::AdamW cuda_opt2(cuda_params2, nn::optim::AdamWOptions(1e-2).amsgrad(true));
  nn::TrainingState from_cpu;
  cpu_opt.save_state(from_cpu);
  cuda_opt2.load_state(from_cpu);
  nn::TrainingState check;
  cuda_opt2.save_state(check);
  for (const auto& [key, t] : check.tensors) EXPECT_EQ(t.device(), kCuda) << key;

  // One more step, the same gradient everywhere: all three continue alike.
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const Tensor g = nn::randn(shapes[i], &gen);
    cuda_params[i].set_grad(g.to(kCuda));
    cpu_params[i].set_grad(g.clone());
    cuda_params2[i].set_grad(g.to(kCuda));
  }
  cuda_opt.step();
  cpu_opt.step();
  cuda_opt2.step();
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_LE(rel_error(cuda_params[i], cpu_params[i]), 1e-6) << "parameter " << i;
    EXPECT_TRUE(same_bits(cuda_params2[i], cuda_params[i])) << "parameter " << i;
  }
}

// ============================================================================================
// Random numbers: the same Philox streams on both devices
// ============================================================================================

TEST(CudaRandom, UniformAndBernoulliAreBitIdenticalToCpu) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  for (const nn::Shape& shape : {nn::Shape{1001, 7}, nn::Shape{3}, nn::Shape{1 << 20}}) {
    nn::Generator a(1234), b(1234);
    a.reserve(5);  // a non-zero starting offset
    b.reserve(5);
    const Tensor u_cpu = nn::rand(shape, &a);
    const Tensor u_cuda = nn::rand(shape, &b, kCuda);
    EXPECT_EQ(u_cuda.device(), kCuda);
    EXPECT_TRUE(same_bits(u_cuda, u_cpu))
        << "rand " << nn::shape_str(shape) << ": " << where_bits_differ(u_cuda, u_cpu);
    const Tensor m_cpu = nn::bernoulli(shape, 0.3, &a);
    const Tensor m_cuda = nn::bernoulli(shape, 0.3, &b, kCuda);
    EXPECT_TRUE(same_bits(m_cuda, m_cpu))
        << "bernoulli " << nn::shape_str(shape) << ": " << where_bits_differ(m_cuda, m_cpu);
    EXPECT_EQ(a.state(), b.state()) << "both generators advance alike";
  }
}

TEST(CudaRandom, NormalMatchesCpu) {
  NN_REQUIRE_CUDA();
  cuda_test::PoisonGuard poison;
  nn::Generator a(99), b(99);
  const Tensor n_cpu = nn::randn({4099, 5}, &a);
  const Tensor n_cuda = nn::randn({4099, 5}, &b, kCuda);
  EXPECT_EQ(n_cuda.device(), kCuda);
  EXPECT_LE(rel_error(n_cuda, n_cpu), 1e-6);
  EXPECT_LE(cuda_test::max_abs_diff(n_cuda, n_cpu), 1e-5);
  EXPECT_EQ(a.state(), b.state());
  // In-place fills with parameters
  Tensor x_cpu = nn::empty({777});
  Tensor x_cuda = nn::empty({777}, kCuda);
  x_cpu.normal_(1.0, 2.0, &a);
  x_cuda.normal_(1.0, 2.0, &b);
  EXPECT_LE(rel_error(x_cuda, x_cpu), 1e-6);
  x_cpu.uniform_(-2.0, 3.0, &a);
  x_cuda.uniform_(-2.0, 3.0, &b);
  EXPECT_LE(rel_error(x_cuda, x_cpu), 1e-6);
  EXPECT_EQ(a.state(), b.state());
}

TEST(CudaRandom, DropoutMaskIsTheCpusBitForBit) {
  NN_REQUIRE_CUDA();
  nn::Generator data_gen = cuda_test::test_generator();
  const Tensor x = nn::randn({513, 37}, &data_gen);
  const Tensor upstream = nn::randn({513, 37}, &data_gen);
  for (const double p : {0.1, 0.5}) {
    nn::Generator a(7), b(7);
    Tensor x_cpu = x.clone(), x_cuda = x.to(kCuda);
    x_cpu.set_requires_grad(true);
    x_cuda.set_requires_grad(true);
    const Tensor y_cpu = nn::dropout(x_cpu, p, true, &a);
    cuda_test::PoisonGuard poison;
    const Tensor y_cuda = nn::dropout(x_cuda, p, true, &b);
    const std::vector<float> vc = y_cpu.to_vector<float>(), vg = y_cuda.to_vector<float>();
    ASSERT_EQ(vc.size(), vg.size());
    std::size_t pattern_differs = 0, dropped = 0;
    for (std::size_t i = 0; i < vc.size(); ++i) {
      pattern_differs += (vc[i] != 0.0f) != (vg[i] != 0.0f);
      dropped += vc[i] == 0.0f;
    }
    EXPECT_EQ(pattern_differs, 0u) << "p = " << p << ": elements dropped on one device only";
    EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(vc.size()), p, 0.03);
    EXPECT_TRUE(same_bits(y_cuda, y_cpu))
        << "p = " << p << ": " << where_bits_differ(y_cuda, y_cpu);
    y_cpu.backward(upstream);
    y_cuda.backward(upstream.to(kCuda));
    EXPECT_TRUE(same_bits(x_cuda.grad(), x_cpu.grad())) << "p = " << p << ": the backward's mask";
  }
}

// ============================================================================================
// Determinism: the same inputs give the same bits, run after run (no float atomics)
// ============================================================================================

// Runs `f` twice and expects the same bits in every tensor it returns.
template <class F>
std::vector<Tensor> expect_deterministic(const std::string& what, F&& f) {
  const std::vector<Tensor> first = f();
  const std::vector<Tensor> second = f();
  EXPECT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < std::min(first.size(), second.size()); ++i) {
    EXPECT_EQ(first[i].device(), kCuda) << what << " result " << i;
    EXPECT_TRUE(same_bits(first[i], second[i]))
        << what << " result " << i
        << " differs between two runs: " << where_bits_differ(first[i], second[i]);
  }
  return first;
}

TEST(CudaDeterminism, SumOfALargeTensor) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  // Sizes that need several passes or many blocks, yet stay quick under compute-sanitizer.
  const std::int64_t n = (std::int64_t{1} << 22) + 3;
  const Tensor x = nn::rand({n}, &gen, kCuda);
  const Tensor m = nn::randn({2053, 1031}, &gen, kCuda);
  const auto results = expect_deterministic("sum", [&] {
    return std::vector<Tensor>{x.sum(), m.sum({0}), m.sum({1}), m.mean()};
  });
  // And right: against a double-precision sum on the host.
  double exact = 0.0;
  for (float v : x.to_vector<float>()) exact += v;
  EXPECT_NEAR(results[0].item<float>(), exact, 1e-5 * exact);
  EXPECT_LE(rel_error(results[1], m.to(kCpu).sum({0})), 1e-5);
  EXPECT_LE(rel_error(results[2], m.to(kCpu).sum({1})), 1e-5);
}

TEST(CudaDeterminism, EmbeddingBackwardWithRepeatedIndices) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor weight = nn::randn({1000, 64}, &gen);
  // 16384 lookups of 16 rows: about a thousand gradients summed into each row
  const Tensor indices = nn::randint(0, 16, {128, 128}, &gen);
  const Tensor upstream = nn::randn({128, 128, 64}, &gen);
  auto run = [&](nn::Device device) {
    Tensor w = weight.to(device).detach().clone();
    w.set_requires_grad(true);
    nn::embedding(w, indices.to(device)).backward(upstream.to(device));
    return std::vector<Tensor>{w.grad()};
  };
  const auto cuda_grads = expect_deterministic("embedding backward", [&] { return run(kCuda); });
  EXPECT_LE(rel_error(cuda_grads[0], run(kCpu)[0]), 1e-5);
}

TEST(CudaDeterminism, LayerNormBackward) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor x = nn::randn({512, 1024}, &gen);
  const Tensor weight = nn::randn({1024}, &gen);
  const Tensor bias = nn::randn({1024}, &gen);
  const Tensor upstream = nn::randn({512, 1024}, &gen);
  auto run = [&](nn::Device device) {
    Tensor xd = x.to(device).detach().clone(), wd = weight.to(device).detach().clone(),
           bd = bias.to(device).detach().clone();
    for (Tensor* t : {&xd, &wd, &bd}) t->set_requires_grad(true);
    const Tensor y = nn::layer_norm(xd, {1024}, wd, bd, 1e-5);
    y.backward(upstream.to(device));
    return std::vector<Tensor>{y.detach(), xd.grad(), wd.grad(), bd.grad()};
  };
  const auto on_cuda = expect_deterministic("layer_norm", [&] { return run(kCuda); });
  const auto on_cpu = run(kCpu);
  for (std::size_t i = 0; i < on_cpu.size(); ++i) {
    EXPECT_LE(rel_error(on_cuda[i], on_cpu[i]), 1e-5)
        << "result " << i << " (y, dx, dweight, dbias)";
  }
}

TEST(CudaDeterminism, CrossEntropyBackward) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor logits = nn::randn({2048, 1000}, &gen) * 3.0;
  const Tensor target = nn::randint(0, 1000, {2048}, &gen);
  auto run = [&](nn::Device device) {
    Tensor l = logits.to(device).detach().clone();
    l.set_requires_grad(true);
    const Tensor loss =
        nn::cross_entropy(l, target.to(device), nn::CrossEntropyOptions().label_smoothing(0.1));
    loss.backward();
    return std::vector<Tensor>{loss.detach(), l.grad()};
  };
  const auto on_cuda = expect_deterministic("cross_entropy", [&] { return run(kCuda); });
  const auto on_cpu = run(kCpu);
  EXPECT_LE(rel_error(on_cuda[0], on_cpu[0]), 1e-5) << "loss";
  EXPECT_LE(rel_error(on_cuda[1], on_cpu[1]), 1e-5) << "dlogits";
}

// ============================================================================================
// The caching allocator
// ============================================================================================

constexpr std::int64_t kMiB = 1024 * 1024;

TEST(CudaAllocator, StatisticsFollowAllocationsAndFreedBlocksAreReused) {
  NN_REQUIRE_CUDA();
  nn::cuda::synchronize();
  nn::cuda::empty_cache();  // so that the first allocation below must come from cudaMalloc
  const std::int64_t n = 3 * kMiB / 4 + 1000;  // floats: 3 MiB and a bit, no round size
  const auto bytes = static_cast<std::size_t>(n) * 4;
  const nn::cuda::MemoryStats before = nn::cuda::memory_stats();
  nn::cuda::MemoryStats during;
  {
    const Tensor t = nn::empty({n}, kCuda);
    during = nn::cuda::memory_stats();
    EXPECT_GE(during.allocated - before.allocated, bytes);
    EXPECT_LE(during.allocated - before.allocated, bytes + bytes / 8)
        << "a block is at most 12.5% larger than asked";
    EXPECT_EQ(during.allocations, before.allocations + 1);
    EXPECT_EQ(during.cuda_mallocs, before.cuda_mallocs + 1) << "the cache was emptied";
    EXPECT_EQ(during.reserved - before.reserved, during.allocated - before.allocated);
    EXPECT_GE(during.peak_allocated, during.allocated);
    EXPECT_GE(during.peak_reserved, during.reserved);
  }
  const nn::cuda::MemoryStats after = nn::cuda::memory_stats();
  EXPECT_EQ(after.allocated, before.allocated) << "freed";
  EXPECT_EQ(after.reserved, during.reserved) << "kept in the cache";
  EXPECT_EQ(after.cuda_frees, before.cuda_frees);
  {
    const Tensor again = nn::empty({n}, kCuda);
    const nn::cuda::MemoryStats hit = nn::cuda::memory_stats();
    EXPECT_EQ(hit.cache_hits, after.cache_hits + 1) << "the same size again comes from the cache";
    EXPECT_EQ(hit.cuda_mallocs, after.cuda_mallocs);
    EXPECT_EQ(hit.reserved, after.reserved);
    EXPECT_EQ(hit.allocated, during.allocated);
  }
}

TEST(CudaAllocator, PeakTracksTheHighestAndResets) {
  NN_REQUIRE_CUDA();
  nn::cuda::synchronize();
  nn::cuda::reset_peak_memory_stats();
  const nn::cuda::MemoryStats start = nn::cuda::memory_stats();
  EXPECT_EQ(start.peak_allocated, start.allocated);
  EXPECT_EQ(start.peak_reserved, start.reserved);
  { const Tensor big = nn::empty({16 * kMiB}, kCuda); }  // 64 MiB, freed at once
  const nn::cuda::MemoryStats after = nn::cuda::memory_stats();
  EXPECT_EQ(after.allocated, start.allocated);
  EXPECT_GE(after.peak_allocated, start.allocated + 64 * kMiB);
  EXPECT_GE(after.peak_reserved, after.peak_allocated);
  nn::cuda::reset_peak_memory_stats();
  const nn::cuda::MemoryStats reset = nn::cuda::memory_stats();
  EXPECT_EQ(reset.peak_allocated, reset.allocated);
  EXPECT_EQ(reset.peak_reserved, reset.reserved);
}

TEST(CudaAllocator, EmptyCacheReturnsEveryFreeBlock) {
  NN_REQUIRE_CUDA();
  nn::cuda::synchronize();
  const Tensor keep = nn::full({kMiB / 4 + 3}, 3.0, kCuda);
  { const Tensor drop = nn::empty({8 * kMiB + 5}, kCuda); }
  const nn::cuda::MemoryStats cached = nn::cuda::memory_stats();
  EXPECT_GE(cached.reserved, cached.allocated + 32 * static_cast<std::size_t>(kMiB));
  nn::cuda::empty_cache();
  const nn::cuda::MemoryStats emptied = nn::cuda::memory_stats();
  EXPECT_EQ(emptied.reserved, emptied.allocated) << "only the blocks in use remain reserved";
  EXPECT_EQ(emptied.allocated, cached.allocated);
  EXPECT_GT(emptied.cuda_frees, cached.cuda_frees);
  // The tensor kept is untouched, and the size dropped must now come from cudaMalloc again.
  for (float v : keep.to_vector<float>()) ASSERT_EQ(v, 3.0f);
  { const Tensor again = nn::empty({8 * kMiB + 5}, kCuda); }
  EXPECT_EQ(nn::cuda::memory_stats().cuda_mallocs, emptied.cuda_mallocs + 1);
}

TEST(CudaAllocator, OutOfMemorySaysSoAndHowMuch) {
  NN_REQUIRE_CUDA();
  const std::int64_t floats = std::int64_t{1} << 48;  // 1 PiB
  const std::string asked = std::to_string(static_cast<unsigned long long>(floats) * 4);
  const std::string msg = error_message([&] { nn::empty({floats}, kCuda); });
  EXPECT_TRUE(contains(msg, "out of memory")) << msg;
  EXPECT_TRUE(contains(msg, asked))
      << "the message should give the bytes asked (" << asked << "): " << msg;
  // The allocator and the device still work afterwards.
  const Tensor small = nn::full({1000}, 2.0, kCuda);
  EXPECT_EQ(nn::sum(small).item<float>(), 2000.0f);
  EXPECT_FALSE(nn::cuda::memory_summary().empty());
  EXPECT_TRUE(contains(nn::cuda::memory_summary(), "allocated")) << nn::cuda::memory_summary();
}

// ============================================================================================
// Streams
// ============================================================================================

TEST(CudaStream, GuardSwitchesTheCurrentStreamAndRestoresIt) {
  NN_REQUIRE_CUDA();
#ifndef NN_TEST_HAVE_CUDART
  GTEST_SKIP()
      << "this test creates a stream with the CUDA runtime, which this build does not link";
#else
  const nn::cuda::StreamHandle own = nn::cuda::get_default_stream();
  ASSERT_NE(own, nullptr) << "libnn's own stream, never the legacy default stream";
  EXPECT_EQ(nn::cuda::get_current_stream(), own);
  cudaStream_t mine = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&mine, cudaStreamNonBlocking), cudaSuccess);
  {
    const nn::cuda::StreamGuard guard(mine);
    EXPECT_EQ(nn::cuda::get_current_stream(), static_cast<nn::cuda::StreamHandle>(mine));
    {
      const nn::cuda::StreamGuard inner(own);
      EXPECT_EQ(nn::cuda::get_current_stream(), own);
    }
    EXPECT_EQ(nn::cuda::get_current_stream(), static_cast<nn::cuda::StreamHandle>(mine));
    // Work on the user's stream gives the same results.
    nn::Generator gen = cuda_test::test_generator();
    const Tensor a = nn::randn({1000, 33}, &gen), b = nn::randn({1000, 33}, &gen);
    const Tensor c = nn::add(a.to(kCuda), b.to(kCuda)).exp();
    EXPECT_EQ(c.device(), kCuda);
    EXPECT_LE(rel_error(c, nn::add(a, b).exp()), 1e-6);
  }
  EXPECT_EQ(nn::cuda::get_current_stream(), own);
  // The cache remembers the stream of each freed block: return them all before destroying it.
  nn::cuda::synchronize();
  nn::cuda::empty_cache();
  EXPECT_EQ(cudaStreamDestroy(mine), cudaSuccess);
#endif
}

// ============================================================================================
// Matrix-product precision
// ============================================================================================

TEST(CudaMatmulPrecision, HighUsesTf32AndHighestMatchesCpu) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  // K = 1024 products per element: TF32's rounding shows clearly, float32's does not.
  const Tensor a = nn::randn({512, 1024}, &gen), b = nn::randn({1024, 512}, &gen);
  const Tensor reference = nn::matmul(a, b);
  const Tensor ad = a.to(kCuda), bd = b.to(kCuda);
  double highest = 0.0, high = 0.0;
  {
    const cuda_test::MatmulPrecisionGuard precision(nn::MatmulPrecision::Highest);
    highest = rel_error(nn::matmul(ad, bd), reference);
  }
  {
    const cuda_test::MatmulPrecisionGuard precision(nn::MatmulPrecision::High);
    high = rel_error(nn::matmul(ad, bd), reference);
  }
  EXPECT_LE(highest, 1e-5) << "\"highest\" computes in float32";
  EXPECT_LT(high, 1e-2) << "\"high\" (TF32) is still about 1e-3 accurate";
  // TF32 keeps 10 mantissa bits: about 3e-4 here. Much closer means "high" was ignored.
  EXPECT_GT(high, 1e-5) << "\"high\" gave float32 results: TF32 tensor cores were not used";
  // The setting is read at each call: back to highest, back to float32 results.
  const cuda_test::MatmulPrecisionGuard precision(nn::MatmulPrecision::Highest);
  EXPECT_LE(rel_error(nn::matmul(ad, bd), reference), 1e-5);
}

// "medium": the operands rounded to bf16, the products summed in float32. The oracle is the
// CPU's float32 product of the operands rounded here (bf16 times bf16 is exact in float32),
// once rounded to nearest and once truncated, since cuBLAS does not document which its
// conversion does; the GPU must match one of the two to float32 summation error, and be
// far from the unrounded product. (Every CUDA GEMM shares this one call: gemm.cu.)
TEST(CudaMatmulPrecision, MediumRoundsOperandsToBf16AndSumsInFloat32) {
  NN_REQUIRE_CUDA();
  nn::Generator gen = cuda_test::test_generator();
  const Tensor a = nn::randn({256, 1024}, &gen), b = nn::randn({1024, 384}, &gen);
  const Tensor exact = nn::matmul(a, b);
  const Tensor nearest = nn::matmul(cuda_test::rounded(a, cuda_test::kBf16Drop),
                                    cuda_test::rounded(b, cuda_test::kBf16Drop));
  const Tensor truncated = nn::matmul(cuda_test::rounded(a, cuda_test::kBf16Drop, false),
                                      cuda_test::rounded(b, cuda_test::kBf16Drop, false));
  Tensor got;
  {
    const cuda_test::MatmulPrecisionGuard precision(nn::MatmulPrecision::Medium);
    got = nn::matmul(a.to(kCuda), b.to(kCuda)).to(kCpu);
  }
  const double to_nearest = rel_error(got, nearest), to_truncated = rel_error(got, truncated);
  std::printf("bf16 matmul: vs operands rounded to nearest %.3g, truncated %.3g, exact %.3g\n",
              to_nearest, to_truncated, rel_error(got, exact));
  EXPECT_LE(std::min(to_nearest, to_truncated), 1e-5)
      << "\"medium\" is not the float32 product of bf16-rounded operands";
  // bf16 keeps 8 significant bits: about 3e-3 here. Much closer means the setting was ignored.
  EXPECT_GT(rel_error(got, exact), 3e-4) << "\"medium\" gave float32 (or TF32) results";
}

}  // namespace
