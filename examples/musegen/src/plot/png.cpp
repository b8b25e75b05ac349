// PNG encoding: the chunk layout; zlib computes the checksums and the compressed stream.
#include "png.hpp"

#include <zlib.h>

#include <stdexcept>
#include <string>

namespace musegen::png {

namespace {

void put_u32_be(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void put_chunk(std::vector<std::uint8_t>& out, const char (&type)[5], std::span<const std::uint8_t> data) {
  put_u32_be(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_u32_be(out, crc32(std::span(out).subspan(type_at)));
}

}  // namespace

std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc) {
  return static_cast<std::uint32_t>(::crc32_z(crc, bytes.data(), bytes.size()));
}

std::uint32_t adler32(std::span<const std::uint8_t> bytes, std::uint32_t adler) {
  return static_cast<std::uint32_t>(::adler32_z(adler, bytes.data(), bytes.size()));
}

std::vector<std::uint8_t> zlib_compress(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out(::compressBound(bytes.size()));
  uLongf size = out.size();
  const int status = ::compress2(out.data(), &size, bytes.data(), bytes.size(), kDeflateLevel);
  if (status != Z_OK)
    throw std::runtime_error("png: zlib's compress2 failed: " + std::string(::zError(status)) + " (" +
                             std::to_string(bytes.size()) + " bytes)");
  out.resize(size);
  return out;
}

std::vector<std::uint8_t> encode_rgb(int width, int height, std::span<const std::uint8_t> rgb) {
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("png: expected a positive image size, found " + std::to_string(width) +
                                "x" + std::to_string(height));
  const std::size_t row = static_cast<std::size_t>(width) * 3;
  if (rgb.size() != row * static_cast<std::size_t>(height))
    throw std::invalid_argument("png: a " + std::to_string(width) + "x" + std::to_string(height) +
                                " RGB image needs " + std::to_string(row * static_cast<std::size_t>(height)) +
                                " bytes, found " + std::to_string(rgb.size()));

  std::vector<std::uint8_t> scanlines;  // each row: filter type 0, then its pixels
  scanlines.reserve((row + 1) * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    scanlines.push_back(0);
    const auto begin = rgb.begin() + static_cast<std::ptrdiff_t>(row * static_cast<std::size_t>(y));
    scanlines.insert(scanlines.end(), begin, begin + static_cast<std::ptrdiff_t>(row));
  }

  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<std::uint8_t> header;
  put_u32_be(header, static_cast<std::uint32_t>(width));
  put_u32_be(header, static_cast<std::uint32_t>(height));
  header.insert(header.end(), {8, 2, 0, 0, 0});  // 8 bits, truecolour, deflate, filter 0, no interlace
  put_chunk(out, "IHDR", header);
  put_chunk(out, "IDAT", zlib_compress(scanlines));
  put_chunk(out, "IEND", {});
  return out;
}

}  // namespace musegen::png
