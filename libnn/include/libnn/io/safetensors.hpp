// Reading and writing the safetensors format (Hugging Face), byte for byte as the reference
// implementation does, so checkpoints move between libnn and PyTorch without conversion.
//
// Independent of nn::Tensor on purpose: a tensor here is a dtype, a shape and its bytes
// (little-endian, row-major, contiguous). Converting to and from nn::Tensor is the caller's
// one loop. docs/formats.md describes the layout byte by byte and every check the reader
// makes; FormatError (below) is also what the training-state reader throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libnn/error.hpp"

namespace nn::io {

// A file that is not what it claims. what() reads
//   "<source>: byte <offset>: <context>: expected <X>, found <Y>"
// where offset counts from the start of the file and context names the part being read
// (e.g. `tensor "w"`). The parts are kept for callers that want them separately.
class FormatError : public nn::Error {
 public:
  FormatError(std::string source, std::uint64_t offset, std::string context, std::string expected,
              std::string found);

  const std::string& source() const { return source_; }
  std::uint64_t offset() const { return offset_; }
  const std::string& context() const { return context_; }
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

 private:
  std::string source_;
  std::uint64_t offset_;
  std::string context_;
  std::string expected_;
  std::string found_;
};

// The element types libnn reads and writes; the names are the format's dtype strings.
enum class StDType : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
inline constexpr int kStDTypeCount = 10;

std::size_t element_size(StDType dtype);   // bytes per element: 8, 4, 2, 2, 8, 4, 2, 1, 1, 1
std::string_view dtype_name(StDType dtype);  // "F64", "F32", ..., "BOOL"

// product(shape) * element_size(dtype), or nullopt for a negative dimension or a count
// that does not fit in 64 bits.
std::optional<std::uint64_t> byte_count(StDType dtype, std::span<const std::int64_t> shape);

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<std::int64_t> shape;  // [] is a scalar (one element); a 0 anywhere: no elements
  std::vector<std::byte> data;      // product(shape) * element_size(dtype) bytes, little-endian
};

struct StFile {
  std::vector<StTensor> tensors;  // any order; written sorted as the reference does
  std::map<std::string, std::string> metadata;  // the header's "__metadata__" (strings only)

  // The tensor called `name`, or nullptr.
  const StTensor* find(std::string_view name) const;
};

// Serialize. The header lists "__metadata__" first (omitted when empty), then the tensors
// in the reference's order: by dtype, widest alignment first (I64, F64, F32, I32, BF16,
// F16, I16, I8, U8, BOOL), then by name; so every tensor's data starts aligned to its
// element size. Throws std::invalid_argument for a file that cannot be written: a data size
// that does not match the shape, a negative dimension, a duplicate name, the name
// "__metadata__", a name or metadata string that is not valid UTF-8.
std::vector<std::byte> encode_safetensors(const StFile& file);

// encode_safetensors, written atomically (libnn/io/atomic_file.hpp): the file at `path` is
// either the old one or the complete new one. Throws std::system_error on I/O failure.
void write_safetensors(const std::filesystem::path& path, const StFile& file);

// Parse and validate a whole file held in memory. Throws FormatError naming `source_name`.
// Tensors come back in the order of their data in the file.
StFile decode_safetensors(std::span<const std::byte> bytes, const std::string& source_name);

// Read and decode a file. FormatError names the path; std::system_error on I/O failure.
StFile read_safetensors(const std::filesystem::path& path);

}  // namespace nn::io
