// SHA-256 through OpenSSL's EVP interface: one EVP_MD_CTX per Sha256, EVP_sha256's digest.
#include "sha256.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace musegen {

namespace {

// Throws "sha256: <call> failed" with OpenSSL's reason, when its error queue has one.
[[noreturn]] void throw_openssl(const char* call) {
  std::string message = std::string("sha256: ") + call + " failed";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    message += std::string(": ") + reason;
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

}  // namespace

void Sha256::FreeContext::operator()(evp_md_ctx_st* context) const { EVP_MD_CTX_free(context); }

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (!context_) throw_openssl("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) throw_openssl("EVP_DigestInit_ex");
}

void Sha256::update(std::span<const std::uint8_t> bytes) {
  if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1) throw_openssl("EVP_DigestUpdate");
}

void Sha256::update(std::string_view bytes) {
  update(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::array<std::uint8_t, 32> Sha256::digest() {
  std::array<std::uint8_t, 32> out{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context_.get(), out.data(), &size) != 1) throw_openssl("EVP_DigestFinal_ex");
  if (size != out.size())
    throw std::runtime_error("sha256: EVP_DigestFinal_ex gave " + std::to_string(size) + " bytes, expected 32");
  return out;
}

std::string Sha256::hex_digest() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : digest()) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file)
    throw std::system_error(errno, std::generic_category(), path.string() + ": cannot open");
  Sha256 h;
  std::array<std::uint8_t, 1 << 16> chunk;
  while (const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get()))
    h.update(std::span(chunk.data(), n));
  if (std::ferror(file.get()))
    throw std::system_error(EIO, std::generic_category(), path.string() + ": read error");
  return h.hex_digest();
}

}  // namespace musegen
