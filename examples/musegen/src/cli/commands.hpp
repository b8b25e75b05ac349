// The subcommands of `musegen`, one function each (src/cmd_<name>.cpp). Each takes the
// arguments after the subcommand name, prints its own --help, and returns the process exit
// code: 0 success, 1 failure (the error is printed by main), 2 bad usage.
#pragma once

#include <iosfwd>
#include <span>
#include <string>

#include "render.hpp"

namespace musegen {

using Args = std::span<const std::string>;

int cmd_preprocess(Args args);
int cmd_train(Args args);
int cmd_gan_train(Args args);
int cmd_gan_generate(Args args);
int cmd_generate(Args args);
int cmd_accompany(Args args);
int cmd_instruments(Args args);
int cmd_to_midi(Args args);
int cmd_eval(Args args);
int cmd_datasets(Args args);
int cmd_render(Args args);
int cmd_play(Args args);
int cmd_plot(Args args);
int cmd_plot_metrics(Args args);
int cmd_serve(Args args);

// What render and play share (in cmd_render.cpp): the render service (audio/render.hpp)
// with its errors said in terms of the flags.
//
// render_midi_to_wav(input, request, wav), where a BadRenderRequest becomes cli::UsageError
// for --sample-rate and --gain-db ("--sample-rate: expected 8000..192000, found 100"), and an
// error with the instructions to get FluidSynth for --soundfont in a build without it; all
// of them before the file is read.
RenderedFile render_for_command(const std::string& input, const RenderRequest& request,
                                const std::filesystem::path& wav);

// The --soundfont option's help line, which says whether this build has FluidSynth.
const char* soundfont_option_help();

// "rendered with ... in 0.123 s of CPU: 456x real time (loading the SoundFont: 0.2 s)".
void print_render_speed(std::ostream& out, const RenderedFile& rendered);

}  // namespace musegen
