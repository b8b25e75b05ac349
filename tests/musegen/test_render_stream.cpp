// Rendering straight to a WAV file in blocks (render_midi_to_wav, WavWriter): the same bytes
// as rendering in memory and encoding (the in-memory path is the oracle, itself checked
// against Python in test_synth.cpp and test_fluid.cpp), pieces too long for a WAV file
// refused before any work, and nothing half-written left behind.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio_test_support.hpp"
#include "cli_table.hpp"
#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "render.hpp"
#include "test_support.hpp"
#include "wav.hpp"

namespace {

namespace fs = std::filesystem;
using musegen::test::Hit;
using musegen::test::make_file;

std::vector<std::byte> file_bytes(const fs::path& path) {
  const std::string s = musegen::test::read_all(path);
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// Names in the folder, to see that nothing (a temporary file) was left.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A few seconds of chords, drums and a long note: more than one block of every kind.
midi::MidiFile music() {
  return make_file({{0, {{60, 0.0, 1.0, 100}, {64, 0.5, 2.5, 70}, {67, 1.0, 6.0, 90}}},
                    {1, {{48, 0.2, 3.0, 110}, {72, 2.0, 2.1, 127}}},
                    {9, {{36, 0.0, 0.1, 120}, {38, 0.5, 0.6, 100}, {42, 1.0, 1.05, 90}}}},
                   6.5, 0, 24);
}

void expect_same_bytes_as_in_memory(const musegen::RenderRequest& request, const std::string& what) {
  const fs::path dir = musegen::test::fresh_temp_dir("render_stream");
  const midi::MidiFile file = music();
  const musegen::RenderedFile streamed = musegen::render_midi_to_wav(file, request, dir / "s.wav");
  const musegen::RenderedAudio memory = musegen::render_midi(file, request);
  EXPECT_EQ(streamed.frames, memory.audio.frames()) << what;
  EXPECT_EQ(streamed.sample_rate, memory.audio.sample_rate) << what;
  EXPECT_TRUE(file_bytes(dir / "s.wav") == musegen::encode_wav(memory.audio)) << what;
  EXPECT_EQ(listing(dir), std::vector<std::string>{"s.wav"}) << what;
  fs::remove_all(dir);
}

TEST(RenderStream, SameBytesAsRenderingInMemory) {
  expect_same_bytes_as_in_memory({"", 44100, 0}, "44.1 kHz");
  expect_same_bytes_as_in_memory({"", 22050, -12}, "22.05 kHz, -12 dB");
}

TEST(RenderStream, SameBytesAsRenderingInMemoryWithFluidSynth) {
  const std::string sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  if (!musegen::soundfont_support_built_in()) GTEST_SKIP() << "this build has no FluidSynth";
  if (!fs::exists(sf2)) GTEST_SKIP() << sf2 << " is absent (apt-get install fluid-soundfont-gm)";
  expect_same_bytes_as_in_memory({sf2, 44100, 0}, "FluidSynth");
}

TEST(RenderStream, SilenceIsExactZeros) {
  const fs::path dir = musegen::test::fresh_temp_dir("render_stream");
  const musegen::RenderedFile r = musegen::render_midi_to_wav(make_file({}, 0.5), {}, dir / "z.wav");
  const auto bytes = file_bytes(dir / "z.wav");
  ASSERT_EQ(bytes.size(), 44 + static_cast<std::size_t>(r.frames) * 4);
  EXPECT_TRUE(std::all_of(bytes.begin() + 44, bytes.end(), [](std::byte b) { return b == std::byte{0}; }));
  fs::remove_all(dir);
}

// One note at 13.9 hours: 4.4 GB of 16-bit stereo, more than a WAV file can hold. Refused
// before rendering (it would take minutes), with no file left.
midi::MidiFile too_long() { return make_file({{0, {{60, 50000.0, 50001.0}}}}, 50001.0); }

TEST(RenderStream, TooLongForAWavFileIsRefusedBeforeRendering) {
  const fs::path dir = musegen::test::fresh_temp_dir("render_stream");
  try {
    musegen::render_midi_to_wav(too_long(), {}, dir / "long.wav");
    ADD_FAILURE() << "a 13.9 h piece was rendered";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find("too long for a WAV file"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(listing(dir).empty());
  fs::remove_all(dir);
}

TEST(RenderStream, CommandLineRefusesTooLongAndKeepsTheOldFile) {
  const fs::path dir = musegen::test::fresh_temp_dir("render_stream");
  midi::save(too_long(), dir / "long.mid");
  {
    std::ofstream(dir / "long.wav") << "an older rendering";
  }
  musegen::test::expect_case({"render a piece too long for a WAV file", {"render", "long.mid", "long.wav"}, 1,
                              "too long for a WAV file", {"long.wav", "long.mid"}},
                             dir);
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"long.mid", "long.wav"}));
  fs::remove_all(dir);
}

TEST(WavWriter, NothingIsLeftWithoutCommit) {
  const fs::path dir = musegen::test::fresh_temp_dir("wav_writer");
  {
    musegen::WavWriter w(dir / "a.wav", 44100, 4);
    const std::vector<float> two_frames{0.1f, -0.1f, 0.2f, -0.2f};
    w.write(two_frames);
    EXPECT_FALSE(listing(dir).empty());  // the temporary file exists while writing
    EXPECT_THROW(w.commit(), std::logic_error);  // 2 of 4 frames
  }
  EXPECT_TRUE(listing(dir).empty());
  {
    musegen::WavWriter w(dir / "b.wav", 44100, 1);
    const std::vector<float> two_frames{0.1f, -0.1f, 0.2f, -0.2f};
    EXPECT_THROW(w.write(two_frames), std::logic_error);  // more than announced
  }
  EXPECT_TRUE(listing(dir).empty());
  fs::remove_all(dir);
}

TEST(WavWriter, WritesWhatEncodeWavWrites) {
  const fs::path dir = musegen::test::fresh_temp_dir("wav_writer");
  musegen::Audio audio;
  audio.sample_rate = 8000;
  audio.samples = {0.0f, 1.0f, -1.0f, 0.5f, 2.0f, -2.0f, 1e-6f, -0.25f};  // clamping too
  {
    musegen::WavWriter w(dir / "w.wav", 8000, audio.frames());
    w.write(std::span<const float>(audio.samples).subspan(0, 2));
    w.write(std::span<const float>(audio.samples).subspan(2));
    w.commit();
  }
  EXPECT_TRUE(file_bytes(dir / "w.wav") == musegen::encode_wav(audio));
  fs::remove_all(dir);
}

}  // namespace
