// The subcommands of `musegen`, one function each (src/cmd_<name>.cpp). Each takes the
// arguments after the subcommand name, prints its own --help, and returns the process exit
// code: 0 success, 1 failure (the error is printed by main), 2 bad usage.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace musegen {

using Args = std::span<const std::string>;

int cmd_preprocess(Args args);
int cmd_train(Args args);
int cmd_generate(Args args);
int cmd_to_midi(Args args);
int cmd_eval(Args args);
int cmd_datasets(Args args);
int cmd_render(Args args);
int cmd_play(Args args);
int cmd_plot(Args args);
int cmd_plot_metrics(Args args);

// The synthesizer options of render and play from their flags (--sample-rate, --gain-db,
// --soundfont), checked: cli::UsageError for a value out of range, and an error for
// --soundfont, which needs FluidSynth (not built in). In cmd_render.cpp.
struct SynthOptions;
SynthOptions synth_options_from_flags(std::int64_t sample_rate, double gain_db,
                                      const std::string& soundfont);

}  // namespace musegen
