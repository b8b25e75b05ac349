// Pictures of music and of training: a piano roll of a MIDI file, and the curves of a
// training run's metrics.csv.
//
// A plot is first built as a Figure, a list of rectangles, lines and texts in pixel
// coordinates, and then rendered either to PNG (through raster::Canvas and png::encode_rgb)
// or to SVG (one element per shape, so a note is one <rect class="note">). Both renderings
// place every shape at the same pixels.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libmidi/midi_file.hpp"
#include "libmidi/notes.hpp"
#include "raster.hpp"

namespace musegen::plot {

using raster::Rgb;

// --- figures ------------------------------------------------------------------------------

struct Shape {
  enum class Kind { rect, line, text };
  Kind kind = Kind::rect;
  // rect: the pixels [x0, x1) × [y0, y1), rounded to the nearest pixel edge (at least one
  // pixel wide and high); line: from pixel (round(x0), round(y0)) to pixel (round(x1),
  // round(y1)), both included; text: top-left corner (x0, y0), rounded.
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  Rgb color;
  std::string text;   // text only
  int scale = 1;      // text only: font pixels are scale × scale
  std::string role;   // SVG class: "note", "bar", "axis", ... (empty: none)
};

struct Figure {
  int width = 0, height = 0;
  Rgb background{255, 255, 255};
  std::vector<Shape> shapes;  // drawn in order

  void rect(double x0, double y0, double x1, double y1, Rgb color, std::string role = {});
  void line(double x0, double y0, double x1, double y1, Rgb color, std::string role = {});
  void text(double x, double y, std::string text, Rgb color, int scale = 1, std::string role = {});
};

raster::Canvas rasterize(const Figure& figure);
std::vector<std::uint8_t> render_png(const Figure& figure);
std::string render_svg(const Figure& figure);

// Writes the figure as PNG or SVG, chosen by the extension of `path` (.png or .svg, any
// case), atomically. Throws std::invalid_argument for another extension,
// std::system_error when the file cannot be written.
void write_figure(const Figure& figure, const std::filesystem::path& path);

// Whether `path` ends in .png or .svg (any case).
bool is_figure_path(const std::filesystem::path& path);

// --- piano roll ---------------------------------------------------------------------------

inline constexpr Rgb kBackground{255, 255, 255};  // the rows of the white keys
inline constexpr Rgb kBlackKeyRow{242, 242, 246};  // the rows of the black keys

// Where a piano roll puts time and pitch: x grows with seconds, y grows downwards as the
// pitch falls; pitch p occupies the row [row_top(p), row_top(p) + row_height).
struct RollLayout {
  double left = 0, top = 0, right = 0, bottom = 0;  // the note area, in pixels
  double seconds_end = 1;                           // time at `right` (time 0 is at `left`)
  int pitch_low = 0, pitch_high = 127;              // the lowest and highest rows shown

  double x_of(double seconds) const { return left + seconds / seconds_end * (right - left); }
  double row_height() const { return (bottom - top) / (pitch_high - pitch_low + 1); }
  double row_top(int pitch) const { return top + (pitch_high - pitch) * row_height(); }
  double y_center(int pitch) const { return row_top(pitch) + row_height() / 2; }
};

// The layout of the piano roll of `notes` on a width × height picture: the notes span the
// whole time axis and the pitch range with a margin of two semitones (at least one octave).
RollLayout roll_layout(std::span<const midi::Note> notes, int width, int height);

// The colour of the k-th track that has notes (in track order), and a colour shaded by
// velocity: 127 is the colour itself, lower velocities fade towards white.
Rgb track_color(std::size_t k);
Rgb velocity_shade(Rgb color, int velocity);

struct PianoRollOptions {
  int width = 1200, height = 600;
  std::string title;                                // default: none
  int default_numerator = 4, default_denominator = 4;  // before the first time signature
};

// Notes as rectangles, bar lines from the time signatures, octave labels (C2, C3, ...),
// a time axis in seconds, the title and a legend of the tracks (their names when they have one).
Figure piano_roll(const midi::MidiFile& file, const PianoRollOptions& options);

// --- training metrics ---------------------------------------------------------------------

struct MetricsRow {
  std::int64_t step = 0;
  std::optional<double> lr, train_loss, valid_loss, valid_perplexity;
  // The mean training loss of a whole epoch, from the row `musegen train` writes at an
  // epoch's end; train_loss is then empty, so the curve of log-interval means is not broken
  // by a spike of the epoch's (higher) mean.
  std::optional<double> epoch_train_loss;
};

// Reads a metrics.csv written by `musegen train` (header: step,epoch,lr,train_loss,
// valid_loss,valid_perplexity,...,kind; empty cells have no value; metrics_csv.hpp). Columns
// are found by name. An epoch row's train_loss goes to epoch_train_loss. In a file without the
// kind column (written before it existed), a row without a grad_norm is an epoch's row.
// Throws std::runtime_error "FILE:LINE: ..." for a missing column, a row with the wrong
// number of cells or a cell that is not a number, and "FILE: ..." for a missing or empty file.
std::vector<MetricsRow> read_metrics_csv(const std::filesystem::path& path);

// How the loss and perplexity panels map values to heights. The first epochs of a piano-roll
// model have a loss near 60 and the last near 1: on a linear axis the interesting end of
// the curve is a flat line at the bottom.
enum class YScale {
  automatic,  // log for a panel whose largest value exceeds kAutoLogRatio times its smallest
  linear,
  log,  // log10, with ticks at the decades; values <= 0 are left out
};
inline constexpr double kAutoLogRatio =
    20;  // the last values then use less than 1/20 of a linear panel

struct MetricsPlotOptions {
  int width = 1000, height = 800;
  std::string title;
  YScale y_scale =
      YScale::automatic;  // for the loss and perplexity panels; the learning rate is linear
};

// Stacked panels against the step: training and validation loss, validation perplexity
// (left out when no row has one: roll runs), learning rate; each with axes, ticks, labels
// and (the loss panel) a legend.
Figure metrics_figure(std::span<const MetricsRow> rows, const MetricsPlotOptions& options);

// Whether a panel of these values is drawn on a log axis under `scale`: always for log,
// never for linear; for automatic, when every finite value is > 0 and the largest is more
// than kAutoLogRatio times the smallest.
bool use_log_scale(YScale scale, std::span<const double> values);

// Round tick values covering [low, high]: about `count` of them, at 1, 2 or 5 × 10^k apart.
std::vector<double> nice_ticks(double low, double high, int count);

// Ticks of a log axis over [low, high] (0 < low < high), at most `count` of them (at least 2):
// the decades 10^k inside the range (every 2nd, 5th, 10th, ... when there are too many);
// when fewer than two decades are inside, 1, 2 and 5 × 10^k; then 1..9 × 10^k; and failing
// all of those (a range narrower than a step of 1..9 × 10^k), nice_ticks(low, high, count).
std::vector<double> log_ticks(double low, double high, int count);

}  // namespace musegen::plot
