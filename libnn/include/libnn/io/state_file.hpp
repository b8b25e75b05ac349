// The training-state file: everything a run needs to resume exactly where it stopped.
//
// Model weights go to safetensors (readable by PyTorch); this file holds the rest: the
// optimizer's moments, the step and epoch, the learning-rate schedule's position, the RNG
// state, the data loader's position, a JSON copy of the configuration. A versioned,
// CRC-32C-checksummed container of named values; docs/formats.md gives the layout byte by
// byte. A reader refuses any file it cannot read completely and exactly (FormatError),
// including files from a newer format version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "libnn/io/safetensors.hpp"  // StTensor, StDType, FormatError

namespace nn::io {

inline constexpr std::uint32_t kStateFormatVersion = 1;

// Names are any non-empty byte strings; a name may appear in several maps (an int "step"
// and a float "step" are two entries). A tensor's own name field is ignored when writing
// and set to its key when reading.
struct StateFile {
  std::map<std::string, StTensor> tensors;
  std::map<std::string, std::int64_t> ints;
  std::map<std::string, double> floats;      // stored as their exact bit pattern
  std::map<std::string, std::string> strings;  // bytes; may hold binary
};

// Serialize. Throws std::invalid_argument for an entry that cannot be written (an empty
// name, a tensor whose data size does not match its dtype and shape).
std::vector<std::byte> encode_state(const StateFile& state);

// encode_state, written atomically (libnn/io/atomic_file.hpp). std::system_error on I/O failure.
void write_state_file(const std::filesystem::path& path, const StateFile& state);

// Parse and verify. Throws FormatError naming `source_name`.
StateFile decode_state(std::span<const std::byte> bytes, const std::string& source_name);

// Read and decode. FormatError names the path; std::system_error on I/O failure.
StateFile read_state_file(const std::filesystem::path& path);

}  // namespace nn::io
