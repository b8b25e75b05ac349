#include "session.hpp"

#include <stdexcept>
#include <string>

namespace musegen {

OpenedRun open_run(const std::filesystem::path& run_dir_or_weights,
                   const std::filesystem::path& dataset_override, nn::Device device) {
  OpenedRun run;
  run.loaded = load_model(run_dir_or_weights, device);
  const LoadedModel& loaded = run.loaded;
  std::string dataset_path = dataset_override.string();
  if (dataset_path.empty()) {
    auto it = loaded.metadata.find("musegen.dataset");
    if (it == loaded.metadata.end()) {
      throw std::runtime_error(loaded.weights.string() +
                               ": no dataset recorded in the weights' metadata; pass --dataset");
    }
    dataset_path = it->second;
  }
  if (!std::filesystem::exists(dataset_path)) {
    throw std::runtime_error("the dataset file " + dataset_path + " the run was trained on is " +
                             "missing; pass its new place with --dataset");
  }
  run.dataset = load_dataset(dataset_path);
  run.dataset_path = dataset_path;
  const Codec& codec = run.dataset.codec;
  if (codec.vocab_size() != loaded.model->config().vocab) {
    throw std::runtime_error(dataset_path + ": its vocabulary has " + std::to_string(codec.vocab_size()) +
                             " entries but the model was trained on " +
                             std::to_string(loaded.model->config().vocab));
  }
  return run;
}

}  // namespace musegen
