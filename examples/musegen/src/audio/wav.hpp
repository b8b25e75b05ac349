// WAV (RIFF, PCM 16-bit) output for rendered audio.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "synth.hpp"

namespace musegen {

// The bytes of a canonical 44-byte-header WAV file: PCM, 2 channels, 16 bits, the audio's
// sample rate. Samples are scaled by 32767, rounded to nearest and clamped to the 16-bit
// range. Throws std::length_error when the data would not fit a RIFF file (4 GiB).
std::vector<std::byte> encode_wav(const Audio& audio);

// Writes encode_wav(audio) to `path` atomically. Throws std::system_error naming the path.
void write_wav(const std::filesystem::path& path, const Audio& audio);

}  // namespace musegen
