// The files of a run folder, named once. `musegen train` writes them; generate, eval, plot and
// (later) the web page read them. Every other file names a run's file through this struct.
//
//   state.mgstate        everything needed to continue exactly (libnn's training-state file:
//                        checksummed, written atomically)
//   model.safetensors    the latest weights, with the model's configuration as metadata
//   best.safetensors     the weights of the best validation loss so far
//   metrics.csv          one row per log interval and per epoch (train/metrics_log.hpp)
//   events.out.tfevents.*  TensorBoard event files, one per session (train/tensorboard_log.hpp)
//   lock                 held (flock) by the one `musegen train` writing the folder; names it
//                        (run_lock.hpp)
#pragma once

#include <filesystem>

namespace musegen {

struct RunDir {
  static constexpr const char* kState = "state.mgstate";
  static constexpr const char* kWeights = "model.safetensors";
  static constexpr const char* kBest = "best.safetensors";
  static constexpr const char* kMetrics = "metrics.csv";
  static constexpr const char* kLock = "lock";

  std::filesystem::path root;

  std::filesystem::path state() const { return root / kState; }
  std::filesystem::path weights() const { return root / kWeights; }
  std::filesystem::path best() const { return root / kBest; }
  std::filesystem::path metrics() const { return root / kMetrics; }
  std::filesystem::path lock() const { return root / kLock; }
};

}  // namespace musegen
