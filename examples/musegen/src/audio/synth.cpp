#include "synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <numbers>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "libmidi/tempo_map.hpp"

namespace musegen {

namespace {

constexpr int kBlock = 64;  // samples computed at once; pitch bends are followed per block
constexpr int kMaxPartials = 8;
// A voice (or a drum's tone or noise) is dropped once its level bound (the sum of its partials'
// amplitudes, times its envelope) is 80 dB below that bound at its start; one of its partials
// is dropped at 100 dB below. The mix is normalized afterwards, with its loudest sample at
// -1 dBFS: a voice is at most as loud as that (give or take the few dB by which partials in
// phase exceed their bound), so the cut is at most a step of -81 dBFS, under 3 LSB of 16-bit
// audio, at the end of a tail that other notes mask anyway. Relative to the voice, soft and
// loud notes ring out the same 80 dB whatever the loudest note of the piece.
constexpr double kSilent = 1e-4;
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

// ---- Pitched voices: damped complex rotators, a block at a time -------------------------
//
// Partial k of a voice is Im(z_k c_k^n) at sample n, with c_k = r_k e^{i w_k} (r_k the decay
// per sample, w_k the angular frequency) and z_k its complex amplitude. Stepping z_k by one
// sample at a time is a chain of dependent multiplies that no compiler vectorizes, so a block
// is computed at once instead: with the powers c_k^j (j < kBlock) in a table, sample j of the
// block is
//     Im(z_k c_k^j) = Re z_k Im c_k^j + Im z_k Re c_k^j,
// two multiplies and two adds with no dependency between samples (partial_sum below, which
// the compiler vectorizes across the samples). Then z_k advances by c_k^kBlock, in double.
// Nothing accumulates rounding within a block (every power comes from the table), and the
// double state drifts by ~1e-16 per block: a phase error below 1e-9 radian after an hour, so
// there is no renormalization to do. The table is rebuilt when a pitch bend retunes the voice.

// Pitch bend of one channel as a step function of the frame.
struct BendTrack {
  std::vector<std::pair<std::int64_t, int>> points;  // (frame, value), in frame order
};

struct Voice {
  int partials = 0;  // partial k < partials is live
  // Row 2k of the table is Im c_k^j, row 2k+1 is Re c_k^j, for j in [0, kBlock). Single
  // precision is plenty: a power is within 1e-7 of its value, and that error does not carry
  // over to the next block (z_k is in double).
  alignas(64) std::array<float, 2 * kMaxPartials * kBlock> powers{};
  std::array<double, kMaxPartials> re{}, im{};  // z_k at the start of the next sample to render
  std::array<double, kMaxPartials> step_re{}, step_im{};  // c_k^kBlock
  std::array<double, kMaxPartials> omega{};               // w_k, radians per sample
  std::array<double, kMaxPartials> magnitude{};           // |z_k|
  std::array<double, kMaxPartials> damping{};             // r_k
  std::array<double, kMaxPartials> block_damping{};       // r_k^kBlock
  std::array<double, kMaxPartials> ratio{};               // partial frequency / fundamental
  double base_frequency = 0;
  int bend = 0;
  std::size_t bend_cursor = 0;
  const BendTrack* bends = nullptr;
  std::int64_t start = 0, release_at = 0;
  double envelope = 0, attack_step = 1;
  double silent = 0;                             // kSilent times the start level
  double release_factor = 0, block_release = 0;  // per sample, per block
  std::array<float, kBlock> release_curve{};     // release_factor^(j+1)
  float left = 0, right = 0;

  // Builds the table and the block step for the fundamental bent by `bend`.
  void tune(int sample_rate) {
    const double f = base_frequency * std::exp2(bend * kBendSemitones / (8192.0 * 12));
    for (int k = 0; k < partials; ++k) {
      const double w = kTwoPi * f * ratio[k] / sample_rate;
      omega[k] = w;
      const double cr = damping[k] * std::cos(w), ci = damping[k] * std::sin(w);
      float* sines = powers.data() + 2 * k * kBlock;
      float* cosines = sines + kBlock;
      double pr = 1, pi = 0;  // c^j by repeated multiplication: 63 roundings of 1e-16
      for (int j = 0; j < kBlock; ++j) {
        sines[j] = static_cast<float>(pi);
        cosines[j] = static_cast<float>(pr);
        const double r = pr * cr - pi * ci;
        pi = pr * ci + pi * cr;
        pr = r;
      }
      step_re[k] = block_damping[k] * std::cos(kBlock * w);  // c^kBlock exactly, not the product
      step_im[k] = block_damping[k] * std::sin(kBlock * w);
    }
  }

  // Moves z_k on by n samples.
  void advance(int n) {
    for (int k = 0; k < partials; ++k) {
      double sr = step_re[k], si = step_im[k], sm = block_damping[k];
      if (n != kBlock) {  // the first block of a voice, or the last of the file
        sm = std::pow(damping[k], n);
        sr = sm * std::cos(n * omega[k]);
        si = sm * std::sin(n * omega[k]);
      }
      const double r = re[k] * sr - im[k] * si;
      im[k] = re[k] * si + im[k] * sr;
      re[k] = r;
      magnitude[k] *= sm;
    }
  }

  // Drops partial k: the last one takes its place.
  void drop(int k) {
    const int last = --partials;
    std::copy_n(powers.data() + 2 * last * kBlock, 2 * kBlock, powers.data() + 2 * k * kBlock);
    for (auto* a :
         {&re, &im, &step_re, &step_im, &omega, &magnitude, &damping, &block_damping, &ratio})
      (*a)[k] = (*a)[last];
  }
};

// out[j] = Σ_k a[k] Im c_k^j + b[k] Re c_k^j for j < n: the partials of one voice over a
// block, from the table of Voice::powers. Each sample is summed in the same order whatever
// the vector width and with no fused multiply-add, so every build gives the same bytes.
#if defined(__GNUC__)
#define MUSEGEN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MUSEGEN_ALWAYS_INLINE inline
#endif

// kN > 0 is the length n known at compile time (a whole block: the loops unroll).
template <int kN>
MUSEGEN_ALWAYS_INLINE void partial_sum_loop(const float* __restrict powers, const double* a,
                                            const double* b, int partials, int length,
                                            float* __restrict out) {
  const int n = kN > 0 ? kN : length;
  std::fill_n(out, n, 0.0f);
  int k = 0;
  for (; k + 1 < partials; k += 2) {  // two partials a pass: half the loads and stores of out
    const float* s0 = powers + 2 * k * kBlock;
    const float *c0 = s0 + kBlock, *s1 = c0 + kBlock, *c1 = s1 + kBlock;
    const float a0 = static_cast<float>(a[k]), b0 = static_cast<float>(b[k]);
    const float a1 = static_cast<float>(a[k + 1]), b1 = static_cast<float>(b[k + 1]);
    for (int j = 0; j < n; ++j) out[j] += (a0 * s0[j] + b0 * c0[j]) + (a1 * s1[j] + b1 * c1[j]);
  }
  if (k < partials) {
    const float* s0 = powers + 2 * k * kBlock;
    const float* c0 = s0 + kBlock;
    const float a0 = static_cast<float>(a[k]), b0 = static_cast<float>(b[k]);
    for (int j = 0; j < n; ++j) out[j] += a0 * s0[j] + b0 * c0[j];
  }
}

MUSEGEN_ALWAYS_INLINE void partial_sum_body(const float* powers, const double* a, const double* b,
                                            int partials, int n, float* out) {
  if (n == kBlock)
    partial_sum_loop<kBlock>(powers, a, b, partials, n, out);
  else
    partial_sum_loop<0>(powers, a, b, partials, n, out);
}

void partial_sum_generic(const float* powers, const double* a, const double* b, int partials, int n,
                         float* out) {
  partial_sum_body(powers, a, b, partials, n, out);
}

using PartialSum = void (*)(const float*, const double*, const double*, int, int, float*);

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
// The same loop on 8 floats at a time, for CPUs with AVX2 (the build targets plain x86-64,
// so SSE2: 4 floats). Not AVX-512, although it was 10% faster on the densest piano file:
// the compiler fuses multiply-adds there, and the bytes would then depend on the machine.
__attribute__((target("avx2"))) void partial_sum_avx2(const float* powers, const double* a,
                                                      const double* b, int partials, int n,
                                                      float* out) {
  partial_sum_body(powers, a, b, partials, n, out);
}

PartialSum choose_partial_sum() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? partial_sum_avx2 : partial_sum_generic;
}
#else
PartialSum choose_partial_sum() { return partial_sum_generic; }
#endif

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
    v.re[i] = v.magnitude[i];  // sine phase: the voice starts at zero
    v.im[i] = 0;
    const double tau = decay > 0 ? decay / (1 + t.decay_spread * k) : 0.0;
    v.damping[i] = tau > 0 ? std::exp(-1.0 / (tau * sample_rate)) : 1.0;
    v.block_damping[i] = std::pow(v.damping[i], kBlock);
  }
  v.start = to_frame(note.start_seconds, sample_rate);
  v.release_at = std::max(v.start + 1, to_frame(note.end_seconds, sample_rate));
  v.attack_step = 1.0 / std::max(1.0, t.attack * sample_rate);
  v.release_factor = std::exp(-1.0 / (t.release * sample_rate));
  v.block_release = std::pow(v.release_factor, kBlock);
  for (int k = 0; k < v.partials; ++k) v.silent += v.magnitude[k];
  v.silent *= kSilent;
  double curve = 1;
  for (float& c : v.release_curve) c = static_cast<float>(curve *= v.release_factor);
  const double pan = channel_pan(note.channel) + (note.pitch - 64) / 64.0 * 0.25;
  std::tie(v.left, v.right) = pan_gains(pan);
  return v;
}

// Adds samples [from, to) of the block starting at frame `block`, panned, to `left` and
// `right`. Returns false once the voice has died away.
bool run_voice(Voice& v, std::int64_t block, int from, int to, float* left, float* right,
               int sample_rate, PartialSum partial_sum) {
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
  // Drop the partials that have decayed away (upper ones go first). Usually none has: the
  // check is folded into the sum of the magnitudes, the voice's level bound.
  const double inaudible = v.silent * 0.01;
  double total = 0;
  bool decayed = false;
  for (int k = 0; k < v.partials; ++k) {
    total += v.magnitude[k];
    decayed |= v.magnitude[k] < inaudible;
  }
  if (decayed) {
    for (int k = v.partials - 1; k >= 0; --k)
      if (v.magnitude[k] < inaudible) {
        total -= v.magnitude[k];
        v.drop(k);
      }
  }
  const int n = to - from;
  alignas(64) std::array<float, kBlock> sum;
  partial_sum(v.powers.data(), v.re.data(), v.im.data(), v.partials, n, sum.data());
  v.advance(n);

  // The envelope: a linear attack to 1, then 1 until the release, then an exponential decay.
  const std::int64_t release = v.release_at - block;  // first released sample of the block
  const float gain_l = v.left, gain_r = v.right;
  alignas(64) std::array<float, kBlock> env;
  if (from >= release) {  // released: a table, no dependency between samples
    const auto e = static_cast<float>(v.envelope);
    for (int j = 0; j < n; ++j) env[j] = e * v.release_curve[j];
    v.envelope *= n == kBlock ? v.block_release : std::pow(v.release_factor, n);
  } else if (v.envelope >= 1 && to <= release) {  // sustaining
    for (int j = 0; j < n; ++j) {
      left[from + j] += sum[j] * gain_l;
      right[from + j] += sum[j] * gain_r;
    }
    return v.partials > 0 && !(total < v.silent);
  } else if (to <= release) {  // attacking: a ramp, no dependency between samples
    const auto e = static_cast<float>(v.envelope), step = static_cast<float>(v.attack_step);
    for (int j = 0; j < n; ++j) env[j] = std::min(1.0f, e + static_cast<float>(j + 1) * step);
    v.envelope = std::min(1.0, v.envelope + n * v.attack_step);
  } else {  // the release starts in this block
    double e = v.envelope;
    for (int j = 0; j < n; ++j) {
      if (from + j >= release)
        e *= v.release_factor;
      else if (e < 1)
        e = std::min(1.0, e + v.attack_step);
      env[j] = static_cast<float>(e);
    }
    v.envelope = e;
  }
  for (int j = 0; j < n; ++j) {
    const float out = sum[j] * env[j];
    left[from + j] += out * gain_l;
    right[from + j] += out * gain_r;
  }
  const bool released = block + to > v.release_at;
  return v.partials > 0 && !(total * (released ? v.envelope : 1.0) < v.silent);
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
  double tone_silent = 0, noise_silent = 0;  // kSilent times the start levels
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
  d.tone_silent = kSilent * d.tone_amp;
  d.noise_silent = kSilent * d.noise_amp;
  d.tone_factor = d.drum.tone_decay > 0 ? std::exp(-1.0 / (d.drum.tone_decay * sample_rate)) : 0.0;
  d.noise_factor = d.drum.noise_decay > 0 ? std::exp(-1.0 / (d.drum.noise_decay * sample_rate)) : 0.0;
  d.sweep = d.drum.tone_start - d.drum.tone_end;
  d.sweep_factor = d.drum.sweep > 0 ? std::exp(-1.0 / (d.drum.sweep * sample_rate)) : 0.0;
  d.alpha = 1 - std::exp(-kTwoPi * d.drum.noise_cutoff / sample_rate);
  d.rng = 0x6D75736567656EULL ^ (static_cast<std::uint64_t>(index) * 0x100000001B3ULL);
  std::tie(d.left, d.right) = pan_gains((note.pitch - 50) / 30.0 * 0.4);
  return d;
}

// sin(x) for x in [0, 2 pi], branch-free so that a loop of it vectorizes: x is folded into
// [-pi/2, pi/2] and the Taylor series taken to x^17 (error below 1e-13, far under a 24-bit
// sample). std::sin costs several times more and calls the library.
inline double sine(double x) {
  constexpr double kPi = std::numbers::pi;
  x = kPi - x;  // sin(x) = sin(pi - x), now in [-pi, pi]
  x = std::copysign(std::min(std::abs(x), kPi - std::abs(x)), x);  // the same again, for |x| > pi/2
  const double x2 = x * x;
  double p = 1.0 / 355687428096000.0;  // 1/17!
  for (const double c : {-1.0 / 1307674368000.0, 1.0 / 6227020800.0, -1.0 / 39916800.0,
                         1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0, 1.0})
    p = p * x2 + c;
  return p * x;
}

// Adds samples [from, to) of the hit to `mono`. Returns false once it has died away.
bool run_drum(DrumVoice& d, int from, int to, double* mono, int sample_rate) {
  const Drum& k = d.drum;
  const int n = to - from;
  double* out = mono + from;
  // The recurrences run on locals: `mono` could alias the voice's members otherwise.
  if (d.tone_amp > d.tone_silent) {
    // The phase and level are recurrences, sample by sample; the sines then vectorize.
    std::array<double, kBlock> phase, level;
    const double step = kTwoPi / sample_rate, sweep_factor = d.sweep_factor, decay = d.tone_factor;
    double p = d.phase, sweep = d.sweep, amp = d.tone_amp;
    for (int j = 0; j < n; ++j) {
      p += step * (k.tone_end + sweep);
      sweep *= sweep_factor;
      if (p > kTwoPi) p -= kTwoPi;
      phase[j] = p;
      level[j] = amp;
      amp *= decay;
    }
    d.phase = p;
    d.sweep = sweep;
    d.tone_amp = amp;
    for (int j = 0; j < n; ++j) out[j] += level[j] * sine(phase[j]);
  }
  if (d.noise_amp > d.noise_silent) {
    // lowpass <- keep lowpass + alpha x: one multiply-add on the dependency chain.
    const double alpha = d.alpha, keep = 1 - d.alpha, decay = d.noise_factor;
    const double bright = k.noise_bright ? 1.0 : 0.0, low = k.noise_bright ? -1.0 : 1.0;
    double lowpass = d.lowpass, amp = d.noise_amp;
    for (int j = 0; j < n; ++j) {
      const double x = d.noise();
      lowpass = keep * lowpass + alpha * x;
      out[j] += amp * (bright * x + low * lowpass);  // high-pass: x - lowpass
      amp *= decay;
    }
    d.lowpass = lowpass;
    d.noise_amp = amp;
  }
  return d.tone_amp > d.tone_silent || d.noise_amp > d.noise_silent;
}

}  // namespace

const char* const kSoundFontHelp =
    "This build plays MIDI with its own small synthesizer. Sampled instruments sound much\n"
    "better: install FluidSynth and a General MIDI SoundFont,\n"
    "  sudo apt-get install libfluidsynth-dev fluid-soundfont-gm\n"
    "then reconfigure and rebuild musegen (cmake -S . -B build) and pass\n"
    "  --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2";

double key_frequency(double key) { return 440.0 * std::exp2((key - 69) / 12.0); }

// Eight running maxima, not one: a chain of dependent maxss costs several times more on a
// long piece.
float peak_of(std::span<const float> samples) {
  std::array<float, 8> lanes{};
  std::size_t i = 0;
  for (; i + 8 <= samples.size(); i += 8)
    for (std::size_t j = 0; j < 8; ++j) lanes[j] = std::max(lanes[j], std::abs(samples[i + j]));
  for (; i < samples.size(); ++i) lanes[0] = std::max(lanes[0], std::abs(samples[i]));
  return *std::max_element(lanes.begin(), lanes.end());
}

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

std::int64_t render_blocks(const midi::Performance& performance, double seconds, int rate,
                           const AudioSink& sink) {
  if (rate < 8000 || rate > 192000)
    throw std::invalid_argument("sample rate: expected 8000..192000 Hz, found " + std::to_string(rate));
  const std::int64_t frames = audio_frames(seconds, rate);
  // The sink gets kSinkFrames at a time (a few hundred KB), not every 64-frame block.
  constexpr std::int64_t kSinkFrames = 1 << 14;
  std::vector<float> pending;
  pending.reserve(2 * kSinkFrames);

  std::array<BendTrack, 16> bends;
  for (const midi::PitchBend& b : performance.pitch_bends)
    bends[b.channel & 15].points.emplace_back(to_frame(b.seconds, rate), b.value);

  // Notes are sorted by start; each voice lives from its start until it dies away.
  static const PartialSum partial_sum = choose_partial_sum();
  std::vector<Voice> voices;
  std::vector<DrumVoice> drums;
  std::size_t next = 0;
  const auto& notes = performance.notes;
  alignas(64) std::array<float, kBlock> mix_l{}, mix_r{};
  std::array<double, kBlock> scratch{};
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
    mix_l.fill(0);
    mix_r.fill(0);
    // A voice that dies is replaced by the last one (a voice is 5 KB: no shifting them all).
    for (std::size_t i = 0; i < voices.size();) {
      Voice& v = voices[i];
      const int from = static_cast<int>(std::max<std::int64_t>(0, v.start - block));
      if (run_voice(v, block, from, length, mix_l.data(), mix_r.data(), rate, partial_sum)) {
        ++i;
      } else {
        if (i + 1 != voices.size()) v = voices.back();
        voices.pop_back();
      }
    }
    std::erase_if(drums, [&](DrumVoice& d) {
      const int from = static_cast<int>(std::max<std::int64_t>(0, d.start - block));
      scratch.fill(0);
      const bool alive = run_drum(d, from, length, scratch.data(), rate);
      for (int i = 0; i < length; ++i) {
        mix_l[i] += static_cast<float>(scratch[i] * d.left);
        mix_r[i] += static_cast<float>(scratch[i] * d.right);
      }
      return !alive;
    });
    for (int i = 0; i < length; ++i) {
      pending.push_back(mix_l[i]);
      pending.push_back(mix_r[i]);
    }
    if (static_cast<std::int64_t>(pending.size()) >= 2 * kSinkFrames || block + length == frames) {
      sink(pending);
      pending.clear();
    }
  }
  return frames;
}

Audio render(const midi::Performance& performance, double seconds, const SynthOptions& options) {
  target_peak_db(options);  // checks the level before the work
  Audio audio = silent_audio(seconds, options.sample_rate);
  std::size_t at = 0;
  render_blocks(performance, seconds, options.sample_rate, [&](std::span<const float> block) {
    std::copy(block.begin(), block.end(), audio.samples.begin() + static_cast<std::ptrdiff_t>(at));
    at += block.size();
  });
  normalize(audio, options);
  return audio;
}


std::int64_t audio_frames(double seconds, int sample_rate) {
  if (!(seconds >= 0 && seconds < 24 * 3600))
    throw std::invalid_argument("duration: expected 0..86400 s, found " + std::to_string(seconds));
  return std::llround((seconds + kTailSeconds) * sample_rate);
}

Audio silent_audio(double seconds, int sample_rate) {
  const std::int64_t frames = audio_frames(seconds, sample_rate);
  Audio audio;
  audio.sample_rate = sample_rate;
  audio.samples.assign(static_cast<std::size_t>(frames) * 2, 0.0f);
  return audio;
}

double target_peak_db(const SynthOptions& options) {
  const double peak_db = options.peak_dbfs + options.gain_db;
  if (!(peak_db <= 0 && peak_db > -120))
    throw std::invalid_argument("peak level: expected -120 < peak + gain <= 0 dBFS, found " +
                                std::to_string(peak_db));
  return peak_db;
}

float normalization_scale(float peak, const SynthOptions& options) {
  return static_cast<float>(std::pow(10.0, target_peak_db(options) / 20) / peak);
}

void normalize(Audio& audio, const SynthOptions& options) {
  target_peak_db(options);
  const float peak = peak_of(audio.samples);
  if (peak > 0) {
    const float scale = normalization_scale(peak, options);
    for (float& s : audio.samples) s *= scale;
  }
}

FileNotes file_notes(const midi::MidiFile& file) {
  FileNotes notes;
  notes.performance = midi::extract_notes(file, midi::NoteOptions().sustain_pedal(true));
  notes.seconds = file_seconds(file);
  for (const midi::Note& n : notes.performance.notes) notes.seconds = std::max(notes.seconds, n.end_seconds);
  return notes;
}

Audio render(const midi::MidiFile& file, const SynthOptions& options) {
  const FileNotes notes = file_notes(file);
  return render(notes.performance, notes.seconds, options);
}

}  // namespace musegen
