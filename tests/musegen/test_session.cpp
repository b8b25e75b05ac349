// Opening a trained run (session.hpp: the model, the dataset its weights name or an override,
// the vocabulary check) and choosing a primer (primer.hpp): what `musegen generate` and
// `musegen eval --checkpoint` do before their work, and what a server will do per request.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "primer.hpp"
#include "session.hpp"
#include "tiny_run.hpp"

namespace {

using namespace musegen;
namespace fs = std::filesystem;

ModelConfig small_config() {
  ModelConfig config;
  config.embed = 6;
  config.hidden = 8;
  config.layers = 1;
  return config;
}

// The message of what `fn` throws as E ("" when it throws nothing).
template <class E, class Fn>
std::string message_of(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(Session, OpensTheModelAndTheDatasetItsWeightsName) {
  test_util::TempDir tmp("musegen_session");
  const fs::path dir = test::save_tiny_run(tmp.path() / "run", test::tiny_dataset(Encoding::roll),
                                           small_config());
  const nn::Generator::State global = nn::default_generator().state();
  const OpenedRun run = open_run(dir);
  EXPECT_EQ(nn::default_generator().state(), global)
      << "loading drew from the global generator (threads loading at once would race)";
  EXPECT_EQ(run.loaded.weights, RunDir{dir}.weights());
  EXPECT_FALSE(run.loaded.model->is_training());
  EXPECT_EQ(run.dataset_path, fs::absolute(dir / "tiny.mgds"));
  EXPECT_EQ(run.dataset.valid.size(), 3u);
  EXPECT_EQ(run.dataset.codec.encoding(), Encoding::roll);

  // An override wins over the metadata, and is checked the same way.
  const Dataset other = test::tiny_dataset(Encoding::roll);
  save_dataset(tmp.path() / "moved.mgds", other);
  EXPECT_EQ(open_run(dir, tmp.path() / "moved.mgds").dataset_path, tmp.path() / "moved.mgds");
}

TEST(Session, SaysWhatIsWrongWithARun) {
  test_util::TempDir tmp("musegen_session");
  const fs::path dir = test::save_tiny_run(tmp.path() / "run", test::tiny_dataset(Encoding::roll),
                                           small_config());
  // The dataset moved away.
  fs::rename(dir / "tiny.mgds", tmp.path() / "elsewhere.mgds");
  EXPECT_NE(message_of<std::runtime_error>([&] { open_run(dir); })
                .find("the run was trained on is missing; pass its new place with --dataset"),
            std::string::npos);
  // A dataset of another vocabulary.
  save_dataset(tmp.path() / "events.mgds", test::tiny_dataset(Encoding::events));
  EXPECT_NE(message_of<std::runtime_error>([&] { open_run(dir, tmp.path() / "events.mgds"); })
                .find("entries but the model was trained on 88"),
            std::string::npos);
  // Weights that name no dataset.
  nn::Generator init(1);
  ModelConfig config = small_config();
  config.encoding = Encoding::roll;
  config.vocab = kRollKeys;
  MusicModel model(config, &init);
  nn::save_weights(model, tmp.path() / "bare.safetensors", config.to_metadata());
  EXPECT_NE(message_of<std::runtime_error>([&] { open_run(tmp.path() / "bare.safetensors"); })
                .find("no dataset recorded in the weights' metadata; pass --dataset"),
            std::string::npos);
  // A folder without weights.
  EXPECT_NE(message_of<std::runtime_error>([&] { open_run(tmp.path()); })
                .find("no best.safetensors or model.safetensors in this folder"),
            std::string::npos);
}

TEST(Primer, ADatasetSequenceByIndexOrBySeedCutToItsSteps) {
  const Dataset data = test::tiny_dataset(Encoding::roll);
  PrimerOptions o;
  o.sequence = 2;
  o.steps = 5;
  Primer p = choose_primer(data, "tiny", o);
  EXPECT_EQ(p.sequence.steps(), 5);
  EXPECT_EQ(p.sequence.source, data.valid[2].source);
  EXPECT_TRUE(std::equal(p.sequence.frames.begin(), p.sequence.frames.end(), data.valid[2].frames.begin()));

  o.sequence = -1;  // picked by the seed: the same seed, the same sequence
  o.seed = 5;
  EXPECT_EQ(choose_primer(data, "tiny", o).sequence.frames, choose_primer(data, "tiny", o).sequence.frames);

  o.sequence = 3;  // past the validation split's end
  EXPECT_EQ(message_of<PrimerSequenceOutOfRange>([&] { choose_primer(data, "tiny", o); }),
            "--primer-sequence 3: the split has 3 sequences");

  o.steps = 0;  // roll: start from silence
  EXPECT_EQ(choose_primer(data, "tiny", o).sequence.steps(), 0);
}

TEST(Primer, TokenModelsStartFromTheFirstTrainingTokenWithoutAPrimer) {
  Dataset data = test::tiny_dataset(Encoding::events);
  PrimerOptions o;
  o.steps = 0;
  const Primer p = choose_primer(data, "tiny", o);
  ASSERT_EQ(p.sequence.tokens.size(), 1u);
  EXPECT_EQ(p.sequence.tokens[0], data.train[0].tokens[0]);
  EXPECT_EQ(p.sequence.source, "first token of " + data.train[0].source);

  data.train.clear();
  EXPECT_EQ(message_of<std::runtime_error>([&] { choose_primer(data, "tiny", o); }),
            "tiny: no token to start from; give --primer");
}

}  // namespace
