// Files the commands must not destroy, and messages that must say what is wrong (issue 18),
// run on the binary from tables (cli_table.hpp). An output that is an input, or a file of the
// run folder, is refused before anything is written, whatever the spelling of its path
// (./ow/../ow/8.mid, a link); play never overwrites a WAV it finds beside the MIDI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <libmidi/io.hpp>

#include "cli_table.hpp"
#include "dataset.hpp"
#include "test_support.hpp"
#include "tiny_run.hpp"
#include "tokens_file.hpp"

namespace {

using namespace musegen;
using musegen::test::CliCase;
using musegen::test::expect_case;
namespace fs = std::filesystem;

// Two bars of a C major arpeggio on piano, written with libmidi.
midi::MidiFile small_midi() {
  midi::MidiFile file;
  file.format = 0;
  file.division = midi::TimeDivision::ppq(96);
  midi::Track& track = file.tracks.emplace_back();
  track.add_tempo(0, 500000);
  std::uint64_t tick = 0;
  for (std::uint8_t key : {60, 64, 67, 72, 67, 64, 60, 55}) {
    track.add_channel(tick, 0x90, key, 90);
    track.add_channel(tick + 90, 0x80, key, 0);
    tick += 96;
  }
  track.add_end_of_track(tick);
  return file;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Sets PATH for the life of the object: play looks its players up on PATH, and with none
// found writes the WAV beside the MIDI.
class ScopedPath {
 public:
  explicit ScopedPath(const fs::path& folder) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", folder.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) ::setenv("PATH", old_->c_str(), 1);
    else ::unsetenv("PATH");
  }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

 private:
  std::optional<std::string> old_;
};

// One folder for every case: a tiny run ev/ (model and best weights, its dataset inside), a
// copy of its dataset ev.mgds, MIDI files AT.mid, ow/8.mid and ow/9.mid (with ow/9.wav beside
// it), a tokens file, and the broken inputs of the message cases.
class CliFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(musegen::test::fresh_temp_dir("cli_files"));
    const fs::path& d = *dir_;
    ModelConfig config;
    config.embed = 6;
    config.hidden = 8;
    config.layers = 1;
    const Dataset data = musegen::test::tiny_dataset(Encoding::events);
    musegen::test::save_tiny_run(d / "ev", data, config);
    fs::copy_file(d / "ev" / RunDir::kWeights, d / "ev" / RunDir::kBest);
    save_dataset(d / "ev.mgds", data);
    fs::create_directories(d / "ow");
    fs::create_directories(d / "nobin");
    fs::create_directories(d / "folder.mid");
    for (const char* name : {"AT.mid", "ow/8.mid", "ow/9.mid"}) midi::save(small_midi(), d / name);
    write_text(d / "ow/9.wav", "a WAV the user keeps");
    fs::create_symlink("AT.mid", d / "AT.png");
    fs::create_symlink("ev/best.safetensors", d / "curves.svg");
    fs::create_directories(d / "tr");
    fs::create_symlink("../ev.mgds", d / "tr" / RunDir::kMetrics);
    write_text(d / "bad.mid", "not a MIDI file");
    write_text(d / "empty.mid", "");

    const std::string tokens = format_tokens(data.codec, data.train[0]);
    write_text(d / "good.tokens", tokens);
    write_text(d / "bom.tokens", "\xEF\xBB\xBF" + tokens);
    std::string out_of_range = tokens;
    const std::size_t at = out_of_range.find("\nstep_ms ");
    EXPECT_NE(at, std::string::npos) << tokens;
    const std::size_t end = out_of_range.find('\n', at + 1);
    out_of_range.replace(at + 1, end - at - 1, "step_ms 2000000");
    write_text(d / "range.tokens", out_of_range);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path* dir_;
};

fs::path* CliFiles::dir_ = nullptr;

TEST_F(CliFiles, AnOutputIsNeverAnInputOrAFileOfTheRun) {
  const CliCase cases[] = {
      {"generate onto the run's best weights",
       {"generate", "ev", "--steps", "4", "--out", "ev/best.safetensors"},
       1, "--out ev/best.safetensors: is best.safetensors of the run folder ev", {"ev/best.safetensors"}},
      {"generate a MIDI onto the run's latest weights",
       {"generate", "ev", "--steps", "4", "--out", "g.tokens", "--midi", "ev/model.safetensors"},
       1, "--midi ev/model.safetensors: is model.safetensors of the run folder ev",
       {"ev/model.safetensors", "g.tokens"}},
      {"generate onto the weights file given, spelled another way",
       {"generate", "ev/model.safetensors", "--steps", "4", "--out", "./ev/../ev/model.safetensors"},
       1, "is the weights ev/model.safetensors", {"ev/model.safetensors"}},
      {"generate onto the dataset given with --dataset",
       {"generate", "ev", "--steps", "4", "--dataset", "ev.mgds", "--out", "ev.mgds"},
       1, "--out ev.mgds: is the dataset ev.mgds", {"ev.mgds"}},
      {"generate onto the dataset the weights name",
       {"generate", "ev", "--steps", "4", "--out", "ev/tiny.mgds"},
       1, "is the dataset", {"ev/tiny.mgds"}},
      {"generate onto its primer",
       {"generate", "ev", "--steps", "4", "--primer", "AT.mid", "--out", "AT.mid"},
       1, "--out AT.mid: is --primer AT.mid", {"AT.mid"}},
      {"generate the tokens and the MIDI to one file",
       {"generate", "ev", "--steps", "4", "--out", "same.out", "--midi", "./same.out"},
       1, "--midi ./same.out: is also the output --out same.out", {"same.out"}},
      {"preprocess onto its input",
       {"preprocess", "AT.mid", "--out", "AT.mid"}, 1, "--out AT.mid: is the input AT.mid", {"AT.mid"}},
      {"preprocess a folder onto a file in it",
       {"preprocess", "ow", "--out", "ow/8.mid"}, 1, "--out ow/8.mid: is the input ow/8.mid", {"ow/8.mid"}},
      {"eval --json onto its input",
       {"eval", "AT.mid", "--json", "AT.mid"}, 1, "--json AT.mid: is the input AT.mid", {"AT.mid"}},
      {"eval --json onto a file of a reference folder",
       {"eval", "AT.mid", "--reference", "ow", "--json", "ow/9.mid"}, 1, "is --reference ow/9.mid", {"ow/9.mid"}},
      {"to-midi onto its input, spelled another way",
       {"to-midi", "good.tokens", "--out", "./good.tokens"}, 1, "--out ./good.tokens: is the input good.tokens",
       {"good.tokens"}},
      {"render a WAV onto its MIDI, spelled another way",
       {"render", "ow/8.mid", "./ow/../ow/8.mid"}, 1, "OUT.wav ./ow/../ow/8.mid: is the input ow/8.mid",
       {"ow/8.mid"}},
      {"eval --json onto the dataset of --checkpoint",
       {"eval", "AT.mid", "--checkpoint", "ev", "--json", "ev/tiny.mgds"}, 1, "--json ev/tiny.mgds: is the dataset",
       {"ev/tiny.mgds"}},
      {"plot-metrics onto the run's weights through a link",
       {"plot-metrics", "ev", "curves.svg"}, 1, "OUT curves.svg: is best.safetensors of the run folder ev",
       {"ev/best.safetensors"}},
      {"train with a run file that is its dataset through a link",
       {"train", "ev.mgds", "--run-dir", "tr", "--embed", "6", "--hidden", "8", "--layers", "1", "--seq-len", "8",
        "--batch", "2", "--max-steps", "1", "--quiet", "--no-tensorboard"},
       1, "the run file tr/metrics.csv: is the dataset ev.mgds", {"ev.mgds"}},
      {"plot onto its MIDI through a link",
       {"plot", "AT.mid", "AT.png"}, 1, "OUT AT.png: is the input AT.mid", {"AT.mid", "AT.png"}},
  };
  for (const CliCase& c : cases) expect_case(c, *dir_);
  EXPECT_FALSE(fs::exists(*dir_ / "same.out")) << "a refused generate wrote its output";
}

TEST_F(CliFiles, PlayOntoItsInputIsRefused) {
  const ScopedPath no_players(*dir_ / "nobin");
  expect_case({"play --out onto its MIDI, spelled another way",
               {"play", "ow/8.mid", "--out", "./ow/8.mid"},
               1, "--out ./ow/8.mid: is the input ow/8.mid", {"ow/8.mid"}},
              *dir_);
}

TEST_F(CliFiles, PlayWithoutAPlayerNeverOverwritesAWav) {
  const ScopedPath no_players(*dir_ / "nobin");
  expect_case({"play beside an existing WAV, no player on PATH", {"play", "ow/9.mid"},
               0, "wrote ow/9-1.wav", {"ow/9.wav", "ow/9.mid"}},
              *dir_);
  EXPECT_TRUE(fs::is_regular_file(*dir_ / "ow/9-1.wav"));
  expect_case({"and again: the next free name", {"play", "ow/9.mid"},
               0, "wrote ow/9-2.wav", {"ow/9.wav", "ow/9-1.wav"}},
              *dir_);
}

TEST_F(CliFiles, MessagesSayWhatIsWrong) {
  const CliCase cases[] = {
      {"a directory where a MIDI file is expected",
       {"render", "folder.mid", "out.wav"}, 1, "folder.mid: is a directory, not a MIDI file", {}},
      {"a dataset where a run is expected",
       {"generate", "ev.mgds", "--out", "d.tokens"}, 1,
       "ev.mgds: is a musegen dataset file (written by musegen preprocess), not a run", {}},
      {"a tokens file with a UTF-8 byte-order mark",
       {"to-midi", "bom.tokens", "--out", "bom.mid"}, 1, "bom.tokens:1: expected \"musegen tokens 1\" at the "
       "start of the file, found a UTF-8 byte-order mark", {}},
      {"a tokens header value out of range",
       {"to-midi", "range.tokens", "--out", "range.mid"}, 1,
       "expected an integer step_ms in 0..1000000 in the header, found \"2000000\"", {}},
      {"preprocess with no readable input lists each file",
       {"preprocess", "bad.mid", "empty.mid", "--out", "none.mgds"}, 1,
       "no piece could be read from the inputs:\n  bad.mid: ", {}},
  };
  for (const CliCase& c : cases) {
    const auto r = expect_case(c, *dir_);
    if (c.what.starts_with("preprocess")) {
      EXPECT_NE(r.text().find("\n  empty.mid: "), std::string::npos) << r.text();
    }
  }
}

}  // namespace
