// CRC-32C (Castagnoli), the checksum that guards the training-state file.
//
// CRC-32C rather than a 64-bit hash: it detects every error burst of up to 32 bits (so
// every single corrupted byte) with certainty, its check values are published (RFC 3720,
// the "123456789" catalogue value 0xE3069283), and it is a few dozen lines. Computed
// with slicing-by-8 tables, portable C++, no CPU-specific instructions.
#pragma once

#include <cstdint>
#include <span>

namespace nn::io {

// CRC-32C of `bytes`. Incremental: crc32c(b, crc32c(a)) == crc32c(a followed by b), and
// crc32c({}) == 0.
std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t previous = 0);

}  // namespace nn::io
