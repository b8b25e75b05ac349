// musegen render: a MIDI file → a WAV file, with the built-in synthesizer or, given
// --soundfont, with FluidSynth and that SoundFont: flags → render_midi_to_wav (audio/render.hpp,
// streamed to the file in blocks) → what was written.
#include <iomanip>
#include <iostream>
#include <stdexcept>

#include "cli.hpp"
#include "commands.hpp"
#include "fluid_render.hpp"
#include "outputs.hpp"
#include "render.hpp"

namespace musegen {

RenderedFile render_for_command(const std::string& input, const RenderRequest& request,
                                const std::filesystem::path& wav) {
  try {
    return render_midi_to_wav(std::filesystem::path(input), request, wav);
  } catch (const BadRenderRequest& e) {
    switch (e.field()) {
      case BadRenderRequest::Field::sample_rate: throw cli::UsageError(std::string("--sample-rate: ") + e.what());
      case BadRenderRequest::Field::gain_db: throw cli::UsageError(std::string("--gain-db: ") + e.what());
      case BadRenderRequest::Field::soundfont: throw std::runtime_error(std::string("--soundfont ") + e.what());
    }
    throw;
  }
}

const char* soundfont_option_help() {
  return soundfont_support_built_in() ? "render with FluidSynth and this SoundFont (.sf2) instead of the built-in synthesizer"
                                      : "render with FluidSynth and this SoundFont (not in this build: see below)";
}

void print_render_speed(std::ostream& out, const RenderedFile& r) {
  out << "rendered with " << r.synthesizer << " in " << std::fixed << std::setprecision(3) << r.render_cpu_seconds
      << " s of CPU: " << std::setprecision(0) << r.real_time_factor() << "x real time";
  if (r.load_cpu_seconds > 0) out << " (loading the SoundFont: " << std::setprecision(3) << r.load_cpu_seconds << " s)";
  out << "\n";
}

int cmd_render(Args args) {
  std::string input, output, soundfont;
  std::int64_t sample_rate = 44100;
  double gain_db = 0;
  bool verbose = false;
  cli::Parser p("render", "IN.mid OUT.wav [options]",
                "Renders every track of a MIDI file to a 16-bit stereo WAV file with the built-in\n"
                "synthesizer: a few timbres by General MIDI program family (piano, organ, strings\n"
                "and pads, brass, reeds, plucked, bass), drums on channel 10, velocity, sustain\n"
                "pedal and pitch bend; equal temperament with A4 = 440 Hz. With --soundfont it\n"
                "renders with FluidSynth and that SoundFont's sampled instruments instead. The mix\n"
                "is normalized so its loudest sample is at -1 dBFS: it never clips. The output is\n"
                "written atomically, and the same input always gives the same bytes.");
  p.positional("IN.mid", input, "the MIDI file to play")
      .positional("OUT.wav", output, "the WAV file to write")
      .option("sample-rate", sample_rate, "HZ", "frames per second", cli::range(kMinSampleRate, kMaxSampleRate))
      .option("gain-db", gain_db, "DB", "level of the loudest sample relative to -1 dBFS (louder would clip)",
              cli::range(kMinGainDb, kMaxGainDb).open_low())
      .option("soundfont", soundfont, "SF2", soundfont_option_help())
      .flag("verbose", verbose, "print how fast the audio was rendered")
      .epilog(std::string("examples:\n"
                          "  musegen render song.mid song.wav\n"
                          "  musegen render song.mid quiet.wav --gain-db -12\n\n") +
              soundfont_help());
  if (!p.parse(args)) return 0;
  cli::OutputCheck().input("the input", input).output("OUT.wav", output);

  const RenderedFile rendered = render_for_command(input, {soundfont, sample_rate, gain_db}, output);
  std::cout << "wrote " << output << ": " << std::fixed << std::setprecision(1) << rendered.seconds()
            << " s, " << rendered.sample_rate << " Hz, 16-bit stereo\n";
  if (verbose) print_render_speed(std::cout, rendered);
  return 0;
}

}  // namespace musegen
