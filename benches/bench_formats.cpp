// The app's file formats that are not music: reading the JSB chorales (JSON) and writing a
// piano roll as PNG (deflate), for
//   BM_ReadJsb/<file>     read_jsb of a published JSB file (read from disk and parsed);
//                         counter MB_per_s over the file's bytes
//   BM_PianoRollPng       png::encode_rgb of the piano roll of the piano set's 8.mid at
//                         `musegen plot`'s default size (1200 × 600); counter png_bytes
//   BM_DeflateLevel/<n>   zlib's compress2 at level n of the same image's PNG scanlines: what
//                         chose the level png.cpp uses; counter bytes
//
//   MUSEGEN_DATA_DIR=../shared/datasets build/release/benches/bench_formats --benchmark_min_time=1
//
// Peak memory of one read (docs/perf.md): run a single BM_ReadJsb under /usr/bin/time -v.
// Results go in docs/perf.md ("The app's formats: JSON and PNG").
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <zlib.h>

#include "jsb.hpp"
#include "libmidi/io.hpp"
#include "plot.hpp"
#include "png.hpp"

namespace {

namespace fs = std::filesystem;

fs::path data_root() {
  const char* root = std::getenv("MUSEGEN_DATA_DIR");
  return fs::path(root ? root : "../shared/datasets");
}

void BM_ReadJsb(benchmark::State& state, const std::string& name) {
  const fs::path path = data_root() / "jsb-chorales" / name;
  if (!fs::is_regular_file(path)) {
    state.SkipWithError(("no " + path.string() + " (set MUSEGEN_DATA_DIR)").c_str());
    return;
  }
  const auto bytes = static_cast<double>(fs::file_size(path));
  std::size_t chorales = 0;
  for (auto _ : state) {
    const musegen::JsbChorales j = musegen::read_jsb(path);
    chorales = j.train.size() + j.valid.size() + j.test.size();
    benchmark::DoNotOptimize(chorales);
  }
  state.counters["chorales"] = static_cast<double>(chorales);
  state.counters["MB_per_s"] =
      benchmark::Counter(bytes * 1e-6 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_ReadJsb, quarter, std::string("jsb-chorales-quarter.json"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReadJsb, 16th, std::string("jsb-chorales-16th.json"))->Unit(benchmark::kMillisecond);

// The pixels of a typical piano roll: the densest piano file of the set at the default size.
const musegen::raster::Canvas* piano_roll_canvas() {
  static const auto canvas = []() -> std::unique_ptr<musegen::raster::Canvas> {
    const fs::path file = data_root() / "classical-piano-composer/midi_songs/8.mid";
    if (!fs::is_regular_file(file)) return nullptr;
    const musegen::plot::Figure figure = musegen::plot::piano_roll(midi::load(file), {});
    return std::make_unique<musegen::raster::Canvas>(musegen::plot::rasterize(figure));
  }();
  return canvas.get();
}

void BM_PianoRollPng(benchmark::State& state) {
  const musegen::raster::Canvas* canvas = piano_roll_canvas();
  if (!canvas) {
    state.SkipWithError("no classical-piano-composer/midi_songs/8.mid (set MUSEGEN_DATA_DIR)");
    return;
  }
  std::size_t size = 0;
  for (auto _ : state) {
    const auto png = musegen::png::encode_rgb(canvas->width(), canvas->height(), canvas->pixels());
    size = png.size();
    benchmark::DoNotOptimize(size);
  }
  state.counters["png_bytes"] = static_cast<double>(size);
}
BENCHMARK(BM_PianoRollPng)->Unit(benchmark::kMillisecond);

void BM_DeflateLevel(benchmark::State& state) {
  const musegen::raster::Canvas* canvas = piano_roll_canvas();
  if (!canvas) {
    state.SkipWithError("no classical-piano-composer/midi_songs/8.mid (set MUSEGEN_DATA_DIR)");
    return;
  }
  // PNG's scanlines as png.cpp lays them out: filter type 0, then the row's pixels.
  const std::size_t row = static_cast<std::size_t>(canvas->width()) * 3;
  std::vector<std::uint8_t> scanlines;
  for (int y = 0; y < canvas->height(); ++y) {
    scanlines.push_back(0);
    const auto begin = canvas->pixels().begin() + static_cast<std::ptrdiff_t>(row * static_cast<std::size_t>(y));
    scanlines.insert(scanlines.end(), begin, begin + static_cast<std::ptrdiff_t>(row));
  }
  std::vector<Bytef> out(compressBound(scanlines.size()));
  uLongf size = 0;
  for (auto _ : state) {
    size = out.size();
    if (compress2(out.data(), &size, scanlines.data(), scanlines.size(), static_cast<int>(state.range(0))) != Z_OK) {
      state.SkipWithError("compress2 failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(size);
}
BENCHMARK(BM_DeflateLevel)->DenseRange(1, 9)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
