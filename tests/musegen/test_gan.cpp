// The GANs (gan/gan.hpp): C-RNN-GAN trains on a tiny synthetic set (the discriminator does not
// win at once and stay there; the generated notes move toward the data's statistics), resumes
// bit for bit, stops on Ctrl-C with a checkpoint, and gan-generate writes MIDI files that mido
// reads. The oracles are the synthetic data's own statistics (computed here from the notes
// written), an uninterrupted run, and mido.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <libmidi/io.hpp>
#include <libnn/cuda.hpp>
#include <libnn/libnn.hpp>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli_table.hpp"
#include "crnngan.hpp"
#include "gan.hpp"
#include "metrics_csv.hpp"
#include "test_support.hpp"

namespace {

using namespace musegen;
namespace fs = std::filesystem;

// The synthetic set: 24 melodies of 64 notes, a random walk on the C major scale between C4
// and C6, each note a 16th, an 8th or a quarter long and starting when the previous one ends,
// velocity 70..100. Returns the notes' features (dt, duration, pitch, velocity) as written.
// With `velocity` > 0 every note has that velocity instead.
std::vector<NoteFeatures> write_synthetic_set(const fs::path& dir, int velocity = 0) {
  static const int kScale[] = {0, 2, 4, 5, 7, 9, 11};
  std::mt19937 rng(5);
  std::vector<NoteFeatures> all;
  fs::create_directories(dir);
  for (int file = 0; file < 24; ++file) {
    Piece piece;
    int degree = 7 + static_cast<int>(rng() % 5);
    double at = 0, previous = 0;
    for (int i = 0; i < 64; ++i) {
      degree = std::clamp(degree + static_cast<int>(rng() % 5) - 2, 0, 14);
      const double length = 0.25 * (1 << (rng() % 3));  // a 16th, an 8th or a quarter
      PieceNote n;
      n.start_quarters = at;
      n.end_quarters = at + length;
      n.start_seconds = n.start_quarters * 0.5;
      n.end_seconds = n.end_quarters * 0.5;
      n.pitch = 60 + 12 * (degree / 7) + kScale[degree % 7];
      n.velocity = velocity > 0 ? velocity : 70 + static_cast<int>(rng() % 31);
      piece.notes.push_back(n);
      all.push_back(
          {at - previous, length, static_cast<double>(n.pitch), static_cast<double>(n.velocity)});
      previous = at;
      at += length;
    }
    midi::save(piece_to_midi(piece, DecodeOptions{}),
               dir / ("melody-" + std::to_string(file) + ".mid"));
  }
  return all;
}

GanOptions tiny_options(const fs::path& data, const fs::path& run) {
  GanOptions o;
  o.inputs = {data.string()};
  o.run_dir = run;
  o.seq_len = 16;
  o.batch = 16;
  o.hidden = 32;
  o.layers = 1;
  o.noise = 8;
  o.lr_g = 2e-3;
  o.lr_d = 2e-3;
  o.pretrain_steps = 60;
  o.epochs = 50;  // 96 windows / 16 = 6 steps per epoch: 300 steps
  o.checkpoint_every = 0;
  o.log_seconds = 0;  // a metrics row per step
  o.tensorboard = false;
  o.quiet = true;
  o.handle_sigint = false;
  return o;
}

struct Row {
  std::int64_t step = 0;
  std::map<std::string, double> values;
  std::string kind;
};

std::vector<Row> read_metrics(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = plot::split_csv_line(line);
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = plot::split_csv_line(line);
    Row row;
    for (std::size_t c = 0; c < cells.size() && c < header.size(); ++c) {
      if (header[c] == "kind")
        row.kind = cells[c];
      else if (header[c] == "step")
        row.step = std::stoll(cells[c]);
      else if (!cells[c].empty())
        row.values[header[c]] = std::stod(cells[c]);
    }
    rows.push_back(row);
  }
  return rows;
}

// Mean and standard deviation of one feature.
std::pair<double, double> moments(const std::vector<NoteFeatures>& notes, std::size_t f) {
  double sum = 0, sq = 0;
  for (const NoteFeatures& n : notes) sum += n[f];
  const double mean = sum / static_cast<double>(notes.size());
  for (const NoteFeatures& n : notes) sq += (n[f] - mean) * (n[f] - mean);
  return {mean, std::sqrt(sq / static_cast<double>(notes.size()))};
}

// How far generated notes are from the data, feature by feature: |mean difference| in the
// data's standard deviations (a floor of 0.05 for a feature the data holds constant).
std::vector<double> mean_gaps(const std::vector<NoteFeatures>& data,
                              const std::vector<Piece>& pieces) {
  std::vector<NoteFeatures> generated;
  for (const Piece& p : pieces) {
    const std::vector<NoteFeatures> f = note_features(p);
    generated.insert(generated.end(), f.begin(), f.end());
  }
  std::vector<double> gaps;
  for (std::size_t f = 0; f < 4; ++f) {
    const auto [dm, ds] = moments(data, f);
    const auto [gm, gs] = moments(generated, f);
    gaps.push_back(std::abs(gm - dm) / std::max(ds, 0.05));
  }
  return gaps;
}

TEST(Gan, FeaturesRoundTripThroughAPiece) {
  const std::vector<NoteFeatures> notes = {{0, 1, 60, 80}, {0, 0.5, 64, 90}, {1.5, 2, 67, 70}};
  const Piece piece = piece_from_note_features(notes, 120);
  ASSERT_EQ(piece.notes.size(), 3u);
  EXPECT_DOUBLE_EQ(piece.notes[2].start_quarters, 1.5);
  EXPECT_DOUBLE_EQ(piece.notes[2].start_seconds, 0.75);
  EXPECT_EQ(note_features(piece), notes);
  // Unplayable values are made playable, not passed on.
  const Piece odd = piece_from_note_features({{-3, -1, 300, 0}, {NAN, 100, -5, 500}}, 120);
  EXPECT_EQ(odd.notes[0].start_quarters, 0);
  EXPECT_EQ(odd.notes[0].pitch, 127);
  EXPECT_EQ(odd.notes[0].velocity, 1);
  EXPECT_EQ(odd.notes[1].pitch, 0);
  EXPECT_EQ(odd.notes[1].end_quarters - odd.notes[1].start_quarters, 16);
}

TEST(Gan, ModelsTableSaysWhatIsNotBuilt) {
  EXPECT_NO_THROW(gan_model("crnngan"));
  for (const GanModel& m : gan_models()) {
    if (m.built) continue;
    try {
      gan_model(m.name);
      ADD_FAILURE() << m.name << " is not built but was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("not built yet"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(gan_model("wavegan"), std::invalid_argument);
}

// The smoke test the issue asks for: over 900 steps the discriminator's accuracy leaves 100%
// (it does not win at once and stay there) and the generated notes move toward the data's
// statistics. 900 steps, not tiny_options' 300: at 300 steps the run passed on 3 seeds of 8
// (the others ended 0.52-0.97 data sd from the data on some feature); at 900 steps seeds 1-12
// all pass, the worst feature ending 0.43 sd away (measured 2026-12-06, GanOptions::seed).
TEST(Gan, CrnnGanTrainsVisiblyOnATinySyntheticSet) {
  const fs::path dir = test::fresh_temp_dir("gan");
  const std::vector<NoteFeatures> data = write_synthetic_set(dir / "data");
  GanOptions o = tiny_options(dir / "data", dir / "run");
  o.epochs = 150;  // 6 steps per epoch
  const std::int64_t steps = o.epochs * 6, adversarial = steps - o.pretrain_steps;
  std::ostringstream log;
  const TrainerResult r = gan_train(o, log);
  ASSERT_EQ(r.steps, steps);
  const std::vector<Row> rows = read_metrics(RunDir{o.run_dir}.metrics());
  std::vector<double> accuracy, distance;
  std::int64_t d_updates = 0;
  for (const Row& row : rows) {
    if (row.kind == "interval" && row.step > o.pretrain_steps) {
      accuracy.push_back(row.values.at("d_accuracy"));
      d_updates += row.values.at("d_updated") > 0;
    }
    if (row.kind == "epoch") distance.push_back(row.values.at("stat_distance"));
  }
  ASSERT_EQ(accuracy.size(), static_cast<std::size_t>(adversarial));
  ASSERT_EQ(distance.size(), static_cast<std::size_t>(o.epochs));
  // The discriminator learns (it is updated, and is right more often than chance on
  // average) but does not run away: over the last 100 steps it is wrong on a good share.
  double late = 0;
  for (std::size_t i = accuracy.size() - 100; i < accuracy.size(); ++i) late += accuracy[i];
  late /= 100;
  EXPECT_GT(d_updates, 20) << "the discriminator was frozen almost throughout";
  EXPECT_LT(late, 0.95) << "the discriminator wins";
  EXPECT_GT(*std::max_element(accuracy.begin(), accuracy.end()), 0.5);
  // The generated notes' statistics approach the data's (the task's own measure, epoch by
  // epoch), and, measured here from gan-generate's pieces against the notes written, every
  // feature's mean ends within half a standard deviation of the data's.
  // (best: the epoch closest to the data, which best.safetensors holds and gan-generate reads)
  const double best = *std::min_element(distance.begin() + 10, distance.end());
  EXPECT_LT(best, 0.7 * distance.front())
      << "first epoch " << distance.front() << ", best " << best;
  GanGenerateOptions g;
  g.count = 32;
  g.length = 32;
  const std::vector<double> gaps = mean_gaps(data, gan_generate(load_gan_weights(o.run_dir), g));
  for (std::size_t f = 0; f < 4; ++f) EXPECT_LT(gaps[f], 0.5) << "feature " << f;
  std::cout << "late D accuracy " << late << ", D updated in " << d_updates << " of " << adversarial
            << " steps, stat distance " << distance.front() << " -> " << best << " (best epoch)"
            << ", mean gaps (data sd) " << gaps[0] << " " << gaps[1] << " " << gaps[2] << " "
            << gaps[3] << "\n";
  fs::remove_all(dir);
}

// A feature the data never varies (the JSB chorales' velocity) is written as the data's
// constant: a generator free to vary it would hand the discriminator a free win.
TEST(Gan, AFeatureConstantInTheDataIsGeneratedConstant) {
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data", 90);
  GanOptions o = tiny_options(dir / "data", dir / "run");
  o.max_steps = 8;
  o.pretrain_steps = 4;
  std::ostringstream log;
  gan_train(o, log);
  GanGenerateOptions g;
  g.count = 4;
  g.length = 24;
  std::set<int> velocities, pitches;
  for (const Piece& p : gan_generate(load_gan_weights(o.run_dir), g)) {
    for (const PieceNote& n : p.notes) {
      velocities.insert(n.velocity);
      pitches.insert(n.pitch);
    }
  }
  EXPECT_EQ(velocities, std::set<int>{90});
  EXPECT_GT(pitches.size(), 1u) << "the other features still vary";
  fs::remove_all(dir);
}

nn::TrainingState final_state(const GanOptions& o) {
  return nn::load_training_state(RunDir{o.run_dir}.state());
}

void expect_same_tensors(const nn::TrainingState& a, const nn::TrainingState& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  ASSERT_GT(a.tensors.size(), 10u);
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.contains(name)) << name;
    if (t.dtype() == nn::DType::Int64) {  // batch norm's num_batches_tracked (rollgan)
      EXPECT_EQ(t.to_vector<std::int64_t>(), b.tensors.at(name).to_vector<std::int64_t>()) << name;
      continue;
    }
    const std::vector<float> x = t.to_vector<float>(), y = b.tensors.at(name).to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    EXPECT_EQ(0, std::memcmp(x.data(), y.data(), x.size() * sizeof(float))) << name << " differs";
  }
}

// Train N steps, or N/2, stop, resume N/2: the same weights and optimizer moments, bit for
// bit (through pre-training and the adversarial phase).
TEST(Gan, StoppedAndResumedRunMatchesAnUninterruptedOne) {
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  GanOptions whole = tiny_options(dir / "data", dir / "whole");
  whole.max_steps = 40;
  whole.pretrain_steps = 10;
  whole.checkpoint_every = 7;
  std::ostringstream log;
  ASSERT_EQ(gan_train(whole, log).steps, 40);

  GanOptions half = whole;
  half.run_dir = dir / "half";
  half.stop_after_step = 20;
  const TrainerResult first = gan_train(half, log);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.steps, 20);
  GanOptions resume;
  resume.run_dir = half.run_dir;
  resume.resume = true;
  resume.quiet = true;
  resume.tensorboard = false;
  resume.handle_sigint = false;
  resume.log_seconds = 0;
  const TrainerResult second = gan_train(resume, log);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.steps, 40);
  expect_same_tensors(final_state(whole), final_state(half));
  // The metrics rows after the stop are the uninterrupted run's too.
  const std::vector<Row> a = read_metrics(RunDir{whole.run_dir}.metrics()),
                         b = read_metrics(RunDir{half.run_dir}.metrics());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].step, b[i].step);
    EXPECT_EQ(a[i].values.at("d_loss"), b[i].values.at("d_loss")) << "row " << i;
    EXPECT_EQ(a[i].values.at("g_loss"), b[i].values.at("g_loss")) << "row " << i;
  }
  fs::remove_all(dir);
}

TEST(Gan, ResumeRefusesOtherData) {
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  GanOptions o = tiny_options(dir / "data", dir / "run");
  o.max_steps = 3;
  std::ostringstream log;
  gan_train(o, log);
  std::ofstream(dir / "data" / "melody-0.mid", std::ios::binary | std::ios::app)
      << "x";  // other bytes
  GanOptions resume = o;
  resume.resume = true;
  try {
    gan_train(resume, log);
    ADD_FAILURE() << "resumed on other data";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("other data"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// Ctrl-C (SIGINT) while gan_train runs: the step ends, a checkpoint is written, it returns.
TEST(Gan, CtrlCWritesACheckpointAndStops) {
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  GanOptions o = tiny_options(dir / "data", dir / "run");
  o.epochs = 1'000'000;  // only Ctrl-C ends it
  o.handle_sigint = true;
  std::ostringstream log;
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::raise(SIGINT);
  });
  const TrainerResult r = gan_train(o, log);
  ctrl_c.join();
  EXPECT_TRUE(r.interrupted);
  ASSERT_GT(r.steps, 0);
  EXPECT_EQ(final_state(o).ints.at("step"), r.steps);
  EXPECT_TRUE(fs::exists(RunDir{o.run_dir}.weights()));
  fs::remove_all(dir);
}

#ifndef MUSEGEN_TENSORBOARD_PYTHON
#define MUSEGEN_TENSORBOARD_PYTHON ""
#endif

// TensorBoard, read by TensorBoard's own readers (tests/libnn/tensorboard_check.py): both
// losses, the discriminator's accuracy and the rest of metrics.csv under their tags, and a
// generated piano roll (a PNG that PIL decodes) after every epoch.
TEST(Gan, TensorBoardShowsBothLossesTheAccuracyAndSamplePianoRolls) {
  if (std::string(MUSEGEN_TENSORBOARD_PYTHON).empty()) {
    GTEST_SKIP() << "no Python interpreter that can import tensorboard was found at configure time "
                    "(scripts/setup.sh installs one in ~/.cache/musegen/venv; then re-run cmake)";
  }
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  GanOptions o = tiny_options(dir / "data", dir / "run");
  o.epochs = 3;
  o.pretrain_steps = 6;
  o.tensorboard = true;
  std::ostringstream log;
  gan_train(o, log);
  std::ifstream csv(RunDir{o.run_dir}.metrics());
  std::string line;
  std::getline(csv, line);
  const std::vector<std::string> header = plot::split_csv_line(line);
  std::ostringstream expected;
  std::size_t epochs = 0;
  while (std::getline(csv, line)) {
    const std::vector<std::string> cells = plot::split_csv_line(line);
    ASSERT_EQ(cells.size(), header.size()) << line;
    const bool epoch = cells.back() == "epoch";
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string& name = header[c];
      if (cells[c].empty() || name == "step" || name == "epoch" || name == "kind" ||
          name == "seconds")
        continue;
      const std::string tag =
          name == "stat_distance" ? "valid/stat_distance" : (epoch ? "epoch/" : "train/") + name;
      expected << "scalar\t" << tag << "\t" << cells[0] << "\t" << cells[c] << "\t1e-6\n";
    }
    if (epoch) {
      expected << "png\tvalid/sample\t" << cells[0] << "\t800\t320\n";
      ++epochs;
    }
  }
  EXPECT_EQ(epochs, 3u);
  expected << "tags\tscalar\ttrain/d_loss,train/g_loss,train/d_accuracy,train/d_updated,train/"
              "notes_per_s,"
              "epoch/d_loss,epoch/g_loss,epoch/d_accuracy,epoch/d_updated,valid/stat_distance\n"
           << "tags\timage\tvalid/sample\n";
  std::ofstream(dir / "expected") << expected.str();
  std::string output;
  EXPECT_TRUE(test::run_capture(std::string(MUSEGEN_TENSORBOARD_PYTHON) + " " + MUSEGEN_TEST_DIR +
                                    "/../libnn/tensorboard_check.py " + o.run_dir.string() + " " +
                                    (dir / "expected").string() + " 2>&1",
                                output))
      << output;
  fs::remove_all(dir);
}

// The command line end to end: gan-train, then gan-generate's MIDI files, read by mido.
TEST(Gan, GanGenerateWritesMidiFilesThatMidoReads) {
  if (!test::python_has("mido"))
    GTEST_SKIP() << "/usr/bin/python3 cannot import mido (apt-get install python3-mido)";
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  auto r = test::run_musegen(
      {"gan-train", "data", "--run-dir", "run", "--seq-len", "16", "--batch", "16", "--hidden",
       "16", "--layers", "1", "--max-steps", "12", "--pretrain-steps", "4", "--quiet"},
      dir);
  ASSERT_EQ(r.exit_code, 0) << r.text();
  r = test::run_musegen(
      {"gan-generate", "run", "--count", "5", "--length", "40", "--out-dir", "out", "--seed", "3"},
      dir);
  ASSERT_EQ(r.exit_code, 0) << r.text();
  std::string out;
  ASSERT_TRUE(
      test::run_capture("/usr/bin/python3 -c \"import mido,glob\n"
                        "for f in sorted(glob.glob('" +
                            (dir / "out").string() +
                            "/*.mid')):\n"
                            "  m=mido.MidiFile(f); print(sum(1 for t in m.tracks for e in t if "
                            "e.type=='note_on' and e.velocity>0))\"",
                        out));
  EXPECT_EQ(out, "40\n40\n40\n40\n40\n") << "note-ons per file, by mido";
  // The same seed gives the same files.
  r = test::run_musegen({"gan-generate", "run", "--count", "5", "--length", "40", "--out-dir",
                         "again", "--seed", "3"},
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.text();
  for (int i = 1; i <= 5; ++i) {
    const std::string name = "crnngan-00" + std::to_string(i) + ".mid";  // named for the model
    std::ifstream a(dir / "out" / name, std::ios::binary),
        b(dir / "again" / name, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}),
              std::string(std::istreambuf_iterator<char>(b), {}));
  }
  // An LSTM run or any other safetensors is refused with the file named.
  r = test::run_musegen({"gan-generate", "data/melody-0.mid"}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.text();
  // --model rollgan on melodies without the ensemble's parts says so, and starts no run.
  r = test::run_musegen({"gan-train", "data", "--model", "rollgan", "--run-dir", "run2"}, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.text().find("rollgan: no phrases in the data"), std::string::npos) << r.text();
  EXPECT_FALSE(fs::exists(dir / "run2" / "state.mgstate"));
  fs::remove_all(dir);
}

// --- rollgan through gan-train ------------------------------------------------------------------

// Twelve 4/4 duets of two bars (no time signature: 4/4): a violin in quarter notes over a
// cello in half notes.
void write_duets(const fs::path& dir) {
  fs::create_directories(dir);
  std::mt19937 rng(5);
  for (int file = 0; file < 12; ++file) {
    Piece piece;
    piece.tracks = {{"Violin", 40}, {"Cello", 42}};
    for (int track = 0; track < 2; ++track) {
      const double length = track == 0 ? 1 : 2;
      for (double at = 0; at < 8; at += length) {
        PieceNote n;
        n.track = track;
        n.program = piece.tracks[static_cast<std::size_t>(track)].program;
        n.pitch = (track == 0 ? 60 : 48) + static_cast<int>(rng() % 8);
        n.start_quarters = at;
        n.end_quarters = at + length;
        n.start_seconds = at / 2;
        n.end_seconds = (at + length) / 2;
        piece.notes.push_back(n);
      }
    }
    midi::save(piece_to_midi(piece, DecodeOptions{}),
               dir / ("duet-" + std::to_string(file) + ".mid"));
  }
}

GanOptions tiny_rollgan(const fs::path& data, const fs::path& run) {
  GanOptions o;
  o.model = "rollgan";
  o.inputs = {data.string()};
  o.run_dir = run;
  o.ensemble = "violin,cello";
  o.bars = 1;
  o.lowest_pitch = 44;
  o.pitches = 32;
  o.shared_noise = 8;
  o.private_noise = 4;
  o.g_channels = 8;
  o.d_channels = 8;
  o.n_critic = 2;
  o.batch = 4;
  o.epochs = 100;
  o.quiet = true;
  o.tensorboard = false;
  o.handle_sigint = false;
  o.log_seconds = 0;
  return o;
}

// A rollgan run stopped and resumed ends with the uninterrupted run's weights, optimizer
// state and metrics; gan-generate writes rollgan-NNN.mid files with one named, programmed
// track per instrument, which mido reads.
TEST(Gan, RollGanResumesExactlyAndWritesMultitrackMidi) {
  const fs::path dir = test::fresh_temp_dir("gan");
  write_duets(dir / "data");
  GanOptions whole = tiny_rollgan(dir / "data", dir / "whole");
  whole.max_steps = 8;
  whole.checkpoint_every = 3;
  std::ostringstream log;
  ASSERT_EQ(gan_train(whole, log).steps, 8);
  GanOptions half = whole;
  half.run_dir = dir / "half";
  half.stop_after_step = 4;
  EXPECT_TRUE(gan_train(half, log).interrupted);
  GanOptions resume;
  resume.run_dir = half.run_dir;
  resume.resume = true;
  resume.quiet = true;
  resume.tensorboard = false;
  resume.handle_sigint = false;
  resume.log_seconds = 0;
  EXPECT_EQ(gan_train(resume, log).steps, 8);
  expect_same_tensors(final_state(whole), final_state(half));
  // A model option out of range fails before the data is read or a folder made.
  GanOptions bad = whole;
  bad.run_dir = dir / "bad";
  bad.pitches = 12;
  EXPECT_THROW(gan_train(bad, log), std::invalid_argument);
  EXPECT_FALSE(fs::exists(bad.run_dir));
  const std::vector<Row> a = read_metrics(RunDir{whole.run_dir}.metrics()),
                         b = read_metrics(RunDir{half.run_dir}.metrics());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].values.at("wasserstein"), b[i].values.at("wasserstein")) << "row " << i;
    EXPECT_EQ(a[i].values.at("g_loss"), b[i].values.at("g_loss")) << "row " << i;
  }

  if (!test::python_has("mido")) GTEST_SKIP() << "/usr/bin/python3 cannot import mido";
  auto r = test::run_musegen(
      {"gan-generate", "whole", "--count", "3", "--out-dir", "out", "--seed", "2"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.text();
  std::string out;
  ASSERT_TRUE(
      test::run_capture("/usr/bin/python3 -c \"import mido,glob\n"
                        "for f in sorted(glob.glob('" +
                            (dir / "out").string() +
                            "/*.mid')):\n"
                            "  m=mido.MidiFile(f)\n"
                            "  print(f.split('/')[-1], [(t.name, [e.program for e in t if "
                            "e.type=='program_change']) for t in m.tracks[1:]])\"",
                        out));
  EXPECT_EQ(out,
            "rollgan-001.mid [('Violin', [40]), ('Cello', [42])]\n"
            "rollgan-002.mid [('Violin', [40]), ('Cello', [42])]\n"
            "rollgan-003.mid [('Violin', [40]), ('Cello', [42])]\n");
  fs::remove_all(dir);
}

#define SKIP_WITHOUT_CUDA()                                            \
  if (!nn::cuda::is_available())                                       \
  GTEST_SKIP() << "no CUDA device (" << nn::cuda::unavailable_reason() \
               << "): the GPU side of gan-train runs in scripts/gpu-check.sh"

// On a GPU: the same steps as on the CPU, within float rounding (the first steps, before the
// runs' sums have had time to drift apart).
TEST(GanDeviceCuda, TrainsAndGeneratesAsOnTheCpu) {
  SKIP_WITHOUT_CUDA();
  const fs::path dir = test::fresh_temp_dir("gan");
  write_synthetic_set(dir / "data");
  GanOptions cpu = tiny_options(dir / "data", dir / "cpu");
  cpu.max_steps = 8;
  cpu.pretrain_steps = 4;
  GanOptions gpu = cpu;
  gpu.run_dir = dir / "gpu";
  gpu.device = nn::Device::cuda(0);
  std::ostringstream log;
  gan_train(cpu, log);
  gan_train(gpu, log);
  const std::vector<Row> a = read_metrics(RunDir{cpu.run_dir}.metrics()),
                         b = read_metrics(RunDir{gpu.run_dir}.metrics());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i].values.at("d_loss"), b[i].values.at("d_loss"), 1e-3) << "row " << i;
    EXPECT_NEAR(a[i].values.at("g_loss"), b[i].values.at("g_loss"), 1e-3) << "row " << i;
  }
  GanGenerateOptions g;
  g.count = 4;
  g.length = 16;
  const std::vector<Piece> on_cpu = gan_generate(load_gan_weights(cpu.run_dir), g);
  g.device = nn::Device::cuda(0);
  const std::vector<Piece> on_gpu = gan_generate(load_gan_weights(cpu.run_dir), g);
  ASSERT_EQ(on_cpu.size(), on_gpu.size());
  for (std::size_t i = 0; i < on_cpu.size(); ++i) {
    ASSERT_EQ(on_cpu[i].notes.size(), on_gpu[i].notes.size());
    for (std::size_t n = 0; n < on_cpu[i].notes.size(); ++n) {
      EXPECT_NEAR(on_cpu[i].notes[n].start_quarters, on_gpu[i].notes[n].start_quarters, 1e-3);
    }
  }
  fs::remove_all(dir);
}

}  // namespace
