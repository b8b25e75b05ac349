#include "pieces.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <libmidi/io.hpp>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace musegen::server {

namespace fs = std::filesystem;

namespace {
constexpr const char* kDraftPrefix = ".draft-";

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

const char* piece_file_name(PieceFile file) {
  switch (file) {
    case PieceFile::midi:
      return "midi";
    case PieceFile::wav:
      return "wav";
    case PieceFile::svg:
      return "svg";
  }
  return "";
}

std::optional<PieceFile> parse_piece_file(const std::string& name) {
  for (PieceFile f : {PieceFile::midi, PieceFile::wav, PieceFile::svg})
    if (name == piece_file_name(f)) return f;
  return std::nullopt;
}

const char* piece_file_leaf(PieceFile file) {
  switch (file) {
    case PieceFile::midi:
      return "piece.mid";
    case PieceFile::wav:
      return "piece.wav";
    case PieceFile::svg:
      return "roll.svg";
  }
  return "";
}

const char* piece_file_content_type(PieceFile file) {
  switch (file) {
    case PieceFile::midi:
      return "audio/midi";
    case PieceFile::wav:
      return "audio/wav";
    case PieceFile::svg:
      return "image/svg+xml";
  }
  return "application/octet-stream";
}

PieceDraft::PieceDraft(fs::path folder, std::string id)
    : folder_(std::move(folder)), id_(std::move(id)) {}

PieceDraft::~PieceDraft() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(folder_, ec);
}

bool PieceStore::well_formed(const std::string& id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

PieceStore::PieceStore(fs::path out) : out_(std::move(out)) {
  std::error_code ec;
  fs::create_directories(out_, ec);
  if (!fs::is_directory(out_))
    throw std::runtime_error(
        out_.string() + ": expected a folder for the pieces (or a path where one can be made), " +
        (fs::exists(out_) ? "found a file" : "could not make it: " + ec.message()));
  for (const auto& entry : fs::directory_iterator(out_)) {
    if (entry.path().filename().string().rfind(kDraftPrefix, 0) == 0)
      fs::remove_all(entry.path(), ec);
  }
}

std::unique_ptr<PieceDraft> PieceStore::begin() {
  static std::mutex random_mutex;
  static std::random_device random;
  for (;;) {
    std::uint64_t n;
    {
      std::lock_guard lock(random_mutex);
      n = static_cast<std::uint64_t>(random()) << 32 | random();
    }
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(n));
    const fs::path draft = out_ / (kDraftPrefix + std::string(id));
    if (fs::exists(out_ / id)) continue;  // 2^-64 a try; never overwrite a piece
    if (!fs::create_directory(draft)) continue;
    return std::make_unique<PieceDraft>(draft, id);
  }
}

void PieceStore::commit(PieceDraft& draft, const std::string& record_json) {
  const std::string_view text(record_json);
  midi::write_file_atomically(
      draft.folder() / kPieceRecord,
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  fs::rename(draft.folder(),
             out_ / draft.id());  // throws std::filesystem_error (a std::system_error)
  draft.committed_ = true;
}

std::vector<std::string> PieceStore::list() const {
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out_, ec)) {
    const std::string id = entry.path().filename().string();
    if (!well_formed(id) || !entry.is_directory(ec)) continue;
    const fs::path record = entry.path() / kPieceRecord;
    const auto when = fs::last_write_time(record, ec);
    if (ec) continue;
    if (auto text = read_text(record)) found.emplace_back(when, std::move(*text));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> records;
  for (auto& [when, text] : found) records.push_back(std::move(text));
  return records;
}

std::optional<std::string> PieceStore::record(const std::string& id) const {
  if (!well_formed(id)) return std::nullopt;
  return read_text(out_ / id / kPieceRecord);
}

std::optional<fs::path> PieceStore::file(const std::string& id, PieceFile f) const {
  if (!well_formed(id)) return std::nullopt;
  fs::path path = out_ / id / piece_file_leaf(f);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  return path;
}

}  // namespace musegen::server
