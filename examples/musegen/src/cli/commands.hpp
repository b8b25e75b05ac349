// The subcommands of `musegen`, one function each (src/cmd_<name>.cpp). Each takes the
// arguments after the subcommand name, prints its own --help, and returns the process exit
// code: 0 success, 1 failure (the error is printed by main), 2 bad usage.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>

#include "libmidi/midi_file.hpp"
#include "synth.hpp"

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

// What render and play share (in cmd_render.cpp).
//
// The synthesizer options from their flags (--sample-rate, --gain-db, --soundfont), checked:
// cli::UsageError for a value out of range, and an error with the instructions to get
// FluidSynth for --soundfont in a build without it (before any file is read).
SynthOptions synth_options_from_flags(std::int64_t sample_rate, double gain_db,
                                      const std::string& soundfont);

// The --soundfont option's help line, which says whether this build has FluidSynth.
const char* soundfont_option_help();

// The audio of a file, rendered with the built-in synthesizer (soundfont empty) or with
// FluidSynth and the SoundFont, and the CPU time it took (for --verbose).
struct RenderedAudio {
  Audio audio;
  std::string synthesizer;          // "the built-in synthesizer", "FluidSynth (FluidR3_GM.sf2)"
  double load_cpu_seconds = 0;      // loading the SoundFont (0 for the built-in synthesizer)
  double render_cpu_seconds = 0;
};
RenderedAudio render_for_command(const midi::MidiFile& file, const std::string& soundfont,
                                 const SynthOptions& options);

// "rendered with ... in 0.123 s of CPU: 456x real time (loading the SoundFont: 0.2 s)".
void print_render_speed(std::ostream& out, const RenderedAudio& rendered);

}  // namespace musegen
