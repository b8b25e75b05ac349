// The built-in synthesizer and `musegen render` / `musegen play`: pitch (equal temperament,
// A4 = 440 Hz, pitch bend) and headers checked by an independent oracle (Python's `wave`,
// numpy's FFT and mido's file length, tests/musegen/synth_check.py), a 30 s note that keeps
// its pitch, phase and level, silence, no clipping with 16 loud tracks, determinism, and the
// command-line behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numbers>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "render.hpp"
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

}  // namespace

TEST(Synth, SingleA4PeaksAt440HzAndHeaderReadsBack) {
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("synth");
  const midi::MidiFile file = make_file({{0, {{69, 0.0, 2.0}}}}, 2.0);
  midi::save(file, dir / "a4.mid");
  musegen::write_wav(dir / "a4.wav", musegen::render(midi::load(dir / "a4.mid")));
  auto v = check(dir / "a4.wav", (dir / "a4.mid").string() + " --peaks 1 --lo 50 --hi 5000 --seconds 2");
  EXPECT_EQ(v["channels"], "2");
  EXPECT_EQ(v["sampwidth"], "2");
  EXPECT_EQ(v["rate"], "44100");
  EXPECT_EQ(v["frames"], v["expected_frames"]);
  const auto peaks = numbers(v["peaks"]);
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_NEAR(peaks[0], 440.0, 1.0);
}

TEST(Synth, CMajorChordHasItsThreeFundamentals) {
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("synth");
  for (int program : {0, 16, 48}) {  // piano, organ, strings
    SCOPED_TRACE("program " + std::to_string(program));
    const midi::MidiFile file = make_file({{0, {{60, 0, 2}, {64, 0, 2}, {67, 0, 2}}}}, 2.0, program);
    musegen::write_wav(dir / "chord.wav", musegen::render(file));
    const auto peaks = numbers(check(dir / "chord.wav", "--peaks 3 --lo 100 --hi 1000 --seconds 2")["peaks"]);
    ASSERT_EQ(peaks.size(), 3u);
    EXPECT_NEAR(peaks[0], 261.63, 1.0);
    EXPECT_NEAR(peaks[1], 329.63, 1.0);
    EXPECT_NEAR(peaks[2], 392.00, 1.0);
  }
}

TEST(Synth, PitchBendRaisesByTwoSemitonesAtFullScale) {
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("synth");
  midi::MidiFile file = make_file({{0, {{69, 0.0, 2.0}}}}, 2.0);
  // A full bend up (8191) before the note: 440 * 2^(2 * 8191/8192 / 12) Hz.
  midi::Track& t = file.tracks[1];
  t.events.insert(t.events.begin() + 1, midi::Event{});
  t.events[1].status = 0xE0;
  t.events[1].data1 = 0x7F;
  t.events[1].data2 = 0x7F;
  musegen::write_wav(dir / "bend.wav", musegen::render(file));
  const auto peaks = numbers(check(dir / "bend.wav", "--peaks 1 --lo 50 --hi 5000 --seconds 2")["peaks"]);
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_NEAR(peaks[0], 440.0 * std::exp2(2.0 * 8191 / 8192 / 12), 1.0);
}

TEST(Synth, ThirtySecondOrganA4KeepsItsPitchPhaseAndLevel) {
  // A sustained organ note is a steady sum of harmonics of 440 Hz, so the oracle's 440 Hz
  // component must have the same amplitude and phase in every 1 s window. A frequency error
  // of 1e-6 Hz would turn the phase by 1.7e-4 radian over the 27 s compared (oscillators
  // stepped in single precision drift by about 2e-3), and rounding that accumulates in the
  // oscillators would show as a drifting level.
  if (!have_oracle()) GTEST_SKIP() << "/usr/bin/python3 lacks numpy or mido";
  const fs::path dir = fresh_temp_dir("synth");
  const midi::MidiFile file = make_file({{0, {{69, 0.0, 30.0}}}}, 30.0, 16);  // drawbar organ
  musegen::write_wav(dir / "organ.wav", musegen::render(file));
  auto v =
      check(dir / "organ.wav", "--tone 440 --window 1 --peaks 1 --lo 50 --hi 5000 --seconds 30");
  const auto peaks = numbers(v["peaks"]);
  ASSERT_EQ(peaks.size(), 1u);
  EXPECT_NEAR(peaks[0], 440.0, 0.05);
  const auto amplitude = numbers(v["tone_amplitude"]);
  const auto phase = numbers(v["tone_phase"]);
  ASSERT_GE(amplitude.size(), 30u);  // 31.5 s: windows 0..30
  ASSERT_EQ(phase.size(), amplitude.size());
  // Windows 1..28: after the 10 ms attack, before the release at 30 s.
  for (std::size_t w = 1; w <= 28; ++w) {
    SCOPED_TRACE("window " + std::to_string(w));
    EXPECT_GT(amplitude[w], 0.1);
    EXPECT_NEAR(amplitude[w] / amplitude[1], 1.0, 1e-5);
    EXPECT_NEAR(std::remainder(phase[w] - phase[1], 2 * std::numbers::pi), 0.0, 1e-4);
  }
}

TEST(Synth, FileWithoutNotesIsExactSilence) {
  const midi::MidiFile file = make_file({{0, {}}}, 1.0);
  const musegen::Audio audio = musegen::render(file);
  EXPECT_EQ(audio.frames(), std::llround((1.0 + musegen::kTailSeconds) * 44100));
  EXPECT_TRUE(std::all_of(audio.samples.begin(), audio.samples.end(), [](float s) { return s == 0.0f; }));
  if (!have_oracle()) return;
  const fs::path dir = fresh_temp_dir("synth");
  midi::save(file, dir / "empty.mid");
  musegen::write_wav(dir / "empty.wav", audio);
  auto v = check(dir / "empty.wav", (dir / "empty.mid").string());
  EXPECT_EQ(v["frames"], v["expected_frames"]);
  EXPECT_EQ(v["nonzero"], "0");
}

TEST(Synth, SixteenLoudTracksNeverClipAndPeakAtMinusOneDb) {
  // Every channel (drums on 10) plays loud chords over all registers with a sustain pedal;
  // the programs cover every family.
  midi::MidiFile file = make_file(musegen::test::sixteen_loud_channels(), 1.2, 3, 8);  // a program per channel
  midi::Track& first = file.tracks[1];
  first.events.insert(first.events.begin() + 1, midi::Event{0, 0, 0, 0xB0, 64, 127, 0});  // pedal down
  const musegen::Audio audio = musegen::render(file);
  float peak = 0;
  for (float s : audio.samples) peak = std::max(peak, std::abs(s));
  EXPECT_NEAR(peak, std::pow(10.0, -1.0 / 20), 1e-5);
  const auto again = musegen::render(file);
  EXPECT_TRUE(again.samples == audio.samples) << "rendering is not deterministic";

  if (!have_oracle()) return;
  const fs::path dir = fresh_temp_dir("synth");
  musegen::write_wav(dir / "loud.wav", audio);
  auto v = check(dir / "loud.wav");
  const int maxabs = std::stoi(v["maxabs"]);
  EXPECT_LT(maxabs, 32767);
  EXPECT_NEAR(maxabs, 32767 * std::pow(10.0, -1.0 / 20), 1.5);
}

TEST(Synth, RenderCommandWritesTheWavAndRefusesAMissingSoundFont) {
  const fs::path dir = fresh_temp_dir("synth");
  midi::save(make_file({{0, {{60, 0, 0.5}}}}, 0.5), dir / "in.mid");
  const std::vector<std::string> args{(dir / "in.mid").string(), (dir / "out.wav").string(), "--gain-db", "-6"};
  testing::internal::CaptureStdout();
  EXPECT_EQ(musegen::cmd_render(args), 0);
  testing::internal::GetCapturedStdout();
  ASSERT_TRUE(fs::exists(dir / "out.wav"));
  EXPECT_EQ(fs::file_size(dir / "out.wav"), 44 + 4 * static_cast<std::uintmax_t>(std::llround(2.0 * 44100)));

  // A SoundFont that is not there: the error names it (with FluidSynth built in) or says how
  // to get FluidSynth (test_fluid.cpp checks both further); nothing is written either way.
  const std::vector<std::string> sf{(dir / "in.mid").string(), (dir / "sf.wav").string(), "--soundfont", "x.sf2"};
  try {
    musegen::cmd_render(sf);
    ADD_FAILURE() << "--soundfont x.sf2 was accepted";
  } catch (const std::exception& e) {
    const std::string expected =
        musegen::soundfont_support_built_in() ? "x.sf2" : "FluidSynth support is not built in";
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "sf.wav"));
}

// The render service (audio/render.hpp) that render and play call: the request checked before
// the file is read, each error naming its field; the built-in synthesizer's very samples.
TEST(RenderService, ChecksTheRequestThenRendersAsTheSynthesizer) {
  using musegen::BadRenderRequest;
  const midi::MidiFile file = make_file({{0, {{60, 0, 0.5}, {64, 0.25, 0.75}}}}, 0.75);
  const auto request = [](std::int64_t sample_rate, double gain_db, std::string soundfont = "") {
    musegen::RenderRequest r;
    r.sample_rate = sample_rate;
    r.gain_db = gain_db;
    r.soundfont = soundfont;
    return r;
  };
  const musegen::RenderedAudio r = musegen::render_midi(file, request(22050, -3));
  musegen::SynthOptions options;
  options.sample_rate = 22050;
  options.gain_db = -3;
  EXPECT_EQ(r.audio.samples, musegen::render(file, options).samples);
  EXPECT_EQ(r.audio.sample_rate, 22050);
  EXPECT_EQ(r.synthesizer, "the built-in synthesizer");
  EXPECT_EQ(r.load_cpu_seconds, 0);
  EXPECT_GE(r.real_time_factor(), 0);

  const auto field_of = [](const musegen::RenderRequest& request, std::string& what) {
    try {
      musegen::render_midi(fs::path("/nonexistent/never-read.mid"), request);
    } catch (const BadRenderRequest& e) {
      what = e.what();
      return e.field();
    }
    ADD_FAILURE() << "the request was accepted";
    return BadRenderRequest::Field::soundfont;
  };
  std::string what;
  EXPECT_EQ(field_of(request(100, 0), what), BadRenderRequest::Field::sample_rate);
  EXPECT_EQ(what, "expected 8000..192000, found 100");
  EXPECT_EQ(field_of(request(44100, 2), what), BadRenderRequest::Field::gain_db);
  EXPECT_NE(what.find("louder would clip"), std::string::npos) << what;
  if (!musegen::soundfont_support_built_in()) {
    EXPECT_EQ(field_of(request(44100, 0, "x.sf2"), what), BadRenderRequest::Field::soundfont);
    EXPECT_NE(what.find("x.sf2: FluidSynth support is not built in"), std::string::npos) << what;
  }

  // The command says it in terms of its flags, as a usage error.
  const fs::path dir = fresh_temp_dir("synth");
  midi::save(file, dir / "in.mid");
  try {
    musegen::cmd_render(std::vector<std::string>{(dir / "in.mid").string(), (dir / "out.wav").string(),
                                                 "--sample-rate", "100"});
    ADD_FAILURE() << "--sample-rate 100 was accepted";
  } catch (const musegen::cli::UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--sample-rate: expected 8000..192000, found 100");
  }
  EXPECT_FALSE(fs::exists(dir / "out.wav"));
}

TEST(Synth, PlayWithoutAPlayerWritesTheWavNextToTheInput) {
  const fs::path dir = fresh_temp_dir("synth");
  midi::save(make_file({{0, {{60, 0, 0.5}}}}, 0.5), dir / "song.mid");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", dir.c_str(), 1);  // no aplay, paplay or ffplay there
  testing::internal::CaptureStdout();
  const int status = musegen::cmd_play(std::vector<std::string>{(dir / "song.mid").string()});
  const std::string out = testing::internal::GetCapturedStdout();
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(fs::exists(dir / "song.wav"));
  EXPECT_NE(out.find((dir / "song.wav").string()), std::string::npos) << out;
}
