// The training data of a GAN run (gan.hpp): MIDI files and folders, or the JSB chorales.
#include <fstream>
#include <iterator>
#include <libmidi/io.hpp>
#include <stdexcept>

#include "gan.hpp"
#include "jsb.hpp"
#include "midi_files.hpp"
#include "sha256.hpp"

namespace musegen {

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot be read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool is_json(const std::string& input) {
  const fs::path path(input);
  return path.extension() == ".json" && fs::is_regular_file(path);
}

}  // namespace

GanData load_gan_data(const std::vector<std::string>& inputs,
                      const midi::NoteOptions& note_options) {
  if (inputs.empty())
    throw std::invalid_argument("no training data given (MIDI files, folders or a JSB .json)");
  GanData data;
  Sha256 hash;
  std::int64_t notes = 0;
  if (inputs.size() == 1 && is_json(inputs[0])) {
    const fs::path path(inputs[0]);
    const std::string bytes = read_bytes(path);
    hash.update(bytes);
    const int fpq = jsb_frames_per_quarter(path);
    if (fpq == 0) {
      throw std::invalid_argument(path.string() +
                                  ": the resolution of a JSB file is read from its name "
                                  "(quarter, 8th or 16th), and this name says none");
    }
    const JsbChorales chorales = parse_jsb(bytes, path.string());
    for (std::size_t i = 0; i < chorales.train.size(); ++i) {
      Piece piece = jsb_piece(chorales.train[i], fpq);
      if (piece.notes.empty()) continue;
      notes += static_cast<std::int64_t>(piece.notes.size());
      data.pieces.push_back(std::move(piece));
      data.sources.push_back(path.string() + " train[" + std::to_string(i) + "]");
      data.time_signatures.emplace_back();
    }
    data.describe =
        std::to_string(data.pieces.size()) + " chorales (train split) of " + path.string();
  } else {
    const std::vector<fs::path> files = collect_midi_files(inputs);
    std::size_t skipped = 0;
    for (const fs::path& file : files) {
      const std::string bytes = read_bytes(file);
      try {
        const midi::MidiFile midi = midi::read(
            std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
        Piece piece = piece_from_midi(midi, note_options);
        std::erase_if(piece.notes, [](const PieceNote& n) { return n.drum; });
        if (piece.notes.empty()) {
          ++skipped;
          continue;
        }
        hash.update(bytes);
        notes += static_cast<std::int64_t>(piece.notes.size());
        data.pieces.push_back(std::move(piece));
        data.sources.push_back(file.string());
        std::vector<std::pair<int, int>> signatures;
        for (const midi::Track& track : midi.tracks)
          for (const midi::Event& e : track.events)
            if (const auto ts = midi::time_signature_of(track, e))
              signatures.emplace_back(ts->numerator, ts->denominator);
        data.time_signatures.push_back(std::move(signatures));
      } catch (const std::exception&) {
        ++skipped;  // not a MIDI file, or one libmidi refuses: counted, not fatal
      }
    }
    data.describe =
        std::to_string(data.pieces.size()) + " MIDI file" + (data.pieces.size() == 1 ? "" : "s");
    if (skipped > 0)
      data.describe += " (" + std::to_string(skipped) + " skipped: unreadable or no notes)";
  }
  if (data.pieces.empty()) {
    throw std::invalid_argument("no notes in the training data (" + data.describe + ")");
  }
  data.describe += ", " + std::to_string(notes) + " notes";
  data.sha256 = hash.hex_digest();
  return data;
}

}  // namespace musegen
