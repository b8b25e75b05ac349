#include "outputs.hpp"

#include <stdexcept>
#include <system_error>

#include "run_dir.hpp"

namespace musegen::cli {

namespace fs = std::filesystem;

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (!fs::exists(a, ec) || !fs::exists(b, ec)) return false;
  const bool same = fs::equivalent(a, b, ec);
  return !ec && same;
}

namespace {

// Two outputs that do not exist yet are one file when their paths, made absolute with every
// existing link and ".." resolved, are equal.
bool same_place(const fs::path& a, const fs::path& b) {
  if (same_file(a, b)) return true;
  std::error_code ec_a, ec_b;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a), ec_a);
  const fs::path cb = fs::weakly_canonical(fs::absolute(b), ec_b);
  return !ec_a && !ec_b && ca == cb;
}

}  // namespace

OutputCheck& OutputCheck::input(const std::string& role, const fs::path& path) {
  inputs_.push_back({path, role + " " + path.string()});
  return *this;
}

OutputCheck& OutputCheck::run_folder(const fs::path& run_dir_or_weights) {
  std::error_code ec;
  fs::path folder = run_dir_or_weights;
  if (!fs::is_directory(run_dir_or_weights, ec)) {
    input("the weights", run_dir_or_weights);
    folder = run_dir_or_weights.parent_path();
    if (folder.empty()) folder = ".";
  }
  const auto add = [&](const std::string& name) {
    inputs_.push_back({folder / name, name + " of the run folder " + folder.string()});
  };
  for (const char* name : {RunDir::kState, RunDir::kWeights, RunDir::kBest, RunDir::kMetrics}) add(name);
  // TensorBoard's event files: one per training session, named by time and host.
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("events.out.tfevents.")) add(name);
  }
  return *this;
}

OutputCheck& OutputCheck::output(const std::string& role, const fs::path& path) {
  const auto refuse = [&](const std::string& is) {
    throw std::runtime_error(role + " " + path.string() + ": is " + is +
                             "; writing it would replace that file: choose another (nothing was written)");
  };
  for (const Known& in : inputs_)
    if (same_file(path, in.path)) refuse(in.is);
  for (const Known& out : outputs_)
    if (same_place(path, out.path)) refuse("also " + out.is);
  outputs_.push_back({path, "the output " + role + " " + path.string()});
  return *this;
}

}  // namespace musegen::cli
