// Checkpoints in nn::Tensor terms: weights as safetensors (PyTorch's
// safetensors.torch.load_file reads them unchanged), and the training-state file (optimizer
// moments, step counts, schedule, RNG state and the caller's own fields such as the data
// position), versioned, checksummed and written atomically. The byte layouts and every
// check the readers make: docs/formats.md.
//
//   nn::save_weights(model, "run/model.safetensors");
//   nn::TrainingState state;
//   optimizer.save_state(state_part); state.merge(state_part.prefixed("optimizer."));
//   nn::save_generator(state, "rng.", nn::default_generator());
//   state.ints["data.position"] = batch_index;
//   nn::save_training_state("run/state.mgstate", state);
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "libnn/io/safetensors.hpp"
#include "libnn/module.hpp"
#include "libnn/optim/optimizer.hpp"
#include "libnn/random.hpp"
#include "libnn/tensor.hpp"

namespace nn {

using optim::TrainingState;

// One tensor <-> its safetensors form. float32 and int64 convert exactly; reading also accepts
// F64, F16 and BF16 (converted to float32) and I32 (to int64), as files made elsewhere use them.
io::StTensor to_safetensor(const std::string& name, const Tensor& tensor);
Tensor from_safetensor(const io::StTensor& tensor);

// Named tensors to and from a safetensors file (written atomically). `metadata` is the file's
// "__metadata__" (strings only).
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
NamedTensors load_safetensors(const std::filesystem::path& path,
                              std::map<std::string, std::string>* metadata = nullptr);

// A module's state_dict() as safetensors, and back through load_state_dict(strict): a file
// whose names or shapes do not match the module throws nn::Error naming the tensor.
void save_weights(const Module& module, const std::filesystem::path& path,
                  const std::map<std::string, std::string>& metadata = {});
void load_weights(Module& module, const std::filesystem::path& path, bool strict = true);

// The training-state file. A truncated, corrupted or future-version file throws
// nn::io::FormatError with the path and byte offset; nothing is half-loaded.
void save_training_state(const std::filesystem::path& path, const TrainingState& state);
TrainingState load_training_state(const std::filesystem::path& path);

// A generator's state as two ints under `prefix` ("rng." -> "rng.seed", "rng.offset").
void save_generator(TrainingState& state, const std::string& prefix, const Generator& generator);
// Restores it; throws nn::Error if the keys are missing.
void load_generator(const TrainingState& state, const std::string& prefix, Generator& generator);

}  // namespace nn
