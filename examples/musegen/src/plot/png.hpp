// A dependency-free PNG encoder (8-bit RGB), with the checksums and the zlib stream it needs.
//
// The image data is compressed with DEFLATE (RFC 1951) in one fixed-Huffman block over a
// greedy LZ77 match finder (hash chains, 32 KiB window): plots are mostly flat colour, which
// this shrinks a hundredfold, and a fixed block needs no code-length tables. Each scanline
// uses filter type 0 (None). The stream is wrapped in zlib (RFC 1950) and split into the
// PNG chunks IHDR, IDAT, IEND, each with its CRC-32.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace musegen::png {

// CRC-32 of ISO 3309 / ITU-T V.42 (the one of PNG, zlib's crc32 and gzip), continued from
// `crc` (0 for a fresh checksum): crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0);

// Adler-32 of zlib, continued from `adler` (1 for a fresh checksum):
// adler32("Wikipedia") == 0x11E60398.
std::uint32_t adler32(std::span<const std::uint8_t> bytes, std::uint32_t adler = 1);

// A complete zlib stream (header, one final fixed-Huffman DEFLATE block, Adler-32) that any
// inflater turns back into `bytes`.
std::vector<std::uint8_t> zlib_compress(std::span<const std::uint8_t> bytes);

// A PNG file of a width × height 8-bit RGB image; `rgb` holds the rows top to bottom, each
// width × 3 bytes (R, G, B). Throws std::invalid_argument for a size that is not positive,
// over 2^31 - 1, or does not match rgb.size().
std::vector<std::uint8_t> encode_rgb(int width, int height, std::span<const std::uint8_t> rgb);

}  // namespace musegen::png
