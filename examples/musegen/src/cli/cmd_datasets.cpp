// `musegen datasets`: list the catalog (datasets/catalog.tsv), fetch a dataset from a local
// mirror or its URL, verify an installed one. The work is in catalog.cpp and fetch.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "catalog.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "fetch.hpp"

namespace musegen {

namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string human_bytes(std::optional<std::uint64_t> bytes) {
  if (!bytes) return "?";
  const char* units[] = {"B", "KB", "MB", "GB"};
  double value = static_cast<double>(*bytes);
  int unit = 0;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buffer;
}

const CatalogDataset& dataset_named(const std::string& name) {
  const CatalogDataset* d = find_dataset(builtin_catalog(), name);
  if (d != nullptr) return *d;
  std::string known;
  for (const CatalogDataset& k : builtin_catalog()) known += (known.empty() ? "" : ", ") + k.name;
  throw cli::UsageError("unknown dataset \"" + name + "\" (the catalog has: " + known + ")");
}

void list(const fs::path& dest, const std::string& mirror) {
  std::printf("%-26s %-10s %-8s %s\n", "name", "download", "here", "license");
  for (const CatalogDataset& d : builtin_catalog()) {
    const bool here = fs::is_directory(dest / d.name);
    const bool mirrored = !mirror.empty() && fs::is_directory(fs::path(mirror) / d.name);
    std::printf("%-26s %-10s %-8s %s\n", d.name.c_str(), human_bytes(d.download_bytes()).c_str(),
                here ? "yes" : (mirrored ? "mirror" : "no"), d.license.c_str());
    std::printf("  %s\n", d.description.c_str());
  }
  std::printf("\nhere: installed in %s; mirror: can be copied from MUSEGEN_DATA_DIR=%s\n",
              dest.string().c_str(), mirror.empty() ? "(unset)" : mirror.c_str());
}

int verify(const CatalogDataset& dataset, const fs::path& dest) {
  const fs::path folder = dest / dataset.name;
  const VerifyReport r = verify_dataset(dataset, folder);
  if (!r.present) {
    std::cerr << folder.string() << ": not installed (musegen datasets fetch " << dataset.name
              << ")\n";
    return 1;
  }
  for (const std::string& n : r.notes) std::cout << "note: " << n << '\n';
  for (const std::string& p : r.problems) std::cerr << "error: " << p << '\n';
  std::cout << folder.string() << ": " << r.files_checked << " files checked, " << r.problems.size()
            << " problems\n";
  return r.problems.empty() ? 0 : 1;
}

}  // namespace

int cmd_datasets(Args args) {
  std::vector<std::string> words;
  const std::string mirror_env = env_or("MUSEGEN_DATA_DIR", "");
  std::string dest = mirror_env.empty() ? "musegen-data" : mirror_env;
  std::string mirror = mirror_env;
  bool force = false;
  bool download = true;

  cli::Parser p(
      "datasets", "list | fetch NAME | verify NAME [options]",
      "The public datasets musegen knows (datasets/catalog.tsv, built into the program): "
      "name, download size, license, whether installed.\n\n"
      "fetch NAME installs dataset NAME as the folder DEST/NAME, from the first source "
      "that has it: the mirror's folder NAME/ (copied; the layout of the shared datasets "
      "folder), the mirror's downloads/FILE (the original download), or the catalog URL "
      "(curl). Downloads are checked against the catalog's size and SHA-256 before they "
      "are unpacked (unzip, tar); a file the catalog does not pin is accepted with a "
      "warning that prints its hash. The dataset is assembled beside DEST/NAME and renamed "
      "into place, with a manifest of every file's SHA-256.\n\n"
      "verify NAME checks an installed dataset against the catalog and its manifest.");
  p.option("dest", dest, "DIR", "the data folder the dataset is installed into, as DIR/NAME")
      .option("mirror", mirror, "DIR", "a local mirror to copy from (none: download only)")
      .flag("download", download, "download from the catalog URL when the mirror lacks the dataset")
      .flag("force", force, "replace an installed copy")
      .positionals("ACTION", words, "list, fetch NAME or verify NAME", 1)
      .epilog(
          "--dest and --mirror default to $MUSEGEN_DATA_DIR when it is set (the defaults shown "
          "are this run's); --dest is ./musegen-data otherwise.\n"
          "\n"
          "examples:\n"
          "  musegen datasets list\n"
          "  musegen datasets fetch jsb-chorales --dest ~/musegen-data\n"
          "  MUSEGEN_DATA_DIR=/mnt/mirror musegen datasets fetch maestro-v3-midi --dest data\n"
          "  musegen datasets verify jsb-chorales --dest ~/musegen-data\n");
  if (!p.parse(args)) return 0;

  const std::string& action = words[0];
  if (action == "list") {
    if (words.size() != 1)
      throw cli::UsageError("list: takes no argument, found \"" + words[1] + "\"");
    list(dest, mirror);
    return 0;
  }
  if (action != "fetch" && action != "verify")
    throw cli::UsageError("expected list, fetch or verify, found \"" + action + "\"");
  if (words.size() != 2)
    throw cli::UsageError(action +
                          ": expected one dataset name (musegen datasets list shows them)");
  const CatalogDataset& dataset = dataset_named(words[1]);

  if (action == "verify") return verify(dataset, dest);

  FetchOptions options;
  options.dest = dest;
  if (!mirror.empty()) options.mirror = fs::path(mirror);
  options.force = force;
  options.allow_download = download;
  options.log = &std::cerr;
  const FetchResult r = fetch_dataset(dataset, options);
  std::cout << dataset.name << ": " << r.folder.string() << " (" << r.source << ")\n";
  if (r.source == "already present") return verify(dataset, dest);
  return 0;
}

}  // namespace musegen
