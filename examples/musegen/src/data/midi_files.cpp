#include "midi_files.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <system_error>

namespace musegen {

namespace fs = std::filesystem;

bool is_midi_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".mid" || ext == ".midi" || ext == ".kar" || ext == ".rmi";
}

std::vector<fs::path> midi_files_in(const fs::path& folder) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied), end;
       it != end; ++it) {
    if (it->is_regular_file(ec) && is_midi_name(it->path())) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<fs::path> collect_midi_files(std::span<const std::string> inputs) {
  std::vector<fs::path> files;
  for (const std::string& input : inputs) {
    const fs::path path(input);
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) throw std::invalid_argument(input + ": no such file or folder");
    if (fs::is_directory(status)) {
      const std::vector<fs::path> found = midi_files_in(path);
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(path);  // named explicitly: taken whatever its extension
    }
  }
  return files;
}

}  // namespace musegen
