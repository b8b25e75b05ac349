// The subcommands of `musegen`, one function each (src/cmd_<name>.cpp). Each takes the
// arguments after the subcommand name, prints its own --help, and returns the process exit
// code: 0 success, 1 failure (the error is printed by main), 2 bad usage.
#pragma once

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

}  // namespace musegen
