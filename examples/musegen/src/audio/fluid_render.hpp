// Rendering with FluidSynth and a SoundFont: sampled instruments instead of the built-in
// synthesizer's sinusoids (synth.hpp), for `musegen render/play --soundfont FILE.sf2`.
//
// FluidSynth is the project's one optional dependency (docs/architecture.md): it is compiled
// in when CMake finds it (MUSEGEN_HAVE_FLUIDSYNTH), and without it every function here throws
// the instructions to get it. Its synthesizer is driven directly, offline: no audio driver, no
// MIDI player, no threads. The file's channel events are fed in time order (ticks → seconds
// through libmidi's tempo map, every track, channel 10 as drums) and the audio between two
// events is rendered with fluid_synth_write_float, so timing is exact to a FluidSynth block
// (64 frames, 1.5 ms at 44.1 kHz). The result has the built-in synthesizer's length (the
// file's end + kTailSeconds) and level (loudest sample at peak_dbfs + gain_db; silence stays
// exact zeros), and the same input always renders to the same samples.
#pragma once

#include <filesystem>
#include <memory>

#include "libmidi/midi_file.hpp"
#include "synth.hpp"

namespace musegen {

// Whether this build renders with FluidSynth (configured with it found, see
// MUSEGEN_WITH_FLUIDSYNTH in examples/musegen/CMakeLists.txt).
bool soundfont_support_built_in();

// The text for --help of the commands that render: with FluidSynth, how to use --soundfont
// and where Debian puts a General MIDI SoundFont; without it, kSoundFontHelp (how to get it).
const char* soundfont_help();

// A SoundFont loaded once, rendering any number of files. Loading FluidR3_GM (148 MB) takes a
// noticeable fraction of a second, so a program that renders several files keeps one of these.
// Every render starts from a fresh synthesizer, so no state (reverb tail, controllers,
// programs) carries from one file to the next; FluidSynth's sample cache shares the loaded
// samples with it, so that costs about a third of the first load (0.1 s for FluidR3_GM).
// Not thread-safe: one render at a time.
class SoundFontSynth {
 public:
  // Loads the SoundFont. Throws std::runtime_error naming the path and the reason (no such
  // file, a folder, unreadable, not a SoundFont, FluidSynth's own error), std::invalid_argument
  // for options out of range (FluidSynth renders at 8000..96000 Hz), and kSoundFontHelp in a
  // std::runtime_error when FluidSynth is not built in.
  explicit SoundFontSynth(const std::filesystem::path& soundfont, const SynthOptions& options = {});
  ~SoundFontSynth();
  SoundFontSynth(SoundFontSynth&&) noexcept;
  SoundFontSynth& operator=(SoundFontSynth&&) noexcept;

  // Renders every track of the file over file_seconds(file) + kTailSeconds:
  // frames = round((file_seconds(file) + kTailSeconds) * sample_rate).
  Audio render(const midi::MidiFile& file) const;
  // The same samples before normalization, a block at a time (synth.hpp's AudioSink); returns
  // the frames rendered. For audio streamed to disk (audio/render.hpp).
  std::int64_t render_blocks(const midi::MidiFile& file, const AudioSink& sink) const;

  const std::filesystem::path& soundfont() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One file with one SoundFont: SoundFontSynth(soundfont, options).render(file).
Audio render_with_soundfont(const midi::MidiFile& file, const std::filesystem::path& soundfont,
                            const SynthOptions& options = {});

}  // namespace musegen
