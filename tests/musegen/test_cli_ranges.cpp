// Issue 18, "invalid values accepted as if valid": every numeric option of every command has
// a range, and the binary refuses a value outside it with exit code 2 and a message naming
// the flag, before it reads or writes any file. The values at the ends of each range get past
// the parser: with a missing input the command then fails on that input (exit 1) instead.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_table.hpp"
#include "test_support.hpp"

namespace {

using musegen::test::CliCase;
using musegen::test::expect_case;

// What each command needs before its options, so that only the option is wrong. in.mid
// exists (and must stay untouched); the run, dataset and tokens do not, which no case reaches.
const std::map<std::string, std::vector<std::string>> kPositionals = {
    {"train", {"data.mgds"}},
    {"generate", {"run"}},
    {"eval", {"in.mid"}},
    {"preprocess", {"in.mid"}},
    {"to-midi", {"x.tokens"}},
    {"render", {"in.mid", "out.wav"}},
    {"play", {"in.mid"}},
    {"plot", {"in.mid", "out.png"}},
    {"plot-metrics", {"run", "out.png"}},
    {"accompany", {"run", "in.mid"}},
    {"gan-train", {"in.mid"}},
    {"gan-generate", {"run"}},
    {"serve", {}},
};
// The commands without a numeric option (so not in kPositionals).
const std::set<std::string> kNoNumericOption = {"datasets", "instruments"};

struct OutOfRange {
  std::string command, flag, value;
  std::string message;  // the whole expected message where the issue quotes the case, else ""
};

// One value outside the range of each numeric option (the cases with their messages).
const std::vector<OutOfRange> kOutOfRange = {
    {"train", "embed", "0", ""},
    {"train", "hidden", "65537", ""},
    {"train", "layers", "0", ""},
    {"train", "dropout", "1", "--dropout: expected 0 <= P < 1, found 1"},
    {"train", "seq-len", "0", ""},
    {"train", "batch", "0", ""},
    {"train", "epochs", "0", ""},
    {"train", "max-steps", "-1", ""},
    {"train", "lr", "0", "--lr: expected 0 < LR <= 10, found 0"},
    {"train", "weight-decay", "-0.1", ""},
    {"train", "clip", "-1", "--clip: expected 0..1000000, found -1"},
    {"train", "clip", "nan", "--clip: expected 0..1000000, found nan"},
    {"train", "warmup", "-1", "--warmup: expected 0..1000000000, found -1"},
    {"train", "seed", "-1", ""},
    {"train", "checkpoint-every", "-1", "--checkpoint-every: expected 0..1000000000, found -1"},
    {"train", "eval-length", "-1", "--eval-length: expected 0..1000000000, found -1"},
    {"train", "log-seconds", "-inf", ""},
    {"train", "threads", "-1", "--threads: expected 0..1024, found -1"},
    {"generate", "threads", "1025", ""},
    {"accompany", "threads", "1025", ""},
    {"accompany", "temperature", "0", "--temperature: expected 0 < T <= 100, found 0"},
    {"accompany", "top-k", "-5", ""},
    {"accompany", "top-p", "0", ""},
    {"accompany", "seed", "-1", ""},
    {"accompany", "particles", "0", "--particles: expected 1..1024, found 0"},
    {"eval", "threads", "-1", ""},
    {"train", "sample-steps", "-2",
     "--sample-steps: expected -1 (128 frames for roll, 256 tokens) or 0..1000000"},
    {"generate", "steps", "0", ""},
    {"generate", "temperature", "0", "--temperature: expected 0 < T <= 100, found 0"},
    {"generate", "top-k", "-5", "--top-k: expected 0..100000, found -5"},
    {"generate", "top-p", "1.5", ""},
    {"generate", "seed", "-1", ""},
    {"generate", "primer-sequence", "-7",
     "--primer-sequence: expected -1 (the sequence picked by --seed) or 0..100000000, found -7"},
    {"generate", "primer-steps", "-1", "--primer-steps: expected 0..100000000, found -1"},
    {"generate", "tempo", "-5", "--tempo: expected 0 (the codec's default) or 4..1000, found -5"},
    {"generate", "tempo", "nan", "--tempo: expected 0 (the codec's default) or 4..1000, found nan"},
    {"generate", "program", "128", ""},
    {"generate", "velocity", "-1", ""},
    {"gan-train", "seq-len", "0", ""},
    {"gan-train", "batch", "65537", ""},
    {"gan-train", "epochs", "0", ""},
    {"gan-train", "max-steps", "-1", ""},
    {"gan-train", "lr-g", "0", "--lr-g: expected 0 < LR <= 10, found 0"},
    {"gan-train", "lr-d", "11", ""},
    {"gan-train", "clip", "-1", ""},
    {"gan-train", "seed", "-1", ""},
    {"gan-train", "hidden", "0", ""},
    {"gan-train", "layers", "17", ""},
    {"gan-train", "noise", "65537", ""},
    {"gan-train", "pretrain-steps", "-1", ""},
    {"gan-train", "freeze-accuracy", "1.5", "--freeze-accuracy: expected 0..1, found 1.5"},
    {"gan-train", "bars", "17", "--bars: expected 1..16, found 17"},
    {"gan-train", "lowest-pitch", "128", ""},
    {"gan-train", "pitches", "7", ""},
    {"gan-train", "shared-noise", "0", ""},
    {"gan-train", "private-noise", "-1", ""},
    {"gan-train", "g-channels", "3", ""},
    {"gan-train", "d-channels", "1025", ""},
    {"gan-train", "n-critic", "0", ""},
    {"gan-train", "gp-weight", "-1", ""},
    {"gan-train", "checkpoint-every", "-1", ""},
    {"gan-train", "log-seconds", "nan", ""},
    {"gan-train", "threads", "-1", ""},
    {"gan-generate", "count", "0", "--count: expected 1..100000, found 0"},
    {"gan-generate", "length", "0", ""},
    {"gan-generate", "seed", "-1", ""},
    {"gan-generate", "tempo", "3", ""},
    {"eval", "ngram", "0", ""},
    {"eval", "nll-window", "-1", "--nll-window: expected 0..100000000, found -1"},
    {"eval", "nll-batch", "0", "--nll-batch: expected 1..65536, found 0"},
    {"eval", "melody-part", "-2", "--melody-part: expected -1 (not measured) or 0..1023, found -2"},
    {"eval", "melody-part", "1024", ""},
    {"eval", "tolerance", "-0.1", "--tolerance: expected 0..1000, found -0.1"},
    {"preprocess", "frames-per-quarter", "97", ""},
    {"preprocess", "step-ms", "0", ""},
    {"preprocess", "max-shift-steps", "1001", ""},
    {"preprocess", "velocity-bins", "128", ""},
    {"preprocess", "grid", "49", ""},
    {"preprocess", "max-duration", "0", ""},
    {"preprocess", "tracks", "17", ""},
    {"preprocess", "min-chord-count", "-1", ""},
    {"preprocess", "jsb-frames-per-quarter", "-1", ""},
    {"preprocess", "valid-fraction", "1", ""},
    {"preprocess", "seed", "-1", ""},
    // The issue: the flag said 0..1000000 and preprocess() then 0..12; one constant now.
    {"preprocess", "transpose", "13", "--transpose: expected 0..12, found 13"},
    {"preprocess", "transpose", "-1", "--transpose: expected 0..12, found -1"},
    {"to-midi", "tempo", "0", "--tempo: expected 4..1000, found 0"},
    {"to-midi", "program", "-1", ""},
    {"to-midi", "velocity", "0", ""},
    {"to-midi", "index", "-1", ""},
    {"render", "sample-rate", "7999", "--sample-rate: expected 8000..192000, found 7999"},
    {"render", "gain-db", "inf", "--gain-db: expected -100 < DB <= 1, found inf"},
    {"play", "sample-rate", "192001", ""},
    {"play", "gain-db", "-100", ""},
    {"plot", "width", "99", ""},
    {"plot", "height", "16385", ""},
    {"plot-metrics", "width", "199", ""},
    {"plot-metrics", "height", "0", ""},
    {"serve", "port", "65536", "--port: expected 0..65535, found 65536"},
    {"serve", "queue", "0", "--queue: expected 1..10000, found 0"},
    {"serve", "workers", "65", ""},
    {"serve", "threads", "-1", ""},
};

std::vector<std::string> command_line(const std::string& command, std::vector<std::string> options) {
  std::vector<std::string> args{command};
  const auto& positionals = kPositionals.at(command);
  args.insert(args.end(), positionals.begin(), positionals.end());
  args.insert(args.end(), options.begin(), options.end());
  return args;
}

std::filesystem::path folder_with_an_input() {
  const auto dir = musegen::test::fresh_temp_dir("cli_ranges");
  std::ofstream(dir / "in.mid", std::ios::binary) << "MThd, but no MIDI file";
  return dir;
}

TEST(CliRanges, AValueOutsideItsRangeIsAUsageErrorNamingTheFlag) {
  const auto dir = folder_with_an_input();
  for (const OutOfRange& c : kOutOfRange) {
    const std::string message = !c.message.empty() ? c.message : "--" + c.flag + ": expected ";
    // --name=VALUE, so that a negative value is not read as an option.
    expect_case(CliCase{c.command + " --" + c.flag + " out of range",
                        command_line(c.command, {"--" + c.flag + "=" + c.value}), 2, message, {"in.mid"}},
                dir);
    for (const char* output : {"out.wav", "out.png"}) {
      EXPECT_FALSE(std::filesystem::exists(dir / output)) << c.command << " --" << c.flag << " wrote " << output;
    }
  }
  std::filesystem::remove_all(dir);
}

// Every command of `musegen --help` is covered above, or has no numeric option.
TEST(CliRanges, EveryCommandIsCovered) {
  const auto dir = musegen::test::fresh_temp_dir("cli_ranges");
  const auto r = musegen::test::run_musegen({"--help"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string line;
  std::size_t commands = 0;
  bool in_list = false;
  while (std::getline(lines, line)) {
    if (line.rfind("commands:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (!in_list) continue;
    if (line.size() < 3 || line[0] != ' ' || line[1] != ' ' || line[2] == ' ') {
      if (commands > 0) break;
      continue;
    }
    const std::string name = line.substr(2, line.find(' ', 2) - 2);
    ++commands;
    EXPECT_TRUE(kPositionals.count(name) || kNoNumericOption.count(name))
        << name << ": a command without cases here (add it to kPositionals and kOutOfRange)";
  }
  EXPECT_GE(commands, 12u) << r.out;
  std::filesystem::remove_all(dir);
}

// Every numeric option shows its range in --help, and has a case above: a numeric option
// added without a range does not compile (cli::Parser::option requires one), and one added
// without a case here fails this count.
TEST(CliRanges, HelpShowsTheRangeOfEveryNumericOptionAndEachHasACase) {
  const auto dir = musegen::test::fresh_temp_dir("cli_ranges");
  std::map<std::string, std::set<std::string>> flags;
  for (const OutOfRange& c : kOutOfRange) flags[c.command].insert(c.flag);
  for (const auto& [command, positionals] : kPositionals) {
    const auto r = musegen::test::run_musegen({command, "--help"}, dir);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.text();
    std::size_t shown = 0;
    // "(allowed:" without the space after it: --help may wrap the line there.
    for (std::size_t at = r.out.find("(allowed:"); at != std::string::npos; at = r.out.find("(allowed:", at + 1)) ++shown;
    EXPECT_EQ(shown, flags[command].size()) << command << ": ranges in --help vs flags with a case here\n" << r.out;
    for (const std::string& flag : flags[command]) {
      // Option lines start "\n  --"; wrapped help lines start with 26 spaces.
      const std::size_t line = r.out.find("\n  --" + flag + " ");
      ASSERT_NE(line, std::string::npos) << command << " --help lacks --" << flag;
      const std::size_t next = r.out.find("\n  -", line + 1);
      EXPECT_NE(r.out.substr(line, next - line).find("(allowed:"), std::string::npos)
          << command << " --help shows no range for --" << flag << "\n" << r.out;
    }
  }
  std::filesystem::remove_all(dir);
}

// Both ends of every range get past the parser: the commands then fail on their missing
// input (exit 1), not on an option (exit 2).
TEST(CliRanges, TheEndsOfEveryRangeAreAccepted) {
  const auto dir = folder_with_an_input();
  const std::vector<CliCase> cases = {
      {"train at its lower ends",
       {"train",
        "absent.mgds",
        "--embed",
        "1",
        "--hidden",
        "1",
        "--layers",
        "1",
        "--dropout",
        "0",
        "--seq-len",
        "1",
        "--batch",
        "1",
        "--epochs",
        "1",
        "--max-steps",
        "0",
        "--lr",
        "1e-300",
        "--weight-decay",
        "0",
        "--clip",
        "0",
        "--warmup",
        "0",
        "--seed",
        "0",
        "--checkpoint-every",
        "0",
        "--eval-length",
        "0",
        "--log-seconds",
        "0",
        "--sample-steps",
        "-1"},
       1,
       "absent.mgds",
       {"in.mid"}},
      {"train at its upper ends",
       {"train",
        "absent.mgds",
        "--embed",
        "65536",
        "--hidden",
        "65536",
        "--layers",
        "64",
        "--dropout",
        "0.999",
        "--seq-len",
        "1000000",
        "--batch",
        "65536",
        "--epochs",
        "1000000",
        "--max-steps",
        "1000000000",
        "--lr",
        "10",
        "--weight-decay",
        "10",
        "--clip",
        "1e6",
        "--warmup",
        "1000000000",
        "--seed",
        "9223372036854775807",
        "--checkpoint-every",
        "1000000000",
        "--eval-length",
        "1000000000",
        "--log-seconds",
        "86400",
        "--sample-steps",
        "1000000"},
       1,
       "absent.mgds",
       {"in.mid"}},
      {"generate at its lower ends",
       {"generate",          "absent-run", "--steps",        "1",    "--temperature", "1e-9",
        "--top-k",           "0",          "--top-p",        "1e-9", "--seed",        "0",
        "--primer-sequence", "-1",         "--primer-steps", "0",    "--tempo",       "0",
        "--program",         "-1",         "--velocity",     "0"},
       1,
       "absent-run",
       {"in.mid"}},
      {"generate at its upper ends",
       {"generate",       "absent-run", "--steps", "100000000", "--temperature",     "100",
        "--top-k",        "100000",     "--top-p", "1",         "--primer-sequence", "100000000",
        "--primer-steps", "100000000",  "--tempo", "1000",      "--program",         "127",
        "--velocity",     "127"},
       1,
       "absent-run",
       {"in.mid"}},
      {"gan-train at its lower ends",
       {"gan-train",
        "absent-data",
        "--seq-len",
        "1",
        "--batch",
        "1",
        "--epochs",
        "1",
        "--max-steps",
        "0",
        "--lr-g",
        "1e-300",
        "--lr-d",
        "1e-300",
        "--clip",
        "0",
        "--seed",
        "0",
        "--hidden",
        "1",
        "--layers",
        "1",
        "--noise",
        "1",
        "--pretrain-steps",
        "0",
        "--freeze-accuracy",
        "0",
        "--checkpoint-every",
        "0",
        "--log-seconds",
        "0",
        "--threads",
        "0"},
       1,
       "absent-data",
       {"in.mid"}},
      {"gan-train at its upper ends",
       {"gan-train",
        "absent-data",
        "--seq-len",
        "100000",
        "--batch",
        "65536",
        "--epochs",
        "1000000",
        "--max-steps",
        "1000000000",
        "--lr-g",
        "10",
        "--lr-d",
        "10",
        "--clip",
        "1e6",
        "--hidden",
        "65536",
        "--layers",
        "16",
        "--noise",
        "65536",
        "--pretrain-steps",
        "1000000000",
        "--freeze-accuracy",
        "1",
        "--checkpoint-every",
        "1000000000",
        "--log-seconds",
        "86400",
        "--threads",
        "1024"},
       1,
       "absent-data",
       {"in.mid"}},
      {"gan-generate at its ends",
       {"gan-generate", "absent-run", "--count", "100000", "--length", "1", "--seed", "0",
        "--tempo", "4"},
       1,
       "absent-run",
       {"in.mid"}},
      {"accompany at its ends",
       {"accompany", "absent-run", "in.mid", "--keep", "0", "--out", "out.mid", "--temperature",
        "100", "--top-k", "100000", "--top-p", "1", "--seed", "0", "--threads", "1024",
        "--particles", "1024"},
       1,
       "absent-run",
       {"in.mid"}},
      {"generate's tempo, program and velocity at their lowest real values",
       {"generate", "absent-run", "--tempo", "4", "--program", "0", "--velocity", "1"},
       1,
       "absent-run",
       {"in.mid"}},
      // serve refuses the missing --runs before it listens, so no server is left running.
      {"serve at its lower ends",
       {"serve", "--runs", "absent-runs", "--port", "0", "--queue", "1", "--workers", "1",
        "--threads", "0"},
       1,
       "absent-runs",
       {"in.mid"}},
      {"serve at its upper ends",
       {"serve", "--runs", "absent-runs", "--port", "65535", "--queue", "10000", "--workers", "64",
        "--threads", "1024"},
       1,
       "absent-runs",
       {"in.mid"}},
      {"eval at its lower ends",
       {"eval", "--checkpoint", "absent-run", "--ngram", "1", "--nll-window", "0", "--nll-batch",
        "1", "--melody-part", "-1", "--tolerance", "0"},
       1,
       "absent-run",
       {"in.mid"}},
      {"eval at its upper ends",
       {"eval", "--checkpoint", "absent-run", "--ngram", "64", "--nll-window", "100000000",
        "--nll-batch", "65536", "--melody-part", "1023", "--tolerance", "1000"},
       1,
       "absent-run",
       {"in.mid"}},
      {"preprocess (notes) at its upper ends",
       {"preprocess",
        "absent.mid",
        "--encoding",
        "notes",
        "--grid",
        "48",
        "--max-duration",
        "3072",
        "--min-chord-count",
        "1000000000",
        "--jsb-frames-per-quarter",
        "96",
        "--valid-fraction",
        "0.999",
        "--seed",
        "9223372036854775807",
        "--transpose",
        "12",
        "--stretch",
        "0.25,4"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"preprocess (events) at its ends",
       {"preprocess",
        "absent.mid",
        "--encoding",
        "events",
        "--step-ms",
        "1000",
        "--max-shift-steps",
        "1",
        "--velocity-bins",
        "127",
        "--min-chord-count",
        "0",
        "--jsb-frames-per-quarter",
        "0",
        "--valid-fraction",
        "0",
        "--seed",
        "0",
        "--transpose",
        "0"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"preprocess (multitrack) at its ends",
       {"preprocess", "absent.mid", "--encoding", "multitrack", "--tracks", "1", "--grid", "1",
        "--max-duration", "1"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"preprocess (multitrack) at its upper ends",
       {"preprocess", "absent.mid", "--encoding", "multitrack", "--tracks", "16", "--grid", "48",
        "--max-duration", "3072"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"preprocess (roll) at its ends",
       {"preprocess", "absent.mid", "--encoding", "roll", "--frames-per-quarter", "96"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"preprocess (roll) at the JSB file's own resolution",
       {"preprocess", "absent.mid", "--encoding", "roll", "--frames-per-quarter", "0"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"to-midi at its lower ends",
       {"to-midi", "absent.tokens", "--tempo", "4", "--program", "0", "--velocity", "1", "--index",
        "0"},
       1,
       "absent.tokens",
       {"in.mid"}},
      {"to-midi at its upper ends",
       {"to-midi", "absent.tokens", "--tempo", "1000", "--program", "127", "--velocity", "127",
        "--index", "100000000"},
       1,
       "absent.tokens",
       {"in.mid"}},
      {"render at its lower ends",
       {"render", "absent.mid", "out.wav", "--sample-rate", "8000", "--gain-db", "-99.99"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"play at its upper ends",
       {"play", "absent.mid", "--sample-rate", "192000", "--gain-db", "1"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"plot at its ends",
       {"plot", "absent.mid", "out.png", "--width", "100", "--height", "16384"},
       1,
       "absent.mid",
       {"in.mid"}},
      {"plot-metrics at its ends",
       {"plot-metrics", "absent-run", "out.png", "--width", "16384", "--height", "200"},
       1,
       "absent-run",
       {"in.mid"}},
  };
  for (const CliCase& c : cases) expect_case(c, dir);
  std::filesystem::remove_all(dir);
}

}  // namespace
