// A small built-in synthesizer: renders a MIDI file to 44.1 kHz stereo audio with no
// dependency, so `musegen render` and `musegen play` work everywhere.
//
// Every note is a voice. Pitched voices are sums of up to 8 sinusoidal partials, each a
// damped complex exponential (its powers give both the oscillation and the exponential
// decay; a voice renders 64 samples at a time from a table of them, vectorized, with the
// state carried in double so that pitch and level never drift), with a few timbres chosen
// by General MIDI program family:
//   piano / chromatic percussion  decaying, slightly inharmonic partials (upper ones faster)
//   organ, reed, pipe, synth lead sustained partials
//   strings, ensemble, pad, fx    sawtooth-like partials with a slow attack
//   brass                         bright sustained partials, medium attack
//   guitar, ethnic, percussive    plucked: fast-decaying partials
//   bass                          few partials, slow decay
// Channel 10 (drums) plays one-shot hits chosen by key: decaying sines with a pitch sweep
// (kick, toms), filtered noise bursts (hi-hats, cymbals) or both (snare, claps).
// Velocity sets loudness and brightness; the sustain pedal is applied as notes are read
// (midi::NoteOptions::sustain_pedal); pitch bends (±2 semitones, the General MIDI default)
// are followed every 64 samples. Equal temperament with A4 (key 69) = 440 Hz exactly.
//
// A voice ends 80 dB below its own start level. The mix is normalized so its loudest sample
// is at `peak_dbfs` + `gain_db` (no clipping, no limiter needed since the whole piece is
// rendered before it is scaled). The noise comes from a PRNG seeded per note, and the
// arithmetic is the same whatever the vector width (no fused multiply-add), so the same file
// always renders to the same samples.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "libmidi/midi_file.hpp"
#include "libmidi/notes.hpp"

namespace musegen {

struct SynthOptions {
  int sample_rate = 44100;   // frames per second, 8000..192000
  double peak_dbfs = -1.0;   // level of the loudest sample after normalization
  double gain_db = 0.0;      // added to peak_dbfs; the sum must be <= 0 dBFS
};

// Interleaved stereo samples in [-1, 1]: left, right, left, right, ...
struct Audio {
  int sample_rate = 44100;
  std::vector<float> samples;
  std::int64_t frames() const { return static_cast<std::int64_t>(samples.size() / 2); }
  double seconds() const { return static_cast<double>(frames()) / sample_rate; }
};

// Seconds of silence rendered after the end of the file, so releases and drums ring out.
inline constexpr double kTailSeconds = 1.5;

// What every renderer (this synthesizer, FluidSynth's in fluid_render.hpp) shares:
// the silent buffer it fills, frames = round((seconds + kTailSeconds) * sample_rate), which
// throws std::invalid_argument for a duration outside 0..24 h; the level, peak_dbfs +
// gain_db, which throws std::invalid_argument outside (-120, 0] dBFS; and the normalization
// that puts the loudest sample there (silence stays exact zeros).
Audio silent_audio(double seconds, int sample_rate);
double target_peak_db(const SynthOptions& options);
void normalize(Audio& audio, const SynthOptions& options);

// The frames of a render of `seconds`: round((seconds + kTailSeconds) * sample_rate); throws
// std::invalid_argument for a duration outside 0..24 h (what silent_audio allocates).
std::int64_t audio_frames(double seconds, int sample_rate);
// The largest |sample| of some samples.
float peak_of(std::span<const float> samples);
// The factor normalize() multiplies every sample by when the loudest one is `peak` (> 0).
float normalization_scale(float peak, const SynthOptions& options);

// Rendering a block at a time, for audio longer than memory should hold (audio/render.hpp
// streams it to a WAV file): the sink receives the raw mix, interleaved stereo, in order, a
// whole number of frames per call, audio_frames(seconds, rate) frames in all. Not normalized:
// the caller finds the peak (a first pass) and scales (a second), which gives the samples
// render() gives, since the same input always renders to the same samples.
using AudioSink = std::function<void(std::span<const float> interleaved)>;
std::int64_t render_blocks(const midi::Performance& performance, double seconds, int sample_rate,
                           const AudioSink& sink);
// The whole file's notes (sustain pedal applied) and its length, as render(file) reads them.
struct FileNotes {
  midi::Performance performance;
  double seconds = 0;
};
FileNotes file_notes(const midi::MidiFile& file);

// The length of the file in seconds: its last event (end of track included) or the end of
// its last note, whichever is later.
double file_seconds(const midi::MidiFile& file);

// Renders the performance over `seconds` + kTailSeconds: frames =
// round((seconds + kTailSeconds) * sample_rate). A performance with no notes renders to
// exact zeros. Throws std::invalid_argument for options out of range.
Audio render(const midi::Performance& performance, double seconds, const SynthOptions& options = {});

// The whole file: notes read with the sustain pedal applied, rendered over file_seconds().
Audio render(const midi::MidiFile& file, const SynthOptions& options = {});

// How to get better sound than this synthesizer (FluidSynth with a General MIDI SoundFont),
// for the --help of the commands that render, and their error when --soundfont is given
// to a build without FluidSynth (MUSEGEN_WITH_FLUIDSYNTH off, or libfluidsynth not found).
extern const char* const kSoundFontHelp;

// The frequency of a MIDI key in equal temperament with A4 (key 69) = 440 Hz.
double key_frequency(double key);

}  // namespace musegen
