// Parse throughput of libmidi over the 92-file piano set held in memory (bytes of MIDI in per
// second): to events (midi::read), to notes (read + extract_notes), and the writer.
//
//   MUSEGEN_DATA_DIR=../shared/datasets build/release/benches/bench_midi
//
// Single-threaded: the figure is per core. Results go in docs/perf.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "libmidi/libmidi.hpp"

namespace {

namespace fs = std::filesystem;

struct Corpus {
  std::vector<std::vector<std::uint8_t>> files;
  std::size_t bytes = 0;
  std::string error;
};

const Corpus& piano_corpus() {
  static const Corpus corpus = [] {
    Corpus c;
    const char* root = std::getenv("MUSEGEN_DATA_DIR");
    const fs::path folder = fs::path(root ? root : "../shared/datasets") / "classical-piano-composer/midi_songs";
    if (!fs::is_directory(folder)) {
      c.error = "no piano set at " + folder.string() + " (set MUSEGEN_DATA_DIR)";
      return c;
    }
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(folder))
      if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      c.files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      c.bytes += c.files.back().size();
    }
    return c;
  }();
  return corpus;
}

void report(benchmark::State& state, const Corpus& c, std::size_t events) {
  // bytes_per_second is printed in MiB/s (base 1024); the targets in docs/perf.md are in
  // MB/s (10^6 bytes), printed as the MB/s counter.
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes));
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(c.bytes) * static_cast<double>(state.iterations()) / 1e6,
                                              benchmark::Counter::kIsRate);
  state.counters["files"] = static_cast<double>(c.files.size());
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(events) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ParseToEvents(benchmark::State& state) {
  const Corpus& c = piano_corpus();
  if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
  std::size_t events = 0;
  for (auto _ : state) {
    events = 0;
    for (const auto& f : c.files) {
      const midi::MidiFile file = midi::read(f);
      events += file.event_count();
      benchmark::DoNotOptimize(file.tracks.data());
    }
  }
  report(state, c, events);
}
BENCHMARK(BM_ParseToEvents)->Unit(benchmark::kMillisecond);

void BM_ParseToNotes(benchmark::State& state) {
  const Corpus& c = piano_corpus();
  if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
  std::size_t events = 0, notes = 0;
  for (auto _ : state) {
    events = notes = 0;
    for (const auto& f : c.files) {
      const midi::MidiFile file = midi::read(f);
      const midi::Performance perf = midi::extract_notes(file);
      events += file.event_count();
      notes += perf.notes.size();
      benchmark::DoNotOptimize(perf.notes.data());
    }
  }
  report(state, c, events);
  state.counters["notes"] = static_cast<double>(notes);
}
BENCHMARK(BM_ParseToNotes)->Unit(benchmark::kMillisecond);

void BM_Write(benchmark::State& state) {
  const Corpus& c = piano_corpus();
  if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
  std::vector<midi::MidiFile> parsed;
  std::size_t events = 0;
  for (const auto& f : c.files) {
    parsed.push_back(midi::read(f));
    events += parsed.back().event_count();
  }
  for (auto _ : state) {
    for (const auto& file : parsed) {
      const auto bytes = midi::write(file);
      benchmark::DoNotOptimize(bytes.data());
    }
  }
  report(state, c, events);
}
BENCHMARK(BM_Write)->Unit(benchmark::kMillisecond);

}  // namespace
