// PNG encoding: CRC-32, Adler-32, a fixed-Huffman DEFLATE with LZ77, and the chunk layout.
#include "png.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace musegen::png {

namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

// Writes DEFLATE's bit stream: data elements least significant bit first, Huffman codes
// most significant bit first (RFC 1951, 3.1.1).
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  void bits(std::uint32_t value, int count) {  // LSB first
    buffer_ |= static_cast<std::uint64_t>(value) << filled_;
    filled_ += count;
    while (filled_ >= 8) {
      out_.push_back(static_cast<std::uint8_t>(buffer_));
      buffer_ >>= 8;
      filled_ -= 8;
    }
  }
  void code(std::uint32_t code, int length) {  // MSB first
    std::uint32_t reversed = 0;
    for (int i = 0; i < length; ++i) reversed |= ((code >> i) & 1u) << (length - 1 - i);
    bits(reversed, length);
  }
  void flush() {
    if (filled_ > 0) out_.push_back(static_cast<std::uint8_t>(buffer_));
    buffer_ = 0;
    filled_ = 0;
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::uint64_t buffer_ = 0;
  int filled_ = 0;
};

// The fixed literal/length code (RFC 1951, 3.2.6).
void write_literal_length(BitWriter& w, int symbol) {
  if (symbol < 144) w.code(0x30 + symbol, 8);
  else if (symbol < 256) w.code(0x190 + (symbol - 144), 9);
  else if (symbol < 280) w.code(symbol - 256, 7);
  else w.code(0xC0 + (symbol - 280), 8);
}

constexpr int kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr int kDistBase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                               33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                               1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

void write_match(BitWriter& w, int length, int distance) {
  const int l = static_cast<int>(std::upper_bound(kLengthBase, kLengthBase + 29, length) - kLengthBase) - 1;
  write_literal_length(w, 257 + l);
  w.bits(static_cast<std::uint32_t>(length - kLengthBase[l]), kLengthExtra[l]);
  const int d = static_cast<int>(std::upper_bound(kDistBase, kDistBase + 30, distance) - kDistBase) - 1;
  w.code(static_cast<std::uint32_t>(d), 5);
  w.bits(static_cast<std::uint32_t>(distance - kDistBase[d]), kDistExtra[d]);
}

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
  crc = ~crc;
  for (std::uint8_t b : bytes) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t adler32(std::span<const std::uint8_t> bytes, std::uint32_t adler) {
  constexpr std::uint32_t kMod = 65521;
  std::uint32_t a = adler & 0xFFFF, b = adler >> 16;
  std::size_t i = 0;
  while (i < bytes.size()) {
    // 5552 bytes is the most that cannot overflow b before the reduction (zlib's NMAX).
    const std::size_t end = std::min(bytes.size(), i + 5552);
    for (; i < end; ++i) {
      a += bytes[i];
      b += a;
    }
    a %= kMod;
    b %= kMod;
  }
  return (b << 16) | a;
}

std::vector<std::uint8_t> zlib_compress(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out = {0x78, 0x01};  // deflate, 32 KiB window; (0x7801 % 31 == 0)
  BitWriter w(out);
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // BTYPE 01: fixed Huffman codes

  constexpr int kMinMatch = 3, kMaxMatch = 258, kWindow = 32768, kMaxChain = 32;
  constexpr int kHashBits = 15;
  const std::size_t n = bytes.size();
  std::vector<std::int64_t> head(std::size_t{1} << kHashBits, -1);
  std::vector<std::int64_t> prev(n, -1);  // previous position with the same hash
  const auto hash = [&](std::size_t i) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    return (v * 2654435761u) >> (32 - kHashBits);
  };
  const auto insert = [&](std::size_t i) {
    if (i + kMinMatch > n) return;
    const auto h = hash(i);
    prev[i] = head[h];
    head[h] = static_cast<std::int64_t>(i);
  };

  std::size_t i = 0;
  while (i < n) {
    int best_length = 0, best_distance = 0;
    if (i + kMinMatch <= n) {
      const std::size_t limit = std::min<std::size_t>(kMaxMatch, n - i);
      std::int64_t candidate = head[hash(i)];
      for (int chain = 0; candidate >= 0 && chain < kMaxChain; ++chain, candidate = prev[static_cast<std::size_t>(candidate)]) {
        const auto c = static_cast<std::size_t>(candidate);
        if (i - c > kWindow) break;
        std::size_t length = 0;
        while (length < limit && bytes[c + length] == bytes[i + length]) ++length;
        if (static_cast<int>(length) > best_length) {
          best_length = static_cast<int>(length);
          best_distance = static_cast<int>(i - c);
          if (length == limit) break;
        }
      }
    }
    if (best_length >= kMinMatch) {
      write_match(w, best_length, best_distance);
      for (int k = 0; k < best_length; ++k) insert(i + static_cast<std::size_t>(k));
      i += static_cast<std::size_t>(best_length);
    } else {
      write_literal_length(w, bytes[i]);
      insert(i);
      ++i;
    }
  }
  write_literal_length(w, 256);  // end of block
  w.flush();
  put_u32_be(out, adler32(bytes));
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
