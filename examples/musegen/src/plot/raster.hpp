// A small RGB canvas for the plots: filled rectangles, lines and text in a built-in 5×7
// bitmap font (digits, letters, common punctuation; any other character is drawn as '?').
// Everything drawn is clipped to the canvas.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace musegen::raster {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};

// The font: each glyph is kGlyphWidth × kGlyphHeight pixels, advanced by kGlyphAdvance.
inline constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6;

class Canvas {
 public:
  // Throws std::invalid_argument for a size that is not positive.
  Canvas(int width, int height, Rgb background);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb at(int x, int y) const;  // throws std::out_of_range outside the canvas
  // Rows top to bottom, each width × 3 bytes R, G, B: what png::encode_rgb takes.
  std::span<const std::uint8_t> pixels() const { return pixels_; }

  void set(int x, int y, Rgb color);  // ignored outside the canvas
  // The pixels [x0, x1) × [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb color);
  // A one-pixel line from (x0, y0) to (x1, y1), both ends included (Bresenham).
  void line(int x0, int y0, int x1, int y1, Rgb color);
  // Text with its top-left corner at (x, y), each font pixel drawn as scale × scale.
  void text(int x, int y, std::string_view text, Rgb color, int scale = 1);

 private:
  int width_, height_;
  std::vector<std::uint8_t> pixels_;
};

// Width in pixels of `text` drawn at `scale` (no trailing gap).
int text_width(std::string_view text, int scale = 1);

}  // namespace musegen::raster
