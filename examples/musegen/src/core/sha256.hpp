// SHA-256 (FIPS 180-4): downloaded datasets against the catalog's hashes, the dataset a
// training run started on, and the tensors of a weights file (model.hpp).
//
// OpenSSL's libcrypto computes it (the EVP interface), linked privately by this layer
// (docs/architecture.md, "The app's libraries"); the published test vectors
// (tests/musegen/test_catalog.cpp) check it. This header needs no OpenSSL header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace musegen {

// An incremental hash. Every method throws std::runtime_error naming the OpenSSL call that
// failed (which it does only when out of memory or in a broken OpenSSL installation).
// Movable, not copyable.
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
  struct FreeContext {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> context_;
};

std::string sha256_hex(std::string_view bytes);
// The hash of a file's content, read in chunks. Throws std::system_error naming the path.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace musegen
