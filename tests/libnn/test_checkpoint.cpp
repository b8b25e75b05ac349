// Checkpoints in Tensor terms (libnn/checkpoint.hpp): weights through safetensors, and the
// training-state file resuming a run bit-exactly; damaged files are refused with the path.
#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "libnn/checkpoint.hpp"
#include "libnn/io/state_file.hpp"
#include "libnn/modules/activation.hpp"
#include "libnn/modules/linear.hpp"
#include "libnn/modules/sequential.hpp"
#include "libnn/ops.hpp"
#include "libnn/optim.hpp"

namespace {

namespace fs = std::filesystem;

using test_util::TempDir;

std::shared_ptr<nn::Sequential> make_model() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(5, 8), std::make_shared<nn::Tanh>(),
                                          std::make_shared<nn::Linear>(8, 3));
}

TEST(Checkpoint, WeightsRoundTripExactly) {
  TempDir dir;
  nn::manual_seed(1);
  auto a = make_model();
  nn::save_weights(*a, dir.path() / "w.safetensors", {{"note", "test"}});
  nn::manual_seed(2);
  auto b = make_model();
  ASSERT_NE(a->state_dict()["0.weight"].to_vector<float>(), b->state_dict()["0.weight"].to_vector<float>());
  nn::load_weights(*b, dir.path() / "w.safetensors");
  for (const auto& [name, tensor] : a->state_dict()) {
    EXPECT_EQ(tensor.to_vector<float>(), b->state_dict()[name].to_vector<float>()) << name;
  }
  std::map<std::string, std::string> metadata;
  const nn::NamedTensors raw = nn::load_safetensors(dir.path() / "w.safetensors", &metadata);
  EXPECT_EQ(metadata.at("note"), "test");
  EXPECT_EQ(raw.keys(), (std::vector<std::string>{"0.bias", "0.weight", "2.bias", "2.weight"}))
      << "the file's order (the reference's: by dtype, then by name)";
}

TEST(Checkpoint, MismatchedOrDamagedWeightsAreRefused) {
  TempDir dir;
  auto a = make_model();
  const fs::path file = dir.path() / "w.safetensors";
  nn::save_weights(*a, file);
  auto wrong = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(5, 9));
  try {
    nn::load_weights(*wrong, file);
    FAIL() << "a model of another shape must not load";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("0.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  // Truncated: the reader says so, with the path; the model keeps its weights.
  const auto before = a->state_dict()["0.weight"].to_vector<float>();
  const auto size = fs::file_size(file);
  fs::resize_file(file, size - 7);
  try {
    nn::load_weights(*a, file);
    FAIL() << "a truncated file must not load";
  } catch (const nn::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(before, a->state_dict()["0.weight"].to_vector<float>());
}

// Trains `steps` Adam steps on fixed data; returns the losses.
std::vector<float> train(nn::Sequential& model, nn::optim::Adam& opt, nn::optim::StepLR& sched,
                         nn::Generator& data_gen, int steps) {
  std::vector<float> losses;
  for (int i = 0; i < steps; ++i) {
    const nn::Tensor x = nn::randn({16, 5}, &data_gen);
    const nn::Tensor y = nn::randint(0, 3, {16}, &data_gen);
    const nn::Tensor hidden = nn::dropout(x, 0.2, true, &data_gen);
    nn::Tensor loss = nn::cross_entropy(model.forward(hidden), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    sched.step();
    losses.push_back(loss.item<float>());
  }
  return losses;
}

TEST(Checkpoint, TrainingStateResumesBitExactly) {
  TempDir dir;
  auto run = [](nn::Sequential& model) {
    return nn::optim::Adam(model.parameters(), nn::optim::AdamOptions(1e-2));
  };
  // Uninterrupted: 6 steps.
  nn::manual_seed(7);
  auto model = make_model();
  auto opt = run(*model);
  nn::optim::StepLR sched(opt, 2, 0.5);
  nn::Generator data_gen(11);
  std::vector<float> straight = train(*model, opt, sched, data_gen, 6);

  // Interrupted after 3: save everything, rebuild from scratch, load, go on.
  nn::manual_seed(7);
  auto first = make_model();
  auto opt1 = run(*first);
  nn::optim::StepLR sched1(opt1, 2, 0.5);
  nn::Generator gen1(11);
  std::vector<float> resumed = train(*first, opt1, sched1, gen1, 3);
  nn::save_weights(*first, dir.path() / "model.safetensors");
  nn::TrainingState state, part;
  opt1.save_state(part);
  state.merge(part.prefixed("optimizer."));
  nn::TrainingState sched_part;
  sched1.save_state(sched_part);
  state.merge(sched_part.prefixed("scheduler."));
  nn::save_generator(state, "data_rng.", gen1);
  state.ints["data.step"] = 3;
  nn::save_training_state(dir.path() / "state.mgstate", state);

  nn::manual_seed(99);  // a different initialization, overwritten by the load
  auto second = make_model();
  auto opt2 = run(*second);
  nn::optim::StepLR sched2(opt2, 2, 0.5);
  nn::Generator gen2(12345);
  nn::load_weights(*second, dir.path() / "model.safetensors");
  const nn::TrainingState loaded = nn::load_training_state(dir.path() / "state.mgstate");
  opt2.load_state(loaded.sub("optimizer."));
  sched2.load_state(loaded.sub("scheduler."));
  nn::load_generator(loaded, "data_rng.", gen2);
  EXPECT_EQ(loaded.ints.at("data.step"), 3);
  for (float l : train(*second, opt2, sched2, gen2, 3)) resumed.push_back(l);

  EXPECT_EQ(straight, resumed) << "a resumed run must give the same losses, bit for bit";
  EXPECT_EQ(opt.lr(), opt2.lr());
}

TEST(Checkpoint, DamagedTrainingStateIsRefused) {
  TempDir dir;
  nn::TrainingState state;
  state.tensors["m"] = nn::ones({4, 4});
  state.ints["step"] = 10;
  const fs::path file = dir.path() / "state.mgstate";
  nn::save_training_state(file, state);
  std::vector<char> bytes(fs::file_size(file));
  std::ifstream(file, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes[bytes.size() / 2] ^= 0x10;  // one flipped bit in the payload
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_THROW(nn::load_training_state(file), nn::io::FormatError);
  fs::resize_file(file, 30);
  EXPECT_THROW(nn::load_training_state(file), nn::io::FormatError);
  nn::Generator g;
  EXPECT_THROW(nn::load_generator(nn::TrainingState{}, "rng.", g), nn::Error);
}

TEST(Checkpoint, ForeignDtypesConvert) {
  nn::io::StTensor half{"h", nn::io::StDType::F16, {3}, {}};
  const std::uint16_t values[3] = {0x3c00, 0xc000, 0x3555};  // 1, -2, 0.333251953125
  half.data.resize(6);
  std::memcpy(half.data.data(), values, 6);
  EXPECT_EQ(nn::from_safetensor(half).to_vector<float>(), (std::vector<float>{1.0f, -2.0f, 0.333251953125f}));
  nn::io::StTensor bf{"b", nn::io::StDType::BF16, {1}, {}};
  const std::uint16_t bf_value = 0x4049;  // 3.140625
  bf.data.resize(2);
  std::memcpy(bf.data.data(), &bf_value, 2);
  EXPECT_EQ(nn::from_safetensor(bf).item<float>(), 3.140625f);
  nn::io::StTensor u8{"u", nn::io::StDType::U8, {1}, {std::byte{1}}};
  EXPECT_THROW(nn::from_safetensor(u8), nn::Error);
}

}  // namespace
