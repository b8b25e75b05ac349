// The trained runs a server offers: every run folder under --runs (a folder holding
// model.safetensors or best.safetensors, run_dir.hpp), each named by an opaque id, never by
// its path. The id is a hash of the folder's path relative to --runs, so it stays the same
// across restarts (a stored piece names its model by it) and says nothing a client could
// turn into a path: lookups go through the table of ids, and an id that is not in it is a 404.
//
// Runs are found again on every listing (a `musegen train` started in another terminal
// appears), and opened once: a run stays open until its weights file changes (training
// wrote a better checkpoint), when it is opened again. An open run is shared by the jobs
// that use it: its model is in eval mode, so generations on several threads only read it
// (core/generate.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "session.hpp"

namespace musegen::server {

// One point of a run's loss curve (metrics.csv): training loss of a log interval, validation
// loss of an epoch's end; either may be absent.
struct LossPoint {
  std::int64_t step = 0;
  std::optional<double> train_loss, valid_loss;
};

struct ModelInfo {
  std::string id;
  std::string name;      // the folder relative to --runs, shown to people only
  std::string error;     // the run could not be opened: why (the rest is empty)
  std::string encoding;  // "roll", "events", "notes", "multitrack"
  std::string dataset;   // the dataset file's name (not its path)
  std::int64_t train_sequences = 0, valid_sequences = 0;
  std::int64_t parameters = 0, embed = 0, hidden = 0, layers = 0;
  std::optional<double> best_valid_loss;
  std::vector<LossPoint> loss_curve;  // at most kMaxCurvePoints, evenly thinned
  std::string weights_sha256;         // the tensors' hash, from the weights' metadata
  // A multitrack model's instruments (the names a request's "instruments" takes) and how many
  // parts it writes at most; empty and 0 for the other encodings.
  std::vector<std::string> instruments;
  std::int64_t max_parts = 0;
};

inline constexpr std::size_t kMaxCurvePoints = 200;
// How deep under --runs run folders are looked for (runs/jsb, runs/2024/jsb, ...).
inline constexpr int kMaxRunDepth = 4;

// The folders under `root` (itself included, as ".") for which `is_run` holds, relative to
// root and sorted: at most kMaxRunDepth levels down, never below a run, never into hidden
// folders or through symbolic links (--runs is the whole of what the server shows).
std::vector<std::filesystem::path> find_run_folders(
    const std::filesystem::path& root,
    const std::function<bool(const std::filesystem::path&)>& is_run);

class ModelRegistry {
 public:
  // Throws std::runtime_error when `runs` is not a folder.
  explicit ModelRegistry(std::filesystem::path runs);

  // Every run found now, sorted by name. A run that fails to open is listed with its error.
  std::vector<ModelInfo> list();

  // The run of `id`, opened (or the open one). Null for an id not found under --runs;
  // throws what open_run throws for a run that cannot be opened.
  std::shared_ptr<OpenedRun> open(const std::string& id);
  // Its description (as list() gives it), std::nullopt for an unknown id.
  std::optional<ModelInfo> info(const std::string& id);

  // The id a run folder has (a hash of its path relative to --runs).
  static std::string id_of(const std::filesystem::path& relative);
  // Whether `text` has the shape of an id (16 lowercase hex digits): anything else is not
  // looked up at all.
  static bool well_formed(const std::string& text);

 private:
  struct Entry {
    std::filesystem::path folder;
    std::shared_ptr<OpenedRun> run;  // null until opened
    std::filesystem::file_time_type stamp{};
    std::uintmax_t size = 0;
  };
  std::map<std::string, std::filesystem::path> scan() const;  // id -> folder (relative)
  std::shared_ptr<OpenedRun> open_locked(const std::string& id,
                                         const std::filesystem::path& folder);
  ModelInfo describe(const std::string& id, const std::filesystem::path& folder);

  std::filesystem::path runs_;
  std::mutex mutex_;
  std::map<std::string, Entry> open_;
};

}  // namespace musegen::server
