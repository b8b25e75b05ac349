// Whole-file I/O for checkpoints: an atomic replace for writing, a bounded read for reading.
//
// A training run that is killed while saving must not destroy the previous checkpoint, so
// writes go to a temporary file in the same folder, are flushed to disk (fsync), and are
// renamed over the target (atomic on POSIX), after which the folder is flushed so the
// rename itself survives a power cut. On any failure the temporary file is removed.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <vector>

namespace nn::io {

// Replace the file at `path` with `bytes`, atomically. The new file keeps the permissions
// of the one it replaces. Throws std::system_error naming the path on failure; the target
// is then untouched and no temporary file is left behind.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);

// The whole content of a regular file. Throws std::system_error naming the path on failure
// (missing, a folder, unreadable, or changed size while being read).
std::vector<std::byte> read_whole_file(const std::filesystem::path& path);

}  // namespace nn::io
