// Figures, their PNG and SVG renderings, the piano roll and the training-metrics plot.
#include "plot.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "libmidi/io.hpp"
#include "libmidi/tempo_map.hpp"
#include "metrics_csv.hpp"
#include "png.hpp"

namespace musegen::plot {

namespace {

constexpr Rgb kInk{40, 40, 40};          // text
constexpr Rgb kFrame{90, 90, 90};        // axes and frames
constexpr Rgb kGrid{215, 215, 220};      // octave and tick grid lines
constexpr Rgb kBarLine{175, 175, 190};   // bar lines of the piano roll

// A rectangle's pixel edges: rounded, and at least one pixel wide and high, so that a very
// short note still shows. The PNG and the SVG use the same edges.
struct PixelRect {
  long x0, y0, x1, y1;
};
PixelRect pixel_rect(const Shape& s) {
  PixelRect r{std::lround(std::min(s.x0, s.x1)), std::lround(std::min(s.y0, s.y1)),
              std::lround(std::max(s.x0, s.x1)), std::lround(std::max(s.y0, s.y1))};
  r.x1 = std::max(r.x1, r.x0 + 1);
  r.y1 = std::max(r.y1, r.y0 + 1);
  return r;
}

int to_pixel(double v) {
  const double clamped = std::clamp(v, -1e6, 1e6);  // far outside any canvas, never overflows
  return static_cast<int>(std::lround(clamped));
}

std::string hex(Rgb c) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", c.r, c.g, c.b);
  return buffer;
}

// Text for an XML attribute or element: markup escaped, anything but printable ASCII
// replaced by '?' (MIDI track names are often Latin-1, which would not be valid UTF-8).
std::string xml_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += (u < 0x20 || u >= 0x7F) ? '?' : c;
    }
  }
  return out;
}

std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string format_number(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

// A tick label: as many decimals as the tick spacing needs.
std::string tick_label(double value, double step) {
  if (std::abs(value) < step * 1e-9) value = 0;  // no "-0"
  if (step >= 1 && std::abs(value) < 1e7) return format_number(value, 0);
  if (step >= 1e-5 && step < 1) return format_number(value, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2g", value);
  return buffer;
}

// A tick label of a log axis: plain from 0.001 to 9999, else mantissa and exponent (2e-5, 1e6).
std::string log_tick_label(double value) {
  char buffer[64];
  if (value >= 1e-3 && value < 9999.5) {
    std::snprintf(buffer, sizeof buffer, "%g", value);
  } else {
    const int k = static_cast<int>(std::floor(std::log10(value) + 1e-9));
    std::snprintf(buffer, sizeof buffer, "%ge%d", value / std::pow(10.0, k), k);
  }
  return buffer;
}

}  // namespace

// --- figures ------------------------------------------------------------------------------

void Figure::rect(double x0, double y0, double x1, double y1, Rgb color, std::string role) {
  shapes.push_back({Shape::Kind::rect, x0, y0, x1, y1, color, {}, 1, std::move(role)});
}
void Figure::line(double x0, double y0, double x1, double y1, Rgb color, std::string role) {
  shapes.push_back({Shape::Kind::line, x0, y0, x1, y1, color, {}, 1, std::move(role)});
}
void Figure::text(double x, double y, std::string text, Rgb color, int scale, std::string role) {
  shapes.push_back({Shape::Kind::text, x, y, x, y, color, std::move(text), scale, std::move(role)});
}

raster::Canvas rasterize(const Figure& figure) {
  raster::Canvas canvas(figure.width, figure.height, figure.background);
  for (const Shape& s : figure.shapes) {
    switch (s.kind) {
      case Shape::Kind::rect: {
        const PixelRect r = pixel_rect(s);
        canvas.fill_rect(to_pixel(static_cast<double>(r.x0)), to_pixel(static_cast<double>(r.y0)),
                         to_pixel(static_cast<double>(r.x1)), to_pixel(static_cast<double>(r.y1)), s.color);
        break;
      }
      case Shape::Kind::line:
        canvas.line(to_pixel(s.x0), to_pixel(s.y0), to_pixel(s.x1), to_pixel(s.y1), s.color);
        break;
      case Shape::Kind::text:
        canvas.text(to_pixel(s.x0), to_pixel(s.y0), s.text, s.color, s.scale);
        break;
    }
  }
  return canvas;
}

std::vector<std::uint8_t> render_png(const Figure& figure) {
  const raster::Canvas canvas = rasterize(figure);
  return png::encode_rgb(canvas.width(), canvas.height(), canvas.pixels());
}

std::string render_svg(const Figure& figure) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << figure.width << "\" height=\""
      << figure.height << "\" viewBox=\"0 0 " << figure.width << ' ' << figure.height << "\">\n"
      << "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" << figure.width << "\" height=\""
      << figure.height << "\" fill=\"" << hex(figure.background) << "\"/>\n";
  const auto role = [](const Shape& s) {
    return s.role.empty() ? std::string() : " class=\"" + xml_text(s.role) + "\"";
  };
  for (const Shape& s : figure.shapes) {
    switch (s.kind) {
      case Shape::Kind::rect: {
        const PixelRect r = pixel_rect(s);
        out << "<rect" << role(s) << " x=\"" << r.x0 << "\" y=\"" << r.y0 << "\" width=\"" << r.x1 - r.x0
            << "\" height=\"" << r.y1 - r.y0 << "\" fill=\"" << hex(s.color) << "\"/>\n";
        break;
      }
      case Shape::Kind::line:  // through the pixel centres, as the raster line
        out << "<line" << role(s) << " x1=\"" << to_pixel(s.x0) + 0.5 << "\" y1=\"" << to_pixel(s.y0) + 0.5
            << "\" x2=\"" << to_pixel(s.x1) + 0.5 << "\" y2=\"" << to_pixel(s.y1) + 0.5 << "\" stroke=\""
            << hex(s.color) << "\" stroke-width=\"1\" shape-rendering=\"crispEdges\"/>\n";
        break;
      case Shape::Kind::text:  // SVG places text by its baseline: the bottom of the 7-pixel glyphs
        out << "<text" << role(s) << " x=\"" << to_pixel(s.x0) << "\" y=\""
            << to_pixel(s.y0) + raster::kGlyphHeight * s.scale << "\" font-family=\"monospace\" font-size=\""
            << 9 * s.scale << "\" fill=\"" << hex(s.color) << "\">" << xml_text(s.text) << "</text>\n";
        break;
    }
  }
  out << "</svg>\n";
  return out.str();
}

bool is_figure_path(const std::filesystem::path& path) {
  const std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".svg";
}

void write_figure(const Figure& figure, const std::filesystem::path& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".png") {
    const std::vector<std::uint8_t> bytes = render_png(figure);
    midi::write_file_atomically(path, bytes);
  } else if (ext == ".svg") {
    const std::string text = render_svg(figure);
    midi::write_file_atomically(
        path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  } else {
    throw std::invalid_argument(path.string() + ": expected a .png or .svg file name, found the extension \"" +
                                path.extension().string() + "\"");
  }
}

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!std::isfinite(low) || !std::isfinite(high) || high <= low) return {low};
  const double raw = (high - low) / std::max(count, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  std::vector<double> ticks;
  const double first = std::ceil(low / step - 1e-9);
  for (int i = 0;; ++i) {
    const double v = (first + i) * step;
    if (v > high + step * 1e-9 || i > 1000) break;
    ticks.push_back(v);
  }
  return ticks;
}

std::vector<double> log_ticks(double low, double high, int count) {
  if (!(low > 0) || !std::isfinite(high) || high <= low) return {low};
  count = std::max(count, 2);
  const double lo = std::log10(low), hi = std::log10(high);
  // Decades: every stride-th, at multiples of the stride (1e0, 1e5, 1e10, ...).
  const int k_low = static_cast<int>(std::ceil(lo - 1e-9)),
            k_high = static_cast<int>(std::floor(hi + 1e-9));
  if (k_high - k_low + 1 >= 2) {
    std::vector<double> ticks;
    for (int stride : {1, 2, 3, 5, 10, 20, 25, 50, 100, 200, 500, 1000}) {
      ticks.clear();
      const int first = static_cast<int>(std::ceil(static_cast<double>(k_low) / stride)) * stride;
      for (int k = first; k <= k_high; k += stride) ticks.push_back(std::pow(10.0, k));
      if (static_cast<int>(ticks.size()) <= count) break;
    }
    if (ticks.size() < 2) ticks = {std::pow(10.0, k_low), std::pow(10.0, k_high)};
    return ticks;
  }
  // Less than two decades inside: 1, 2, 5 × 10^k, then every digit × 10^k.
  const auto with_mantissas = [&](std::initializer_list<int> mantissas) {
    std::vector<double> ticks;
    for (int k = static_cast<int>(std::floor(lo)) - 1; k <= static_cast<int>(std::ceil(hi)); ++k)
      for (int m : mantissas) {
        const double v = m * std::pow(10.0, k);
        if (v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9)) ticks.push_back(v);
      }
    return ticks;
  };
  for (const std::vector<double>& ticks :
       {with_mantissas({1, 2, 5}), with_mantissas({1, 2, 3, 4, 5, 6, 7, 8, 9})})
    if (ticks.size() >= 2 && static_cast<int>(ticks.size()) <= count) return ticks;
  return nice_ticks(low, high, count);
}

// --- piano roll ---------------------------------------------------------------------------

namespace {

constexpr double kRollLeft = 44, kRollRight = 16, kRollTop = 40, kRollBottom = 36;

// The times of the bar lines up to `seconds_end`: bars start at tick 0 and at every time
// signature change, and last numerator × (4 / denominator) quarters. Empty for SMPTE files,
// whose ticks count frames, not beats.
std::vector<double> bar_seconds(const midi::MidiFile& file, const PianoRollOptions& options,
                                double seconds_end, std::size_t max_bars) {
  if (file.division.smpte || file.division.ticks_per_quarter == 0) return {};
  struct Change {
    std::uint64_t tick;
    int numerator, denominator;
  };
  std::vector<Change> changes;
  for (std::size_t t = 0; t < file.tracks.size(); ++t) {
    if (file.format == 2 && t > 0) break;  // format 2: track 0 is the first sequence
    const midi::Track& track = file.tracks[t];
    for (const midi::Event& e : track.events)
      if (const auto ts = midi::time_signature_of(track, e); ts && ts->numerator > 0)
        changes.push_back({e.tick, ts->numerator, ts->denominator});
  }
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.tick < b.tick; });

  const midi::TempoMap tempo(file);
  const double ppq = file.division.ticks_per_quarter;
  int numerator = options.default_numerator, denominator = options.default_denominator;
  std::size_t next = 0;
  double tick = 0;
  std::vector<double> bars;
  while (bars.size() < max_bars) {
    // Every change at or before this bar start takes effect (the last one at a tick wins).
    while (next < changes.size() && static_cast<double>(changes[next].tick) <= tick) {
      numerator = changes[next].numerator;
      denominator = changes[next].denominator;
      ++next;
    }
    const double seconds = tempo.seconds(static_cast<std::uint64_t>(std::llround(tick)));
    if (seconds > seconds_end) break;
    bars.push_back(seconds);
    double bar_end = tick + ppq * 4.0 * numerator / denominator;
    // A change in the middle of a bar starts a new bar there.
    if (next < changes.size() && static_cast<double>(changes[next].tick) < bar_end)
      bar_end = static_cast<double>(changes[next].tick);
    tick = bar_end;
  }
  return bars;
}

std::string note_name_c(int pitch) { return "C" + std::to_string(pitch / 12 - 1); }

bool is_black_key(int pitch) {
  const int pc = pitch % 12;
  return pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10;
}

}  // namespace

RollLayout roll_layout(std::span<const midi::Note> notes, int width, int height) {
  RollLayout layout;
  layout.left = kRollLeft;
  layout.top = kRollTop;
  layout.right = std::max(width - kRollRight, kRollLeft + 1);
  layout.bottom = std::max(height - kRollBottom, kRollTop + 1);
  double end = 0;
  int low = 128, high = -1;
  for (const midi::Note& n : notes) {
    end = std::max(end, n.end_seconds);
    low = std::min<int>(low, n.pitch);
    high = std::max<int>(high, n.pitch);
  }
  layout.seconds_end = end > 0 ? end : 1;
  if (high < 0) {
    low = 48 + 2;  // no notes: C3..C5
    high = 72 - 2;
  }
  low = std::max(0, low - 2);
  high = std::min(127, high + 2);
  while (high - low + 1 < 12) {
    if (low > 0) --low;
    if (high - low + 1 < 12 && high < 127) ++high;
  }
  layout.pitch_low = low;
  layout.pitch_high = high;
  return layout;
}

Rgb track_color(std::size_t k) {
  // Matplotlib's "tab10": distinct colours that stay apart when faded.
  constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                              {188, 189, 34},  {23, 190, 207}};
  return kPalette[k % std::size(kPalette)];
}

Rgb velocity_shade(Rgb color, int velocity) {
  // Velocity 1 keeps 30% of the colour, 127 all of it; the rest is white.
  const double keep = 0.3 + 0.7 * std::clamp(velocity, 0, 127) / 127.0;
  const auto mix = [keep](std::uint8_t c) {
    return static_cast<std::uint8_t>(std::lround(c * keep + 255.0 * (1 - keep)));
  };
  return {mix(color.r), mix(color.g), mix(color.b)};
}

Figure piano_roll(const midi::MidiFile& file, const PianoRollOptions& options) {
  if (options.width < 100 || options.height < 100)
    throw std::invalid_argument("piano roll: expected a picture of at least 100x100 pixels, found " +
                                std::to_string(options.width) + "x" + std::to_string(options.height));
  if (options.default_numerator < 1 || options.default_denominator < 1)
    throw std::invalid_argument("piano roll: expected a positive default time signature, found " +
                                std::to_string(options.default_numerator) + "/" +
                                std::to_string(options.default_denominator));
  const midi::Performance performance = midi::extract_notes(file);
  const RollLayout L = roll_layout(performance.notes, options.width, options.height);

  Figure figure;
  figure.width = options.width;
  figure.height = options.height;
  figure.background = kBackground;

  // Pitch rows: black keys tinted, a line under every C, the C labelled with its octave.
  const double row = L.row_height();
  for (int p = L.pitch_low; p <= L.pitch_high; ++p) {
    if (is_black_key(p)) figure.rect(L.left, L.row_top(p), L.right, L.row_top(p) + row, kBlackKeyRow, "key");
  }
  for (int p = L.pitch_low; p <= L.pitch_high; ++p) {
    if (p % 12 != 0) continue;
    const double y = L.row_top(p) + row;
    figure.line(L.left, y, L.right - 1, y, kGrid, "octave");
    const std::string label = note_name_c(p);
    figure.text(L.left - 4 - raster::text_width(label), L.y_center(p) - 3.5, label, kInk, 1, "octave-label");
  }

  // Bar lines (at most one per 4 pixels: every 2nd, 4th, ... bar when they crowd).
  const double plot_width = L.right - L.left;
  const std::vector<double> bars = bar_seconds(file, options, L.seconds_end, 200000);
  std::size_t stride = 1;
  while (bars.size() / stride > static_cast<std::size_t>(plot_width / 4)) stride *= 2;
  for (std::size_t b = 0; b < bars.size(); b += stride) {
    const double x = L.x_of(bars[b]);
    figure.line(x, L.top, x, L.bottom - 1, kBarLine, "bar");
  }

  // The notes, one colour per track that has notes, shaded by velocity.
  std::map<std::uint16_t, std::size_t> color_of_track;
  for (const midi::Note& n : performance.notes) color_of_track.emplace(n.track, 0);
  {
    std::size_t k = 0;
    for (auto& [track, index] : color_of_track) index = k++;
  }
  for (const midi::Note& n : performance.notes) {
    const double y = L.row_top(n.pitch);
    figure.rect(L.x_of(n.start_seconds), y, L.x_of(n.end_seconds), y + row,
                velocity_shade(track_color(color_of_track[n.track]), n.velocity), "note");
  }

  // Frame, time axis in seconds.
  figure.line(L.left - 1, L.top - 1, L.right, L.top - 1, kFrame, "axis");
  figure.line(L.left - 1, L.bottom, L.right, L.bottom, kFrame, "axis");
  figure.line(L.left - 1, L.top - 1, L.left - 1, L.bottom, kFrame, "axis");
  figure.line(L.right, L.top - 1, L.right, L.bottom, kFrame, "axis");
  const std::vector<double> ticks = nice_ticks(0, L.seconds_end, std::max(2, static_cast<int>(plot_width / 90)));
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (double t : ticks) {
    const double x = L.x_of(t);
    figure.line(x, L.bottom + 1, x, L.bottom + 4, kFrame, "tick");
    const std::string label = tick_label(t, step);
    figure.text(x - raster::text_width(label) / 2.0, L.bottom + 7, label, kInk, 1, "tick-label");
  }
  const std::string axis = "time (s)";
  figure.text((L.left + L.right - raster::text_width(axis)) / 2, L.bottom + 20, axis, kInk, 1, "axis-label");

  // Title and legend on the top line.
  if (!options.title.empty()) figure.text(L.left, 12, options.title, kInk, 2, "title");
  double x = L.right;
  for (auto it = color_of_track.rbegin(); it != color_of_track.rend(); ++it) {
    std::string name = "track " + std::to_string(it->first);
    if (it->first < file.tracks.size()) {
      const midi::Track& track = file.tracks[it->first];
      for (const midi::Event& e : track.events)
        if (e.is_meta(midi::meta::kTrackName) && !track.text(e).empty()) {
          name = std::string(track.text(e).substr(0, 24));
          break;
        }
    }
    x -= raster::text_width(name);
    if (x - 14 < L.left + raster::text_width(options.title, 2) + 12) break;  // no room left
    figure.text(x, 16, name, kInk, 1, "legend");
    figure.rect(x - 14, 16, x - 4, 23, track_color(it->second), "legend-swatch");
    x -= 28;
  }
  return figure;
}

// --- training metrics ---------------------------------------------------------------------

std::vector<MetricsRow> read_metrics_csv(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error(name + ": is a folder, expected a metrics.csv file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(name + ": cannot open (missing or unreadable)");

  std::string line;
  if (!std::getline(in, line))
    throw std::runtime_error(name + ": empty; expected a header line such as step,epoch,lr,train_loss,...");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = split_csv_line(line);
  const auto column = [&](const std::string& wanted) {
    const auto it = std::find(header.begin(), header.end(), wanted);
    if (it == header.end())
      throw std::runtime_error(name + ":1: expected a header with the column " + wanted +
                               " (step,epoch,lr,train_loss,valid_loss,valid_perplexity,...), found \"" + line + "\"");
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t c_step = column("step"), c_lr = column("lr"), c_train = column("train_loss"),
                    c_valid = column("valid_loss"), c_perplexity = column("valid_perplexity");
  const auto kind_it = std::find(header.begin(), header.end(), kMetricsKindColumn);
  const bool has_kind = kind_it != header.end();
  const auto c_kind = static_cast<std::size_t>(kind_it - header.begin());
  const auto grad_it = std::find(header.begin(), header.end(), "grad_norm");
  const bool has_grad_norm = grad_it != header.end();
  const auto c_grad = static_cast<std::size_t>(grad_it - header.begin());

  std::vector<MetricsRow> rows;
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = name + ":" + std::to_string(number) + ": ";
    const std::vector<std::string> cells = split_csv_line(line);
    if (cells.size() != header.size())
      throw std::runtime_error(where + "expected " + std::to_string(header.size()) + " cells (as the header), found " +
                               std::to_string(cells.size()));
    const auto number_in = [&](std::size_t c) -> std::optional<double> {
      const std::string& cell = cells[c];
      if (cell.empty()) return std::nullopt;
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (end != cell.c_str() + cell.size() || std::isspace(static_cast<unsigned char>(cell[0])))
        throw std::runtime_error(where + "column " + header[c] + ": expected a number, found \"" + cell + "\"");
      return v;
    };
    MetricsRow r;
    const std::string& step = cells[c_step];
    char* end = nullptr;
    const long long s = step.empty() ? 0 : std::strtoll(step.c_str(), &end, 10);
    if (step.empty() || end != step.c_str() + step.size() || s < 0)
      throw std::runtime_error(where + "column step: expected a step number (an integer >= 0), found \"" + step + "\"");
    r.step = s;
    r.lr = number_in(c_lr);
    r.train_loss = number_in(c_train);
    r.valid_loss = number_in(c_valid);
    r.valid_perplexity = number_in(c_perplexity);
    bool epoch_row = false;
    if (has_kind) {
      const std::string& kind = cells[c_kind];
      epoch_row = kind == metrics_kind_name(MetricsRowKind::epoch);
      if (!epoch_row && kind != metrics_kind_name(MetricsRowKind::interval))
        throw std::runtime_error(where + "column kind: expected interval or epoch, found \"" + kind + "\"");
    } else {
      epoch_row = has_grad_norm && !number_in(c_grad);  // files from before the kind column
    }
    if (epoch_row) std::swap(r.train_loss, r.epoch_train_loss);
    rows.push_back(r);
  }
  if (rows.empty())
    throw std::runtime_error(name + ": no rows after the header (has the run logged a step yet?)");
  return rows;
}

namespace {

struct Series {
  std::string name;
  Rgb color;
  std::optional<double> MetricsRow::*field;
};

// The curves: a line through the shown values of each series, broken where a value is not
// shown, and a 3x3 dot at every value when there are at most 100.
template <typename XOf, typename YOf, typename Shown>
void draw_series(Figure& f, std::span<const MetricsRow> rows, const std::vector<Series>& series,
                 const XOf& x_of, const YOf& y_of, const Shown& shown) {
  for (const Series& s : series) {
    std::optional<std::pair<double, double>> previous;
    std::size_t points = 0;
    for (const MetricsRow& r : rows) points += (r.*(s.field)).has_value();
    for (const MetricsRow& r : rows) {
      const auto v = r.*(s.field);
      if (!v || !std::isfinite(*v)) continue;
      if (!shown(*v)) {
        previous.reset();
        continue;
      }
      const double x = x_of(static_cast<double>(r.step)), y = y_of(*v);
      if (previous) f.line(previous->first, previous->second, x, y, s.color, s.name);
      if (points <= 100)
        f.rect(x - 1, y - 1, x + 2, y + 2, s.color, s.name);  // sparse points stay visible
      previous = {x, y};
    }
  }
}

// The finite values of the series, in row order.
std::vector<double> values_of(std::span<const MetricsRow> rows, const std::vector<Series>& series) {
  std::vector<double> values;
  for (const Series& s : series)
    for (const MetricsRow& r : rows)
      if (const auto v = r.*(s.field); v && std::isfinite(*v)) values.push_back(*v);
  return values;
}

// One panel: frame, y ticks with grid lines, x ticks (step), title, the series and, for
// more than one series, a legend. On a log axis the values <= 0 are left out (a curve
// breaks there) and the title says "log scale".
void draw_panel(Figure& f, std::span<const MetricsRow> rows, const std::vector<Series>& series,
                std::string title, double left, double top, double right, double bottom,
                double step_low, double step_high, bool log_y) {
  const auto shown = [log_y](double v) { return std::isfinite(v) && (!log_y || v > 0); };
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const double v : values_of(rows, series))
    if (shown(v)) {
      low = std::min(low, v);
      high = std::max(high, v);
    }
  if (log_y) title += ", log scale";
  f.text(left, top - 11, title, kInk, 1, "panel-title");  // above the frame, in the gap
  const auto x_of = [&](double step) { return left + (step - step_low) / (step_high - step_low) * (right - left); };

  // x ticks under the panel.
  const std::vector<double> xt = nice_ticks(step_low, step_high, std::max(2, static_cast<int>((right - left) / 90)));
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double t : xt) {
    const double x = x_of(t);
    f.line(x, bottom + 1, x, bottom + 4, kFrame, "tick");
    const std::string label = tick_label(t, std::max(xstep, 1.0));
    f.text(x - raster::text_width(label) / 2.0, bottom + 7, label, kInk, 1, "tick-label");
  }

  if (low > high) {
    f.text(left + 6, (top + bottom) / 2 - 3, log_y ? "no values > 0" : "no values", kInk, 1,
           "panel-note");
  } else if (log_y) {
    // Heights are linear in log10(value), with 5% of the range spare (0.1 decade for a flat
    // curve).
    double lo = std::log10(low), hi = std::log10(high);
    const double pad = std::max((hi - lo) * 0.05, hi - lo < 1e-9 ? 0.1 : 0.0);
    lo -= pad;
    hi += pad;
    const auto y_of = [&](double v) {
      return bottom - (std::log10(v) - lo) / (hi - lo) * (bottom - top);
    };
    const int count = std::max(2, static_cast<int>((bottom - top) / 40));
    for (double t : log_ticks(std::pow(10.0, lo), std::pow(10.0, hi), count)) {
      const double y = y_of(t);
      f.line(left, y, right - 1, y, kGrid, "grid");
      f.line(left - 4, y, left - 1, y, kFrame, "tick");
      const std::string label = log_tick_label(t);
      f.text(left - 6 - raster::text_width(label), y - 3, label, kInk, 1, "tick-label");
    }
    draw_series(f, rows, series, x_of, y_of, shown);
  } else {
    if (high - low < 1e-12 * std::max(1.0, std::abs(high))) {
      const double pad = std::abs(high) > 0 ? std::abs(high) * 0.1 : 1;
      low -= pad;
      high += pad;
    } else {
      const double pad = (high - low) * 0.05;
      low -= pad;
      high += pad;
    }
    const auto y_of = [&](double v) { return bottom - (v - low) / (high - low) * (bottom - top); };
    const std::vector<double> yt = nice_ticks(low, high, std::max(2, static_cast<int>((bottom - top) / 40)));
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : std::abs(high - low);
    for (double t : yt) {
      const double y = y_of(t);
      f.line(left, y, right - 1, y, kGrid, "grid");
      f.line(left - 4, y, left - 1, y, kFrame, "tick");
      const std::string label = tick_label(t, ystep);
      f.text(left - 6 - raster::text_width(label), y - 3, label, kInk, 1, "tick-label");
    }
    draw_series(f, rows, series, x_of, y_of, shown);
  }

  // Legend above the frame's right end (a single series is named by the panel's title), and
  // the frame on top of the curves.
  double x = right;
  for (auto it = series.rbegin(); series.size() > 1 && it != series.rend(); ++it) {
    x -= raster::text_width(it->name);
    f.text(x, top - 11, it->name, kInk, 1, "legend");
    f.rect(x - 14, top - 11, x - 4, top - 4, it->color, "legend-swatch");
    x -= 28;
  }
  f.line(left - 1, top - 1, right, top - 1, kFrame, "axis");
  f.line(left - 1, bottom, right, bottom, kFrame, "axis");
  f.line(left - 1, top - 1, left - 1, bottom, kFrame, "axis");
  f.line(right, top - 1, right, bottom, kFrame, "axis");
}

}  // namespace

bool use_log_scale(YScale scale, std::span<const double> values) {
  if (scale != YScale::automatic) return scale == YScale::log;
  double low = std::numeric_limits<double>::infinity(), high = 0;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    if (v <= 0) return false;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  return high > kAutoLogRatio * low;
}

Figure metrics_figure(std::span<const MetricsRow> input, const MetricsPlotOptions& options) {
  if (options.width < 200 || options.height < 200)
    throw std::invalid_argument("metrics plot: expected a picture of at least 200x200 pixels, found " +
                                std::to_string(options.width) + "x" + std::to_string(options.height));
  // In step order (a resumed run may repeat steps; the later row is drawn after the earlier).
  std::vector<MetricsRow> rows(input.begin(), input.end());
  std::stable_sort(rows.begin(), rows.end(), [](const MetricsRow& a, const MetricsRow& b) { return a.step < b.step; });

  Figure f;
  f.width = options.width;
  f.height = options.height;
  double step_low = rows.empty() ? 0 : static_cast<double>(rows.front().step);
  double step_high = rows.empty() ? 1 : static_cast<double>(rows.back().step);
  if (step_high <= step_low) step_high = step_low + 1;

  struct Panel {
    std::string title;
    std::vector<Series> series;
    bool may_be_log;
  };
  std::vector<Panel> panels = {
      {"loss (nats per prediction)",
       {{"train loss", track_color(0), &MetricsRow::train_loss},
        {"epoch train loss", track_color(4), &MetricsRow::epoch_train_loss},
        {"valid loss", track_color(1), &MetricsRow::valid_loss}},
       true},
      {"validation perplexity", {{"valid perplexity", track_color(2), &MetricsRow::valid_perplexity}}, true},
      {"learning rate", {{"learning rate", track_color(3), &MetricsRow::lr}}, false},
  };
  // Roll runs have no perplexity (their loss sums 88 keys): no empty panel for it. A run with
  // no rows at all keeps the three panels, each saying "no values".
  if (!rows.empty() && values_of(rows, panels[1].series).empty()) panels.erase(panels.begin() + 1);
  // Nor legend entries for series without values (an older metrics.csv has no epoch rows).
  for (Panel& p : panels) {
    std::vector<Series> shown;
    for (const Series& one : p.series)
      if (!values_of(rows, {one}).empty()) shown.push_back(one);
    if (!shown.empty()) p.series = shown;
  }

  const double left = 78, right = options.width - 20.0, top = 44, bottom = options.height - 36.0, gap = 36;
  const auto n = static_cast<double>(panels.size());
  const double panel = (bottom - top - (n - 1) * gap) / n;
  if (!options.title.empty()) f.text(left, 12, options.title, kInk, 2, "title");
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const double t = top + static_cast<double>(i) * (panel + gap);
    const bool log_y = panels[i].may_be_log && use_log_scale(options.y_scale, values_of(rows, panels[i].series));
    draw_panel(f, rows, panels[i].series, panels[i].title, left, t, right, t + panel, step_low,
               step_high, log_y);
  }
  const std::string axis = "step";
  f.text((left + right - raster::text_width(axis)) / 2, bottom + 20, axis, kInk, 1, "axis-label");
  return f;
}

}  // namespace musegen::plot
