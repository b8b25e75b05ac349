// --device cpu|cuda|auto, for the commands that run the model (train, generate, eval,
// accompany): where libnn runs it. Parsed by the Parser as a string and resolved once, before
// any work, by choose_device():
//
//   std::string device = "cpu";
//   cli::add_device_option(p, device);
//   if (!p.parse(args)) return 0;
//   const nn::Device on = cli::choose_device(device, quiet ? nullptr : &std::cerr);
//
// The default is cpu, not auto: a seed gives the same piece on every machine only on one
// device (float sums on a GPU round differently, docs/musegen.md "Devices"), and a command
// that went to the GPU by itself would change what an existing script produces on a machine
// that happens to have one. A GPU is asked for (cuda) or allowed (auto).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <libnn/dtype.hpp>
#include <string>

#include "cli.hpp"

namespace musegen::cli {

// Adds --device NAME (cpu, cuda or auto) bound to `device`; the value is checked by
// choose_device() (a UsageError naming the three).
Parser& add_device_option(Parser& p, std::string& device);

// The device a parsed --device names. "cpu": the CPU, and nothing is printed (the output of
// a command without --device stays what it was). "cuda": the first GPU, or a
// std::runtime_error "--device cuda: no CUDA device: <why>" when libnn has none (built without
// CUDA, no driver, no GPU), thrown before any work. "auto": the GPU when there is one, else
// the CPU. For cuda and auto the choice is said on `log` (when not null) as the command's
// first line: "device: cuda:0 (--device auto)", "device: cpu (--device auto: no CUDA
// device: <why>)". Throws UsageError for any other name.
nn::Device choose_device(const std::string& device, std::ostream* log);

// --lstm-algorithm auto|stepwise|persistent|cudnn (train): how the LSTM layers run on a GPU
// (nn::cuda::set_lstm_algorithm; docs/libnn.md, "The LSTM on CUDA"). The default, auto, is
// libnn's default (stepwise until a GPU run has checked the others).
Parser& add_lstm_algorithm_option(Parser& p, std::string& algorithm);

// --precision fp32|tf32|bf16 (train, gan-train): the GPU's matrix-product precision for the
// run (train/precision.hpp), bound to `precision`.
Parser& add_precision_option(Parser& p, std::string& precision);
// Throws UsageError naming fp32, tf32 and bf16 when `precision` is none of them. (tf32 and
// bf16 on the CPU are refused by train() / gan_train(), which know the resumed run's value.)
void check_precision_option(const std::string& precision);

// Sets libnn's LSTM algorithm from a parsed --lstm-algorithm. Throws UsageError naming the
// four for any other name. On a GPU, a choice other than auto is said on `log` (when not
// null): "lstm: persistent (--lstm-algorithm)"; on the CPU it changes nothing and says
// "lstm: --lstm-algorithm persistent has no effect on the cpu".
void apply_lstm_algorithm(const std::string& algorithm, const nn::Device& device,
                          std::ostream* log);

// The options that say where and how a command runs its model, bound together and resolved
// in one order: --threads and --device for every command that runs a model, and for the
// training commands --lstm-algorithm and --precision too.
//
//   cli::ComputeOptions compute;
//   compute.add_to(p);                           // train: compute.add_training_to(p, o.precision)
//   if (!p.parse(args)) return 0;
//   const nn::Device device = compute.resolve(quiet ? nullptr : &std::cerr);
struct ComputeOptions {
  std::int64_t threads = 0;
  std::string device = "cpu";
  std::string lstm_algorithm = "auto";

  // --threads and --device.
  void add_to(Parser& p);
  // add_to's two, --lstm-algorithm, and --precision bound to `precision` (a field of the
  // command's options, saved with its run).
  void add_training_to(Parser& p, std::string& precision);
  // After parse(), before any work: checks --precision (when bound), applies --threads,
  // chooses the device (choose_device: --device cuda without a GPU fails here, auto says what
  // it chose on `log`) and, for training, applies --lstm-algorithm. Returns the device.
  nn::Device resolve(std::ostream* log) const;

 private:
  const std::string* precision_ = nullptr;
};

}  // namespace musegen::cli
