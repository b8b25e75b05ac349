// Training runs as they go, for the page's TensorBoard-like view: every folder under --runs
// with a metrics.csv (a `musegen train` that has not written weights yet included), whether a
// `musegen train` is writing it now, and its loss rows after a given step, so that a page that
// polls gets only what is new.
//
// "Training now" is read from the run's lock file (run_lock.hpp): the process it names is
// alive on this host. The server takes no lock itself, not even a shared one for a moment:
// a `musegen train --resume` started in that moment would find the folder locked and stop.
// A pid reused by another process after a crash reads as training until the folder's lock is
// taken again; the rows stop growing, which the page shows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models.hpp"

namespace musegen::server {

struct TrainingRun {
  std::string id;    // ModelRegistry::id_of its folder: a run with weights has its model's id
  std::string name;  // the folder relative to --runs
  bool training = false;
  bool has_weights = false;
  std::int64_t last_step = 0;  // the last row's step (0: no rows yet)
};

// The most rows one answer carries; a client asks again from the last step it got.
inline constexpr std::size_t kMaxMetricRows = 5000;

struct RunMetrics {
  TrainingRun run;
  std::vector<LossPoint> points;  // steps > after, at most kMaxMetricRows
  bool more = false;              // rows past the last point wait for the next request
};

class TrainingRuns {
 public:
  explicit TrainingRuns(std::filesystem::path runs) : runs_(std::move(runs)) {}
  // Every run folder with a metrics.csv or weights, sorted by name.
  std::vector<TrainingRun> list() const;
  // The rows of run `id` whose step is greater than `after`; std::nullopt for an unknown id.
  std::optional<RunMetrics> metrics(const std::string& id, std::int64_t after) const;

 private:
  std::vector<std::pair<std::string, std::filesystem::path>> scan() const;
  TrainingRun describe(const std::string& id, const std::filesystem::path& relative,
                       std::vector<LossPoint>* rows) const;
  std::filesystem::path runs_;
};

}  // namespace musegen::server
