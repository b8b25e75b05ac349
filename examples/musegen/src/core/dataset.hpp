// The dataset file `musegen preprocess` writes and `musegen train` reads: the token
// sequences of every piece, split into train / valid / test, with the codec (encoding,
// parameters, vocabulary) needed to turn them back into music, and a record of how it was
// made. Stored in libnn's checksummed, versioned container (the training-state file,
// nn::io::StateFile); docs/formats.md lists the entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <filesystem>
#include <string>
#include <vector>

#include "codec.hpp"
#include "tokens_file.hpp"  // save_tokens / load_tokens travel with the dataset

namespace musegen {

// The version of the dataset schema (the entries below); a reader refuses newer ones.
inline constexpr std::int64_t kDatasetVersion = 1;
// The state file's "kind" string that makes it a dataset (a run's state.mgstate has another).
inline constexpr const char* kDatasetKind = "musegen dataset";

struct Dataset {
  Codec codec;
  std::vector<Sequence> train, valid, test;  // test empty unless the source has one (JSB)
  std::string summary;   // what preprocess reported: read, skipped (why), the vocabulary
  std::string options;   // how the dataset was made (the preprocess settings, one line)

  std::int64_t steps(const std::vector<Sequence>& split) const;  // total steps of a split
};

// Reads and checks a dataset file. Throws nn::io::FormatError ("<path>: byte <offset>:
// ...") for a file that is not a complete, intact container (truncated, corrupted, not a
// dataset file, newer version), std::runtime_error ("<path>: entry \"train.tokens\" index
// 12: expected ..., found ...") for a container whose entries do not make a dataset, and
// std::system_error when it cannot be read.
Dataset load_dataset(const std::filesystem::path& path);

// Writes atomically (temporary file, fsync, rename). Throws std::invalid_argument for a
// dataset that is not self-consistent (a token id outside the vocabulary, a roll sequence
// whose frames are not a multiple of 88), std::system_error on I/O failure.
void save_dataset(const std::filesystem::path& path, const Dataset& dataset);

// The same in memory: the file's bytes, and a dataset from them (`source` names it in errors).
std::vector<std::byte> encode_dataset(const Dataset& dataset);
Dataset decode_dataset(std::span<const std::byte> bytes, const std::string& source);

}  // namespace musegen
