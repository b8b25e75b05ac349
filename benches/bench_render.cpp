// Rendering speed of `musegen render`: seconds of audio per second of CPU (the issue's
// target: >= 200x real time for a piano piece with the built-in synthesizer), for
//   BM_BuiltIn/all        the 92-file piano set, every file rendered once per iteration
//   BM_BuiltIn/<file>     the set's slowest file (AT.mid) and its densest piano file (8.mid)
//   BM_SoundFont/<file>   the same two files with FluidSynth + FluidR3_GM, when built in
// The counter `x_real_time` is audio seconds / CPU seconds of the iteration.
//
//   MUSEGEN_DATA_DIR=../shared/datasets build/release/benches/bench_render --benchmark_min_time=2
//
// Single-threaded, as the renderers are. Results go in docs/perf.md ("Rendering audio").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "synth.hpp"

namespace {

namespace fs = std::filesystem;

fs::path piano_folder() {
  const char* root = std::getenv("MUSEGEN_DATA_DIR");
  return fs::path(root ? root : "../shared/datasets") / "classical-piano-composer/midi_songs";
}

struct Piece {
  std::string name;
  midi::MidiFile file;
  double seconds = 0;  // of audio, the tail included
};

const std::vector<Piece>& piano_set() {
  static const std::vector<Piece> pieces = [] {
    std::vector<Piece> out;
    if (!fs::is_directory(piano_folder())) return out;
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(piano_folder()))
      if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      Piece piece;
      piece.name = p.filename().string();
      piece.file = midi::load(p);
      piece.seconds = musegen::file_seconds(piece.file) + musegen::kTailSeconds;
      out.push_back(std::move(piece));
    }
    return out;
  }();
  return pieces;
}

const Piece* find_piece(const std::string& name) {
  for (const Piece& p : piano_set())
    if (p.name == name) return &p;
  return nullptr;
}

// Runs `render` over `pieces` per iteration; reports audio seconds per CPU second.
template <class Render>
void run(benchmark::State& state, const std::vector<const Piece*>& pieces, Render render) {
  double audio = 0;
  for (auto _ : state) {
    for (const Piece* p : pieces) {
      const musegen::Audio a = render(p->file);
      benchmark::DoNotOptimize(a.samples.data());
      audio += a.seconds();
    }
  }
  // Process CPU time: the benchmark runs single-threaded, so it is the renderer's.
  state.counters["x_real_time"] = benchmark::Counter(audio, benchmark::Counter::kIsRate);
  state.counters["audio_s"] = benchmark::Counter(audio / static_cast<double>(state.iterations()));
}

void BM_BuiltIn(benchmark::State& state, const std::string& which) {
  std::vector<const Piece*> pieces;
  if (which == "all") {
    for (const Piece& p : piano_set()) pieces.push_back(&p);
  } else if (const Piece* p = find_piece(which)) {
    pieces.push_back(p);
  }
  if (pieces.empty()) {
    state.SkipWithError(("no " + which + " in " + piano_folder().string() + " (set MUSEGEN_DATA_DIR)").c_str());
    return;
  }
  run(state, pieces, [](const midi::MidiFile& f) { return musegen::render(f); });
}

void BM_SoundFont(benchmark::State& state, const std::string& which) {
  if (!musegen::soundfont_support_built_in()) {
    state.SkipWithError("this build has no FluidSynth (docs/architecture.md)");
    return;
  }
  const char* env = std::getenv("MUSEGEN_SOUNDFONT");
  const fs::path sf2 = env ? env : "/usr/share/sounds/sf2/FluidR3_GM.sf2";
  if (!fs::exists(sf2)) {
    state.SkipWithError(("no SoundFont at " + sf2.string() + " (apt-get install fluid-soundfont-gm)").c_str());
    return;
  }
  const Piece* p = find_piece(which);
  if (!p) {
    state.SkipWithError(("no " + which + " in " + piano_folder().string()).c_str());
    return;
  }
  static const auto synth = std::make_unique<musegen::SoundFontSynth>(sf2);  // loaded once
  run(state, {p}, [&](const midi::MidiFile& f) { return synth->render(f); });
}

BENCHMARK_CAPTURE(BM_BuiltIn, all, std::string("all"))->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK_CAPTURE(BM_BuiltIn, AT, std::string("AT.mid"))->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK_CAPTURE(BM_BuiltIn, 8, std::string("8.mid"))->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK_CAPTURE(BM_SoundFont, AT, std::string("AT.mid"))->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK_CAPTURE(BM_SoundFont, 8, std::string("8.mid"))->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
