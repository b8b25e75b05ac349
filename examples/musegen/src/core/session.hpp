// Opening a trained run to use it: the model, the metadata of its weights, and the dataset
// it was trained on (the file named in that metadata, or the caller's override), checked to
// agree. `musegen generate` and `musegen eval --checkpoint` start here; so will a server.
#pragma once

#include <filesystem>

#include "dataset.hpp"
#include "model.hpp"

namespace musegen {

struct OpenedRun {
  LoadedModel loaded;                  // the model (eval mode), its metadata, the file read
  Dataset dataset;                     // its codec turns the model's steps into music
  std::filesystem::path dataset_path;  // the file `dataset` was read from
};

// `run_dir_or_weights` as load_model() takes it. `dataset_override` empty: the dataset file
// the weights' metadata names ("musegen.dataset"). Throws std::runtime_error when the weights
// name no dataset and none is given, when the dataset file is missing, or when its
// vocabulary is not the model's; load_model()'s and load_dataset()'s errors otherwise.
// The model is put on `device` (load_model()); the dataset stays on the host.
OpenedRun open_run(const std::filesystem::path& run_dir_or_weights,
                   const std::filesystem::path& dataset_override = {},
                   nn::Device device = nn::Device::cpu());

}  // namespace musegen
