// FluidSynth, driven offline (fluid_render.hpp). Without MUSEGEN_HAVE_FLUIDSYNTH only the
// stubs at the end are compiled, and they say how to get FluidSynth.
#include "fluid_render.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#ifdef MUSEGEN_HAVE_FLUIDSYNTH

#include <fluidsynth.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "libmidi/tempo_map.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

// ---- FluidSynth's log -----------------------------------------------------------------
//
// By default FluidSynth prints to stderr, warnings included ("Instrument not found on
// channel ..." for every program a SoundFont lacks). Its errors are collected here instead
// and shown only in the exception of the call that failed; warnings and chatter are dropped.
// The log function is process-wide in FluidSynth; musegen is its only user in the process.

thread_local std::string fluid_errors;

void collect_fluid_error(int /*level*/, const char* message, void* /*data*/) {
  if (!fluid_errors.empty()) fluid_errors += "; ";
  fluid_errors += message ? message : "(no message)";
}

void quiet_fluid_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    fluid_set_log_function(FLUID_PANIC, collect_fluid_error, nullptr);
    fluid_set_log_function(FLUID_ERR, collect_fluid_error, nullptr);
    for (int level : {FLUID_WARN, FLUID_INFO, FLUID_DBG}) fluid_set_log_function(level, nullptr, nullptr);
  });
}

// What FluidSynth logged since the last call, as " (FluidSynth: ...)", or "".
std::string take_fluid_errors() {
  std::string text = fluid_errors.empty() ? "" : " (FluidSynth: " + fluid_errors + ")";
  fluid_errors.clear();
  return text;
}

// ---- Owning handles ---------------------------------------------------------------------

struct SettingsDeleter {
  void operator()(fluid_settings_t* s) const { delete_fluid_settings(s); }
};
struct SynthDeleter {
  void operator()(fluid_synth_t* s) const { delete_fluid_synth(s); }
};
using Settings = std::unique_ptr<fluid_settings_t, SettingsDeleter>;
using Synth = std::unique_ptr<fluid_synth_t, SynthDeleter>;

// ---- The SoundFont file -----------------------------------------------------------------

// The first bytes of a file, printable, for "expected ..., found ..." messages.
std::string describe_bytes(const char* bytes, std::size_t n) {
  std::string out = "\"";
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + "\"";
}

// Throws with the path and the reason unless `path` is a readable file that FluidSynth
// recognizes as a SoundFont. FluidSynth's own failure is a bare "not a SoundFont or MIDI
// file" on stderr; this names what is wrong.
void check_soundfont_file(const fs::path& path) {
  const std::string where = "soundfont " + path.string() + ": ";
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status))
    throw std::runtime_error(where + "no such file (a General MIDI SoundFont is in Debian's package "
                             "fluid-soundfont-gm: /usr/share/sounds/sf2/FluidR3_GM.sf2)");
  if (fs::is_directory(status)) throw std::runtime_error(where + "is a folder, expected a SoundFont file (.sf2)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(where + "cannot be read: " + std::strerror(errno));
  char header[12] = {};
  in.read(header, sizeof header);
  const auto got = static_cast<std::size_t>(in.gcount());
  const bool riff = got == 12 && std::memcmp(header, "RIFF", 4) == 0;
  if (!riff || !fluid_is_soundfont(path.c_str())) {
    take_fluid_errors();
    throw std::runtime_error(where + "not a SoundFont: expected a RIFF file of form \"sfbk\" (bytes 0-3 \"RIFF\", "
                             "8-11 \"sfbk\"), found " + (got == 0 ? std::string("an empty file") : describe_bytes(header, got)));
  }
  // A truncated download is the likely damage. FluidSynth would refuse it too, but then hand
  // the file to its DLS reader, which prints a GLib assertion on stderr.
  const std::uint64_t declared = 8 + (std::uint64_t{static_cast<unsigned char>(header[4])} |
                                      std::uint64_t{static_cast<unsigned char>(header[5])} << 8 |
                                      std::uint64_t{static_cast<unsigned char>(header[6])} << 16 |
                                      std::uint64_t{static_cast<unsigned char>(header[7])} << 24);
  const std::uint64_t size = fs::file_size(path, ec);
  if (!ec && size != declared)
    throw std::runtime_error(where + "truncated or damaged: its RIFF header (bytes 4-7) gives a file of " +
                             std::to_string(declared) + " bytes, found " + std::to_string(size) + " bytes");
}

// ---- Settings ---------------------------------------------------------------------------

void set_number(fluid_settings_t* s, const char* name, double value) {
  if (fluid_settings_setnum(s, name, value) != FLUID_OK)
    throw std::runtime_error(std::string("FluidSynth refused the setting ") + name + " = " +
                             std::to_string(value) + take_fluid_errors());
}

void set_int(fluid_settings_t* s, const char* name, int value) {
  if (fluid_settings_setint(s, name, value) != FLUID_OK)
    throw std::runtime_error(std::string("FluidSynth refused the setting ") + name + " = " +
                             std::to_string(value) + take_fluid_errors());
}

Settings make_settings(const SynthOptions& options) {
  Settings s(new_fluid_settings());
  if (!s) throw std::runtime_error("FluidSynth: cannot create its settings" + take_fluid_errors());
  double low = 0, high = 0;
  fluid_settings_getnum_range(s.get(), "synth.sample-rate", &low, &high);
  if (options.sample_rate < low || options.sample_rate > high)
    throw std::invalid_argument("sample rate: FluidSynth renders at " + std::to_string(static_cast<int>(low)) + ".." +
                                std::to_string(static_cast<int>(high)) + " Hz, found " +
                                std::to_string(options.sample_rate));
  set_number(s.get(), "synth.sample-rate", options.sample_rate);
  // The mix is normalized afterwards and float samples do not clip, so the gain only has to
  // keep a dense mix far from float's range: FluidSynth's default.
  set_number(s.get(), "synth.gain", 0.2);
  // Offline, single-threaded: no locking, no worker threads.
  set_int(s.get(), "synth.threadsafe-api", 0);
  set_int(s.get(), "synth.cpu-cores", 1);
  // Room for a piano with the pedal down (FluidR3's piano sounds two samples a note) before
  // voices are stolen; voices cost time only while they sound.
  set_int(s.get(), "synth.polyphony", 1024);
  // Pinning 148 MB of samples in RAM needs a memory-lock limit most users lack (FluidSynth
  // then warns); offline rendering gains nothing from it.
  set_int(s.get(), "synth.lock-memory", 0);
  // Reverb and chorus as General MIDI players have them (a file's CC91 / CC93 set the sends).
  set_int(s.get(), "synth.reverb.active", 1);
  set_int(s.get(), "synth.chorus.active", 1);
  return s;
}

// ---- Events in time order -----------------------------------------------------------------

struct TimedEvent {
  std::int64_t frame;
  std::uint32_t track, index;  // ties at one frame: track order, then file order
  const midi::Event* event;
};

// Every channel and SysEx event of the file with its frame. Format 0 and 1 files share one
// tempo map; each track of a format 2 file is its own sequence from time 0 (as file_seconds
// and libmidi's notes treat them).
std::vector<TimedEvent> timed_events(const midi::MidiFile& file, int sample_rate) {
  std::vector<TimedEvent> events;
  std::size_t count = 0;
  for (const midi::Track& t : file.tracks) count += t.events.size();
  events.reserve(count);
  const midi::TempoMap shared(file);
  for (std::size_t t = 0; t < file.tracks.size(); ++t) {
    std::optional<midi::TempoMap> own;
    if (file.format == 2) own.emplace(file, t);
    const midi::TempoMap& map = own ? *own : shared;
    std::size_t segment = 0;
    const auto& track_events = file.tracks[t].events;
    for (std::size_t i = 0; i < track_events.size(); ++i) {
      const midi::Event& e = track_events[i];
      if (!e.is_channel() && e.status != midi::kSysEx) continue;
      const double seconds = map.seconds(e.tick, segment);
      events.push_back({std::llround(seconds * sample_rate), static_cast<std::uint32_t>(t),
                        static_cast<std::uint32_t>(i), &e});
    }
  }
  std::sort(events.begin(), events.end(), [](const TimedEvent& a, const TimedEvent& b) {
    return std::tie(a.frame, a.track, a.index) < std::tie(b.frame, b.track, b.index);
  });
  return events;
}

// Sends one event. A note-off for a note not sounding, a program the SoundFont lacks or a
// SysEx FluidSynth does not know are not errors in a MIDI file: their results are ignored.
void send(fluid_synth_t* synth, const midi::Track& track, const midi::Event& e) {
  const int ch = e.channel();
  switch (e.message()) {
    case midi::ChannelMessage::NoteOn:
      if (e.data2 > 0) {
        fluid_synth_noteon(synth, ch, e.data1, e.data2);
        break;
      }
      [[fallthrough]];  // velocity 0: a note-off
    case midi::ChannelMessage::NoteOff: fluid_synth_noteoff(synth, ch, e.data1); break;
    case midi::ChannelMessage::PolyAftertouch: fluid_synth_key_pressure(synth, ch, e.data1, e.data2); break;
    // Bank select (CC0/CC32), sustain (CC64), volume, pan, expression, RPNs (bend range),
    // all notes off: FluidSynth implements the controllers of General MIDI.
    case midi::ChannelMessage::ControlChange: fluid_synth_cc(synth, ch, e.data1, e.data2); break;
    case midi::ChannelMessage::ProgramChange: fluid_synth_program_change(synth, ch, e.data1); break;
    case midi::ChannelMessage::ChannelAftertouch: fluid_synth_channel_pressure(synth, ch, e.data1); break;
    case midi::ChannelMessage::PitchBend: fluid_synth_pitch_bend(synth, ch, e.data1 | (e.data2 << 7)); break;
    default:
      if (e.status == midi::kSysEx) {  // the payload ends with F7; FluidSynth wants neither F0 nor F7
        auto bytes = track.data(e);
        if (!bytes.empty() && bytes.back() == 0xF7) bytes = bytes.first(bytes.size() - 1);
        if (!bytes.empty())
          fluid_synth_sysex(synth, reinterpret_cast<const char*>(bytes.data()), static_cast<int>(bytes.size()),
                            nullptr, nullptr, nullptr, 0);
      }
      break;
  }
}

}  // namespace

struct SoundFontSynth::Impl {
  fs::path soundfont;
  SynthOptions options;
  Settings settings;
  // Keeps the SoundFont loaded: while one synthesizer holds it, FluidSynth's sample cache
  // gives the next load of the same file the same sample data without reading it again.
  Synth resident;

  // A synthesizer in its initial state, with the SoundFont loaded.
  Synth fresh_synth() const {
    Synth synth(new_fluid_synth(settings.get()));
    if (!synth) throw std::runtime_error("FluidSynth: cannot create a synthesizer" + take_fluid_errors());
    if (fluid_synth_sfload(synth.get(), soundfont.c_str(), 1) == FLUID_FAILED)
      throw std::runtime_error("soundfont " + soundfont.string() + ": FluidSynth cannot load it" + take_fluid_errors());
    take_fluid_errors();  // warnings about single presets are not errors
    return synth;
  }
};

SoundFontSynth::SoundFontSynth(const std::filesystem::path& soundfont, const SynthOptions& options)
    : impl_(std::make_unique<Impl>()) {
  target_peak_db(options);  // checks the level before loading 148 MB
  quiet_fluid_log();
  take_fluid_errors();
  check_soundfont_file(soundfont);
  impl_->soundfont = soundfont;
  impl_->options = options;
  impl_->settings = make_settings(options);
  impl_->resident = impl_->fresh_synth();
}

SoundFontSynth::~SoundFontSynth() = default;
SoundFontSynth::SoundFontSynth(SoundFontSynth&&) noexcept = default;
SoundFontSynth& SoundFontSynth::operator=(SoundFontSynth&&) noexcept = default;

const std::filesystem::path& SoundFontSynth::soundfont() const { return impl_->soundfont; }

std::int64_t SoundFontSynth::render_blocks(const midi::MidiFile& file, const AudioSink& sink) const {
  const int rate = impl_->options.sample_rate;
  const std::int64_t frames = audio_frames(file_seconds(file), rate);
  // Rendered kChunk frames at a time into one buffer that the sink receives: memory does not
  // grow with the length of the piece.
  constexpr std::int64_t kChunk = 1 << 14;
  std::vector<float> chunk(2 * kChunk, 0.0f);

  const std::vector<TimedEvent> events = timed_events(file, rate);
  // FluidSynth's reverb adds a tiny offset to its input so that its feedback never decays into
  // denormal numbers; it comes out as noise near -150 dBFS, which normalization would raise to
  // full scale. A file that plays no note is silence, so it is left as exact zeros.
  if (std::none_of(events.begin(), events.end(), [](const TimedEvent& e) { return e.event->is_note_on(); })) {
    for (std::int64_t done = 0; done < frames; done += kChunk) {
      const std::int64_t n = std::min(kChunk, frames - done);
      sink(std::span<const float>(chunk.data(), static_cast<std::size_t>(2 * n)));
    }
    return frames;
  }

  const Synth synth = impl_->fresh_synth();
  std::int64_t done = 0;
  // Renders up to frame `to`, interleaved, in calls of at most kChunk frames (write_float
  // takes an int count).
  const auto render_until = [&](std::int64_t to) {
    while (done < to) {
      const int n = static_cast<int>(std::min(to - done, kChunk));
      float* out = chunk.data();
      if (fluid_synth_write_float(synth.get(), n, out, 0, 2, out, 1, 2) != FLUID_OK)
        throw std::runtime_error("FluidSynth failed while rendering" + take_fluid_errors());
      sink(std::span<const float>(out, static_cast<std::size_t>(2 * n)));
      done += n;
    }
  };
  for (const TimedEvent& e : events) {
    render_until(std::min(e.frame, frames));
    send(synth.get(), file.tracks[e.track], *e.event);
  }
  render_until(frames);
  take_fluid_errors();
  return frames;
}

Audio SoundFontSynth::render(const midi::MidiFile& file) const {
  Audio audio = silent_audio(file_seconds(file), impl_->options.sample_rate);
  std::size_t at = 0;
  render_blocks(file, [&](std::span<const float> block) {
    std::copy(block.begin(), block.end(), audio.samples.begin() + static_cast<std::ptrdiff_t>(at));
    at += block.size();
  });
  normalize(audio, impl_->options);  // the built-in synthesizer's level rule
  return audio;
}

bool soundfont_support_built_in() { return true; }

const char* soundfont_help() {
  return "This build can play MIDI with FluidSynth and a General MIDI SoundFont (sampled\n"
         "instruments) instead of its own small synthesizer: pass\n"
         "  --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2\n"
         "(Debian/Ubuntu: sudo apt-get install fluid-soundfont-gm; any .sf2 file works).";
}

}  // namespace musegen

#else  // no FluidSynth: every entry point says how to get it

namespace musegen {

struct SoundFontSynth::Impl {
  std::filesystem::path soundfont;
};

namespace {
[[noreturn]] void throw_not_built_in(const std::filesystem::path& soundfont) {
  throw std::runtime_error("--soundfont " + soundfont.string() + ": FluidSynth support is not built in.\n" +
                           kSoundFontHelp);
}
}  // namespace

SoundFontSynth::SoundFontSynth(const std::filesystem::path& soundfont, const SynthOptions&) {
  throw_not_built_in(soundfont);
}
SoundFontSynth::~SoundFontSynth() = default;
SoundFontSynth::SoundFontSynth(SoundFontSynth&&) noexcept = default;
SoundFontSynth& SoundFontSynth::operator=(SoundFontSynth&&) noexcept = default;
const std::filesystem::path& SoundFontSynth::soundfont() const { return impl_->soundfont; }
Audio SoundFontSynth::render(const midi::MidiFile&) const { throw_not_built_in(impl_->soundfont); }
std::int64_t SoundFontSynth::render_blocks(const midi::MidiFile&, const AudioSink&) const {
  throw_not_built_in(impl_->soundfont);
}

bool soundfont_support_built_in() { return false; }
const char* soundfont_help() { return kSoundFontHelp; }

}  // namespace musegen

#endif

namespace musegen {

Audio render_with_soundfont(const midi::MidiFile& file, const std::filesystem::path& soundfont,
                            const SynthOptions& options) {
  return SoundFontSynth(soundfont, options).render(file);
}

}  // namespace musegen
