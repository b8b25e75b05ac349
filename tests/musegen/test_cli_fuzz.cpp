// The binary against edge values: every option of every subcommand (read from its --help, so
// an option added later is covered without a change here) given each of a list of awkward
// values (0, -1, NaN, the infinities, 1e308, a number past int64, "", "abc", a directory, a
// missing file, the command's own input). Whatever the value, the command must end as a user
// can read: exit code 0, 1 or 2, a message when it is not 0, no signal, no hang, and no input
// changed. Every command line is relative to a temporary folder holding tiny inputs, and what
// a case writes there is removed before the next.
//
// The default run is a deterministic sample (two values per option, rotating through the
// list so that every value meets every command) that takes well under 40 s on two cores;
// MUSEGEN_CLI_FUZZ_ALL=1 runs every option with every value.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <libmidi/io.hpp>

#include "audio_test_support.hpp"
#include "cli_table.hpp"
#include "test_support.hpp"
#include "tiny_run.hpp"
#include "tokens_file.hpp"

namespace {

namespace fs = std::filesystem;
using musegen::test::CliResult;

// A subcommand run on the tiny inputs: `args` succeed (or fail cleanly) on their own, and a
// fuzzed option appended after them overrides any value they give it.
struct Command {
  std::vector<std::string> args;
  std::string input;  // the value standing for "the same file as an input"
};

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {{"train", "run/tiny.mgds", "--run-dir", "train-out", "--embed", "8", "--hidden", "8", "--layers", "1",
        "--seq-len", "8", "--batch", "2", "--epochs", "1", "--max-steps", "2", "--no-tensorboard", "--quiet"},
       "run/tiny.mgds"},
      {{"generate", "run", "--steps", "8", "--out", "out.tokens", "--quiet"}, "run/model.safetensors"},
      {{"eval", "in.mid", "--reference", "in2.mid", "--checkpoint", "run"}, "in.mid"},
      {{"preprocess", "in.mid", "in2.mid", "--out", "out.mgds", "--quiet"}, "in.mid"},
      {{"to-midi", "x.tokens", "--out", "out.mid", "--quiet"}, "x.tokens"},
      {{"render", "in.mid", "out.wav"}, "in.mid"},
      {{"play", "in.mid", "--out", "play.wav"}, "in.mid"},
      {{"plot", "in.mid", "out.png", "--quiet"}, "in.mid"},
      {{"plot-metrics", "run", "curves.png", "--quiet"}, "run/metrics.csv"},
      {{"accompany", "run", "in.mid", "--keep", "0", "--out", "out.mid", "--quiet"}, "in.mid"},
      {{"datasets", "list"}, "in.mid"},
      // --check: serve binds and exits, so no case leaves a server running.
      {{"serve", "--runs", "run", "--out", "served", "--port", "0", "--check", "--quiet"},
       "run/model.safetensors"},
  };
  return all;
}

// The edge values; "INPUT" is replaced by the command's input.
const std::vector<std::string> kEdgeValues = {
    "0", "-1", "nan", "inf", "-inf", "1e308", "99999999999999999999", "", "abc",
    "adir",         // a directory
    "missing.mid",  // a file that does not exist
    "INPUT",        // the same file as an input
};

// The options (not flags) of a subcommand, from its --help: lines "  --name METAVAR ...".
std::vector<std::string> options_of(const std::string& command, const fs::path& dir) {
  const CliResult help = musegen::test::run_musegen({command, "--help"}, dir);
  EXPECT_EQ(help.exit_code, 0) << command << " --help\n" << help.text();
  std::vector<std::string> names;
  std::istringstream lines(help.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  --", 0) != 0) continue;
    const std::size_t end = line.find(' ', 4);
    // A flag's name is followed by the padding (or nothing); an option's by " METAVAR".
    if (end == std::string::npos || end + 1 >= line.size() || line[end + 1] == ' ') continue;
    const std::string name = line.substr(4, end - 4);
    if (name != "help") names.push_back(name);
  }
  return names;
}

// Every regular file under `dir` (relative path → SHA-256).
std::map<std::string, std::string> hash_tree(const fs::path& dir) {
  std::map<std::string, std::string> hashes;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) hashes[fs::relative(entry.path(), dir).string()] = musegen::test::file_hash(entry.path());
  }
  return hashes;
}

// Removes what a case added under `dir`: every path not in `keep` (relative paths of the
// inputs and of the folders holding them).
void remove_outputs(const fs::path& dir, const std::set<std::string>& keep) {
  std::vector<fs::path> added;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (keep.count(fs::relative(it->path(), dir).string()) == 0) {
      added.push_back(it->path());
      if (it->is_directory()) it.disable_recursion_pending();
    }
  }
  for (const fs::path& p : added) fs::remove_all(p);
}

// The tiny inputs: two short MIDI files, a run (an events model of width 8 with its dataset
// and a metrics.csv), a tokens file, and an empty folder.
void write_inputs(const fs::path& dir) {
  using musegen::test::Hit;
  midi::save(musegen::test::make_file({{0, {Hit{60, 0, 0.5}, Hit{64, 0.5, 1}, Hit{67, 1, 2}}}}, 2), dir / "in.mid");
  midi::save(musegen::test::make_file({{0, {Hit{62, 0, 1}, Hit{65, 1, 1.5}}}}, 2), dir / "in2.mid");
  const musegen::Dataset data = musegen::test::tiny_dataset(musegen::Encoding::events);
  musegen::ModelConfig config;
  config.embed = 8;
  config.hidden = 8;
  config.layers = 1;
  config.dropout = 0;
  musegen::test::save_tiny_run(dir / "run", data, config);
  musegen::save_tokens(dir / "x.tokens", data.codec, data.train[0]);
  std::ofstream(dir / "run" / "metrics.csv")
      << "step,epoch,lr,train_loss,valid_loss,valid_perplexity,predictions_per_s,grad_norm,seconds\n"
         "1,0,0.001,5.0,,,1000,1.5,1\n2,0,0.001,4.5,4.8,121.5,1000,1.4,2\n";
  fs::create_directories(dir / "adir");
}

// PATH for the duration of the test: a folder without any program, so that `play` finds no
// audio player and writes its WAV file instead of playing it.
class EmptyPath {
 public:
  explicit EmptyPath(const fs::path& folder) {
    if (const char* path = std::getenv("PATH")) saved_ = path;
    fs::create_directories(folder);
    ::setenv("PATH", folder.c_str(), 1);
  }
  ~EmptyPath() {
    if (saved_) ::setenv("PATH", saved_->c_str(), 1);
    else ::unsetenv("PATH");
  }
  EmptyPath(const EmptyPath&) = delete;
  EmptyPath& operator=(const EmptyPath&) = delete;

 private:
  std::optional<std::string> saved_;
};

TEST(CliFuzz, EveryOptionWithEdgeValuesEndsCleanlyAndLeavesTheInputsAlone) {
  const fs::path dir = musegen::test::fresh_temp_dir("cli_fuzz");
  const fs::path work = dir / "work";  // the commands' folder; dir also holds the empty PATH
  fs::create_directories(work);
  write_inputs(work);
  const EmptyPath no_players(dir / "no-programs");
  const std::map<std::string, std::string> inputs = hash_tree(work);
  std::set<std::string> keep;
  for (const auto& entry : fs::recursive_directory_iterator(work)) keep.insert(fs::relative(entry.path(), work).string());

  const char* all_env = std::getenv("MUSEGEN_CLI_FUZZ_ALL");
  const bool all = all_env != nullptr && std::string(all_env) == "1";
  constexpr double kTimeoutSeconds = 20;  // a tiny input takes well under a second
  std::size_t option_index = 0, runs = 0;
  for (const Command& command : commands()) {
    for (const std::string& option : options_of(command.args[0], work)) {
      std::vector<std::size_t> picks;
      if (all) {
        for (std::size_t v = 0; v < kEdgeValues.size(); ++v) picks.push_back(v);
      } else {
        // Two values per option, 7 apart in a list of 12, shifted by 5 per option: across a
        // command's options every value comes up.
        picks = {(option_index * 5) % kEdgeValues.size(), (option_index * 5 + 7) % kEdgeValues.size()};
      }
      ++option_index;
      for (const std::size_t pick : picks) {
        const std::string value = kEdgeValues[pick] == "INPUT" ? command.input : kEdgeValues[pick];
        std::vector<std::string> args = command.args;
        args.push_back("--" + option + "=" + value);  // =: "-1" stays a value
        std::string where = "musegen";
        for (const std::string& a : args) where += " " + a;

        const CliResult r = musegen::test::run_musegen(args, work, kTimeoutSeconds);
        ++runs;
        EXPECT_TRUE(musegen::test::clean_ending(r))
            << where << "\n  ended with exit code " << r.exit_code << ", signal " << r.signal
            << (r.timed_out ? " (timed out)" : "") << "\n" << r.text();
        if (r.exit_code != 0) {
          EXPECT_FALSE(r.text().empty()) << where << "\n  failed without a message";
        }
        EXPECT_EQ(r.text().find("std::bad_alloc"), std::string::npos)
            << where << "\n  an allocation failed instead of a check saying what is wrong:\n" << r.text();
        for (const auto& [file, hash] : inputs) {
          EXPECT_EQ(musegen::test::file_hash(work / file), hash) << where << "\n  changed the input " << file;
        }
        // Restore the inputs' folder as it was (an input changed above is reported, and
        // written again so that the next case starts from the same folder).
        remove_outputs(work, keep);
        if (hash_tree(work) != inputs) {
          fs::remove_all(work);
          fs::create_directories(work);
          write_inputs(work);
        }
      }
    }
  }
  EXPECT_GT(runs, 100u) << "options_of found too few options in the --help texts";
  std::filesystem::remove_all(dir);
}

}  // namespace
