// The pieces a server has made, kept under --out so that they outlive it: one folder per
// piece, named by its id, holding
//
//   piece.json   the record: id, time made, model, the request's canonical parameters
//                (request.hpp: posted again, they make the same piece), its metrics
//   piece.mid    the MIDI file
//   piece.wav    its audio from the built-in synthesizer
//   roll.svg     its piano roll
//
// A piece is written into a hidden draft folder and renamed into place when complete, so a
// piece folder is never seen half-written, and a crash leaves only a draft (removed at the
// next start). Ids are 16 random hex digits; a text of any other shape is never used to
// build a path.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace musegen::server {

enum class PieceFile { midi, wav, svg };
// "midi", "wav", "svg" and back (std::nullopt for another name).
const char* piece_file_name(PieceFile file);
std::optional<PieceFile> parse_piece_file(const std::string& name);
const char* piece_file_leaf(PieceFile file);          // "piece.mid", ...
const char* piece_file_content_type(PieceFile file);  // "audio/midi", ...

inline constexpr const char* kPieceRecord = "piece.json";

// A piece being written: a folder of its own to fill; removed unless committed.
class PieceDraft {
 public:
  PieceDraft(std::filesystem::path folder, std::string id);
  ~PieceDraft();
  PieceDraft(const PieceDraft&) = delete;
  PieceDraft& operator=(const PieceDraft&) = delete;
  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path file(PieceFile f) const { return folder_ / piece_file_leaf(f); }
  const std::string& id() const { return id_; }

 private:
  friend class PieceStore;
  std::filesystem::path folder_;
  std::string id_;
  bool committed_ = false;
};

class PieceStore {
 public:
  // Creates `out` when missing; removes drafts a previous server left. Throws
  // std::runtime_error when `out` is not a folder that can be written.
  explicit PieceStore(std::filesystem::path out);

  // A new draft with a fresh id.
  std::unique_ptr<PieceDraft> begin();
  // Writes the record (`record_json`, a JSON object) and renames the draft into place.
  // Throws std::system_error naming the path when it cannot.
  void commit(PieceDraft& draft, const std::string& record_json);

  // The records of every piece, newest first (each a JSON object's text).
  std::vector<std::string> list() const;
  // A piece's record, std::nullopt for an id that is malformed or not a piece.
  std::optional<std::string> record(const std::string& id) const;
  // The path of one of a piece's files, std::nullopt as above.
  std::optional<std::filesystem::path> file(const std::string& id, PieceFile f) const;

  static bool well_formed(const std::string& id);  // 16 lowercase hex digits

 private:
  std::filesystem::path out_;
};

}  // namespace musegen::server
