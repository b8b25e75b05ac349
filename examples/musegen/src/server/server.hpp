// `musegen serve`'s server: the JSON API (and later the page) over HTTP, in front of the
// model registry (models.hpp), the job queue (jobs.hpp) and the pieces store (pieces.hpp).
// The HTTP library (cpp-httplib) stays inside server.cpp: this header includes none of it,
// so the command line (and the tests) see only this class.
//
//   Server server(options);             // finds the runs, opens --out, starts the workers
//   int port = server.bind();           // listens (port 0: one the system picks)
//   std::thread t([&] { server.serve(); });
//   ...
//   server.stop();                      // from any thread: no new connections, jobs cancelled
//   t.join();
//
// docs/musegen.md, "`musegen serve`", describes the API and its safety rules;
// the OpenAPI document served at /api/openapi.json describes every response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace musegen::server {

struct ServerOptions {
  std::filesystem::path runs = "runs";   // the training runs offered (musegen train --run-dir)
  std::filesystem::path out = "pieces";  // where pieces are kept
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port
  std::size_t queue = 8;                  // jobs that may wait (more: 429)
  int workers = 1;                        // generations at once
  int threads = 0;                        // libnn threads per worker (0: cores / workers)
  std::size_t max_body_bytes = 4u << 20;  // larger request bodies: 413
  // A SoundFont (.sf2) the WAV files are played with through FluidSynth, loaded once at start;
  // empty: the built-in synthesizer.
  std::filesystem::path soundfont;
};

// Whether `host` names this machine's loopback interface only (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& host);
// Whether `host` is an address to listen on: an IPv4 or IPv6 address, or "localhost". Names
// are refused: resolving one may wait on DNS, and the address it gives may change.
bool is_listen_address(const std::string& host);

class Server {
 public:
  // Throws std::runtime_error when --runs is not a folder or --out cannot be made.
  explicit Server(ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on options.host:options.port; returns the port (the one picked, for
  // port 0). Throws std::runtime_error saying which address could not be used.
  int bind();
  // Answers requests until stop(); call after bind(), on a thread of its own if need be.
  void serve();
  // Stops accepting, cancels waiting and running jobs, waits for the workers. Safe from any
  // thread (not from a signal handler), before, during or after serve(); idempotent.
  void stop();

  int port() const;
  // What plays the WAV files: "the built-in synthesizer" or "FluidSynth (NAME.sf2)".
  std::string synthesizer() const;
  // "http://127.0.0.1:8080/"
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace musegen::server
