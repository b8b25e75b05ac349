// musegen: train an LSTM on MIDI files and generate new music with it.
//
//   musegen preprocess → musegen train → musegen generate → musegen to-midi / eval
//
// main() only dispatches: each subcommand lives in src/cmd_<name>.cpp, parses its own
// options (with --help) and returns the exit code. Errors that escape a subcommand are
// printed here with the subcommand's name: exit 2 for bad usage, 1 for everything else.
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"

namespace {

struct Command {
  std::string_view name;
  int (*run)(musegen::Args);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"preprocess", musegen::cmd_preprocess,
     "MIDI files, folders or the JSB chorales JSON -> a dataset file of token sequences"},
    {"train", musegen::cmd_train, "train an LSTM on a dataset file (resumable)"},
    {"generate", musegen::cmd_generate, "sample new music from a checkpoint, write tokens and MIDI"},
    {"accompany", musegen::cmd_accompany, "write the other parts of a MIDI file around the parts kept"},
    {"instruments", musegen::cmd_instruments, "list the instruments multitrack models write for, with ranges"},
    {"to-midi", musegen::cmd_to_midi, "turn a tokens file into a playable .mid"},
    {"eval", musegen::cmd_eval, "music metrics of MIDI files against a reference set; model NLL"},
    {"datasets", musegen::cmd_datasets, "list, fetch and verify the public datasets of the catalog"},
    {"render", musegen::cmd_render, "render a MIDI file to a WAV file with the built-in synthesizer"},
    {"play", musegen::cmd_play, "render a MIDI file and play it through aplay, paplay or ffplay"},
    {"plot", musegen::cmd_plot, "draw a MIDI file as a piano roll (.png or .svg)"},
    {"plot-metrics", musegen::cmd_plot_metrics,
     "draw a training run's loss, perplexity and learning rate (.png or .svg)"},
    {"serve", musegen::cmd_serve,
     "serve the trained models over HTTP: a JSON API to generate, listen, download"},
};

void print_usage(std::ostream& out) {
  out << "usage: musegen COMMAND [options]   (musegen COMMAND --help for its options)\n\n"
         "Trains an LSTM on MIDI music and generates new pieces with it.\n\n"
         "commands:\n";
  for (const auto& c : kCommands) {
    out << "  " << c.name << std::string(14 - c.name.size(), ' ') << c.summary << '\n';
  }
  out << "\n"
         "a whole run, on the JSB chorales:\n"
         "  musegen preprocess --encoding roll --out jsb.mgds $MUSEGEN_DATA_DIR/jsb-chorales/jsb-chorales-quarter.json\n"
         "  musegen train jsb.mgds --run-dir runs/jsb\n"
         "  musegen generate runs/jsb --steps 128 --midi out.mid\n"
         "  musegen eval out.mid --reference $MUSEGEN_DATA_DIR/jsb-chorales/jsb-chorales-quarter.json\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "musegen " << MUSEGEN_VERSION << '\n';
    return 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (c.name != name) continue;
    try {
      return c.run(args);
    } catch (const musegen::cli::UsageError& e) {
      std::cerr << "musegen " << name << ": " << e.what() << "\n(see musegen " << name
                << " --help)\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "musegen " << name << ": error: " << e.what() << '\n';
      return 1;
    }
  }
  std::cerr << "musegen: unknown command \"" << name << "\"\n\n";
  print_usage(std::cerr);
  return 2;
}
