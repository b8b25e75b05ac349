#include "training_runs.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <sstream>

#include "plot.hpp"
#include "run_dir.hpp"

namespace musegen::server {

namespace fs = std::filesystem;

namespace {

bool has_run_files(const fs::path& folder) {
  std::error_code ec;
  const RunDir dir{folder};
  return fs::is_regular_file(dir.metrics(), ec) || fs::is_regular_file(dir.weights(), ec) ||
         fs::is_regular_file(dir.best(), ec);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

// Whether the lock file names a live process on this host (run_lock.hpp's "key value" lines).
bool held_by_live_process(const fs::path& lock) {
  std::ifstream in(lock);
  if (!in) return false;
  std::string line, host;
  long long pid = 0;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key == "pid") pid = std::atoll(value.c_str());
    if (key == "host") host = value;
  }
  if (pid <= 0 || host != host_name()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

std::vector<std::pair<std::string, fs::path>> TrainingRuns::scan() const {
  std::vector<std::pair<std::string, fs::path>> found;
  for (const fs::path& relative : find_run_folders(runs_, has_run_files))
    found.emplace_back(ModelRegistry::id_of(relative), relative);
  return found;
}

TrainingRun TrainingRuns::describe(const std::string& id, const fs::path& relative,
                                   std::vector<LossPoint>* rows) const {
  const RunDir dir{runs_ / relative};
  TrainingRun run;
  run.id = id;
  run.name = relative.generic_string();
  std::error_code ec;
  run.has_weights = fs::is_regular_file(dir.weights(), ec) || fs::is_regular_file(dir.best(), ec);
  run.training = held_by_live_process(dir.lock());
  if (!fs::exists(dir.metrics(), ec)) return run;
  try {
    for (const plot::MetricsRow& row : plot::read_metrics_csv(dir.metrics())) {
      LossPoint p{row.step, row.train_loss, row.valid_loss};
      if (p.train_loss && !std::isfinite(*p.train_loss)) p.train_loss.reset();
      if (p.valid_loss && !std::isfinite(*p.valid_loss)) p.valid_loss.reset();
      if (!p.train_loss && !p.valid_loss) continue;
      run.last_step = std::max(run.last_step, p.step);
      if (rows) rows->push_back(p);
    }
  } catch (const std::exception&) {
    // A row being written (no newline yet) or a damaged file: no rows this time; the next
    // poll reads it again.
    if (rows) rows->clear();
  }
  return run;
}

std::vector<TrainingRun> TrainingRuns::list() const {
  std::vector<TrainingRun> runs;
  for (const auto& [id, relative] : scan()) runs.push_back(describe(id, relative, nullptr));
  return runs;
}

std::optional<RunMetrics> TrainingRuns::metrics(const std::string& id, std::int64_t after) const {
  if (!ModelRegistry::well_formed(id)) return std::nullopt;
  for (const auto& [found, relative] : scan()) {
    if (found != id) continue;
    RunMetrics m;
    std::vector<LossPoint> rows;
    m.run = describe(id, relative, &rows);
    for (const LossPoint& p : rows) {
      if (p.step <= after) continue;
      if (m.points.size() == kMaxMetricRows) {
        m.more = true;
        break;
      }
      m.points.push_back(p);
    }
    return m;
  }
  return std::nullopt;
}

}  // namespace musegen::server
