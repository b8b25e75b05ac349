// SHA-256 (FIPS 180-4), to verify downloaded datasets against the hashes in the catalog.
//
// Our own few dozen lines rather than a crypto library: the project takes no dependency for
// one hash, and the published test vectors (tests/musegen/test_catalog.cpp) pin it down.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace musegen {

class Sha256 {
 public:
  Sha256();
  // Feeds bytes; may be called any number of times before digest().
  void update(std::span<const std::uint8_t> bytes);
  void update(std::string_view bytes);
  // The 32-byte digest of everything fed. The object must not be updated afterwards.
  std::array<std::uint8_t, 32> digest();
  // The digest as 64 lowercase hexadecimal digits.
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes fed
};

std::string sha256_hex(std::string_view bytes);
// The hash of a file's content, read in chunks. Throws std::system_error naming the path.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace musegen
