// musegen render: a MIDI file → a WAV file, with the built-in synthesizer (synth.hpp) or,
// given --soundfont, with FluidSynth and that SoundFont (fluid_render.hpp).
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <stdexcept>

#include "cli.hpp"
#include "commands.hpp"
#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "synth.hpp"
#include "wav.hpp"

namespace musegen {

SynthOptions synth_options_from_flags(std::int64_t sample_rate, double gain_db,
                                      const std::string& soundfont) {
  if (sample_rate < 8000 || sample_rate > 192000)
    throw cli::UsageError("--sample-rate: expected 8000..192000, found " + std::to_string(sample_rate));
  if (!(gain_db <= 1 && gain_db > -100))
    throw cli::UsageError("--gain-db: expected -100 < DB <= 1 (louder would clip), found " + std::to_string(gain_db));
  if (!soundfont.empty() && !soundfont_support_built_in())
    throw std::runtime_error("--soundfont " + soundfont + ": FluidSynth support is not built in.\n" + kSoundFontHelp);
  SynthOptions options;
  options.sample_rate = static_cast<int>(sample_rate);
  options.gain_db = gain_db;
  return options;
}

const char* soundfont_option_help() {
  return soundfont_support_built_in() ? "render with FluidSynth and this SoundFont (.sf2) instead of the built-in synthesizer"
                                      : "render with FluidSynth and this SoundFont (not in this build: see below)";
}

RenderedAudio render_for_command(const midi::MidiFile& file, const std::string& soundfont,
                                 const SynthOptions& options) {
  RenderedAudio result;
  const std::clock_t begin = std::clock();
  if (soundfont.empty()) {
    result.audio = render(file, options);
    result.render_cpu_seconds = static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC;
    result.synthesizer = "the built-in synthesizer";
    return result;
  }
  const SoundFontSynth synth(soundfont, options);
  const std::clock_t loaded = std::clock();
  result.audio = synth.render(file);
  result.load_cpu_seconds = static_cast<double>(loaded - begin) / CLOCKS_PER_SEC;
  result.render_cpu_seconds = static_cast<double>(std::clock() - loaded) / CLOCKS_PER_SEC;
  result.synthesizer = "FluidSynth (" + std::filesystem::path(soundfont).filename().string() + ")";
  return result;
}

void print_render_speed(std::ostream& out, const RenderedAudio& r) {
  const double cpu = r.render_cpu_seconds;
  out << "rendered with " << r.synthesizer << " in " << std::fixed << std::setprecision(3) << cpu
      << " s of CPU: " << std::setprecision(0) << (cpu > 0 ? r.audio.seconds() / cpu : 0.0) << "x real time";
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
      .option("sample-rate", sample_rate, "HZ", "frames per second (8000-192000)")
      .option("gain-db", gain_db, "DB", "level of the loudest sample relative to -1 dBFS (<= 1)")
      .option("soundfont", soundfont, "SF2", soundfont_option_help())
      .flag("verbose", verbose, "print how fast the audio was rendered")
      .epilog(std::string("examples:\n"
                          "  musegen render song.mid song.wav\n"
                          "  musegen render song.mid quiet.wav --gain-db -12\n\n") +
              soundfont_help());
  if (!p.parse(args)) return 0;
  if (output == input) throw cli::UsageError("OUT.wav: the output would overwrite the input " + input);

  const SynthOptions options = synth_options_from_flags(sample_rate, gain_db, soundfont);
  const midi::MidiFile file = midi::load(input);
  const RenderedAudio rendered = render_for_command(file, soundfont, options);
  const Audio& audio = rendered.audio;
  write_wav(output, audio);
  std::cout << "wrote " << output << ": " << std::fixed << std::setprecision(1) << audio.seconds()
            << " s, " << audio.sample_rate << " Hz, 16-bit stereo\n";
  if (verbose) print_render_speed(std::cout, rendered);
  return 0;
}

}  // namespace musegen
