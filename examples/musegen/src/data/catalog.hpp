// The catalog of public datasets musegen can fetch: datasets/catalog.tsv, compiled into the
// program (catalog.cpp embeds the file's text; a test checks that the two agree), so the
// binary needs no data file at run time. The columns are described at the top of the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace musegen {

// One downloadable file of a dataset.
struct CatalogFile {
  std::string file;                    // name of the downloaded file
  std::optional<std::uint64_t> bytes;  // empty: not pinned
  std::string sha256;                  // 64 lowercase hex digits; empty: not pinned
  std::string url;
  std::string unpack;  // "none", "zip" or "tar.gz"
  std::string from;    // folder inside the archive to install; "*": its single top folder
  std::string to;      // where under <dest>/<name>; "." for the dataset folder itself
};

struct CatalogDataset {
  std::string name;  // also the folder name under the data folder
  std::string license;
  std::string description;
  std::vector<CatalogFile> files;

  std::optional<std::uint64_t> download_bytes() const;  // empty when any file is not pinned
};

// Parses catalog text. Throws std::runtime_error naming `source`, the line and the column
// for a malformed line (wrong column count, bad hash, unknown unpack kind, ...).
std::vector<CatalogDataset> parse_catalog(std::string_view text, const std::string& source);

// The text of datasets/catalog.tsv as compiled in, and the catalog parsed from it.
std::string_view builtin_catalog_text();
const std::vector<CatalogDataset>& builtin_catalog();

// The dataset called `name`, or nullptr.
const CatalogDataset* find_dataset(const std::vector<CatalogDataset>& catalog,
                                   std::string_view name);

}  // namespace musegen
