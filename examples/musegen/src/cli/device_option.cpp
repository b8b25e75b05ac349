#include "device_option.hpp"

#include <libnn/cuda.hpp>
#include <ostream>
#include <stdexcept>

#include "precision.hpp"

namespace musegen::cli {

Parser& add_device_option(Parser& p, std::string& device) {
  return p.option("device", device, "NAME",
                  "where the model runs: cpu, cuda (the GPU; an error without one) or auto (the "
                  "GPU when there is one, else the CPU; the choice is printed first). Results on "
                  "a GPU match the CPU's to float rounding, not bit for bit (docs/musegen.md, "
                  "\"Devices\")");
}

nn::Device choose_device(const std::string& device, std::ostream* log) {
  if (device == "cpu") return nn::Device::cpu();
  if (device != "cuda" && device != "auto") {
    throw UsageError("--device: expected cpu, cuda or auto, found \"" + device + "\"");
  }
  // is_available() never throws: no driver, or a driver too old, reads as "no device".
  if (nn::cuda::is_available()) {
    const nn::Device gpu = nn::Device::cuda(0);
    if (log != nullptr) *log << "device: " << gpu.str() << " (--device " << device << ")\n";
    return gpu;
  }
  const std::string why = "no CUDA device: " + nn::cuda::unavailable_reason();
  if (device == "cuda") throw std::runtime_error("--device cuda: " + why);
  if (log != nullptr) *log << "device: cpu (--device auto: " << why << ")\n";
  return nn::Device::cpu();
}

Parser& add_lstm_algorithm_option(Parser& p, std::string& algorithm) {
  return p.option("lstm-algorithm", algorithm, "NAME",
                  "how the LSTM layers run on a GPU: auto (the default: stepwise), stepwise "
                  "(cuBLAS per step), persistent (one kernel keeping w_hh on chip; stepwise "
                  "when it does not fit) or cudnn (cuDNN's RNN; needs libcudnn)");
}

Parser& add_precision_option(Parser& p, std::string& precision) {
  return p.option("precision", precision, "NAME",
                  "the GPU's matrix products: fp32 (the default), tf32 (operands rounded to TF32 "
                  "on tensor cores) or bf16 (operands rounded to bf16); sums, weights, gradients "
                  "and the LSTM's cells stay float32 in all three. tf32 and bf16 need --device "
                  "cuda. Saved with the run and kept on --resume (docs/libnn.md, \"Matrix product "
                  "precision\")");
}

void check_precision_option(const std::string& precision) {
  try {
    matmul_precision_for(precision);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

void apply_lstm_algorithm(const std::string& algorithm, const nn::Device& device,
                          std::ostream* log) {
  if (algorithm != "auto" && algorithm != "stepwise" && algorithm != "persistent" &&
      algorithm != "cudnn") {
    throw UsageError("--lstm-algorithm: expected auto, stepwise, persistent or cudnn, found \"" +
                     algorithm + "\"");
  }
  nn::cuda::set_lstm_algorithm(algorithm);
  if (algorithm == "auto" || log == nullptr) return;
  if (device.type == nn::DeviceType::CUDA) {
    *log << "lstm: " << algorithm << " (--lstm-algorithm)\n";
  } else {
    *log << "lstm: --lstm-algorithm " << algorithm << " has no effect on the cpu\n";
  }
}

void ComputeOptions::add_to(Parser& p) {
  add_threads_option(p, threads);
  add_device_option(p, device);
}

void ComputeOptions::add_training_to(Parser& p, std::string& precision) {
  add_to(p);
  add_lstm_algorithm_option(p, lstm_algorithm);
  add_precision_option(p, precision);
  precision_ = &precision;
}

nn::Device ComputeOptions::resolve(std::ostream* log) const {
  if (precision_ != nullptr) check_precision_option(*precision_);
  apply_threads(threads);
  const nn::Device on = choose_device(device, log);
  // --lstm-algorithm is bound with --precision, by add_training_to.
  if (precision_ != nullptr) apply_lstm_algorithm(lstm_algorithm, on, log);
  return on;
}

}  // namespace musegen::cli
