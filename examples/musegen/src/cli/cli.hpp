// A small command-line parser for the musegen subcommands: options bound to variables,
// a generated --help that shows every option with its default, and errors that say which
// argument was wrong and why (UsageError; main prints it with a pointer to --help and exits 2).
//
//   std::string out = "out.mgds";
//   std::int64_t seed = 1;
//   std::vector<std::string> inputs;
//   cli::Parser p("preprocess", "INPUT... [options]", "Turns MIDI files into a dataset file.");
//   p.option("out", out, "FILE", "where to write the dataset")
//    .option("seed", seed, "N", "seed of the train/validation split", cli::range(0, cli::kMaxSeed))
//    .positional("INPUT", inputs, "MIDI files or folders", 1);
//   if (!p.parse(args)) return 0;  // --help was printed
//
// Options are written `--name VALUE` or `--name=VALUE`; flags `--name` (and `--no-name` to
// switch a default-on flag off). `--` ends the options.
//
// Every numeric option states the values it accepts (a Range, a required argument so that
// none can be declared without one): a value outside it is a UsageError naming the flag, the
// range and the value ("--top-k: expected 0..100000, found -5"), and --help shows it. A range
// with finite bounds refuses NaN and infinities, so a double option takes inf only where its
// range says so (cli::range(0.0, cli::kInfinity)).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <iosfwd>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace musegen::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The values a numeric option accepts: lo..hi, either end possibly open ("0 < T <= 100"),
// plus at most one value outside it that keeps a meaning of its own (-1 for "the codec's
// default"). Bounds are long double, which holds every int64 and every double exactly.
struct Range {
  long double lo = 0, hi = 0;
  bool lo_open = false, hi_open = false;
  std::optional<long double> special;
  std::string special_meaning;

  // lo < value instead of lo <= value (and the same for hi).
  Range& open_low();
  Range& open_high();
  // Also accepts `value`, meaning `meaning`: "-1 (the codec's default) or 0..127".
  Range& or_value(long double value, std::string meaning);

  bool contains(long double value) const;
  // "0..127", "0 < T <= 100" (with `metavar` for the value), "-1 (the default) or 0..127".
  std::string text(const std::string& metavar) const;
};

// The closed range lo..hi.
inline Range range(long double lo, long double hi) {
  Range r;
  r.lo = lo;
  r.hi = hi;
  return r;
}

inline constexpr long double kInfinity = std::numeric_limits<long double>::infinity();
// Seeds are stored as uint64 but typed as non-negative int64.
inline constexpr std::int64_t kMaxSeed = std::numeric_limits<std::int64_t>::max();

class Parser {
 public:
  // command: the subcommand name ("train"); synopsis: what follows it in the usage line;
  // description: one or more paragraphs printed under the usage line.
  Parser(std::string command, std::string synopsis, std::string description);

  Parser& flag(const std::string& name, bool& out, const std::string& help);
  Parser& option(const std::string& name, std::string& out, const std::string& metavar,
                 const std::string& help);
  // Numeric options: `allowed` is required, and must hold the default (`out`'s value).
  Parser& option(const std::string& name, std::int64_t& out, const std::string& metavar,
                 const std::string& help, const Range& allowed);
  Parser& option(const std::string& name, double& out, const std::string& metavar,
                 const std::string& help, const Range& allowed);
  // A positional argument taking exactly one value.
  Parser& positional(const std::string& name, std::string& out, const std::string& help);
  // The remaining positional arguments (at least min_count). At most one of these, last.
  Parser& positionals(const std::string& name, std::vector<std::string>& out,
                      const std::string& help, std::size_t min_count = 1);
  // A paragraph printed at the end of --help (examples, notes).
  Parser& epilog(const std::string& text);

  // Parses args (the arguments after the subcommand). Returns false when --help / -h was
  // given (the help is then printed to `help_out`, default stdout): the caller returns 0.
  // Throws UsageError for an unknown option, a missing or malformed value, or a wrong
  // number of positional arguments.
  bool parse(std::span<const std::string> args);
  bool parse(std::span<const std::string> args, std::ostream& help_out);

  // Whether the option was given on the command line (not just left at its default).
  bool given(const std::string& name) const;

  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  struct Option {
    std::string name, metavar, help, default_text;
    std::string range_text;  // numeric options: what --help says they accept
    bool is_flag = false;
    bool given = false;
    std::function<void(const std::string&)> set;  // parses and stores, throws UsageError
  };
  struct Positional {
    std::string name, help;
    bool rest = false;
    std::size_t min_count = 1;
    std::function<void(const std::string&)> set;
    std::vector<std::string>* rest_out = nullptr;
  };
  Option* find(const std::string& name);
  const Option* find(const std::string& name) const;
  Parser& add(Option option);

  std::string command_, synopsis_, description_, epilog_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
};

// Parses a whole string as a number; std::nullopt-like failure is reported as UsageError
// naming `what` ("--lr: expected a number, found \"abc\"").
std::int64_t parse_int(const std::string& text, const std::string& what);
double parse_double(const std::string& text, const std::string& what);

// Throws UsageError "WHAT: expected RANGE, found TEXT" when `value` (typed as `text`) is
// outside `allowed`; for numbers inside an option's value (--stretch 0.9,1.1).
void check_range(long double value, const std::string& text, const Range& allowed,
                 const std::string& what, const std::string& metavar);

// --threads N, for the commands that run the model (train, generate, eval): how many CPU
// threads libnn's kernels use. 0, the default, keeps libnn's own default (OMP_NUM_THREADS,
// else one per core). Results are the same for any count (docs/libnn.md, "Threads").
inline constexpr std::int64_t kMaxThreads = 1024;
Parser& add_threads_option(Parser& p, std::int64_t& threads);
// Applies a parsed --threads value to the calling thread (nothing for 0).
void apply_threads(std::int64_t threads);

}  // namespace musegen::cli
