// A PNG encoder (8-bit RGB): the chunk layout here, the compression from zlib.
//
// Each scanline uses filter type 0 (None): plots are mostly flat colour, which deflate shrinks
// a hundredfold without filtering. The image data is one zlib stream (zlib's deflate at level
// kDeflateLevel, docs/perf.md) split into the PNG chunks IHDR, IDAT, IEND, each with its
// CRC-32. zlib is linked privately by this layer (docs/architecture.md, "The app's libraries").
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace musegen::png {

// The deflate level of the image data, measured on a typical piano roll (docs/perf.md, "The
// app's formats: JSON and PNG"): 3 is the smallest of zlib's fast levels (1-3), as small as
// our former encoder in a quarter of its time; the default 6 is 40% smaller, 3 times slower.
inline constexpr int kDeflateLevel = 3;

// CRC-32 of ISO 3309 / ITU-T V.42 (the one of PNG, zlib's crc32 and gzip), continued from
// `crc` (0 for a fresh checksum): crc32("123456789") == 0xCBF43926. zlib's crc32.
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0);

// Adler-32 of zlib, continued from `adler` (1 for a fresh checksum):
// adler32("Wikipedia") == 0x11E60398. zlib's adler32.
std::uint32_t adler32(std::span<const std::uint8_t> bytes, std::uint32_t adler = 1);

// A complete zlib stream (RFC 1950: header, DEFLATE at kDeflateLevel, Adler-32) that any
// inflater turns back into `bytes`. Throws std::runtime_error naming the zlib call that failed.
std::vector<std::uint8_t> zlib_compress(std::span<const std::uint8_t> bytes);

// A PNG file of a width × height 8-bit RGB image; `rgb` holds the rows top to bottom, each
// width × 3 bytes (R, G, B). Throws std::invalid_argument for a size that is not positive,
// over 2^31 - 1, or does not match rgb.size().
std::vector<std::uint8_t> encode_rgb(int width, int height, std::span<const std::uint8_t> rgb);

}  // namespace musegen::png
