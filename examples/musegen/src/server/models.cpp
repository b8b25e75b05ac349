#include "models.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <system_error>

#include "instruments.hpp"
#include "plot.hpp"
#include "run_dir.hpp"
#include "sha256.hpp"

namespace musegen::server {

namespace fs = std::filesystem;

namespace {

// The weights load_model() reads from a run folder: the best ones when there are any.
fs::path weights_of(const fs::path& folder) {
  const RunDir dir{folder};
  return fs::exists(dir.best()) ? dir.best() : dir.weights();
}

bool is_run_folder(const fs::path& folder) {
  std::error_code ec;
  const RunDir dir{folder};
  return fs::is_regular_file(dir.best(), ec) || fs::is_regular_file(dir.weights(), ec);
}

// kMaxCurvePoints evenly spaced points, the first and the last included: a small curve
// for a page, not the whole log (best_valid_loss is taken from every row).
std::vector<LossPoint> thinned(std::vector<LossPoint> points) {
  if (points.size() <= kMaxCurvePoints) return points;
  std::vector<LossPoint> kept;
  const std::size_t n = points.size();
  for (std::size_t k = 0; k < kMaxCurvePoints; ++k)
    kept.push_back(points[k * (n - 1) / (kMaxCurvePoints - 1)]);
  return kept;
}

}  // namespace

ModelRegistry::ModelRegistry(fs::path runs) : runs_(std::move(runs)) {
  std::error_code ec;
  if (!fs::is_directory(runs_, ec))
    throw std::runtime_error(runs_.string() +
                             ": expected a folder of training runs (musegen train --run-dir), " +
                             (fs::exists(runs_, ec) ? "found a file" : "found nothing"));
}

std::string ModelRegistry::id_of(const fs::path& relative) {
  return sha256_hex(relative.generic_string()).substr(0, 16);
}

bool ModelRegistry::well_formed(const std::string& text) {
  return text.size() == 16 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::vector<fs::path> find_run_folders(const fs::path& root,
                                       const std::function<bool(const fs::path&)>& is_run) {
  std::vector<fs::path> found;
  if (is_run(root)) found.emplace_back(".");
  std::error_code ec;
  auto it =
      fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string leaf = entry.path().filename().string();
    if (!entry.is_directory(ec) || entry.is_symlink(ec) || leaf.empty() || leaf[0] == '.') {
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (is_run(entry.path())) {
      const fs::path relative = fs::relative(entry.path(), root, ec);
      if (!ec) found.push_back(relative);
      it.disable_recursion_pending();  // a run's own folders (samples) hold no runs
    } else if (it.depth() + 1 >= kMaxRunDepth) {
      it.disable_recursion_pending();
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::map<std::string, fs::path> ModelRegistry::scan() const {
  std::map<std::string, fs::path> found;
  for (const fs::path& relative : find_run_folders(runs_, is_run_folder))
    found[id_of(relative)] = relative;
  return found;
}

std::shared_ptr<OpenedRun> ModelRegistry::open_locked(const std::string& id,
                                                      const fs::path& relative) {
  const fs::path folder = runs_ / relative;
  const fs::path weights = weights_of(folder);
  std::error_code ec;
  const auto stamp = fs::last_write_time(weights, ec);
  const auto size = fs::file_size(weights, ec);
  Entry& entry = open_[id];
  if (entry.run && entry.folder == relative && entry.stamp == stamp && entry.size == size)
    return entry.run;
  entry = Entry{relative, nullptr, stamp, size};
  entry.run = std::make_shared<OpenedRun>(open_run(folder));
  return entry.run;
}

std::shared_ptr<OpenedRun> ModelRegistry::open(const std::string& id) {
  if (!well_formed(id)) return nullptr;
  const auto runs = scan();
  const auto it = runs.find(id);
  if (it == runs.end()) return nullptr;
  std::lock_guard lock(mutex_);
  return open_locked(id, it->second);
}

ModelInfo ModelRegistry::describe(const std::string& id, const fs::path& relative) {
  ModelInfo info;
  info.id = id;
  info.name = relative.generic_string();
  std::shared_ptr<OpenedRun> run;
  try {
    std::lock_guard lock(mutex_);
    run = open_locked(id, relative);
  } catch (const std::exception& e) {
    // The message names files under --runs; it is shown to the person who started the server.
    info.error = e.what();
    return info;
  }
  const ModelConfig& config = run->loaded.model->config();
  info.encoding = std::string(encoding_name(config.encoding));
  info.dataset = run->dataset_path.filename().string();
  info.train_sequences = static_cast<std::int64_t>(run->dataset.train.size());
  info.valid_sequences = static_cast<std::int64_t>(run->dataset.valid.size());
  info.parameters = run->loaded.model->parameter_count();
  info.embed = config.embed;
  info.hidden = config.hidden;
  info.layers = config.layers;
  if (run->dataset.codec.encoding() == Encoding::multitrack) {
    const auto known = musegen::instruments();
    const auto n = std::min<std::size_t>(
        known.size(), static_cast<std::size_t>(run->dataset.codec.params().instruments));
    for (std::size_t i = 0; i < n; ++i) info.instruments.emplace_back(known[i].name);
    info.max_parts = run->dataset.codec.params().tracks;
  }
  if (const auto sha = run->loaded.metadata.find("musegen.sha256");
      sha != run->loaded.metadata.end())
    info.weights_sha256 = sha->second;
  const fs::path metrics = RunDir{runs_ / relative}.metrics();
  std::error_code ec;
  if (fs::exists(metrics, ec)) {
    try {
      std::vector<LossPoint> points;
      for (const plot::MetricsRow& row : plot::read_metrics_csv(metrics)) {
        LossPoint p{row.step, row.train_loss, row.valid_loss};
        if (p.train_loss && !std::isfinite(*p.train_loss)) p.train_loss.reset();
        if (p.valid_loss && !std::isfinite(*p.valid_loss)) p.valid_loss.reset();
        if (!p.train_loss && !p.valid_loss) continue;
        if (p.valid_loss && (!info.best_valid_loss || *p.valid_loss < *info.best_valid_loss))
          info.best_valid_loss = p.valid_loss;
        points.push_back(p);
      }
      info.loss_curve = thinned(std::move(points));
    } catch (const std::exception&) {
      // A metrics.csv being written, or damaged: the model is still usable, without a curve.
    }
  }
  return info;
}

std::vector<ModelInfo> ModelRegistry::list() {
  std::vector<ModelInfo> models;
  for (const auto& [id, relative] : scan()) models.push_back(describe(id, relative));
  std::sort(models.begin(), models.end(),
            [](const ModelInfo& a, const ModelInfo& b) { return a.name < b.name; });
  return models;
}

std::optional<ModelInfo> ModelRegistry::info(const std::string& id) {
  if (!well_formed(id)) return std::nullopt;
  const auto runs = scan();
  const auto it = runs.find(id);
  if (it == runs.end()) return std::nullopt;
  return describe(id, it->second);
}

}  // namespace musegen::server
