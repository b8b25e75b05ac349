// nn::cuda::set_lstm_algorithm and last_lstm_run (libnn/cuda.hpp): the setting and the record
// of what ran, in every build (a build without CUDA keeps the setting and never runs it).
#include "core/lstm_algorithm.hpp"

#include <atomic>

#include "core/check.hpp"
#include "libnn/cuda.hpp"

namespace nn::cuda {

namespace {
std::atomic<LstmAlgorithm> g_algorithm{LstmAlgorithm::Auto};
thread_local LstmRun t_last_run;
}  // namespace

void set_lstm_algorithm(LstmAlgorithm algorithm) { g_algorithm.store(algorithm); }

void set_lstm_algorithm(const std::string& algorithm) {
  for (const LstmAlgorithm a : {LstmAlgorithm::Auto, LstmAlgorithm::Stepwise,
                                LstmAlgorithm::Persistent, LstmAlgorithm::Cudnn}) {
    if (algorithm == lstm_algorithm_name(a)) {
      set_lstm_algorithm(a);
      return;
    }
  }
  throw Error(fmt::format(
      "set_lstm_algorithm: expected auto, stepwise, persistent or cudnn, got '{}'", algorithm));
}

LstmAlgorithm lstm_algorithm() { return g_algorithm.load(); }

std::string lstm_algorithm_name(LstmAlgorithm algorithm) {
  switch (algorithm) {
    case LstmAlgorithm::Auto:
      return "auto";
    case LstmAlgorithm::Stepwise:
      return "stepwise";
    case LstmAlgorithm::Persistent:
      return "persistent";
    case LstmAlgorithm::Cudnn:
      return "cudnn";
  }
  return "?";
}

LstmRun last_lstm_run() { return t_last_run; }

namespace detail {
void record_lstm_run(bool backward, std::string what) {
  (backward ? t_last_run.backward : t_last_run.forward) = std::move(what);
}
}  // namespace detail

}  // namespace nn::cuda
