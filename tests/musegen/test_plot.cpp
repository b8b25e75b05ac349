// Pictures: the PNG encoder's checksums against published vectors, its zlib stream against
// Python's zlib, its images against PIL; the piano roll's notes, rows and bar lines at the
// pixels the layout predicts; SVG through xml.etree; plot-metrics, its log axis (ticks read
// back from the SVG, dots where log10 of their values puts them) and its errors.
// tests/musegen/plot_check.py is the independent decoder.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "libmidi/io.hpp"
#include "libmidi/notes.hpp"
#include "plot.hpp"
#include "png.hpp"
#include "raster.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using musegen::plot::Rgb;

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void write_bytes(const fs::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string checker(const std::string& arguments) {
  return "/usr/bin/python3 '" MUSEGEN_TEST_DIR "/plot_check.py' " + arguments;
}

#define REQUIRE_PIL()                                                                  \
  if (!musegen::test::python_has("PIL"))                                               \
  GTEST_SKIP() << "/usr/bin/python3 cannot import PIL (apt-get install python3-pil)"

int run(int (*command)(musegen::Args), std::vector<std::string> args) {
  args.push_back("--quiet");
  return command(args);
}

// What PIL decodes: the size, the pixels asked for, and all pixels as RGB rows.
struct Decoded {
  int width = 0, height = 0;
  std::vector<Rgb> points;
  std::vector<std::uint8_t> raw;
};

Decoded decode_png(const fs::path& png, const std::vector<std::pair<int, int>>& points) {
  std::string arguments = "png '" + png.string() + "' '" + png.string() + ".raw'";
  for (const auto& [x, y] : points) arguments += " " + std::to_string(x) + "," + std::to_string(y);
  std::string output;
  EXPECT_TRUE(musegen::test::run_capture(checker(arguments), output)) << output;
  std::istringstream in(output);
  Decoded d;
  in >> d.width >> d.height;
  for (std::size_t i = 0; i < points.size(); ++i) {
    int r = -1, g = -1, b = -1;
    in >> r >> g >> b;
    d.points.push_back({static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(g), static_cast<std::uint8_t>(b)});
  }
  d.raw = read_bytes(png.string() + ".raw");
  return d;
}

std::string to_string(Rgb c) {
  return "(" + std::to_string(c.r) + ", " + std::to_string(c.g) + ", " + std::to_string(c.b) + ")";
}

// --- checksums and zlib -------------------------------------------------------------------

TEST(Png, Crc32OfPublishedVectors) {
  EXPECT_EQ(musegen::png::crc32(bytes_of("123456789")), 0xCBF43926u);
  EXPECT_EQ(musegen::png::crc32(bytes_of("")), 0u);
  EXPECT_EQ(musegen::png::crc32(bytes_of("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
  // Continued over two pieces = over the whole.
  EXPECT_EQ(musegen::png::crc32(bytes_of("6789"), musegen::png::crc32(bytes_of("12345"))), 0xCBF43926u);
}

TEST(Png, Adler32OfPublishedVectors) {
  EXPECT_EQ(musegen::png::adler32(bytes_of("Wikipedia")), 0x11E60398u);
  EXPECT_EQ(musegen::png::adler32(bytes_of("")), 1u);
  EXPECT_EQ(musegen::png::adler32(bytes_of("pedia"), musegen::png::adler32(bytes_of("Wiki"))), 0x11E60398u);
  // Long input: the modular reduction every 5552 bytes, against the definition.
  std::vector<std::uint8_t> ff(100000, 0xFF);
  std::uint64_t a = 1, b = 0;
  for (std::uint8_t x : ff) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  EXPECT_EQ(musegen::png::adler32(ff), static_cast<std::uint32_t>((b << 16) | a));
}

TEST(Png, ZlibStreamInflatesWithPythonZlib) {
  REQUIRE_PIL();  // the same interpreter; zlib is in its standard library
  const fs::path dir = musegen::test::fresh_temp_dir("plot_zlib");
  std::mt19937 rng(7);
  std::vector<std::vector<std::uint8_t>> inputs;
  inputs.push_back({});
  inputs.push_back({'a'});
  inputs.push_back(std::vector<std::uint8_t>(100000, 42));  // runs longer than 258
  std::vector<std::uint8_t> random(70000), mixed;
  for (auto& v : random) v = static_cast<std::uint8_t>(rng());
  inputs.push_back(random);
  for (int i = 0; i < 3000; ++i) {  // repeats at every distance up to the 32 KiB window and beyond
    const std::size_t distance = 1 + rng() % 40000;
    if (mixed.size() > distance) {
      const std::size_t from = mixed.size() - distance, length = rng() % 300;
      for (std::size_t k = 0; k < length; ++k) mixed.push_back(mixed[from + k]);
    }
    for (int k = 0; k < 5; ++k) mixed.push_back(static_cast<std::uint8_t>(rng() % 4));
  }
  inputs.push_back(mixed);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const fs::path original = dir / ("in" + std::to_string(i)), compressed = dir / ("z" + std::to_string(i));
    write_bytes(original, inputs[i]);
    write_bytes(compressed, musegen::png::zlib_compress(inputs[i]));
    std::string output;
    EXPECT_TRUE(musegen::test::run_capture(
        checker("inflate '" + compressed.string() + "' '" + original.string() + "'"), output));
    EXPECT_EQ(output, "ok\n") << "input " << i << " (" << inputs[i].size() << " bytes)";
  }
  EXPECT_LT(musegen::png::zlib_compress(inputs[2]).size(), 2000u) << "flat data should shrink";
  fs::remove_all(dir);
}

TEST(Png, ImageDecodesWithPilToTheSamePixels) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_png");
  musegen::raster::Canvas canvas(37, 23, {10, 20, 30});
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i)
    canvas.set(static_cast<int>(rng() % 37), static_cast<int>(rng() % 23),
               {static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng())});
  canvas.fill_rect(5, 5, 15, 9, {255, 0, 0});
  canvas.line(0, 22, 36, 0, {0, 255, 0});
  canvas.text(2, 12, "C4 1.5", {0, 0, 255});
  write_bytes(dir / "a.png", musegen::png::encode_rgb(37, 23, canvas.pixels()));
  const Decoded d = decode_png(dir / "a.png", {{5, 5}, {14, 8}, {15, 8}});
  EXPECT_EQ(d.width, 37);
  EXPECT_EQ(d.height, 23);
  EXPECT_TRUE(std::equal(d.raw.begin(), d.raw.end(), canvas.pixels().begin(), canvas.pixels().end()));
  ASSERT_EQ(d.points.size(), 3u);
  EXPECT_EQ(d.points[0], (Rgb{255, 0, 0}));
  EXPECT_EQ(d.points[1], (Rgb{255, 0, 0}));
  EXPECT_NE(d.points[2], (Rgb{255, 0, 0}));  // fill_rect's right edge is exclusive
  EXPECT_THROW(musegen::png::encode_rgb(4, 4, canvas.pixels()), std::invalid_argument);
  fs::remove_all(dir);
}

// --- piano roll ---------------------------------------------------------------------------

constexpr int kPpq = 480;  // at the default 120 bpm, 960 ticks a second

struct TestNote {
  double start, end;  // seconds
  int pitch, velocity;
};

// A format 1 file: one track per list of notes, an optional time signature (numerator /
// 2^power) at tick 0 of the first track.
midi::MidiFile make_file(const std::vector<std::vector<TestNote>>& tracks, int numerator = 0, int power = 2) {
  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kPpq);
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    midi::Track track;
    if (t == 0 && numerator > 0) {
      const std::uint8_t ts[4] = {static_cast<std::uint8_t>(numerator), static_cast<std::uint8_t>(power), 24, 8};
      track.add_meta(0, midi::meta::kTimeSignature, ts);
    }
    struct Ev {
      std::uint64_t tick;
      bool on;
      int pitch, velocity;
    };
    std::vector<Ev> events;
    for (const TestNote& n : tracks[t]) {
      events.push_back({static_cast<std::uint64_t>(std::llround(n.start * 960)), true, n.pitch, n.velocity});
      events.push_back({static_cast<std::uint64_t>(std::llround(n.end * 960)), false, n.pitch, 0});
    }
    std::stable_sort(events.begin(), events.end(), [](const Ev& a, const Ev& b) {
      return a.tick < b.tick || (a.tick == b.tick && !a.on && b.on);
    });
    for (const Ev& e : events)
      track.add_channel(e.tick, e.on ? 0x90 : 0x80, static_cast<std::uint8_t>(e.pitch),
                        static_cast<std::uint8_t>(e.on ? e.velocity : 0));
    track.add_end_of_track(events.empty() ? 0 : events.back().tick);
    file.tracks.push_back(std::move(track));
  }
  return file;
}

// The pixel that contains the point (x, y): where a probe inside a rectangle looks.
std::pair<int, int> pixel(double x, double y) {
  return {static_cast<int>(std::floor(x)), static_cast<int>(std::floor(y))};
}

// The pixel column a vertical line at x is drawn in (Shape: lines go through rounded pixels).
std::pair<int, int> line_pixel(double x, double y) {
  return {static_cast<int>(std::lround(x)), static_cast<int>(std::floor(y))};
}

TEST(PianoRoll, NotesRowsAndBarLinesAtThePredictedPixels) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_roll");
  const std::vector<TestNote> notes = {{1.0, 2.0, 60, 100}, {3.0, 3.5, 76, 100}};  // C4, E5
  midi::save(make_file({notes}), dir / "in.mid");
  ASSERT_EQ(run(musegen::cmd_plot, {(dir / "in.mid").string(), (dir / "out.png").string(), "--width", "800",
                                    "--height", "400"}),
            0);

  // The layout, from the notes as libmidi reads them back.
  const midi::Performance performance = midi::extract_notes(midi::load(dir / "in.mid"));
  const musegen::plot::RollLayout L = musegen::plot::roll_layout(performance.notes, 800, 400);
  EXPECT_EQ(L.seconds_end, 3.5);
  EXPECT_LE(L.pitch_low, 60);
  EXPECT_GE(L.pitch_high, 76);
  ASSERT_GE(L.row_height(), 3.0) << "rows too thin for the test's pixel probes";

  const Rgb note = musegen::plot::velocity_shade(musegen::plot::track_color(0), 100);
  const std::vector<std::pair<int, int>> probes = {
      pixel(L.x_of(1.5), L.y_center(60)),   // inside C4
      pixel(L.x_of(1.02), L.y_center(60)),  // near its start
      pixel(L.x_of(1.98), L.y_center(60)),  // near its end
      pixel(L.x_of(3.25), L.y_center(76)),  // inside E5
      pixel(L.x_of(0.9), L.y_center(60)),   // before C4: background
      pixel(L.x_of(2.5), L.y_center(60)),   // after C4: background
      pixel(L.x_of(1.5), L.y_center(62)),   // D4 under the note's time: white key row
      pixel(L.x_of(1.5), L.y_center(61)),   // C#4: black key row
      pixel(L.x_of(1.5), L.y_center(76)),   // E5 before its note
      line_pixel(L.x_of(2.0), L.y_center(62)),   // bar 2 of 4/4 at 120 bpm: 2 s
      line_pixel(L.x_of(3.0), L.y_center(62)),   // no bar line at 3 s in 4/4
  };
  const Decoded d = decode_png(dir / "out.png", probes);
  EXPECT_EQ(d.width, 800);
  EXPECT_EQ(d.height, 400);
  ASSERT_EQ(d.points.size(), probes.size());
  for (int i : {0, 1, 2, 3}) EXPECT_EQ(d.points[i], note) << "probe " << i << ": " << to_string(d.points[i]);
  for (int i : {4, 5, 6, 8, 10})
    EXPECT_EQ(d.points[i], musegen::plot::kBackground) << "probe " << i << ": " << to_string(d.points[i]);
  EXPECT_EQ(d.points[7], musegen::plot::kBlackKeyRow) << to_string(d.points[7]);
  EXPECT_NE(d.points[9], musegen::plot::kBackground) << "expected a bar line at 2 s";
  EXPECT_NE(d.points[9], note);
  fs::remove_all(dir);
}

TEST(PianoRoll, BarLinesFollowTheTimeSignatureAndTracksGetTheirOwnColours) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_roll34");
  // 3/4 at 120 bpm: bars of 1.5 s. Track 1 soft, track 2 loud.
  midi::save(make_file({{{0.0, 1.0, 48, 40}}, {{2.0, 4.0, 55, 127}}}, 3, 2), dir / "in.mid");
  ASSERT_EQ(run(musegen::cmd_plot, {(dir / "in.mid").string(), (dir / "out.png").string(), "--width", "640",
                                    "--height", "320"}),
            0);
  const midi::Performance performance = midi::extract_notes(midi::load(dir / "in.mid"));
  const musegen::plot::RollLayout L = musegen::plot::roll_layout(performance.notes, 640, 320);
  const int free_row = 52;  // E3: white key, no note
  const std::vector<std::pair<int, int>> probes = {
      pixel(L.x_of(0.5), L.y_center(48)),       pixel(L.x_of(3.0), L.y_center(55)),
      line_pixel(L.x_of(1.5), L.y_center(free_row)), line_pixel(L.x_of(3.0), L.y_center(free_row)),
      line_pixel(L.x_of(2.0), L.y_center(free_row)), pixel(L.x_of(2.25), L.y_center(free_row)),
  };
  const Decoded d = decode_png(dir / "out.png", probes);
  EXPECT_EQ(d.width, 640);
  EXPECT_EQ(d.height, 320);
  ASSERT_EQ(d.points.size(), probes.size());
  EXPECT_EQ(d.points[0], musegen::plot::velocity_shade(musegen::plot::track_color(0), 40));
  EXPECT_EQ(d.points[1], musegen::plot::velocity_shade(musegen::plot::track_color(1), 127));
  EXPECT_NE(d.points[0], d.points[1]);
  EXPECT_NE(d.points[2], musegen::plot::kBackground) << "expected a bar line at 1.5 s (3/4)";
  EXPECT_NE(d.points[3], musegen::plot::kBackground) << "expected a bar line at 3 s (3/4)";
  EXPECT_EQ(d.points[4], musegen::plot::kBackground) << "no bar line at 2 s in 3/4";
  EXPECT_EQ(d.points[5], musegen::plot::kBackground);
  fs::remove_all(dir);
}

TEST(PianoRoll, SvgParsesAsXmlWithOneRectPerNote) {
  REQUIRE_PIL();  // xml.etree is in the standard library of the same interpreter
  const fs::path dir = musegen::test::fresh_temp_dir("plot_svg");
  std::vector<TestNote> notes;
  for (int i = 0; i < 17; ++i) notes.push_back({0.25 * i, 0.25 * i + 0.2, 40 + 2 * i, 30 + 5 * i});
  midi::save(make_file({notes, {{1.0, 2.0, 70, 90}}}), dir / "in.mid");
  ASSERT_EQ(run(musegen::cmd_plot, {(dir / "in.mid").string(), (dir / "roll.SVG").string(), "--width", "900",
                                    "--height", "300", "--title", "a <title> & \"quotes\""}),
            0);
  std::string output;
  ASSERT_TRUE(musegen::test::run_capture(checker("svg '" + (dir / "roll.SVG").string() + "'"), output)) << output;
  std::istringstream in(output);
  std::string width, height;
  int note_rects = -1, rects = -1;
  in >> width >> height >> note_rects >> rects;
  EXPECT_EQ(width, "900");
  EXPECT_EQ(height, "300");
  EXPECT_EQ(note_rects, 18);
  EXPECT_GT(rects, note_rects);
  fs::remove_all(dir);
}

TEST(PianoRoll, BadArgumentsAndInputs) {
  const fs::path dir = musegen::test::fresh_temp_dir("plot_bad");
  midi::save(make_file({{{0.0, 1.0, 60, 100}}}), dir / "in.mid");
  const std::string in = (dir / "in.mid").string();
  EXPECT_THROW(run(musegen::cmd_plot, {in, (dir / "out.jpg").string()}), musegen::cli::UsageError);
  EXPECT_THROW(run(musegen::cmd_plot, {in, (dir / "out.png").string(), "--width", "10"}), musegen::cli::UsageError);
  EXPECT_THROW(run(musegen::cmd_plot, {in, (dir / "out.png").string(), "--time-signature", "3-4"}),
               musegen::cli::UsageError);
  EXPECT_THROW(run(musegen::cmd_plot, {(dir / "missing.mid").string(), (dir / "out.png").string()}),
               std::exception);
  write_text(dir / "junk.mid", "not a MIDI file");
  EXPECT_THROW(run(musegen::cmd_plot, {(dir / "junk.mid").string(), (dir / "out.png").string()}), std::exception);
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  // An empty file still draws (an empty roll).
  midi::save(make_file({{}}), dir / "empty.mid");
  EXPECT_EQ(run(musegen::cmd_plot, {(dir / "empty.mid").string(), (dir / "empty.png").string()}), 0);
  EXPECT_TRUE(fs::exists(dir / "empty.png"));
  fs::remove_all(dir);
}

// --- training metrics ---------------------------------------------------------------------

constexpr const char* kHeader =
    "step,epoch,lr,train_loss,valid_loss,valid_perplexity,predictions_per_s,grad_norm,seconds\n";

TEST(PlotMetrics, DrawsARunToTheStatedSize) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_metrics");
  std::string csv = kHeader;
  for (int step = 10; step <= 500; step += 10) {
    const double loss = 4.0 * std::exp(-step / 200.0) + 1.0;
    csv += std::to_string(step) + ",0," + std::to_string(0.002 * (1 - step / 1000.0)) + "," + std::to_string(loss) + ",";
    if (step % 100 == 0) csv += std::to_string(loss + 0.2) + "," + std::to_string(std::exp(loss + 0.2));
    else csv += ",";
    csv += ",1000,1.5,12\n";
  }
  write_text(dir / "metrics.csv", csv);
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "curves.png").string(), "--width", "640",
                                            "--height", "480"}),
            0);
  const Decoded d = decode_png(dir / "curves.png", {});
  EXPECT_EQ(d.width, 640);
  EXPECT_EQ(d.height, 480);
  // Curves in four colours, not a blank picture.
  for (std::size_t k = 0; k < 4; ++k) {
    const Rgb c = musegen::plot::track_color(k);
    bool found = false;
    for (std::size_t i = 0; i + 2 < d.raw.size() && !found; i += 3)
      found = d.raw[i] == c.r && d.raw[i + 1] == c.g && d.raw[i + 2] == c.b;
    EXPECT_TRUE(found) << "no pixel of series colour " << k;
  }
  // The same as SVG, given the CSV file itself.
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {(dir / "metrics.csv").string(), (dir / "curves.svg").string()}), 0);
  std::string output;
  ASSERT_TRUE(musegen::test::run_capture(checker("svg '" + (dir / "curves.svg").string() + "'"), output)) << output;
  EXPECT_EQ(output.substr(0, 9), "1000 800 ");
  fs::remove_all(dir);
}

// What plot_check.py reads in an SVG of plot-metrics about the panel that holds `series`.
struct Panel {
  std::string title;
  std::vector<std::string> labels;  // y tick labels, as written
  std::vector<double> values;       // the same, as numbers
  std::vector<int> rows;            // the pixel row of each y tick
  std::vector<std::pair<int, int>>
      dots;  // the centre pixel (column, row) of each dot, in row order
};

Panel read_panel(const fs::path& svg, const std::string& series) {
  std::string output;
  EXPECT_TRUE(musegen::test::run_capture(
      checker("svg-panel '" + svg.string() + "' '" + series + "'"), output))
      << output;
  Panel panel;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    std::istringstream items(line.substr(eq + 1));
    if (key == "title") panel.title = line.substr(eq + 1);
    for (std::string item; key != "title" && items >> item;) {
      if (key == "ticks") {
        const auto at = item.rfind('@');
        panel.labels.push_back(item.substr(0, at));
        panel.values.push_back(std::stod(item.substr(0, at)));
        panel.rows.push_back(std::stoi(item.substr(at + 1)));
      } else if (key == "points") {
        const auto comma = item.find(',');
        panel.dots.emplace_back(std::stoi(item.substr(0, comma)),
                                std::stoi(item.substr(comma + 1)));
      }
    }
  }
  return panel;
}

bool is_log_panel(const Panel& p) { return p.title.find(", log scale") != std::string::npos; }

// The row the panel's own ticks put `value` at: interpolated between its first and last
// tick, linearly in log10(value) on a log panel, in value on a linear one.
double predicted_row(const Panel& p, double value) {
  const auto f = [&](double v) { return is_log_panel(p) ? std::log10(v) : v; };
  const double a = f(p.values.front()), b = f(p.values.back());
  return p.rows.front() + (f(value) - a) / (b - a) * (p.rows.back() - p.rows.front());
}

// A roll model's run: the loss falls from 61 to 1.2 (validation every 100 steps, 0.1 higher).
std::vector<double> roll_loss() {
  std::vector<double> loss;
  for (int step = 10; step <= 1000; step += 10) loss.push_back(60 * std::exp(-step / 60.0) + 1.2);
  return loss;
}

std::string roll_csv(const std::vector<double>& loss) {
  std::string csv = kHeader;
  for (std::size_t i = 0; i < loss.size(); ++i) {
    const int step = 10 * static_cast<int>(i + 1);
    csv += std::to_string(step) + ",0," + std::to_string(0.002 * (1 - step / 2000.0)) + "," +
           std::to_string(loss[i]) + ",";
    if (step % 100 == 0)
      csv += std::to_string(loss[i] + 0.1) + "," + std::to_string(std::exp(loss[i] + 0.1));
    else
      csv += ",";
    csv += ",1000,1.5,12\n";
  }
  return csv;
}

TEST(PlotMetrics, SteepLossIsDrawnOnALogAxisWithDecadeTicks) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_log");
  const std::vector<double> loss = roll_loss();
  write_text(dir / "metrics.csv", roll_csv(loss));
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "curves.svg").string()}),
            0);  // automatic

  // Loss: the ticks are decades, a decade is the same height wherever it is, and every dot
  // lies where log10 of its value puts it between the ticks.
  const Panel p = read_panel(dir / "curves.svg", "train loss");
  EXPECT_TRUE(is_log_panel(p)) << p.title;
  ASSERT_GE(p.values.size(), 2u);
  for (std::size_t i = 0; i < p.values.size(); ++i) {
    const double k = std::log10(p.values[i]);
    EXPECT_NEAR(k, std::round(k), 1e-12) << "tick " << p.labels[i] << " is not a power of ten";
    if (i > 0) {
      EXPECT_LT(p.rows[i], p.rows[i - 1]);  // larger values higher up
      const double per_decade = (p.rows[i - 1] - p.rows[i]) / (k - std::log10(p.values[i - 1]));
      const double overall = (p.rows.front() - p.rows.back()) /
                             (std::log10(p.values.back()) - std::log10(p.values.front()));
      EXPECT_NEAR(per_decade, overall, 1.0);
    }
  }
  ASSERT_EQ(p.dots.size(), loss.size());
  for (std::size_t i = 0; i < loss.size(); ++i)
    EXPECT_NEAR(p.dots[i].second, predicted_row(p, loss[i]), 1.5) << "loss " << loss[i];

  // Perplexity spans 10^26: log too, and its dots follow its ticks.
  const Panel q = read_panel(dir / "curves.svg", "valid perplexity");
  EXPECT_TRUE(is_log_panel(q)) << q.title;
  ASSERT_EQ(q.dots.size(), 10u);
  for (std::size_t i = 0; i < q.dots.size(); ++i) {
    const double k = std::log10(q.values[std::min(i, q.values.size() - 1)]);
    EXPECT_NEAR(k, std::round(k), 1e-12);
    EXPECT_NEAR(q.dots[i].second, predicted_row(q, std::exp(loss[10 * i + 9] + 0.1)), 1.5);
  }
  // The learning rate stays linear.
  const Panel lr = read_panel(dir / "curves.svg", "learning rate");
  EXPECT_FALSE(is_log_panel(lr)) << lr.title;

  // The PNG has the same pixels: the train-loss colour at predicted dots (away from the
  // validation steps, whose dots are drawn over them).
  ASSERT_EQ(
      run(musegen::cmd_plot_metrics, {dir.string(), (dir / "curves.png").string(), "--log-y"}), 0);
  std::vector<std::pair<int, int>> at;
  for (std::size_t i : {2u, 14u, 44u})
    at.emplace_back(p.dots[i].first, static_cast<int>(std::lround(predicted_row(p, loss[i]))));
  const Decoded d = decode_png(dir / "curves.png", at);
  ASSERT_EQ(d.points.size(), at.size());
  for (std::size_t i = 0; i < at.size(); ++i)
    EXPECT_EQ(to_string(d.points[i]), to_string(musegen::plot::track_color(0)))
        << at[i].first << "," << at[i].second;
  fs::remove_all(dir);
}

TEST(PlotMetrics, LinearOrLogCanBeChosen) {
  REQUIRE_PIL();
  const fs::path dir = musegen::test::fresh_temp_dir("plot_scale");
  const std::vector<double> loss = roll_loss();
  write_text(dir / "metrics.csv", roll_csv(loss));
  ASSERT_EQ(
      run(musegen::cmd_plot_metrics, {dir.string(), (dir / "linear.svg").string(), "--linear-y"}),
      0);
  const Panel p = read_panel(dir / "linear.svg", "train loss");
  EXPECT_FALSE(is_log_panel(p)) << p.title;
  ASSERT_GE(p.values.size(), 2u);
  for (std::size_t i = 0; i < loss.size(); ++i)
    EXPECT_NEAR(p.dots[i].second, predicted_row(p, loss[i]), 1.5);

  // A gentle loss (5 down to 1.3) is linear by default; --log-y puts it on a log axis with
  // ticks at 1, 2 and 5 (a single decade inside the range).
  std::vector<double> gentle;
  for (int step = 10; step <= 500; step += 10)
    gentle.push_back(4.0 * std::exp(-step / 200.0) + 1.0);
  std::string csv = kHeader;
  for (std::size_t i = 0; i < gentle.size(); ++i)
    csv +=
        std::to_string(10 * (i + 1)) + ",0,0.001," + std::to_string(gentle[i]) + ",,,1000,1.5,12\n";
  write_text(dir / "metrics.csv", csv);
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "auto.svg").string()}), 0);
  EXPECT_FALSE(is_log_panel(read_panel(dir / "auto.svg", "train loss")));
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "log.svg").string(), "--log-y"}),
            0);
  const Panel g = read_panel(dir / "log.svg", "train loss");
  EXPECT_TRUE(is_log_panel(g)) << g.title;
  ASSERT_GE(g.values.size(), 2u);
  for (double v : g.values) {
    const double mantissa = v / std::pow(10.0, std::floor(std::log10(v) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 ||
                std::abs(mantissa - 5) < 1e-9)
        << v;
  }
  for (std::size_t i = 0; i < gentle.size(); ++i)
    EXPECT_NEAR(g.dots[i].second, predicted_row(g, gentle[i]), 1.5);

  // Values <= 0 cannot be on a log axis: they are left out, the rest is drawn.
  write_text(dir / "metrics.csv", std::string(kHeader) +
                                      "1,0,0.001,2.0,,,1,1,1\n2,0,0.001,0,,,1,1,1\n" +
                                      "3,0,0.001,-1,,,1,1,1\n4,0,0.001,0.5,,,1,1,1\n");
  ASSERT_EQ(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "zero.svg").string(), "--log-y"}),
            0);
  EXPECT_EQ(read_panel(dir / "zero.svg", "train loss").dots.size(), 2u);
  EXPECT_THROW(run(musegen::cmd_plot_metrics,
                   {dir.string(), (dir / "x.svg").string(), "--log-y", "--linear-y"}),
               musegen::cli::UsageError);
  fs::remove_all(dir);
}

TEST(PlotMetrics, ARunWithoutPerplexityHasNoEmptyPanelForIt) {
  // A roll run's metrics.csv has no perplexity column values: two panels, loss and lr.
  std::vector<musegen::plot::MetricsRow> rows(3);
  for (int i = 0; i < 3; ++i) {
    rows[static_cast<std::size_t>(i)].step = 10 * (i + 1);
    rows[static_cast<std::size_t>(i)].train_loss = 30.0 - i;
    rows[static_cast<std::size_t>(i)].lr = 1e-3;
  }
  auto titles = [](const musegen::plot::Figure& f) {
    std::vector<std::string> t;
    for (const auto& s : f.shapes)
      if (s.role == "panel-title") t.push_back(s.text);
    return t;
  };
  EXPECT_EQ(titles(musegen::plot::metrics_figure(rows, {})),
            (std::vector<std::string>{"loss (nats per prediction)", "learning rate"}));
  rows[2].valid_perplexity = 12.0;
  EXPECT_EQ(titles(musegen::plot::metrics_figure(rows, {})).size(), 3u);
}

TEST(PlotMetrics, AutomaticScaleIsLogBeyondARatioOfTwenty) {
  using musegen::plot::use_log_scale;
  using musegen::plot::YScale;
  const double nan = std::nan("");
  EXPECT_TRUE(use_log_scale(YScale::automatic, std::vector<double>{60, 2.9, nan}));  // 20.7
  EXPECT_FALSE(use_log_scale(YScale::automatic, std::vector<double>{60, 3.1}));      // 19.4
  EXPECT_FALSE(use_log_scale(YScale::automatic, std::vector<double>{60, 0.01, 0}));  // a zero
  EXPECT_FALSE(use_log_scale(YScale::automatic, std::vector<double>{}));
  EXPECT_TRUE(use_log_scale(YScale::log, std::vector<double>{2, 3}));
  EXPECT_FALSE(use_log_scale(YScale::linear, std::vector<double>{60, 0.1}));
}

TEST(PlotMetrics, LogTicksAreDecadesWhenTheRangeHoldsTwo) {
  // Brute force against the decades counted here: inside the range, increasing, decades
  // (evenly strided, at most `count`) when two or more are inside, else m × 10^k, m in 1..9
  // (or, for a range too narrow for those, round linear ticks).
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const double low = std::pow(10.0, (static_cast<double>(rng() % 12000) - 6000) / 1000.0);
    const double high = low * std::pow(10.0, (1 + rng() % 30000) / 1000.0);
    const int count = 2 + static_cast<int>(rng() % 7);
    const std::vector<double> t = musegen::plot::log_ticks(low, high, count);
    ASSERT_FALSE(t.empty());
    std::vector<int> decades;
    for (int k = -10; k <= 40; ++k)
      if (std::pow(10.0, k) >= low * (1 - 1e-9) && std::pow(10.0, k) <= high * (1 + 1e-9))
        decades.push_back(k);
    for (std::size_t i = 0; i < t.size(); ++i) {
      EXPECT_GE(t[i], low * (1 - 1e-9));
      EXPECT_LE(t[i], high * (1 + 1e-9));
      if (i > 0) {
        EXPECT_GT(t[i], t[i - 1]);
      }
    }
    if (decades.size() >= 2) {
      ASSERT_GE(t.size(), 2u) << low << ".." << high;
      EXPECT_LE(static_cast<int>(t.size()), count) << low << ".." << high;
      for (std::size_t i = 0; i < t.size(); ++i) {
        const double k = std::log10(t[i]);
        EXPECT_NEAR(k, std::round(k), 1e-9) << t[i];
        if (i > 1) {
          EXPECT_NEAR(k - std::log10(t[i - 1]), std::log10(t[1]) - std::log10(t[0]), 1e-9);
        }
      }
      continue;
    }
    // The values m × 10^k inside the range, for m in {1, 2, 5} and for m in 1..9.
    std::vector<double> one_two_five, digits;
    for (int k = -10; k <= 40; ++k)
      for (int m = 1; m <= 9; ++m) {
        const double v = m * std::pow(10.0, k);
        if (v < low * (1 - 1e-9) || v > high * (1 + 1e-9)) continue;
        digits.push_back(v);
        if (m == 1 || m == 2 || m == 5) one_two_five.push_back(v);
      }
    const auto fits = [&](const std::vector<double>& v) {
      return v.size() >= 2 && static_cast<int>(v.size()) <= count;
    };
    const std::vector<double>& expected = fits(one_two_five) ? one_two_five : digits;
    if (fits(one_two_five) || fits(digits)) {
      ASSERT_EQ(t.size(), expected.size()) << low << ".." << high;
      for (std::size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i] / expected[i], 1.0, 1e-12);
    }  // else round linear ticks, checked above for range and order
  }
}

// The message of the error read_metrics_csv throws for `text`.
std::string csv_error(const fs::path& path, const std::string& text) {
  write_text(path, text);
  try {
    musegen::plot::read_metrics_csv(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PlotMetrics, MalformedCsvNamesFileAndLine) {
  const fs::path dir = musegen::test::fresh_temp_dir("plot_csv");
  const fs::path p = dir / "metrics.csv";
  const std::string name = p.string();
  EXPECT_NE(csv_error(p, "").find(name + ": empty"), std::string::npos) << csv_error(p, "");
  EXPECT_NE(csv_error(p, "step,lr\n1,2\n").find(name + ":1: expected a header with the column train_loss"),
            std::string::npos);
  EXPECT_NE(csv_error(p, kHeader).find(name + ": no rows"), std::string::npos);
  const std::string short_row = std::string(kHeader) + "1,0,0.001,2.5,,,10,1,1\n\n2,0,0.001\n";
  EXPECT_NE(csv_error(p, short_row).find(name + ":4: expected 9 cells (as the header), found 3"), std::string::npos)
      << csv_error(p, short_row);
  const std::string bad_number = std::string(kHeader) + "1,0,abc,2.5,,,10,1,1\n";
  EXPECT_NE(csv_error(p, bad_number).find(name + ":2: column lr: expected a number, found \"abc\""), std::string::npos)
      << csv_error(p, bad_number);
  const std::string bad_step = std::string(kHeader) + "1.5,0,0.1,2.5,,,10,1,1\n";
  EXPECT_NE(csv_error(p, bad_step).find(name + ":2: column step"), std::string::npos);

  // Good rows: empty cells have no value, CRLF line ends are fine.
  write_text(p, std::string("step,epoch,lr,train_loss,valid_loss,valid_perplexity\r\n") + "5,0,0.01,3.5,,\r\n" +
                    "10,0,0.01,3.0,3.2,24.5\r\n");
  const auto rows = musegen::plot::read_metrics_csv(p);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].step, 5);
  EXPECT_FALSE(rows[0].valid_loss.has_value());
  EXPECT_EQ(rows[1].valid_perplexity, 24.5);
  EXPECT_EQ(rows[1].train_loss, 3.0) << "without a grad_norm column every train_loss is an interval's";

  // What train() writes: interval rows have a gradient norm, the epoch's row does not and
  // carries the epoch's mean training loss.
  write_text(p, std::string(kHeader) + "4,0,0.01,3.5,,,100,0.8,1\n" + "8,1,0.01,3.9,3.2,24.5,100,,2\n");
  const auto train_rows = musegen::plot::read_metrics_csv(p);
  ASSERT_EQ(train_rows.size(), 2u);
  EXPECT_EQ(train_rows[0].train_loss, 3.5);
  EXPECT_FALSE(train_rows[0].epoch_train_loss.has_value());
  EXPECT_FALSE(train_rows[1].train_loss.has_value());
  EXPECT_EQ(train_rows[1].epoch_train_loss, 3.9);

  EXPECT_THROW(run(musegen::cmd_plot_metrics, {(dir / "nowhere").string(), (dir / "x.png").string()}),
               std::runtime_error);
  EXPECT_THROW(run(musegen::cmd_plot_metrics, {dir.string(), (dir / "x.gif").string()}), musegen::cli::UsageError);
  fs::remove_all(dir);
}

TEST(PlotMetrics, NiceTicksAreRoundAndCoverTheRange) {
  // Brute force: every tick is a multiple of the spacing, the spacing is 1, 2 or 5 × 10^k,
  // and no multiple of it inside the range is left out.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    const double scale = std::pow(10.0, static_cast<int>(rng() % 12) - 6);
    const double low = (static_cast<double>(rng() % 2000) - 1000) * scale;
    const double high = low + (1 + rng() % 1000) * scale;
    const std::vector<double> t = musegen::plot::nice_ticks(low, high, 5);
    ASSERT_GE(t.size(), 2u) << low << ".." << high;
    const double step = t[1] - t[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 || std::abs(mantissa - 5) < 1e-6)
        << step;
    EXPECT_GE(t.front(), low - step * 1e-6);
    EXPECT_LE(t.back(), high + step * 1e-6);
    EXPECT_LT(t.front() - step, low + step * 1e-6);  // none missing below
    EXPECT_GT(t.back() + step, high - step * 1e-6);  // none missing above
    EXPECT_LE(t.size(), 12u);
  }
}

}  // namespace
