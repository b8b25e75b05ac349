// The table of GAN models: the one place that knows which models exist (gan.hpp).
#include <stdexcept>

#include "crnngan.hpp"
#include "gan.hpp"
#include "rollgan.hpp"

namespace musegen {

const std::vector<GanModel>& gan_models() {
  static const std::vector<GanModel> models = {
      {"crnngan", true,
       "C-RNN-GAN (Mogren 2016): LSTM generator of note features, bidirectional LSTM discriminator",
       make_crnngan_task, crnngan_generate},
      {"rollgan", true,
       "multi-track piano-roll GAN (MuseGAN's hybrid model: bars of piano roll, one channel per "
       "track, shared and private noise, WGAN-GP)",
       make_rollgan_task, rollgan_generate, check_rollgan_options},
  };
  return models;
}

const GanModel& gan_model(std::string_view name) {
  std::string names;
  for (const GanModel& m : gan_models()) {
    if (m.name == name) {
      if (!m.built || m.make_task == nullptr || m.generate == nullptr) {
        throw std::runtime_error("--model " + std::string(name) + ": not built yet (" +
                                 std::string(m.summary) + "); use --model crnngan");
      }
      return m;
    }
    names += (names.empty() ? "" : ", ") + std::string(m.name);
  }
  throw std::invalid_argument("--model: expected one of " + names + ", found \"" +
                              std::string(name) + "\"");
}

}  // namespace musegen
