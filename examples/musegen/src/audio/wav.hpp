// WAV (RIFF, PCM 16-bit) output for rendered audio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "synth.hpp"

namespace musegen {

// The bytes of a canonical 44-byte-header WAV file: PCM, 2 channels, 16 bits, the audio's
// sample rate. Samples are scaled by 32767, rounded to nearest and clamped to the 16-bit
// range. Throws std::length_error when the data would not fit a RIFF file (4 GiB).
std::vector<std::byte> encode_wav(const Audio& audio);

// Writes encode_wav(audio) to `path` atomically. Throws std::system_error naming the path.
void write_wav(const std::filesystem::path& path, const Audio& audio);

// A WAV file written as it is rendered, for audio too long to hold in memory: the header
// first (the length is known up front), then the samples a block at a time, converted as
// encode_wav converts them, then a flush and a rename onto `path`. The destination is never
// seen half-written; a writer destroyed before commit() (an exception, Ctrl-C) removes its
// temporary file, "<path>.tmp-<pid>-…", next to the destination.
class WavWriter {
 public:
  // Throws std::length_error, before creating anything, when `frames` stereo frames would not
  // fit a WAV file (4 GiB: about 6.7 hours at 44.1 kHz), and std::system_error naming the path
  // when the temporary file cannot be created.
  WavWriter(const std::filesystem::path& path, int sample_rate, std::int64_t frames);
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  // Interleaved stereo samples in [-1, 1] (clamped). More than the frames announced throws
  // std::logic_error.
  void write(std::span<const float> interleaved);
  // After exactly the frames announced (else std::logic_error): flush, rename onto the path.
  void commit();

 private:
  void flush_buffer();
  std::filesystem::path path_, temp_;
  int fd_ = -1;
  std::int64_t frames_ = 0, written_ = 0;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace musegen
