// Every PyTorch golden case (tests/libnn/golden/ops.safetensors) on the CUDA backend, twice:
//
//  GoldenReplay   the fixture's inputs moved to the GPU; every output and every gradient
//                 (after a backward seeded with the fixture's upstream gradients) against
//                 PyTorch's values, by test_golden.cpp's comparison (golden_support.hpp).
//  MatchesCpu     fresh inputs (the fixture's, each float perturbed by up to 20% keeping its
//                 sign; int64 targets and indices unchanged) run on the CPU and on the GPU
//                 with every CUDA allocation poisoned; every output, then every input gradient
//                 after a backward with the same random upstream gradients, CUDA against CPU.
//
// A case whose op (or its backward) has no CUDA kernel fails with the kernel table's message:
// a missing kernel is a bug of the backend, never a reason to skip. Without a GPU every case
// skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "golden_support.hpp"
#include "libnn/autograd.hpp"
#include "libnn/cuda.hpp"

namespace {

using cuda_test::kCpu;
using cuda_test::kCuda;
using cuda_test::rel_error;
using nn::Tensor;

// --- CUDA against CPU: tolerances ------------------------------------------------------------

// rel_error (||cuda - cpu|| / ||cpu||) allowed for an op's float outputs and gradients. Both
// compute in float32 with their own summation orders and their own exp / log / tanh, so a few
// float32 ulps relative to the tensor's norm: 1e-5. Wider only where there is a reason:
const std::map<std::string, double> kOpTolerance = {
    // The recurrence runs the gates' GEMM and transcendentals up to 12 times in a row (and the
    // backward through all of them), each step's rounding feeding the next.
    {"lstm_layer", 2e-5},
};

double tolerance_for(const std::string& op) {
  const auto it = kOpTolerance.find(op);
  return it == kOpTolerance.end() ? 1e-5 : it->second;
}

bool wants_grad(const golden::Case& c, int input) {
  return std::find(c.grads.begin(), c.grads.end(), input) != c.grads.end();
}

// Checks one CUDA result against the CPU's: device, shape and dtype, then the values (int64
// exactly, float32 by rel_error).
void expect_matches_cpu(const Tensor& on_cuda, const Tensor& on_cpu, double tolerance,
                        const std::string& what) {
  ASSERT_TRUE(on_cuda.defined()) << what << ": undefined on CUDA";
  ASSERT_TRUE(on_cpu.defined()) << what << ": undefined on the CPU";
  EXPECT_EQ(on_cuda.device(), kCuda)
      << what << ": expected on cuda:0, is on " << on_cuda.device().str();
  ASSERT_EQ(on_cuda.sizes(), on_cpu.sizes()) << what << ": shape";
  ASSERT_EQ(on_cuda.dtype(), on_cpu.dtype()) << what << ": dtype";
  if (on_cpu.dtype() == nn::DType::Int64) {
    EXPECT_EQ(on_cuda.to_vector<std::int64_t>(), on_cpu.to_vector<std::int64_t>())
        << what << ": int64 values differ (a -1 is an element the kernel did not write)";
    return;
  }
  const double err = rel_error(on_cuda, on_cpu);
  EXPECT_LE(err, tolerance) << what << ": ||cuda - cpu|| / ||cpu|| = " << err
                            << " (NaN anywhere reads as inf: an unwritten element is NaN); "
                            << "largest |cuda - cpu| = "
                            << cuda_test::max_abs_diff(on_cuda, on_cpu);
}

class CudaOps : public ::testing::TestWithParam<golden::Case> {};

TEST_P(CudaOps, GoldenReplay) {
  NN_REQUIRE_CUDA();
  const golden::Case& c = GetParam();
  const nn::io::StFile& file = golden::ops_file();
  cuda_test::MatmulPrecisionGuard precision;  // float32 GEMMs, as the reference
  cuda_test::PoisonGuard poison;

  std::vector<Tensor> inputs;
  for (int i = 0; i < c.inputs; ++i) {
    Tensor t =
        golden::to_tensor(golden::tensor(file, c.name + "/in" + std::to_string(i))).to(kCuda);
    if (wants_grad(c, i)) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  std::vector<Tensor> outputs;
  try {
    outputs = golden::run(c.op, c.args, inputs);
  } catch (const nn::Error& e) {
    FAIL() << c.name << ": op '" << c.op << "' failed on CUDA: " << e.what();
  }
  ASSERT_EQ(static_cast<int>(outputs.size()), c.outputs);
  std::vector<Tensor> roots, gouts;
  for (int j = 0; j < c.outputs; ++j) {
    const std::string name = c.name + "/out" + std::to_string(j);
    EXPECT_EQ(outputs[j].device(), kCuda) << name << ": output on " << outputs[j].device().str();
    golden::expect_close(outputs[j], golden::tensor(file, name), name, "CUDA");
    if (const auto* gout = file.find(c.name + "/gout" + std::to_string(j))) {
      roots.push_back(outputs[j]);
      gouts.push_back(golden::to_tensor(*gout).to(kCuda));
    }
  }
  if (c.grads.empty()) return;
  try {
    nn::backward(roots, gouts);
  } catch (const nn::Error& e) {
    FAIL() << c.name << ": backward of '" << c.op << "' failed on CUDA: " << e.what();
  }
  for (int i : c.grads) {
    const std::string name = c.name + "/grad" + std::to_string(i);
    ASSERT_TRUE(inputs[i].grad().defined()) << name << ": no gradient reached input " << i;
    EXPECT_EQ(inputs[i].grad().device(), kCuda)
        << name << ": gradient on " << inputs[i].grad().device().str();
    golden::expect_close(inputs[i].grad(), golden::tensor(file, name), name, "CUDA");
  }
}

TEST_P(CudaOps, MatchesCpuOnFreshInputs) {
  NN_REQUIRE_CUDA();
  const golden::Case& c = GetParam();
  const nn::io::StFile& file = golden::ops_file();
  cuda_test::MatmulPrecisionGuard precision;
  const double tolerance = tolerance_for(c.op);
  nn::Generator gen = cuda_test::test_generator();
  SCOPED_TRACE("seed " + std::to_string(gen.seed()) + " (set NN_TEST_SEED to draw others)");

  // One set of fresh inputs, cloned for each device: batch_norm in training updates its
  // running statistics (inputs 1 and 2) in place.
  std::vector<Tensor> cpu_in, cuda_in;
  for (int i = 0; i < c.inputs; ++i) {
    const Tensor base = cuda_test::perturb(
        golden::to_tensor(golden::tensor(file, c.name + "/in" + std::to_string(i))), gen);
    Tensor on_cpu = base.clone();
    Tensor on_cuda = base.to(kCuda);
    if (wants_grad(c, i)) {
      on_cpu.set_requires_grad(true);
      on_cuda.set_requires_grad(true);
    }
    cpu_in.push_back(on_cpu);
    cuda_in.push_back(on_cuda);
  }

  const std::vector<Tensor> cpu_out = golden::run(c.op, c.args, cpu_in);
  std::vector<Tensor> cuda_out;
  {
    cuda_test::PoisonGuard poison;
    try {
      cuda_out = golden::run(c.op, c.args, cuda_in);
    } catch (const nn::Error& e) {
      FAIL() << c.name << ": op '" << c.op << "' failed on CUDA: " << e.what();
    }
  }
  ASSERT_EQ(cuda_out.size(), cpu_out.size());
  for (std::size_t j = 0; j < cpu_out.size(); ++j) {
    expect_matches_cpu(cuda_out[j], cpu_out[j], tolerance, c.name + " output " + std::to_string(j));
  }
  if (c.grads.empty()) return;

  // The same random upstream gradient for every output on the graph, on both devices.
  std::vector<Tensor> cpu_roots, cpu_gouts, cuda_roots, cuda_gouts;
  for (std::size_t j = 0; j < cpu_out.size(); ++j) {
    if (!cpu_out[j].requires_grad()) continue;
    ASSERT_TRUE(cuda_out[j].requires_grad())
        << c.name << " output " << j << " has a history on the CPU but not on CUDA";
    const Tensor g = nn::randn(cpu_out[j].sizes(), &gen);
    cpu_roots.push_back(cpu_out[j]);
    cpu_gouts.push_back(g);
    cuda_roots.push_back(cuda_out[j]);
    cuda_gouts.push_back(g.to(kCuda));
  }
  ASSERT_FALSE(cpu_roots.empty()) << c.name << ": the case has gradients but no output needs one";
  nn::backward(cpu_roots, cpu_gouts);
  {
    cuda_test::PoisonGuard poison;
    try {
      nn::backward(cuda_roots, cuda_gouts);
    } catch (const nn::Error& e) {
      FAIL() << c.name << ": backward of '" << c.op << "' failed on CUDA: " << e.what();
    }
  }
  for (int i : c.grads) {
    const std::string what = c.name + " gradient of input " + std::to_string(i);
    ASSERT_TRUE(cpu_in[i].grad().defined()) << what << ": none on the CPU";
    ASSERT_TRUE(cuda_in[i].grad().defined()) << what << ": no gradient reached the CUDA input";
    expect_matches_cpu(cuda_in[i].grad(), cpu_in[i].grad(), tolerance, what);
  }
}

std::string case_name(const ::testing::TestParamInfo<golden::Case>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Golden, CudaOps,
                         ::testing::ValuesIn(golden::load_cases(golden::ops_file())), case_name);

}  // namespace
