#include "synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "libmidi/tempo_map.hpp"

namespace musegen {

namespace {

constexpr int kBlock = 64;           // samples between pitch-bend and amplitude updates
constexpr int kMaxPartials = 8;
constexpr double kSilent = 1e-4;     // -80 dB: a voice this quiet is dropped
constexpr double kBendSemitones = 2;  // General MIDI default bend range
constexpr double kTwoPi = 2 * std::numbers::pi;

// ---- Timbres ---------------------------------------------------------------------------

struct Timbre {
  std::array<double, kMaxPartials> amplitude;  // of partial k+1, before velocity brightness
  double decay_c4 = 0;       // time constant (s) of the fundamental at middle C; 0 = sustained
  double decay_exponent = 0;  // decay time scales as (261.63 Hz / f)^exponent
  double decay_spread = 0;   // partial k decays (1 + spread (k-1)) times faster
  double inharmonicity = 0;  // stiff-string B: f_k = k f sqrt((1 + B k^2) / (1 + B))
  double attack = 0.003;     // s, linear
  double release = 0.1;      // s, exponential time constant after note-off
  double gain = 1;           // balance between families
};

const Timbre kPiano{{1, 0.55, 0.32, 0.22, 0.12, 0.08, 0.05, 0.03}, 2.5, 0.6, 0.5, 4e-4, 0.003, 0.08, 1.0};
const Timbre kMallet{{1, 0.05, 0.35, 0.02, 0.15, 0.0, 0.05, 0.0}, 1.0, 0.4, 1.0, 0, 0.002, 0.15, 1.0};
const Timbre kOrgan{{1, 0.7, 0.5, 0.3, 0.25, 0.15, 0.1, 0.08}, 0, 0, 0, 0, 0.01, 0.06, 0.55};
const Timbre kStrings{{1, 0.45, 0.27, 0.18, 0.13, 0.1, 0.07, 0.05}, 0, 0, 0, 0, 0.15, 0.3, 0.6};
const Timbre kPad{{1, 0.45, 0.27, 0.18, 0.13, 0.1, 0.07, 0.05}, 0, 0, 0, 0, 0.35, 0.5, 0.5};
const Timbre kBrass{{1, 0.8, 0.6, 0.45, 0.35, 0.25, 0.18, 0.12}, 0, 0, 0, 0, 0.05, 0.1, 0.55};
const Timbre kReed{{1, 0.1, 0.5, 0.08, 0.3, 0.05, 0.15, 0.03}, 0, 0, 0, 0, 0.04, 0.08, 0.6};
const Timbre kPluck{{1, 0.6, 0.45, 0.3, 0.2, 0.15, 0.1, 0.07}, 1.2, 0.5, 0.9, 1e-4, 0.002, 0.08, 1.0};
const Timbre kBass{{1, 0.6, 0.3, 0.15, 0.08, 0, 0, 0}, 1.5, 0.3, 0.5, 0, 0.004, 0.06, 1.0};

// The General MIDI program families (8 programs each) mapped to a timbre.
const Timbre& timbre_of(int program) {
  switch (program / 8) {
    case 0: return kPiano;                      // pianos
    case 1: return kMallet;                     // chromatic percussion
    case 2: return kOrgan;                      // organs
    case 3: return kPluck;                      // guitars
    case 4: return kBass;                       // basses
    case 5: case 6: return kStrings;            // strings, ensembles
    case 7: return kBrass;                      // brass
    case 8: case 9: return kReed;               // reeds, pipes
    case 10: return kOrgan;                     // synth leads
    case 11: case 12: return kPad;              // synth pads, synth effects
    case 13: case 14: return kPluck;            // ethnic, percussive
    default: return kPad;                       // sound effects
  }
}

// Velocity → amplitude: roughly 40 dB of range, as on a piano.
double velocity_gain(int velocity) { return std::pow(velocity / 127.0, 1.7); }

// Constant-power pan: pan in [-1, 1] → (left, right) gains.
std::pair<float, float> pan_gains(double pan) {
  const double angle = (std::clamp(pan, -1.0, 1.0) + 1) * std::numbers::pi / 4;
  return {static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))};
}

double channel_pan(int channel) {
  return channel == 0 ? 0.0 : ((channel * 7) % 16 - 7.5) / 7.5 * 0.35;
}

std::int64_t to_frame(double seconds, int sample_rate) {
  return std::llround(std::max(0.0, seconds) * sample_rate);
}

// ---- Pitched voices: damped complex rotators --------------------------------------------

// Pitch bend of one channel as a step function of the frame.
struct BendTrack {
  std::vector<std::pair<std::int64_t, int>> points;  // (frame, value), in frame order
};

struct Voice {
  int partials = 0;
  // Single precision is plenty: each rotator is renormalized every block, and the frequency
  // error of a float coefficient is below 0.001 Hz.
  std::array<float, kMaxPartials> re{}, im{};       // state: im is the output
  std::array<float, kMaxPartials> cr{}, ci{};       // per sample: r e^{iw}
  std::array<double, kMaxPartials> magnitude{};     // expected |state| at the block start
  std::array<double, kMaxPartials> damping{};       // r per sample
  std::array<double, kMaxPartials> block_damping{};  // r^kBlock
  std::array<double, kMaxPartials> ratio{};         // partial frequency / fundamental
  double base_frequency = 0;
  int bend = 0;
  std::size_t bend_cursor = 0;
  const BendTrack* bends = nullptr;
  std::int64_t start = 0, release_at = 0;
  double envelope = 0, attack_step = 1, release_factor = 0;
  float left = 0, right = 0;

  void tune(int sample_rate) {
    const double f = base_frequency * std::exp2(bend * kBendSemitones / (8192.0 * 12));
    for (int k = 0; k < partials; ++k) {
      const double w = kTwoPi * f * ratio[k] / sample_rate;
      cr[k] = static_cast<float>(damping[k] * std::cos(w));
      ci[k] = static_cast<float>(damping[k] * std::sin(w));
    }
  }
};

Voice make_voice(const midi::Note& note, int sample_rate) {
  const Timbre& t = timbre_of(note.program);
  Voice v;
  v.base_frequency = key_frequency(note.pitch);
  const double f = v.base_frequency;
  const double loud = velocity_gain(note.velocity) * t.gain;
  const double brightness = 0.3 + 0.7 * note.velocity / 127.0;  // soft notes are duller
  const double decay = t.decay_c4 > 0
      ? std::clamp(t.decay_c4 * std::pow(261.63 / f, t.decay_exponent), 0.15, 10.0) : 0.0;
  for (int k = 0; k < kMaxPartials; ++k) {
    const double n = k + 1;
    const double ratio = n * std::sqrt((1 + t.inharmonicity * n * n) / (1 + t.inharmonicity));
    if (f * ratio > 0.42 * sample_rate) break;  // room for a bend up without aliasing
    if (t.amplitude[k] == 0) continue;
    const int i = v.partials++;
    v.ratio[i] = ratio;
    v.magnitude[i] = loud * t.amplitude[k] * std::pow(brightness, k);
    v.re[i] = static_cast<float>(v.magnitude[i]);
    v.im[i] = 0;
    const double tau = decay > 0 ? decay / (1 + t.decay_spread * k) : 0.0;
    v.damping[i] = tau > 0 ? std::exp(-1.0 / (tau * sample_rate)) : 1.0;
    v.block_damping[i] = std::pow(v.damping[i], kBlock);
  }
  v.start = to_frame(note.start_seconds, sample_rate);
  v.release_at = std::max(v.start + 1, to_frame(note.end_seconds, sample_rate));
  v.attack_step = 1.0 / std::max(1.0, t.attack * sample_rate);
  v.release_factor = std::exp(-1.0 / (t.release * sample_rate));
  const double pan = channel_pan(note.channel) + (note.pitch - 64) / 64.0 * 0.25;
  std::tie(v.left, v.right) = pan_gains(pan);
  return v;
}

// Adds samples [from, to) of the block starting at frame `block`, panned, to `left` and
// `right`. Returns false once the voice has died away.
bool run_voice(Voice& v, std::int64_t block, int from, int to, double* left, double* right,
               int sample_rate) {
  if (v.bends) {  // follow the channel's pitch bend, once per block
    const auto& points = v.bends->points;
    int bend = v.bend;
    while (v.bend_cursor < points.size() && points[v.bend_cursor].first <= block + from)
      bend = points[v.bend_cursor++].second;
    if (bend != v.bend) {
      v.bend = bend;
      v.tune(sample_rate);
    }
  }
  // Renormalize each rotator to its exact magnitude so rounding never accumulates, and drop
  // the partials that have decayed away (upper ones go first).
  double total = 0;
  for (int k = 0; k < v.partials;) {
    if (v.magnitude[k] < kSilent * 0.01) {
      const int last = --v.partials;
      for (auto* a : {&v.re, &v.im, &v.cr, &v.ci}) (*a)[k] = (*a)[last];
      for (auto* a : {&v.magnitude, &v.damping, &v.block_damping, &v.ratio}) (*a)[k] = (*a)[last];
      continue;
    }
    const double m = std::hypot(double{v.re[k]}, double{v.im[k]});
    if (m > 0) {
      const double s = v.magnitude[k] / m;
      v.re[k] = static_cast<float>(v.re[k] * s);
      v.im[k] = static_cast<float>(v.im[k] * s);
    }
    total += v.magnitude[k];
    ++k;
  }
  const std::int64_t release = v.release_at - block;
  const double gain_l = v.left, gain_r = v.right;
  double env = v.envelope;
  for (int i = from; i < to; ++i) {
    if (i >= release) env *= v.release_factor;
    else if (env < 1) env = std::min(1.0, env + v.attack_step);
    float sum = 0;
    for (int k = 0; k < v.partials; ++k) {
      const float r = v.re[k] * v.cr[k] - v.im[k] * v.ci[k];
      const float m = v.re[k] * v.ci[k] + v.im[k] * v.cr[k];
      sum += v.im[k];
      v.re[k] = r;
      v.im[k] = m;
    }
    const double out = sum * env;
    left[i] += out * gain_l;
    right[i] += out * gain_r;
  }
  v.envelope = env;
  for (int k = 0; k < v.partials; ++k)
    v.magnitude[k] *= to - from == kBlock ? v.block_damping[k] : std::pow(v.damping[k], to - from);
  const bool released = block + to > v.release_at;
  return v.partials > 0 && !(total * (released ? env : 1.0) < kSilent);
}

// ---- Drums: one-shot hits ---------------------------------------------------------------

struct Drum {
  double tone_start = 0, tone_end = 0, sweep = 0.03;  // Hz, Hz, s
  double tone_level = 0, tone_decay = 0.1;            // amplitude, s
  double noise_level = 0, noise_decay = 0.1;          // amplitude, s
  double noise_cutoff = 1000;                         // Hz of the one-pole filter
  bool noise_bright = false;                          // high-pass (else low-pass)
};

Drum drum_of(int key) {
  switch (key) {
    case 35: case 36: return {150, 48, 0.03, 1.0, 0.28, 0.15, 0.01, 1500, false};   // kick
    case 37: return {820, 800, 0.01, 0.4, 0.03, 0.3, 0.02, 3000, true};              // side stick
    case 38: case 40: return {200, 175, 0.02, 0.45, 0.08, 0.7, 0.12, 1500, true};   // snare
    case 39: return {0, 0, 0, 0, 0, 0.8, 0.09, 1200, true};                          // clap
    case 42: case 44: return {0, 0, 0, 0, 0, 0.45, 0.035, 7000, true};              // closed hat
    case 46: return {0, 0, 0, 0, 0, 0.45, 0.25, 7000, true};                         // open hat
    case 49: case 52: case 55: case 57: return {0, 0, 0, 0, 0, 0.5, 0.6, 5000, true};  // crash
    case 51: case 53: case 59: return {0, 0, 0, 0, 0, 0.3, 0.45, 6000, true};     // ride
    case 41: case 43: case 45: case 47: case 48: case 50: {                         // toms
      const double f = 70 * std::exp2((key - 41) / 9.0);
      return {1.6 * f, f, 0.05, 0.9, 0.3, 0.1, 0.05, 1500, false};
    }
    default: {  // tambourine, cowbell, latin percussion: a pitched knock
      const double f = std::clamp(key_frequency(key + 12), 200.0, 4000.0);
      return {f, f, 0.01, 0.5, 0.12, 0.3, 0.04, 3000, true};
    }
  }
}

struct DrumVoice {
  Drum drum;
  std::int64_t start = 0;
  double phase = 0, tone_amp = 0, noise_amp = 0, lowpass = 0, alpha = 0;
  double sweep = 0, sweep_factor = 0;  // the tone is at tone_end + sweep Hz
  double tone_factor = 0, noise_factor = 0;
  std::uint64_t rng = 0;
  float left = 0, right = 0;

  double noise() {  // splitmix64 → uniform in [-1, 1)
    std::uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

DrumVoice make_drum(const midi::Note& note, std::size_t index, int sample_rate) {
  DrumVoice d;
  d.drum = drum_of(note.pitch);
  d.start = to_frame(note.start_seconds, sample_rate);
  const double loud = velocity_gain(note.velocity) * 0.8;
  d.tone_amp = d.drum.tone_level * loud;
  d.noise_amp = d.drum.noise_level * loud;
  d.tone_factor = d.drum.tone_decay > 0 ? std::exp(-1.0 / (d.drum.tone_decay * sample_rate)) : 0.0;
  d.noise_factor = d.drum.noise_decay > 0 ? std::exp(-1.0 / (d.drum.noise_decay * sample_rate)) : 0.0;
  d.sweep = d.drum.tone_start - d.drum.tone_end;
  d.sweep_factor = d.drum.sweep > 0 ? std::exp(-1.0 / (d.drum.sweep * sample_rate)) : 0.0;
  d.alpha = 1 - std::exp(-kTwoPi * d.drum.noise_cutoff / sample_rate);
  d.rng = 0x6D75736567656EULL ^ (static_cast<std::uint64_t>(index) * 0x100000001B3ULL);
  std::tie(d.left, d.right) = pan_gains((note.pitch - 50) / 30.0 * 0.4);
  return d;
}

bool run_drum(DrumVoice& d, int from, int to, double* mono, int sample_rate) {
  const Drum& k = d.drum;
  const double dt = 1.0 / sample_rate;
  for (int i = from; i < to; ++i) {
    double s = 0;
    if (d.tone_amp > kSilent) {
      d.phase += kTwoPi * (k.tone_end + d.sweep) * dt;
      d.sweep *= d.sweep_factor;
      if (d.phase > kTwoPi) d.phase -= kTwoPi;
      s += d.tone_amp * std::sin(d.phase);
      d.tone_amp *= d.tone_factor;
    }
    if (d.noise_amp > kSilent) {
      const double x = d.noise();
      d.lowpass += d.alpha * (x - d.lowpass);
      s += d.noise_amp * (k.noise_bright ? x - d.lowpass : d.lowpass);
      d.noise_amp *= d.noise_factor;
    }
    mono[i] += s;
  }
  return d.tone_amp > kSilent || d.noise_amp > kSilent;
}

}  // namespace

const char* const kSoundFontHelp =
    "This build plays MIDI with its own small synthesizer. Sampled instruments sound much\n"
    "better: install FluidSynth and a General MIDI SoundFont,\n"
    "  sudo apt-get install libfluidsynth-dev fluid-soundfont-gm\n"
    "then reconfigure and rebuild musegen (cmake -S . -B build) and pass\n"
    "  --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2";

double key_frequency(double key) { return 440.0 * std::exp2((key - 69) / 12.0); }

double file_seconds(const midi::MidiFile& file) {
  double end = 0;
  if (file.format == 2) {
    for (std::size_t t = 0; t < file.tracks.size(); ++t)
      end = std::max(end, midi::TempoMap(file, t).seconds(file.tracks[t].end_tick()));
  } else {
    const midi::TempoMap map(file);
    for (const midi::Track& track : file.tracks) end = std::max(end, map.seconds(track.end_tick()));
  }
  return end;
}

Audio render(const midi::Performance& performance, double seconds, const SynthOptions& options) {
  const int rate = options.sample_rate;
  if (rate < 8000 || rate > 192000)
    throw std::invalid_argument("sample rate: expected 8000..192000 Hz, found " + std::to_string(rate));
  const double peak_db = options.peak_dbfs + options.gain_db;
  if (!(peak_db <= 0 && peak_db > -120))
    throw std::invalid_argument("peak level: expected -120 < peak + gain <= 0 dBFS, found " +
                                std::to_string(peak_db));
  if (!(seconds >= 0 && seconds < 24 * 3600))
    throw std::invalid_argument("duration: expected 0..86400 s, found " + std::to_string(seconds));

  Audio audio;
  audio.sample_rate = rate;
  const std::int64_t frames = std::llround((seconds + kTailSeconds) * rate);
  audio.samples.assign(static_cast<std::size_t>(frames) * 2, 0.0f);

  std::array<BendTrack, 16> bends;
  for (const midi::PitchBend& b : performance.pitch_bends)
    bends[b.channel & 15].points.emplace_back(to_frame(b.seconds, rate), b.value);

  // Notes are sorted by start; each voice lives from its start until it dies away.
  std::vector<Voice> voices;
  std::vector<DrumVoice> drums;
  std::size_t next = 0;
  const auto& notes = performance.notes;
  std::array<double, kBlock> mono_l{}, mono_r{}, scratch{};
  for (std::int64_t block = 0; block < frames; block += kBlock) {
    const int length = static_cast<int>(std::min<std::int64_t>(kBlock, frames - block));
    while (next < notes.size() && to_frame(notes[next].start_seconds, rate) < block + length) {
      const midi::Note& n = notes[next];
      if (n.drum) {
        drums.push_back(make_drum(n, next, rate));
      } else {
        Voice v = make_voice(n, rate);
        if (!bends[n.channel & 15].points.empty()) v.bends = &bends[n.channel & 15];
        v.tune(rate);  // unbent; run_voice applies the channel's bend
        if (v.partials > 0) voices.push_back(v);
      }
      ++next;
    }
    mono_l.fill(0);
    mono_r.fill(0);
    auto mix = [&](float left, float right) {
      for (int i = 0; i < length; ++i) {
        mono_l[i] += scratch[i] * left;
        mono_r[i] += scratch[i] * right;
      }
    };
    std::erase_if(voices, [&](Voice& v) {
      const int from = static_cast<int>(std::max<std::int64_t>(0, v.start - block));
      return !run_voice(v, block, from, length, mono_l.data(), mono_r.data(), rate);
    });
    std::erase_if(drums, [&](DrumVoice& d) {
      const int from = static_cast<int>(std::max<std::int64_t>(0, d.start - block));
      scratch.fill(0);
      const bool alive = run_drum(d, from, length, scratch.data(), rate);
      mix(d.left, d.right);
      return !alive;
    });
    float* out = audio.samples.data() + 2 * block;
    for (int i = 0; i < length; ++i) {
      out[2 * i] = static_cast<float>(mono_l[i]);
      out[2 * i + 1] = static_cast<float>(mono_r[i]);
    }
  }

  float peak = 0;
  for (float s : audio.samples) peak = std::max(peak, std::abs(s));
  if (peak > 0) {
    const float scale = static_cast<float>(std::pow(10.0, peak_db / 20) / peak);
    for (float& s : audio.samples) s *= scale;
  }
  return audio;
}

Audio render(const midi::MidiFile& file, const SynthOptions& options) {
  const midi::Performance performance = midi::extract_notes(file, midi::NoteOptions().sustain_pedal(true));
  double seconds = file_seconds(file);
  for (const midi::Note& n : performance.notes) seconds = std::max(seconds, n.end_seconds);
  return render(performance, seconds, options);
}

}  // namespace musegen
