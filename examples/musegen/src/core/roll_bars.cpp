// Bars of multitrack piano roll (roll_bars.hpp has the grid and the rules).
#include "roll_bars.hpp"

#include <algorithm>
#include <cmath>
#include <libmidi/io.hpp>
#include <map>
#include <stdexcept>

#include "instruments.hpp"

namespace musegen {

namespace {

std::int64_t round_half_up(double x) { return static_cast<std::int64_t>(std::floor(x + 0.5)); }

void check_range(const char* what, std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value < lo || value > hi)
    throw std::invalid_argument(std::string("piano-roll bars: ") + what + ": expected " +
                                std::to_string(lo) + ".." + std::to_string(hi) + ", found " +
                                std::to_string(value));
}

}  // namespace

void validate_roll_params(const RollBarsParams& p) {
  check_range("tracks (ensemble size)", p.tracks(), 1, kRollBarsMaxTracks);
  const auto rows = static_cast<std::int64_t>(instruments().size());
  for (int index : p.ensemble) check_range("ensemble instrument", index, 0, rows - 1);
  check_range("steps per quarter", p.steps_per_quarter, 1, kRollBarsMaxStepsPerQuarter);
  check_range("quarters per bar", p.quarters_per_bar, 1, kRollBarsMaxQuartersPerBar);
  check_range("bars", p.bars, 1, kRollBarsMaxBars);
  check_range("lowest pitch", p.lowest_pitch, 0, 127);
  check_range("pitches", p.pitches, 1, 128 - p.lowest_pitch);
}

std::vector<int> parse_ensemble(std::string_view text) {
  const auto limit = static_cast<int>(instruments().size());
  if (text == "chorale") return parse_instrument_list("soprano,alto,tenor,bass", limit);
  if (text == "quartet") return parse_instrument_list("violin,violin,viola,cello", limit);
  return parse_instrument_list(text, limit);
}

std::vector<int> ensemble_parts(const Piece& piece, const std::vector<int>& ensemble) {
  const auto limit = static_cast<int>(instruments().size());
  std::vector<int> of_part(piece.tracks.size(), -1);
  for (std::size_t t = 0; t < piece.tracks.size(); ++t)
    if (!piece.tracks[t].drum)
      of_part[t] = instrument_for_track(piece.tracks[t].name, piece.tracks[t].program, limit);
  std::vector<bool> taken(piece.tracks.size(), false);
  std::vector<int> parts;
  for (int wanted : ensemble) {
    int found = -1;
    for (std::size_t t = 0; t < piece.tracks.size() && found < 0; ++t)
      if (!taken[t] && of_part[t] == wanted) found = static_cast<int>(t);
    if (found < 0) return {};
    taken[static_cast<std::size_t>(found)] = true;
    parts.push_back(found);
  }
  return parts;
}

std::string meter_mismatch(const midi::MidiFile& file, const RollBarsParams& params) {
  for (const midi::Track& track : file.tracks)
    for (const midi::Event& e : track.events) {
      const auto ts = midi::time_signature_of(track, e);
      if (!ts) continue;
      const int denominator = ts->denominator;  // libmidi gives the note value, not its power
      if (ts->numerator * 4 != params.quarters_per_bar * denominator)
        return std::to_string(ts->numerator) + "/" + std::to_string(denominator) + " at tick " +
               std::to_string(e.tick);
    }
  return {};
}

std::string meter_mismatch(const std::vector<std::pair<int, int>>& signatures,
                           const RollBarsParams& params) {
  for (const auto& [numerator, denominator] : signatures)
    if (numerator * 4 != params.quarters_per_bar * denominator)
      return std::to_string(numerator) + "/" + std::to_string(denominator);
  return {};
}

std::vector<std::uint8_t> piece_to_roll(const Piece& piece, const std::vector<int>& parts,
                                        const RollBarsParams& params, std::int64_t* steps,
                                        RollStats* stats) {
  std::map<int, int> track_of_part;  // piece part → roll track
  for (std::size_t k = 0; k < parts.size(); ++k) track_of_part[parts[k]] = static_cast<int>(k);
  struct Cell {
    int track, pitch;
    std::int64_t from, to;
  };
  std::vector<Cell> cells;
  std::int64_t end = 0;
  for (const PieceNote& n : piece.notes) {
    auto it = track_of_part.find(n.track);
    if (n.drum || it == track_of_part.end()) continue;
    if (stats) ++stats->notes;
    if (n.pitch < params.lowest_pitch || n.pitch >= params.lowest_pitch + params.pitches) {
      if (stats) ++stats->notes_dropped;
      continue;
    }
    const std::int64_t from =
        std::max<std::int64_t>(0, round_half_up(n.start_quarters * params.steps_per_quarter));
    const std::int64_t to =
        std::max(from + 1, round_half_up(n.end_quarters * params.steps_per_quarter));
    cells.push_back({it->second, n.pitch - params.lowest_pitch, from, to});
    end = std::max(end, to);
  }
  const std::int64_t bar = params.steps_per_bar();
  const std::int64_t total = (end + bar - 1) / bar * bar;
  *steps = total;
  std::vector<std::uint8_t> roll(static_cast<std::size_t>(params.tracks() * total * params.pitches),
                                 0);
  for (const Cell& c : cells)
    for (std::int64_t s = c.from; s < c.to; ++s)
      roll[static_cast<std::size_t>((c.track * total + s) * params.pitches + c.pitch)] = 1;
  return roll;
}

Piece roll_to_piece(std::span<const std::uint8_t> roll, std::int64_t steps,
                    const RollBarsParams& params, double tempo_bpm, int velocity) {
  const std::int64_t tracks = params.tracks(), pitches = params.pitches;
  if (steps < 0 || static_cast<std::int64_t>(roll.size()) != tracks * steps * pitches)
    throw std::invalid_argument("piano roll: expected " + std::to_string(tracks) + " tracks × " +
                                std::to_string(steps) + " steps × " + std::to_string(pitches) +
                                " pitches = " + std::to_string(tracks * steps * pitches) +
                                " values, found " + std::to_string(roll.size()));
  const double seconds_per_quarter = 60.0 / tempo_bpm;
  Piece piece;
  std::map<int, int> count, seen;
  for (int index : params.ensemble) ++count[index];
  for (int index : params.ensemble) {
    const Instrument& inst = instrument(index);
    PieceTrack track;
    track.name = std::string(inst.display);
    if (count[index] > 1) track.name += " " + std::to_string(++seen[index]);
    track.program = inst.program;
    piece.tracks.push_back(std::move(track));
  }
  const auto note = [&](std::int64_t t, std::int64_t p, std::int64_t from, std::int64_t to) {
    PieceNote n;
    n.start_quarters = static_cast<double>(from) / params.steps_per_quarter;
    n.end_quarters = static_cast<double>(to) / params.steps_per_quarter;
    n.start_seconds = n.start_quarters * seconds_per_quarter;
    n.end_seconds = n.end_quarters * seconds_per_quarter;
    n.pitch = params.lowest_pitch + static_cast<int>(p);
    n.velocity = velocity;
    n.track = static_cast<int>(t);
    n.program = piece.tracks[static_cast<std::size_t>(t)].program;
    piece.notes.push_back(n);
  };
  for (std::int64_t t = 0; t < tracks; ++t)
    for (std::int64_t p = 0; p < pitches; ++p) {
      std::int64_t from = -1;
      for (std::int64_t s = 0; s <= steps; ++s) {
        const bool on = s < steps && roll[static_cast<std::size_t>((t * steps + s) * pitches + p)];
        if (on && from < 0) from = s;
        if (!on && from >= 0) {
          note(t, p, from, s);
          from = -1;
        }
      }
    }
  std::stable_sort(
      piece.notes.begin(), piece.notes.end(),
      [](const PieceNote& a, const PieceNote& b) { return a.start_quarters < b.start_quarters; });
  return piece;
}

midi::MidiFile roll_to_midi(std::span<const std::uint8_t> roll, std::int64_t steps,
                            const RollBarsParams& params, double tempo_bpm, int velocity) {
  DecodeOptions options;
  options.tempo_bpm = tempo_bpm;
  options.velocity = velocity;
  return piece_to_midi(roll_to_piece(roll, steps, params, tempo_bpm, velocity), options);
}

std::span<const std::uint8_t> RollDataset::phrase(std::int64_t i) const {
  const auto size = static_cast<std::size_t>(params.sample_size());
  return {data.data() + static_cast<std::size_t>(i) * size, size};
}

std::int64_t add_phrases(RollDataset& dataset, const Piece& piece, const std::string& source) {
  const RollBarsParams& p = dataset.params;
  const std::vector<int> parts = ensemble_parts(piece, p.ensemble);
  if (parts.empty()) return 0;
  std::int64_t steps = 0;
  const std::vector<std::uint8_t> roll = piece_to_roll(piece, parts, p, &steps, &dataset.stats);
  const std::int64_t phrase_steps = p.steps(), pitches = p.pitches;
  std::int64_t added = 0;
  for (std::int64_t from = 0; from < steps; from += phrase_steps) {
    std::vector<std::uint8_t> sample(static_cast<std::size_t>(p.sample_size()), 0);
    bool any = false;
    for (std::int64_t t = 0; t < p.tracks(); ++t)
      for (std::int64_t s = from; s < std::min(steps, from + phrase_steps); ++s)
        for (std::int64_t k = 0; k < pitches; ++k) {
          const std::uint8_t v = roll[static_cast<std::size_t>((t * steps + s) * pitches + k)];
          sample[static_cast<std::size_t>((t * phrase_steps + s - from) * pitches + k)] = v;
          any = any || v;
        }
    if (!any) continue;
    dataset.data.insert(dataset.data.end(), sample.begin(), sample.end());
    const std::int64_t bar = from / p.steps_per_bar() + 1;
    dataset.sources.push_back(source + ", bars " + std::to_string(bar) + "-" +
                              std::to_string(bar + p.bars - 1));
    ++added;
  }
  return added;
}

RollDataset load_roll_dataset(const std::vector<std::filesystem::path>& files,
                              const RollBarsParams& params, const midi::NoteOptions& notes) {
  validate_roll_params(params);
  RollDataset dataset;
  dataset.params = params;
  for (const std::filesystem::path& file : files) {
    ++dataset.files;
    midi::MidiFile midi;
    try {
      midi = midi::load(file);
    } catch (const std::exception& e) {
      dataset.skipped.push_back(file.string() + ": " + e.what());
      continue;
    }
    if (const std::string meter = meter_mismatch(midi, params); !meter.empty()) {
      dataset.skipped.push_back(file.string() + ": time signature " + meter + ", expected " +
                                std::to_string(params.quarters_per_bar) + "/4");
      continue;
    }
    const Piece piece = piece_from_midi(midi, notes);
    if (ensemble_parts(piece, params.ensemble).empty()) {
      dataset.skipped.push_back(file.string() + ": no part for every instrument of the ensemble");
      continue;
    }
    if (add_phrases(dataset, piece, file.string()) > 0) ++dataset.files_used;
  }
  if (dataset.phrases() == 0)
    throw std::runtime_error(
        "no piano-roll phrases in " + std::to_string(files.size()) + " file(s)" +
        (dataset.skipped.empty() ? std::string() : " (first skipped: " + dataset.skipped[0] + ")"));
  return dataset;
}

}  // namespace musegen
