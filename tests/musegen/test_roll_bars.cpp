// Piano-roll bars (roll_bars.hpp), the piano-roll GAN's data: roll → MIDI bytes → roll is
// exact, real files give the rolls an independent Python + mido reading computes
// (roll_bars_oracle.py), and the dataset's phrases are the pieces' bars.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codec.hpp"
#include "instruments.hpp"
#include "libmidi/io.hpp"
#include "midi_files.hpp"
#include "roll_bars.hpp"
#include "sha256.hpp"
#include "test_support.hpp"

namespace musegen {
namespace {

namespace fs = std::filesystem;

RollBarsParams chorale_params() {
  RollBarsParams p;
  p.ensemble = parse_ensemble("chorale");
  return p;
}

// A random roll of `bars` bars whose last bar sounds (so its length is what piece_to_roll
// finds), with runs of notes of random lengths.
std::vector<std::uint8_t> random_roll(const RollBarsParams& p, std::int64_t steps, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> roll(static_cast<std::size_t>(p.tracks() * steps * p.pitches), 0);
  for (int t = 0; t < p.tracks(); ++t)
    for (int n = 0; n < 12; ++n) {
      const auto pitch = static_cast<std::int64_t>(rng() % static_cast<unsigned>(p.pitches));
      const auto from = static_cast<std::int64_t>(rng() % static_cast<unsigned>(steps));
      const std::int64_t to = std::min<std::int64_t>(steps, from + 1 + rng() % 6);
      for (std::int64_t s = from; s < to; ++s)
        roll[static_cast<std::size_t>((t * steps + s) * p.pitches + pitch)] = 1;
    }
  roll[static_cast<std::size_t>(((p.tracks() - 1) * steps + steps - 1) * p.pitches)] = 1;
  return roll;
}

TEST(RollBars, RollToMidiBytesAndBackIsExact) {
  for (const char* ensemble : {"chorale", "quartet", "piano,violin,violin"}) {
    RollBarsParams p;
    p.ensemble = parse_ensemble(ensemble);
    for (unsigned seed = 1; seed <= 5; ++seed) {
      const std::int64_t steps = 3 * p.steps_per_bar();
      const std::vector<std::uint8_t> roll = random_roll(p, steps, seed);
      const midi::MidiFile file = roll_to_midi(roll, steps, p, 90);
      const Piece piece = piece_from_midi(midi::read(midi::write(file)));
      const std::vector<int> parts = ensemble_parts(piece, p.ensemble);
      ASSERT_EQ(parts.size(), p.ensemble.size()) << ensemble;
      for (std::size_t k = 0; k < parts.size(); ++k) {
        EXPECT_EQ(parts[k], static_cast<int>(k)) << ensemble;  // the tracks in order
        EXPECT_EQ(piece.tracks[k].program, instrument(p.ensemble[k]).program);
      }
      std::int64_t back_steps = 0;
      RollStats stats;
      const std::vector<std::uint8_t> back = piece_to_roll(piece, parts, p, &back_steps, &stats);
      EXPECT_EQ(back_steps, steps);
      EXPECT_EQ(back, roll) << ensemble << " seed " << seed;
      EXPECT_EQ(stats.notes_dropped, 0);
    }
  }
}

TEST(RollBars, NotesOnTheGrid) {
  RollBarsParams p = chorale_params();
  Piece piece;
  for (const char* name : {"Soprano", "Horn", "Alto", "Tenor", "Bass"})
    piece.tracks.push_back({name, 52});
  piece.tracks[1].program = 60;
  const auto add = [&](int track, int pitch, double from, double to) {
    PieceNote n;
    n.track = track, n.pitch = pitch, n.start_quarters = from, n.end_quarters = to;
    piece.notes.push_back(n);
  };
  add(0, 72, 0.0, 1.0);    // steps 0..3
  add(1, 60, 0.0, 8.0);    // the horn: not in the ensemble
  add(2, 60, 0.125, 0.2);  // 0.5 → 1 (half up), 0.8 → 1: at least one step, [1, 2)
  add(3, 20, 0.0, 1.0);    // below C2: dropped
  add(4, 48, 3.9, 4.1);    // [16, 16) → [16, 17): the roll is two bars
  const std::vector<int> parts = ensemble_parts(piece, p.ensemble);
  ASSERT_EQ(parts, (std::vector<int>{0, 2, 3, 4}));
  std::int64_t steps = 0;
  RollStats stats;
  const std::vector<std::uint8_t> roll = piece_to_roll(piece, parts, p, &steps, &stats);
  EXPECT_EQ(steps, 32);
  EXPECT_EQ(stats.notes, 4);
  EXPECT_EQ(stats.notes_dropped, 1);
  const auto at = [&](int t, int s, int pitch) {
    return roll[static_cast<std::size_t>((t * steps + s) * p.pitches + pitch - p.lowest_pitch)];
  };
  EXPECT_EQ(std::count(roll.begin(), roll.end(), 1), 4 + 1 + 1);
  for (int s = 0; s < 4; ++s) EXPECT_EQ(at(0, s, 72), 1);
  EXPECT_EQ(at(1, 1, 60), 1);
  EXPECT_EQ(at(3, 16, 48), 1);
  // Two notes of a pitch that touch become one (a sounding roll has no onsets).
  const Piece back = roll_to_piece(roll, steps, p);
  EXPECT_EQ(back.notes.size(), 3u);
  EXPECT_EQ(back.tracks[0].name, "Soprano");
  EXPECT_EQ(back.tracks[3].name, "Bass");
  // A piece without a bass gives no parts.
  piece.tracks[4].name = "Continuo";
  piece.tracks[4].program = 19;
  EXPECT_TRUE(ensemble_parts(piece, p.ensemble).empty());
}

TEST(RollBars, BadParametersAndRollsAreRefused) {
  RollBarsParams p = chorale_params();
  EXPECT_NO_THROW(validate_roll_params(p));
  const auto refused = [](RollBarsParams q, const std::string& needle) {
    try {
      validate_roll_params(q);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted: " << needle;
  };
  RollBarsParams q = p;
  q.pitches = 100;  // 36 + 100 > 128
  refused(q, "pitches: expected 1..92, found 100");
  q = p;
  q.ensemble.clear();
  refused(q, "tracks");
  q = p;
  q.bars = 0;
  refused(q, "bars: expected 1..16, found 0");
  EXPECT_THROW(parse_ensemble("soprano,kazoo"), std::invalid_argument);
  const std::vector<std::uint8_t> roll(10, 0);
  EXPECT_THROW(roll_to_piece(roll, 16, p), std::invalid_argument);
}

// music21 writes grace notes off-first (docs/midi.md); the oracle reads them so.
midi::NoteOptions music21_notes() { return midi::NoteOptions().zero_length_off_first(true); }

const char* kChorales = "music21-multitrack/chorales";
const char* kQuartets = "music21-multitrack/quartets";

std::vector<fs::path> files_of(const char* folder, std::size_t every) {
  const std::vector<fs::path> all = midi_files_in(fs::path(test::data_dir()) / folder);
  std::vector<fs::path> some;
  for (std::size_t i = 0; i < all.size(); i += every) some.push_back(all[i]);
  return some;
}

// The rolls of real files against roll_bars_oracle.py: the chosen parts, their notes, and the
// SHA-256 of each track's roll. Every 8th chorale and every quartet.
TEST(RollBars, RealFilesMatchMidoOracle) {
  if (test::data_dir().empty() || !fs::is_directory(fs::path(test::data_dir()) / kChorales))
    GTEST_SKIP() << "MUSEGEN_DATA_DIR has no " << kChorales;
  if (!test::python_has("mido"))
    GTEST_SKIP() << "/usr/bin/python3 cannot import mido (apt-get install python3-mido)";
  for (const auto& [folder, ensemble, every] :
       {std::tuple{kChorales, "soprano,alto,tenor,bass", 8},
        std::tuple{kQuartets, "violin,violin,viola,cello", 1}}) {
    RollBarsParams p;
    p.ensemble = parse_ensemble(ensemble);
    const std::vector<fs::path> files = files_of(folder, static_cast<std::size_t>(every));
    ASSERT_FALSE(files.empty());
    std::string command = "/usr/bin/python3 " MUSEGEN_TEST_DIR "/roll_bars_oracle.py --ensemble " +
                          std::string(ensemble);
    for (const fs::path& f : files) command += " '" + f.string() + "'";
    std::string output;
    ASSERT_TRUE(test::run_capture(command, output));
    std::map<std::string, std::vector<std::string>> oracle;
    std::istringstream lines(output);
    std::string line, current;
    while (std::getline(lines, line)) {
      if (line.rfind("# ", 0) == 0)
        current = line.substr(2);
      else
        oracle[current].push_back(line);
    }
    int used = 0;
    for (const fs::path& f : files) {
      SCOPED_TRACE(f.string());
      const midi::MidiFile file = midi::load(f);
      std::vector<std::string> ours;
      if (const std::string meter = meter_mismatch(file, p); !meter.empty()) {
        ours.push_back("skip meter " + meter.substr(0, meter.find(' ')));
      } else {
        const Piece piece = piece_from_midi(file, music21_notes());
        const std::vector<int> parts = ensemble_parts(piece, p.ensemble);
        if (parts.empty()) {
          ours.push_back("skip ensemble");
        } else {
          std::int64_t steps = 0;
          const std::vector<std::uint8_t> roll = piece_to_roll(piece, parts, p, &steps);
          ours.push_back("steps " + std::to_string(steps));
          for (int k = 0; k < p.tracks(); ++k) {
            // Each track's notes and drops, counted as the oracle does (per part).
            RollStats stats;
            std::int64_t unused = 0;
            piece_to_roll(piece, {parts[static_cast<std::size_t>(k)]}, p, &unused, &stats);
            const auto size = static_cast<std::size_t>(steps * p.pitches);
            const std::span<const std::uint8_t> track(
                roll.data() + static_cast<std::size_t>(k) * size, size);
            Sha256 hash;
            hash.update(track);
            ours.push_back("track " + std::to_string(k) + " " +
                           std::to_string(parts[static_cast<std::size_t>(k)]) + " " +
                           std::to_string(stats.notes) + " " + std::to_string(stats.notes_dropped) +
                           " " + std::to_string(std::count(track.begin(), track.end(), 1)) + " " +
                           hash.hex_digest());
          }
          ++used;
        }
      }
      EXPECT_EQ(ours, oracle[f.string()]);
    }
    EXPECT_GT(used, 0) << folder;
  }
}

// The dataset's phrases are consecutive slices of each piece's roll, empty ones left out,
// and files in another meter are skipped with the reason.
TEST(RollBars, DatasetPhrasesAreThePiecesBars) {
  if (test::data_dir().empty() || !fs::is_directory(fs::path(test::data_dir()) / kChorales))
    GTEST_SKIP() << "MUSEGEN_DATA_DIR has no " << kChorales;
  RollBarsParams p = chorale_params();
  p.bars = 2;
  std::vector<fs::path> files = files_of(kChorales, 40);
  const std::vector<fs::path> quartets = files_of(kQuartets, 1);
  files.push_back(quartets.front());  // beethoven-opus133: 6/8
  const RollDataset data = load_roll_dataset(files, p, music21_notes());
  EXPECT_EQ(data.files, static_cast<std::int64_t>(files.size()));
  ASSERT_FALSE(data.skipped.empty());
  EXPECT_EQ(data.skipped.back(),
            files.back().string() + ": time signature 6/8 at tick 0, expected 4/4");
  std::int64_t expected = 0, index = 0, used = 0;
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    const midi::MidiFile file = midi::load(files[i]);
    if (!meter_mismatch(file, p).empty()) continue;  // some chorales are in 3/4
    ++used;
    const Piece piece = piece_from_midi(file, music21_notes());
    std::int64_t steps = 0;
    const std::vector<std::uint8_t> roll =
        piece_to_roll(piece, ensemble_parts(piece, p.ensemble), p, &steps);
    for (std::int64_t from = 0; from < steps; from += p.steps()) {
      std::vector<std::uint8_t> want(static_cast<std::size_t>(p.sample_size()), 0);
      for (int t = 0; t < p.tracks(); ++t)
        for (std::int64_t s = from; s < std::min(steps, from + p.steps()); ++s)
          for (int k = 0; k < p.pitches; ++k)
            want[static_cast<std::size_t>((t * p.steps() + s - from) * p.pitches + k)] =
                roll[static_cast<std::size_t>((t * steps + s) * p.pitches + k)];
      if (std::count(want.begin(), want.end(), 1) == 0) continue;
      ++expected;
      ASSERT_LT(index, data.phrases());
      const auto got = data.phrase(index++);
      EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin()))
          << data.sources[static_cast<std::size_t>(index - 1)];
    }
  }
  EXPECT_EQ(data.phrases(), expected);
  EXPECT_EQ(data.files_used, used);
  EXPECT_EQ(data.files_used + static_cast<std::int64_t>(data.skipped.size()), data.files);
}

}  // namespace
}  // namespace musegen
