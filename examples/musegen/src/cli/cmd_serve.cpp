// musegen serve: the web API (server/server.hpp) on a local address, until Ctrl-C.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <functional>
#include <iostream>
#include <thread>

#include "cli.hpp"
#include "commands.hpp"
#include "fluid_render.hpp"
#include "server.hpp"

namespace musegen {

namespace {

constexpr std::int64_t kMaxQueue = 10'000;
constexpr const char* kDebianGeneralMidiSoundFont = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
constexpr std::int64_t kMaxWorkers = 64;

// SIGINT and SIGTERM are blocked in every thread (the server's threads inherit the mask
// from this one) and taken by sigtimedwait on a thread of their own, which may then call
// Server::stop(): no work in a signal handler, where stop() could not run.
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SignalWaiter() {
    finish();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Stops waiting (after a signal, or when the server ended by itself).
  void finish() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Calls on_signal(signal number) on the waiting thread when a signal comes.
  void start(std::function<void(int)> on_signal) {
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      const timespec tick{0, 200'000'000};
      while (!done_) {
        const int signal = sigtimedwait(&set_, nullptr, &tick);
        if (signal > 0) {
          on_signal(signal);
          return;
        }
      }
    });
  }

 private:
  sigset_t set_{}, old_{};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

int cmd_serve(Args args) {
  server::ServerOptions o;
  std::string runs = o.runs.string(), out = o.out.string();
  std::int64_t port = o.port, queue = static_cast<std::int64_t>(o.queue), workers = o.workers,
               threads = 0;
  bool check = false, quiet = false;
  std::string soundfont = "auto";
  cli::Parser p(
      "serve", "[options]",
      "Serves the models trained by `musegen train` over HTTP: a JSON API to list them,\n"
      "generate a piece (a job on a worker thread, with progress and cancel), and fetch\n"
      "it as MIDI, WAV and a piano roll (SVG). Pieces are kept in --out with their\n"
      "parameters, so any can be made again exactly. Listens on 127.0.0.1 unless told\n"
      "otherwise: the server has no login, so anyone who can reach the address can use it.\n"
      "Ctrl-C (or SIGTERM) stops it: running jobs are cancelled, and it exits with 0.");
  p.option("runs", runs, "DIR",
           "the training runs to offer: every folder under DIR with model.safetensors or "
           "best.safetensors")
      .option("out", out, "DIR", "where pieces are kept (made when missing)")
      .option("host", o.host, "HOST", "the address to listen on (127.0.0.1: this machine only)")
      .option("port", port, "N", "the port to listen on (0: any free port, printed)",
              cli::range(0, 65535))
      .option("queue", queue, "N", "jobs that may wait for a worker; more are refused (HTTP 429)",
              cli::range(1, kMaxQueue))
      .option("workers", workers, "N", "generations that run at once", cli::range(1, kMaxWorkers))
      .option("threads", threads, "N",
              "CPU threads of each worker's model kernels (0: the cores shared among the workers)",
              cli::range(0, cli::kMaxThreads))
      .option("soundfont", soundfont, "SF2",
              "play the WAV files with FluidSynth and this SoundFont; auto: the General MIDI "
              "SoundFont of Debian's fluid-soundfont-gm when it is installed and this build has "
              "FluidSynth; none: the built-in synthesizer")
      .flag("check", check,
            "find the runs, open --out and bind the address, print them, then exit without serving")
      .flag("quiet", quiet, "print nothing but errors and the address")
      .epilog(
          "examples:\n"
          "  musegen serve --runs runs --out pieces\n"
          "  musegen serve --runs runs --port 0          # any free port, printed\n\n"
          "The API is described by the OpenAPI document it serves at /api/openapi.json;\n"
          "docs/musegen.md, \"musegen serve\", has examples with curl.\n");
  if (!p.parse(args)) return 0;
  if (!server::is_listen_address(o.host))
    throw cli::UsageError(
        "--host: expected an IP address (127.0.0.1, ::1, 0.0.0.0) or localhost, found \"" + o.host +
        "\"");
  o.runs = runs;
  o.out = out;
  o.port = static_cast<int>(port);
  o.queue = static_cast<std::size_t>(queue);
  o.workers = static_cast<int>(workers);
  o.threads = static_cast<int>(threads);
  if (soundfont == "auto") {
    // The SoundFont the FluidSynth tests and demo.sh play; absent, the built-in synthesizer.
    const std::filesystem::path gm = kDebianGeneralMidiSoundFont;
    std::error_code ec;
    if (soundfont_support_built_in() && std::filesystem::is_regular_file(gm, ec)) o.soundfont = gm;
  } else if (soundfont != "none") {
    if (!soundfont_support_built_in())
      throw cli::UsageError("--soundfont " + soundfont + ": " + soundfont_help());
    o.soundfont = soundfont;
  }

  SignalWaiter signals;  // before the server starts any thread
  server::Server server(o);
  server.bind();
  if (!server::is_loopback(o.host))
    std::cerr << "serve: warning: listening on " << o.host
              << ", not on this machine's loopback address: "
              << "anyone who can reach it can generate and read the pieces (there is no login)\n";
  if (!quiet)
    std::cerr << "serve: runs from " << o.runs.string() << ", pieces kept in " << o.out.string()
              << ", audio by " << server.synthesizer() << "\n";
  std::cout << "serve: open " << server.url() << " (the API: " << server.url()
            << "api/openapi.json)" << std::endl;
  if (check) {
    server.stop();
    return 0;
  }
  if (!quiet) std::cerr << "serve: press Ctrl-C to stop\n";
  signals.start([&server, quiet](int signal) {
    if (!quiet)
      std::cerr << "serve: " << (signal == SIGINT ? "SIGINT" : "SIGTERM")
                << ": stopping, cancelling the running jobs\n";
    server.stop();
  });
  server.serve();
  signals.finish();
  server.stop();
  if (!quiet) std::cerr << "serve: stopped\n";
  return 0;
}

}  // namespace musegen
