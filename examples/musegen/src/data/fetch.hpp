// Fetching and verifying the datasets of the catalog.
//
// `fetch` installs dataset NAME as the folder <dest>/NAME, from the first source that has it:
//   1. a local mirror (MUSEGEN_DATA_DIR, or FetchOptions::mirror) holding the installed folder
//      NAME/ (the layout of the shared datasets folder): copied;
//   2. a mirror holding the downloaded files in downloads/<file>: verified and unpacked;
//   3. the catalog URL, downloaded with curl (a subprocess; no library dependency): verified
//      and unpacked.
// Everything is assembled in a temporary folder beside the target and renamed into place, so
// an interrupted fetch leaves no half dataset. The installed folder gets a manifest,
// .musegen-manifest.sha256 (`sha256sum -c` format), which `verify` checks later.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "catalog.hpp"

namespace musegen {

// A failed fetch or verification: what was expected and what was found.
class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kManifestName = ".musegen-manifest.sha256";

struct FetchOptions {
  std::filesystem::path dest;                   // the data folder; the dataset goes to dest/NAME
  std::optional<std::filesystem::path> mirror;  // a local mirror; none: download only
  bool force = false;                           // replace an installed copy
  bool allow_download = true;                   // false: mirror only (tests, offline runs)
  std::string curl = "curl";                    // program used to download
  std::ostream* log = nullptr;                  // progress and warnings; null: quiet
};

struct FetchResult {
  std::filesystem::path folder;       // dest/NAME
  std::string source;                 // "already present", "mirror folder ...", "download ..."
  std::vector<std::string> warnings;  // unpinned hashes (with the hash found), ...
};

// Throws FetchError (no source, curl missing, no network, hash or size mismatch, unpack
// failure) and std::filesystem::filesystem_error for I/O failures; dest is then unchanged.
FetchResult fetch_dataset(const CatalogDataset& dataset, const FetchOptions& options);

// Checks `file` against the catalog entry's size and hash; throws FetchError with expected
// and found values. Returns the hash found (for unpinned entries, to print).
std::string verify_download(const std::filesystem::path& file, const CatalogFile& entry);

struct VerifyReport {
  bool present = false;
  std::vector<std::string> problems;  // empty: everything checked matched
  std::vector<std::string> notes;     // what could not be checked, and why
  std::size_t files_checked = 0;
};

// Checks an installed dataset folder: plain (not unpacked) files against the catalog hashes,
// every file against the manifest when there is one.
VerifyReport verify_dataset(const CatalogDataset& dataset, const std::filesystem::path& folder);

}  // namespace musegen
