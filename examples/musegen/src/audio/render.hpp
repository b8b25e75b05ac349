// The render service: a MIDI file to audio, with the built-in synthesizer (synth.hpp) or with
// FluidSynth and a SoundFont (fluid_render.hpp), the request checked and the work timed.
// `musegen render` and `musegen play` call it (they only turn flags into a RenderRequest and
// the result into text), and so will a web server; write_wav (wav.hpp) writes the result
// atomically, encode_wav gives its bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "libmidi/midi_file.hpp"
#include "synth.hpp"

namespace musegen {

// What a RenderRequest may ask for (also the command line's ranges).
inline constexpr std::int64_t kMinSampleRate = 8000, kMaxSampleRate = 192000;
inline constexpr double kMinGainDb = -100;  // exclusive: silence has no level
inline constexpr double kMaxGainDb = 1;     // louder would clip

struct RenderRequest {
  std::filesystem::path soundfont;  // a .sf2 for FluidSynth; empty: the built-in synthesizer
  std::int64_t sample_rate = 44100;  // frames per second, kMinSampleRate..kMaxSampleRate
  double gain_db = 0;                // loudest sample relative to -1 dBFS, kMinGainDb < gain_db <= kMaxGainDb
};

// A request that cannot be served: field() says which member is wrong, what() what was
// expected and found ("expected 8000..192000, found 100"), for the caller to put in its own
// words (a flag for the command line, a form field for a web page).
class BadRenderRequest : public std::invalid_argument {
 public:
  enum class Field { sample_rate, gain_db, soundfont };
  BadRenderRequest(Field field, const std::string& what) : std::invalid_argument(what), field_(field) {}
  Field field() const { return field_; }

 private:
  Field field_;
};

// The synthesizer options of a request, checked. Throws BadRenderRequest for a sample rate
// or gain out of range, and for a SoundFont in a build without FluidSynth (what(): "<path>:
// FluidSynth support is not built in." and kSoundFontHelp, how to get it).
SynthOptions checked_synth_options(const RenderRequest& request);

struct RenderedAudio {
  Audio audio;
  std::string synthesizer;      // "the built-in synthesizer", "FluidSynth (FluidR3_GM.sf2)"
  double load_cpu_seconds = 0;  // loading the SoundFont (0 for the built-in synthesizer)
  double render_cpu_seconds = 0;
  // Seconds of audio per CPU second of rendering; 0 when too fast to measure.
  double real_time_factor() const {
    return render_cpu_seconds > 0 ? audio.seconds() / render_cpu_seconds : 0.0;
  }
};

// Renders every track of the file as the request says (checked first: BadRenderRequest), and
// the CPU time (std::clock) it took. A SoundFont that cannot be loaded throws what
// SoundFontSynth throws (std::runtime_error naming the path and the reason).
RenderedAudio render_midi(const midi::MidiFile& file, const RenderRequest& request);

// The same for a MIDI file on disk: the request is checked before the file is read, then
// midi::load's errors (naming the path).
RenderedAudio render_midi(const std::filesystem::path& midi_file, const RenderRequest& request);

struct RenderedFile {
  std::int64_t frames = 0;
  int sample_rate = 44100;
  std::string synthesizer;
  double load_cpu_seconds = 0;
  double render_cpu_seconds = 0;  // rendering, spilling and writing
  double seconds() const { return static_cast<double>(frames) / sample_rate; }
  double real_time_factor() const { return render_cpu_seconds > 0 ? seconds() / render_cpu_seconds : 0.0; }
};

// Renders straight into a WAV file, a block at a time, so memory does not grow with the
// length of the piece (an hour of piano: docs/perf.md). The raw mix is spilled to an unlinked
// temporary file beside the WAV while its loudest sample is found, then read back, scaled by
// normalize()'s rule and written, so the file holds exactly the bytes of
// encode_wav(render_midi(file, request).audio), for one rendering's CPU time and, for a
// moment, twice the WAV's size on disk. The request is
// checked first (BadRenderRequest); a piece too long for a WAV file is refused before any
// rendering (std::length_error, saying how long a WAV can be); the file appears atomically
// (WavWriter) and nothing is left behind on an error.
RenderedFile render_midi_to_wav(const midi::MidiFile& file, const RenderRequest& request,
                                const std::filesystem::path& wav);
RenderedFile render_midi_to_wav(const std::filesystem::path& midi_file, const RenderRequest& request,
                                const std::filesystem::path& wav);

}  // namespace musegen
