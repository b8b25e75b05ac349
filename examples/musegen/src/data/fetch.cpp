// CatalogDataset fetching: mirror copy or curl download, SHA-256 check, unpacking with unzip/tar,
// atomic install. Subprocesses are started with posix_spawnp and an argument vector, never
// through a shell, so no path or URL is ever interpreted as shell syntax.
#include "fetch.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <ostream>
#include <sstream>
#include <system_error>

#include "sha256.hpp"

extern char** environ;

namespace musegen {

namespace fs = std::filesystem;

namespace {

// Runs a program with arguments; returns its exit status (127: could not be started).
int run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return 127;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void say(const FetchOptions& o, const std::string& line) {
  if (o.log) *o.log << line << '\n';
}

// A fresh folder beside `target` (same file system, so the final rename is atomic).
fs::path staging_folder(const fs::path& target, const std::string& what) {
  const fs::path dir = target.parent_path() / ("." + target.filename().string() + "." + what + "-" +
                                               std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

struct Cleanup {
  fs::path path;
  ~Cleanup() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

std::string curl_failure(int status, const std::string& url) {
  switch (status) {
    case 127:
      return "curl could not be started (is it installed and on PATH?)";
    case 5:
    case 6:
      return "could not resolve the host of " + url +
             " (no network? set MUSEGEN_DATA_DIR to a local mirror)";
    case 7:
    case 28:
      return "could not connect to " + url +
             " (no network? set MUSEGEN_DATA_DIR to a local mirror)";
    case 22:
      return "the server refused " + url + " (HTTP error; the URL may have moved)";
    default:
      return "curl failed on " + url + " with exit status " + std::to_string(status);
  }
}

// Moves `from` (a folder or file inside `unpacked`) to `to`, creating parents.
void place(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  if (fs::exists(to) && fs::is_directory(to) && fs::is_directory(from)) {
    for (const auto& entry : fs::directory_iterator(from))
      place(entry.path(), to / entry.path().filename());
    return;
  }
  fs::rename(from, to);
}

void unpack(const fs::path& archive, const CatalogFile& entry, const fs::path& dataset_folder,
            const fs::path& scratch) {
  const fs::path to = entry.to == "." ? dataset_folder : dataset_folder / entry.to;
  if (entry.unpack == "none") {
    fs::create_directories(to);
    fs::copy_file(archive, to / entry.file, fs::copy_options::overwrite_existing);
    return;
  }
  const fs::path out = scratch / ("unpacked-" + entry.file);
  fs::create_directories(out);
  const int status = entry.unpack == "zip"
                         ? run({"unzip", "-q", "-o", archive.string(), "-d", out.string()})
                         : run({"tar", "-xzf", archive.string(), "-C", out.string()});
  if (status != 0)
    throw FetchError(archive.string() + ": " + (entry.unpack == "zip" ? "unzip" : "tar") +
                     (status == 127 ? " could not be started (is it installed?)"
                                    : " failed with exit status " + std::to_string(status)));
  fs::path from = out;
  if (entry.from == "*") {
    std::vector<fs::path> top;
    for (const auto& e : fs::directory_iterator(out)) top.push_back(e.path());
    if (top.size() == 1 && fs::is_directory(top[0])) from = top[0];
  } else if (entry.from != ".") {
    from = out / entry.from;
    if (!fs::is_directory(from)) {
      std::string found;
      for (const auto& e : fs::directory_iterator(out)) found += " " + e.path().filename().string();
      throw FetchError(
          archive.string() + ": expected the folder \"" + entry.from +
          "\" in the archive, found at its top:" + (found.empty() ? " nothing" : found));
    }
  }
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) place(e.path(), to / e.path().filename());
}

std::vector<fs::path> regular_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file() && e.path().filename() != kManifestName)
      files.push_back(fs::relative(e.path(), folder));
  std::sort(files.begin(), files.end());
  return files;
}

void write_manifest(const fs::path& folder) {
  std::ostringstream text;
  for (const fs::path& f : regular_files(folder))
    text << sha256_file(folder / f) << "  " << f.generic_string() << '\n';
  std::ofstream out(folder / kManifestName, std::ios::binary);
  out << text.str();
  if (!out.flush()) throw FetchError((folder / kManifestName).string() + ": cannot write");
}

// Copies a folder tree (follows no symlinks out of it: they are copied as links).
void copy_tree(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  // A read-only mirror gives read-only copies; make them ours so they can be replaced.
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::add);
  for (const auto& e : fs::recursive_directory_iterator(to))
    if (!e.is_symlink())
      fs::permissions(e.path(),
                      fs::perms::owner_read | fs::perms::owner_write |
                          (e.is_directory() ? fs::perms::owner_exec : fs::perms::none),
                      fs::perm_options::add);
}

void install(const fs::path& staged, const fs::path& target, bool force) {
  if (fs::exists(target)) {
    if (!force) throw FetchError(target.string() + ": already exists (use --force to replace it)");
    const fs::path old = staging_folder(target, "old");
    fs::remove(old);
    fs::rename(target, old);
    fs::rename(staged, target);
    fs::remove_all(old);
    return;
  }
  fs::rename(staged, target);
}

}  // namespace

std::string verify_download(const fs::path& file, const CatalogFile& entry) {
  const std::uintmax_t size = fs::file_size(file);
  if (entry.bytes && size != *entry.bytes)
    throw FetchError(file.string() + ": size mismatch: expected " + std::to_string(*entry.bytes) +
                     " bytes (catalog), found " + std::to_string(size));
  const std::string hash = sha256_file(file);
  if (!entry.sha256.empty() && hash != entry.sha256)
    throw FetchError(file.string() + ": SHA-256 mismatch: expected " + entry.sha256 +
                     " (catalog), found " + hash + "; the file is corrupt or was changed upstream");
  return hash;
}

FetchResult fetch_dataset(const CatalogDataset& dataset, const FetchOptions& options) {
  FetchResult result;
  const fs::path target = options.dest / dataset.name;
  result.folder = target;
  if (fs::exists(target) && !options.force) {
    result.source = "already present";
    return result;
  }
  fs::create_directories(options.dest);
  const fs::path staged = staging_folder(target, "partial");
  Cleanup cleanup{staged};
  const fs::path content = staged / "content";

  const bool mirror_folder =
      options.mirror && fs::is_directory(*options.mirror / dataset.name) &&
      fs::weakly_canonical(*options.mirror / dataset.name) != fs::weakly_canonical(target);
  if (mirror_folder) {
    const fs::path from = *options.mirror / dataset.name;
    say(options, "copying " + from.string());
    copy_tree(from, content);
    result.source = "mirror folder " + from.string();
    // Plain files can be checked against the catalog; archives were unpacked by the mirror.
    for (const CatalogFile& entry : dataset.files) {
      if (entry.unpack != "none") continue;
      const fs::path file = (entry.to == "." ? content : content / entry.to) / entry.file;
      if (!fs::exists(file))
        throw FetchError(from.string() + ": the mirror lacks " + entry.file + " (catalog)");
      const std::string hash = verify_download(file, entry);
      if (entry.sha256.empty())
        result.warnings.push_back(entry.file + ": not pinned in the catalog; SHA-256 found " +
                                  hash);
    }
  } else {
    fs::create_directories(content);
    std::vector<std::string> sources;
    for (const CatalogFile& entry : dataset.files) {
      fs::path download;
      const fs::path mirrored =
          options.mirror ? *options.mirror / "downloads" / entry.file : fs::path();
      if (options.mirror && fs::is_regular_file(mirrored)) {
        say(options, "using " + mirrored.string());
        download = mirrored;
        sources.push_back("mirror " + mirrored.string());
      } else {
        if (!options.allow_download)
          throw FetchError(dataset.name + ": not in the mirror (" +
                           (options.mirror ? options.mirror->string() : std::string("none")) +
                           " has neither " + dataset.name + "/ nor downloads/" + entry.file +
                           ") and downloading is off");
        download = staged / entry.file;
        say(options, "downloading " + entry.url);
        const int status = run({options.curl, "-fL", "--retry", "2", "--progress-bar", "-o",
                                download.string(), entry.url});
        if (status != 0) throw FetchError(dataset.name + ": " + curl_failure(status, entry.url));
        sources.push_back("download " + entry.url);
      }
      const std::string hash = verify_download(download, entry);
      if (entry.sha256.empty())
        result.warnings.push_back(entry.file + ": not pinned in the catalog; SHA-256 found " +
                                  hash + " (" + std::to_string(fs::file_size(download)) +
                                  " bytes)");
      else
        say(options, "verified " + entry.file + " (SHA-256 " + hash.substr(0, 16) + "...)");
      unpack(download, entry, content, staged);
    }
    result.source.clear();
    for (const std::string& s : sources) result.source += (result.source.empty() ? "" : ", ") + s;
  }
  if (!fs::exists(content / kManifestName)) write_manifest(content);
  install(content, target, options.force);
  for (const std::string& w : result.warnings) say(options, "warning: " + w);
  return result;
}

VerifyReport verify_dataset(const CatalogDataset& dataset, const fs::path& folder) {
  VerifyReport report;
  if (!fs::is_directory(folder)) return report;
  report.present = true;
  for (const CatalogFile& entry : dataset.files) {
    if (entry.unpack != "none") continue;
    const fs::path file = (entry.to == "." ? folder : folder / entry.to) / entry.file;
    if (!fs::exists(file)) {
      report.problems.push_back(file.string() + ": missing (listed in the catalog)");
      continue;
    }
    ++report.files_checked;
    try {
      const std::string hash = verify_download(file, entry);
      if (entry.sha256.empty())
        report.notes.push_back(entry.file + ": not pinned; SHA-256 " + hash);
    } catch (const FetchError& e) {
      report.problems.push_back(e.what());
    }
  }
  const fs::path manifest = folder / kManifestName;
  if (!fs::exists(manifest)) {
    bool archives = false;
    for (const CatalogFile& entry : dataset.files) archives |= entry.unpack != "none";
    if (archives)
      report.notes.push_back("no " + std::string(kManifestName) +
                             " (not installed by musegen): the unpacked files cannot be checked");
    return report;
  }
  std::ifstream in(manifest);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.size() < 67 || line.compare(64, 2, "  ") != 0) {
      report.problems.push_back(manifest.string() + ": line " + std::to_string(number) +
                                ": expected \"<sha256>  <path>\"");
      continue;
    }
    const std::string expected = line.substr(0, 64);
    const fs::path file = folder / line.substr(66);
    ++report.files_checked;
    if (!fs::is_regular_file(file)) {
      report.problems.push_back(file.string() + ": missing (listed in the manifest)");
      continue;
    }
    const std::string found = sha256_file(file);
    if (found != expected)
      report.problems.push_back(file.string() + ": SHA-256 mismatch: expected " + expected +
                                " (manifest), found " + found);
  }
  return report;
}

}  // namespace musegen
