// The musegen model's checkpoint loads into the equivalent torch.nn model (strict names and
// shapes, PyTorch's LSTM gate order) and gives the same logits: tests/musegen/model_torch_check.py,
// run with /usr/bin/python3 (skipped when it cannot import torch).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "model.hpp"
#include "test_support.hpp"

namespace {

using namespace musegen;

TEST(ModelTorch, CheckpointLoadsIntoTorchAndGivesTheSameLogits) {
  if (!test::python_has("torch")) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (apt-get install python3-torch)";
  test_util::TempDir dir;
  for (Encoding encoding : {Encoding::events, Encoding::roll}) {
    ModelConfig config;
    config.encoding = encoding;
    config.vocab = encoding == Encoding::roll ? kRollKeys : 29;
    config.embed = 12;
    config.hidden = 16;
    config.layers = 2;
    config.dropout = 0.3;
    nn::Generator g(11);
    MusicModel model(config, &g);
    model.eval();
    const std::int64_t T = 7, B = 3;
    nn::Tensor input = encoding == Encoding::roll
                           ? nn::bernoulli({T, B, kRollKeys}, 0.2, &g)
                           : nn::randint(0, config.vocab, {T, B}, &g);
    nn::Tensor logits;
    {
      nn::NoGradGuard guard;
      logits = std::get<0>(model.forward(input));
    }
    const auto weights = dir.path() / ("w-" + std::string(encoding_name(encoding)) + ".safetensors");
    const auto io = dir.path() / ("io-" + std::string(encoding_name(encoding)) + ".safetensors");
    nn::save_weights(model, weights, config.to_metadata());
    nn::NamedTensors tensors;
    tensors.insert("input", input);
    tensors.insert("logits", logits);
    nn::save_safetensors(io, tensors);
    std::string out;
    const bool ok = test::run_capture("/usr/bin/python3 " MUSEGEN_TEST_DIR "/model_torch_check.py '" +
                                          weights.string() + "' '" + io.string() + "' 2>&1",
                                      out);
    EXPECT_TRUE(ok) << out;
    EXPECT_NE(out.find("OK: "), std::string::npos) << out;
  }
}

}  // namespace
