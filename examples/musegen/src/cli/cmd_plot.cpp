// musegen plot (a MIDI file → piano roll picture) and musegen plot-metrics (a training run's
// metrics.csv → loss, perplexity and learning-rate curves). The drawing is in plot.cpp.
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "cli.hpp"
#include "commands.hpp"
#include "libmidi/io.hpp"
#include "libmidi/notes.hpp"
#include "outputs.hpp"
#include "plot.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMaxSide = 16384;

void check_output(const std::string& out) {
  if (!plot::is_figure_path(out))
    throw cli::UsageError("OUT: expected a file name ending in .png or .svg, found \"" + out + "\"");
}

}  // namespace

int cmd_plot(Args args) {
  std::string input, out, title, time_signature = "4/4";
  plot::PianoRollOptions o;
  std::int64_t width = o.width, height = o.height;
  bool quiet = false;
  cli::Parser p("plot", "IN.mid OUT.png|OUT.svg [options]",
                "Draws the piano roll of a MIDI file: time across in seconds with the bar lines of\n"
                "its time signatures, pitch upwards with the octaves labelled (C4 = middle C), one\n"
                "colour per track, lighter for softer notes. The output's extension picks the\n"
                "format: .png, or .svg (one <rect class=\"note\"> per note).");
  p.positional("IN", input, "the MIDI file to draw")
      .positional("OUT", out, "the picture to write (atomically): .png or .svg")
      .option("width", width, "PIXELS", "width of the picture", cli::range(100, kMaxSide))
      .option("height", height, "PIXELS", "height of the picture", cli::range(100, kMaxSide))
      .option("title", title, "TEXT", "title above the roll (default: the input's file name)")
      .option("time-signature", time_signature, "N/D", "time signature before the file's first one, for the bar lines")
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen plot out.mid out.png\n"
          "  musegen plot song.mid song.svg --width 2400 --height 800 --title \"my song\"");
  if (!p.parse(args)) return 0;
  o.width = static_cast<int>(width);
  o.height = static_cast<int>(height);
  check_output(out);
  {
    const auto slash = time_signature.find('/');
    if (slash == std::string::npos)
      throw cli::UsageError("--time-signature: expected N/D such as 3/4, found \"" + time_signature + "\"");
    const std::int64_t n = cli::parse_int(time_signature.substr(0, slash), "--time-signature");
    const std::int64_t d = cli::parse_int(time_signature.substr(slash + 1), "--time-signature");
    if (n < 1 || n > 255 || d < 1 || d > 1024 || (d & (d - 1)) != 0)
      throw cli::UsageError("--time-signature: expected N in 1..255 and D a power of two, found \"" +
                            time_signature + "\"");
    o.default_numerator = static_cast<int>(n);
    o.default_denominator = static_cast<int>(d);
  }
  o.title = p.given("title") ? title : fs::path(input).filename().string();
  cli::OutputCheck().input("the input", input).output("OUT", out);

  const midi::MidiFile file = midi::load(input);
  plot::write_figure(plot::piano_roll(file, o), out);
  if (!quiet) {
    const midi::Performance performance = midi::extract_notes(file);
    double seconds = 0;
    for (const midi::Note& n : performance.notes) seconds = std::max(seconds, n.end_seconds);
    std::cout << "wrote " << out << ": " << performance.notes.size() << " notes, " << seconds << " s\n";
  }
  return 0;
}

int cmd_plot_metrics(Args args) {
  std::string run, out, title;
  plot::MetricsPlotOptions o;
  std::int64_t width = o.width, height = o.height;
  bool quiet = false, log_y = false, linear_y = false;
  cli::Parser p("plot-metrics", "RUN_DIR OUT.png|OUT.svg [options]",
                "Draws the curves of a training run from its metrics.csv (written by musegen\n"
                "train): training and validation loss, validation perplexity and learning rate\n"
                "against the step, in stacked panels (no perplexity panel for roll runs, whose\n"
                "loss sums 88 keys). Each epoch's mean training loss is its own curve.\n"
                "The loss and perplexity panels are drawn on a log10 axis, with ticks at the\n"
                "decades, when their largest value is more than 20 times their smallest (a first\n"
                "loss near 60 would squash the rest of the curve), else on a linear axis;\n"
                "--log-y and --linear-y choose for both. The learning rate is always linear.");
  p.positional("RUN_DIR", run, "the run folder (musegen train --run-dir), or a metrics.csv file")
      .positional("OUT", out, "the picture to write (atomically): .png or .svg")
      .option("width", width, "PIXELS", "width of the picture", cli::range(200, kMaxSide))
      .option("height", height, "PIXELS", "height of the picture", cli::range(200, kMaxSide))
      .option("title", title, "TEXT", "title above the panels (default: the run's path)")
      .flag("log-y", log_y, "log10 axis for loss and perplexity (values <= 0 are left out)")
      .flag("linear-y", linear_y, "linear axis for loss and perplexity")
      .flag("quiet", quiet, "print nothing but errors")
      .epilog(
          "examples:\n"
          "  musegen plot-metrics runs/jsb curves.png\n"
          "  musegen plot-metrics runs/jsb/metrics.csv curves.svg --width 1600 --log-y");
  if (!p.parse(args)) return 0;
  o.width = static_cast<int>(width);
  o.height = static_cast<int>(height);
  check_output(out);
  if (log_y && linear_y)
    throw cli::UsageError("--log-y and --linear-y: expected at most one of them, found both");
  o.y_scale = log_y ? plot::YScale::log : linear_y ? plot::YScale::linear : plot::YScale::automatic;
  const fs::path csv = fs::is_directory(run) ? fs::path(run) / "metrics.csv" : fs::path(run);
  o.title = p.given("title") ? title : run;
  {
    cli::OutputCheck check;
    if (fs::is_directory(run)) check.run_folder(run);
    else check.input("the metrics", csv);
    check.output("OUT", out);
  }

  const std::vector<plot::MetricsRow> rows = plot::read_metrics_csv(csv);
  plot::write_figure(plot::metrics_figure(rows, o), out);
  if (!quiet) std::cout << "wrote " << out << ": " << rows.size() << " rows of " << csv.string() << '\n';
  return 0;
}

}  // namespace musegen
