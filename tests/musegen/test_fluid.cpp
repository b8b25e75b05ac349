// FluidSynth rendering (fluid_render.hpp) and `musegen render --soundfont`: pitch of a sampled
// A4 and of a chord, pitch bend, drums on channel 10 and the sustain pedal, checked through the
// same independent oracle as the built-in synthesizer (Python's `wave`, numpy's FFT and mido's
// file length: tests/musegen/synth_check.py); silence, no clipping with 16 loud channels,
// determinism, clear errors for a bad SoundFont path, and `render` / `play --soundfont`.
//
// Builds without FluidSynth skip the rendering tests and check instead that --soundfont says
// how to get it. The SoundFont is FluidR3_GM (Debian's fluid-soundfont-gm) or $MUSEGEN_SOUNDFONT;
// it is loaded once for the whole suite (148 MB).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "commands.hpp"
#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "synth.hpp"
#include "audio_test_support.hpp"
#include "test_support.hpp"
#include "wav.hpp"

namespace {

namespace fs = std::filesystem;
using musegen::test::fresh_temp_dir;
using musegen::test::python_has;
using musegen::test::run_capture;
using musegen::test::check;
using musegen::test::have_oracle;
using musegen::test::Hit;
using musegen::test::make_file;
using musegen::test::numbers;
using musegen::test::tick;

// Inserts a channel event into track `track` before its first event at a later tick.
void insert_event(midi::MidiFile& file, std::size_t track, std::uint64_t at, std::uint8_t status,
                  std::uint8_t data1, std::uint8_t data2) {
  auto& events = file.tracks[track].events;
  const auto where = std::find_if(events.begin(), events.end(), [&](const midi::Event& e) { return e.tick > at; });
  midi::Event e;
  e.tick = at;
  e.status = status;
  e.data1 = data1;
  e.data2 = data2;
  events.insert(where, e);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

float peak_of(const musegen::Audio& audio) {
  float peak = 0;
  for (float s : audio.samples) peak = std::max(peak, std::abs(s));
  return peak;
}

// Root mean square of both channels over [from, to) seconds.
double rms(const musegen::Audio& audio, double from, double to) {
  const auto a = static_cast<std::size_t>(from * audio.sample_rate) * 2;
  const auto b = std::min(audio.samples.size(), static_cast<std::size_t>(to * audio.sample_rate) * 2);
  double sum = 0;
  for (std::size_t i = a; i < b; ++i) sum += double{audio.samples[i]} * audio.samples[i];
  return b > a ? std::sqrt(sum / static_cast<double>(b - a)) : 0.0;
}

// The SoundFont the tests use: $MUSEGEN_SOUNDFONT, else Debian's FluidR3_GM; "" when absent.
std::string test_soundfont() {
  if (const char* env = std::getenv("MUSEGEN_SOUNDFONT"); env && *env) return env;
  const std::string debian = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  return fs::exists(debian) ? debian : "";
}

// The rendering tests share one loaded SoundFont.
class FluidRender : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!musegen::soundfont_support_built_in() || test_soundfont().empty()) return;
    synth_ = std::make_unique<musegen::SoundFontSynth>(test_soundfont());
  }
  static void TearDownTestSuite() { synth_.reset(); }

  void SetUp() override {
    if (!musegen::soundfont_support_built_in())
      GTEST_SKIP() << "this build has no FluidSynth (configure found no pkg-config fluidsynth, or "
                      "MUSEGEN_WITH_FLUIDSYNTH=OFF; apt-get install libfluidsynth-dev)";
    if (test_soundfont().empty())
      GTEST_SKIP() << "no SoundFont: /usr/share/sounds/sf2/FluidR3_GM.sf2 is absent (apt-get install "
                      "fluid-soundfont-gm) and MUSEGEN_SOUNDFONT is not set";
    ASSERT_TRUE(synth_);
  }

  static const musegen::SoundFontSynth& synth() { return *synth_; }

  // Renders through a MIDI file on disk (so mido reads the same file) to a WAV file.
  static musegen::Audio render_to(const midi::MidiFile& file, const fs::path& mid, const fs::path& wav) {
    midi::save(file, mid);
    musegen::Audio audio = synth().render(midi::load(mid));
    musegen::write_wav(wav, audio);
    return audio;
  }

 private:
  static inline std::unique_ptr<musegen::SoundFontSynth> synth_;
};

}  // namespace

TEST(FluidSynthMissing, SoundFontFlagSaysHowToInstallIt) {
  if (musegen::soundfont_support_built_in()) GTEST_SKIP() << "this build has FluidSynth";
  const fs::path dir = fresh_temp_dir("fluid");
  midi::save(make_file({{0, {{60, 0, 0.5}}}}, 0.5), dir / "in.mid");
  const std::vector<std::string> args{(dir / "in.mid").string(), (dir / "out.wav").string(), "--soundfont", "x.sf2"};
  try {
    musegen::cmd_render(args);
    ADD_FAILURE() << "--soundfont was accepted without FluidSynth";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--soundfont x.sf2: FluidSynth support is not built in"), std::string::npos) << what;
    EXPECT_NE(what.find("apt-get install libfluidsynth-dev fluid-soundfont-gm"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir / "out.wav"));
  EXPECT_THROW(musegen::render_with_soundfont(make_file({}, 0.5), "x.sf2"), std::runtime_error);
  EXPECT_STREQ(musegen::soundfont_help(), musegen::kSoundFontHelp);
}

TEST_F(FluidRender, SingleA4PeaksAt440HzAndHasTheFileLength) {
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("fluid");
  render_to(make_file({{0, {{69, 0.0, 2.0}}}}, 2.0), dir / "a4.mid", dir / "a4.wav");
  auto v = check(dir / "a4.wav", (dir / "a4.mid").string() + " --peaks 1 --lo 50 --hi 5000 --seconds 2");
  EXPECT_EQ(v["channels"], "2");
  EXPECT_EQ(v["rate"], "44100");
  EXPECT_EQ(v["frames"], v["expected_frames"]);
  const auto peaks = numbers(v["peaks"]);
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_NEAR(peaks[0], 440.0, 1.0);
}

TEST_F(FluidRender, CMajorChordHasItsThreeFundamentals) {
  // Below 450 Hz, under the first overtone of C4 (523 Hz), the three strongest peaks are the
  // fundamentals. A piano: FluidR3's organ and string samples are tuned a few cents off (its
  // organ A4 is at 441.8 Hz) and its strings have vibrato, so their peaks would test the
  // SoundFont rather than the rendering.
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("fluid");
  const midi::MidiFile file = make_file({{0, {{60, 0, 2}, {64, 0, 2}, {67, 0, 2}}}}, 2.0);
  musegen::write_wav(dir / "chord.wav", synth().render(file));
  const auto peaks = numbers(check(dir / "chord.wav", "--peaks 3 --lo 100 --hi 450 --seconds 2")["peaks"]);
  ASSERT_EQ(peaks.size(), 3u);
  EXPECT_NEAR(peaks[0], 261.63, 1.0);
  EXPECT_NEAR(peaks[1], 329.63, 1.0);
  EXPECT_NEAR(peaks[2], 392.00, 1.0);
}

TEST_F(FluidRender, PitchBendRaisesByTwoSemitonesAtFullScale) {
  // General MIDI's default bend range is ±2 semitones; below 700 Hz the fundamental is the
  // piano's strongest peak.
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("fluid");
  midi::MidiFile file = make_file({{0, {{69, 0.0, 2.0}}}}, 2.0);
  insert_event(file, 1, 0, 0xE0, 0x7F, 0x7F);  // full bend up (8191) before the note
  musegen::write_wav(dir / "bend.wav", synth().render(file));
  const auto peaks = numbers(check(dir / "bend.wav", "--peaks 1 --lo 50 --hi 700 --seconds 2")["peaks"]);
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_NEAR(peaks[0], 440.0 * std::exp2(2.0 * 8191 / 8192 / 12), 1.0);
}

TEST_F(FluidRender, DrumNoteOnChannelTenSounds) {
  // Channel 10 plays the drum kit (bank 128): an acoustic snare (key 38) sounds, and not as the
  // melodic program of the other channels would play that key.
  const fs::path dir = fresh_temp_dir("fluid");
  const musegen::Audio drum = synth().render(make_file({{9, {{38, 0.0, 0.2, 120}}}}, 1.0));
  const musegen::Audio melodic = synth().render(make_file({{0, {{38, 0.0, 0.2, 120}}}}, 1.0));
  EXPECT_GT(rms(drum, 0.0, 0.3), 0.01);
  EXPECT_NEAR(peak_of(drum), std::pow(10.0, -1.0 / 20), 1e-5);
  EXPECT_NE(drum.samples, melodic.samples);
  if (!have_oracle()) return;
  musegen::write_wav(dir / "drum.wav", drum);
  EXPECT_NE(check(dir / "drum.wav")["nonzero"], "0");
}

TEST_F(FluidRender, SustainPedalHoldsNotesPastTheirNoteOff) {
  // A short piano note; with the pedal down until 1.5 s it still sounds at 0.8-1.2 s.
  midi::MidiFile plain = make_file({{0, {{60, 0.0, 0.2}}}}, 1.5);
  midi::MidiFile pedal = plain;
  insert_event(pedal, 1, 0, 0xB0, 64, 127);
  insert_event(pedal, 1, tick(1.5), 0xB0, 64, 0);
  // Loudness at 0.8-1.2 s relative to the attack, so the normalization cancels.
  const auto held = [&](const midi::MidiFile& f) {
    const musegen::Audio a = synth().render(f);
    return rms(a, 0.8, 1.2) / rms(a, 0.0, 0.2);
  };
  EXPECT_GT(held(pedal), 4 * held(plain));
}

TEST_F(FluidRender, FileWithoutNotesIsExactSilence) {
  const midi::MidiFile file = make_file({{0, {}}, {9, {}}}, 1.0);
  const musegen::Audio audio = synth().render(file);
  EXPECT_EQ(audio.frames(), std::llround((1.0 + musegen::kTailSeconds) * 44100));
  EXPECT_TRUE(std::all_of(audio.samples.begin(), audio.samples.end(), [](float s) { return s == 0.0f; }));
  if (!have_oracle()) return;
  const fs::path dir = fresh_temp_dir("fluid");
  render_to(file, dir / "empty.mid", dir / "empty.wav");
  auto v = check(dir / "empty.wav", (dir / "empty.mid").string());
  EXPECT_EQ(v["frames"], v["expected_frames"]);
  EXPECT_EQ(v["nonzero"], "0");
}

TEST_F(FluidRender, SixteenLoudChannelsNeverClipAndRenderDeterministically) {
  // Every channel (drums on 10) plays loud chords over all registers with a sustain pedal.
  midi::MidiFile file = make_file(musegen::test::sixteen_loud_channels(), 1.2, 30);  // distortion guitar
  insert_event(file, 1, 0, 0xB0, 64, 127);           // pedal down
  const fs::path dir = fresh_temp_dir("fluid");
  const musegen::Audio audio = render_to(file, dir / "loud.mid", dir / "loud.wav");
  EXPECT_NEAR(peak_of(audio), std::pow(10.0, -1.0 / 20), 1e-5);

  // Same input, same bytes: again with the loaded SoundFont, and from a fresh load.
  musegen::write_wav(dir / "again.wav", synth().render(file));
  musegen::write_wav(dir / "fresh.wav", musegen::render_with_soundfont(file, synth().soundfont()));
  const std::string bytes = file_bytes(dir / "loud.wav");
  EXPECT_TRUE(file_bytes(dir / "again.wav") == bytes) << "a second render differs";
  EXPECT_TRUE(file_bytes(dir / "fresh.wav") == bytes) << "a render from a fresh load differs";

  if (!have_oracle()) return;
  auto v = check(dir / "loud.wav", (dir / "loud.mid").string());
  EXPECT_EQ(v["frames"], v["expected_frames"]);
  const int maxabs = std::stoi(v["maxabs"]);
  EXPECT_LT(maxabs, 32767);
  EXPECT_NEAR(maxabs, 32767 * std::pow(10.0, -1.0 / 20), 1.5);
}

TEST_F(FluidRender, BadSoundFontPathsAreErrorsNamingThePathAndTheReason) {
  const fs::path dir = fresh_temp_dir("fluid");
  { std::ofstream(dir / "empty.sf2"); }
  std::ofstream(dir / "song.sf2", std::ios::binary) << "MThd\0\0\0\6";
  // A RIFF "sfbk" header with no chunks: only FluidSynth's reader finds what is wrong.
  std::ofstream(dir / "hollow.sf2", std::ios::binary) << std::string("RIFF\4\0\0\0sfbk", 12);
  fs::create_directories(dir / "folder.sf2");
  {  // the first 64 KiB of the real SoundFont
    std::ifstream in(synth().soundfont(), std::ios::binary);
    std::string head(65536, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(dir / "truncated.sf2", std::ios::binary) << head;
  }
  const std::vector<std::pair<fs::path, std::string>> cases{
      {dir / "missing.sf2", "no such file"},
      {dir / "folder.sf2", "is a folder"},
      {dir / "empty.sf2", "not a SoundFont: expected a RIFF file of form \"sfbk\""},
      {dir / "song.sf2", "found \"MThd"},
      {dir / "hollow.sf2", "FluidSynth cannot load it (FluidSynth: "},
      {dir / "truncated.sf2", "truncated or damaged: its RIFF header (bytes 4-7) gives a file of"},
  };
  for (const auto& [path, reason] : cases) {
    SCOPED_TRACE(path.string());
    try {
      musegen::SoundFontSynth bad(path);
      ADD_FAILURE() << "accepted";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("soundfont " + path.string() + ": "), std::string::npos) << what;
      EXPECT_NE(what.find(reason), std::string::npos) << what;
    }
  }
  EXPECT_THROW(musegen::SoundFontSynth(synth().soundfont(), musegen::SynthOptions{192000}), std::invalid_argument);
}

TEST_F(FluidRender, RenderCommandUsesTheSoundFont) {
  const fs::path dir = fresh_temp_dir("fluid");
  midi::save(make_file({{0, {{60, 0, 0.5}}}}, 0.5), dir / "in.mid");
  const std::vector<std::string> args{(dir / "in.mid").string(), (dir / "out.wav").string(), "--soundfont",
                                      synth().soundfont().string(), "--verbose"};
  testing::internal::CaptureStdout();
  EXPECT_EQ(musegen::cmd_render(args), 0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("rendered with FluidSynth ("), std::string::npos) << out;
  EXPECT_NE(out.find("x real time"), std::string::npos) << out;
  EXPECT_EQ(fs::file_size(dir / "out.wav"), 44 + 4 * static_cast<std::uintmax_t>(std::llround(2.0 * 44100)));

  const std::vector<std::string> bad{(dir / "in.mid").string(), (dir / "bad.wav").string(), "--soundfont",
                                     (dir / "nope.sf2").string()};
  try {
    musegen::cmd_render(bad);
    ADD_FAILURE() << "a missing SoundFont was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "nope.sf2").string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "bad.wav"));
}

TEST_F(FluidRender, PlayCommandUsesTheSoundFont) {
  const fs::path dir = fresh_temp_dir("fluid");
  midi::save(make_file({{0, {{60, 0, 0.5}}}}, 0.5), dir / "song.mid");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", dir.c_str(), 1);  // no aplay, paplay or ffplay there: play writes song.wav
  testing::internal::CaptureStdout();
  const int status = musegen::cmd_play(std::vector<std::string>{
      (dir / "song.mid").string(), "--soundfont", synth().soundfont().string(), "--verbose"});
  const std::string out = testing::internal::GetCapturedStdout();
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("rendered with FluidSynth ("), std::string::npos) << out;
  ASSERT_TRUE(fs::exists(dir / "song.wav"));
  EXPECT_EQ(fs::file_size(dir / "song.wav"), 44 + 4 * static_cast<std::uintmax_t>(std::llround(2.0 * 44100)));
}
