// musegen play: renders a MIDI file with the render service (audio/render.hpp: the built-in
// synthesizer, or FluidSynth given --soundfont), and plays it through the first of aplay,
// paplay, ffplay found on PATH.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "fluid_render.hpp"
#include "outputs.hpp"
#include "render.hpp"

extern char** environ;

namespace musegen {

namespace {

// The first executable named `name` in a folder of PATH.
std::optional<std::filesystem::path> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  const std::string folders = path;
  for (std::size_t begin = 0; begin <= folders.size();) {
    std::size_t end = folders.find(':', begin);
    if (end == std::string::npos) end = folders.size();
    const std::string folder = folders.substr(begin, end - begin);
    const std::filesystem::path candidate = std::filesystem::path(folder.empty() ? "." : folder) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    begin = end + 1;
  }
  return std::nullopt;
}

// Runs the command (no shell) and waits for it. Returns its exit status.
int run_and_wait(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int error = ::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); error != 0)
    throw std::system_error(error, std::generic_category(), "cannot start " + command[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waiting for " + command[0]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// `path` when nothing is there, else the first free IN-1.wav, IN-2.wav, ...: the WAV written
// when no player is found must not replace a file the user has (or the input itself).
std::filesystem::path fresh_name(const std::filesystem::path& path) {
  const auto taken = [](const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::symlink_status(p, ec));
  };
  if (!taken(path)) return path;
  const std::filesystem::path stem = path.parent_path() / path.stem();
  for (int n = 1;; ++n) {
    std::filesystem::path candidate = stem;
    candidate += "-" + std::to_string(n) + path.extension().string();
    if (!taken(candidate)) return candidate;
  }
}

}  // namespace

int cmd_play(Args args) {
  std::string input, output, soundfont;
  std::int64_t sample_rate = 44100;
  double gain_db = 0;
  bool verbose = false;
  cli::Parser p("play", "IN.mid [options]",
                "Plays a MIDI file: renders it with the built-in synthesizer, or FluidSynth with\n"
                "--soundfont (as musegen render does), to a temporary WAV file and plays that\n"
                "through the first of aplay, paplay and ffplay found on PATH. Without any of them\n"
                "it writes the WAV next to the input (IN.wav, or IN-1.wav, ... when that exists)\n"
                "or to --out, and says where.");
  p.positional("IN.mid", input, "the MIDI file to play")
      .option("out", output, "FILE", "also keep the WAV file here (default: a temporary file)")
      .option("sample-rate", sample_rate, "HZ", "frames per second", cli::range(kMinSampleRate, kMaxSampleRate))
      .option("gain-db", gain_db, "DB", "level of the loudest sample relative to -1 dBFS (louder would clip)",
              cli::range(kMinGainDb, kMaxGainDb).open_low())
      .option("soundfont", soundfont, "SF2", soundfont_option_help())
      .flag("verbose", verbose, "print how fast the audio was rendered")
      .epilog(std::string("examples:\n"
                          "  musegen play song.mid\n"
                          "  musegen play song.mid --out song.wav --gain-db -6\n\n") +
              soundfont_help());
  if (!p.parse(args)) return 0;
  if (!output.empty()) cli::OutputCheck().input("the input", input).output("--out", output);

  const RenderRequest request{soundfont, sample_rate, gain_db};

  struct Player {
    const char* name;
    std::vector<std::string> flags;
  };
  const Player players[] = {{"aplay", {"-q"}}, {"paplay", {}}, {"ffplay", {"-nodisp", "-autoexit", "-loglevel", "error"}}};
  for (const Player& player : players) {
    const auto program = find_on_path(player.name);
    if (!program) continue;
    const bool keep = !output.empty();
    const std::filesystem::path wav = keep ? std::filesystem::path(output)
        : std::filesystem::temp_directory_path() / ("musegen-play-" + std::to_string(::getpid()) + ".wav");
    const RenderedFile rendered = render_for_command(input, request, wav);
    if (verbose) print_render_speed(std::cout, rendered);
    std::vector<std::string> command{program->string()};
    command.insert(command.end(), player.flags.begin(), player.flags.end());
    command.push_back(wav.string());
    std::cout << "playing " << input << " (" << static_cast<int>(rendered.seconds()) << " s) with "
              << player.name << "\n" << std::flush;
    int status = 0;
    try {
      status = run_and_wait(command);
    } catch (...) {
      if (!keep) std::filesystem::remove(wav);
      throw;
    }
    if (!keep) std::filesystem::remove(wav);
    if (status != 0) throw std::runtime_error(std::string(player.name) + " failed (exit status " + std::to_string(status) + ")");
    return 0;
  }
  const std::filesystem::path beside = std::filesystem::path(input).replace_extension(".wav");
  const std::filesystem::path wav = output.empty() ? fresh_name(beside) : std::filesystem::path(output);
  const RenderedFile rendered = render_for_command(input, request, wav);
  if (verbose) print_render_speed(std::cout, rendered);
  std::cout << "no audio player found on PATH (aplay, paplay or ffplay); wrote " << wav.string()
            << " (" << static_cast<int>(rendered.seconds()) << " s): play it with any audio player\n";
  if (wav != beside && output.empty())
    std::cout << beside.string() << " exists already and was left as it was\n";
  return 0;
}

}  // namespace musegen
