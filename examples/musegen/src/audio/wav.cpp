#include "wav.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "libmidi/io.hpp"

namespace musegen {

namespace {

void put_u16(std::vector<std::byte>& out, std::uint32_t v) {
  out.push_back(static_cast<std::byte>(v & 0xFF));
  out.push_back(static_cast<std::byte>((v >> 8) & 0xFF));
}
void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  put_u16(out, v & 0xFFFF);
  put_u16(out, v >> 16);
}
void put_tag(std::vector<std::byte>& out, const char (&tag)[5]) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(tag[i]));
}

}  // namespace

std::vector<std::byte> encode_wav(const Audio& audio) {
  constexpr std::uint32_t channels = 2, bytes_per_sample = 2;
  const std::uint64_t data_bytes = static_cast<std::uint64_t>(audio.samples.size()) * bytes_per_sample;
  if (data_bytes > std::numeric_limits<std::uint32_t>::max() - 36)
    throw std::length_error("the audio (" + std::to_string(audio.seconds()) +
                            " s) is too long for a WAV file (4 GiB at most)");
  const auto rate = static_cast<std::uint32_t>(audio.sample_rate);
  std::vector<std::byte> out;
  out.reserve(44 + data_bytes);
  put_tag(out, "RIFF");
  put_u32(out, static_cast<std::uint32_t>(36 + data_bytes));
  put_tag(out, "WAVE");
  put_tag(out, "fmt ");
  put_u32(out, 16);                                          // fmt chunk size
  put_u16(out, 1);                                           // PCM
  put_u16(out, channels);
  put_u32(out, rate);
  put_u32(out, rate * channels * bytes_per_sample);          // byte rate
  put_u16(out, channels * bytes_per_sample);                 // block align
  put_u16(out, 16);                                          // bits per sample
  put_tag(out, "data");
  put_u32(out, static_cast<std::uint32_t>(data_bytes));
  for (float s : audio.samples) {
    const float scaled = std::clamp(s * 32767.0f, -32768.0f, 32767.0f);
    const auto v = static_cast<std::int16_t>(std::lrint(scaled));
    put_u16(out, static_cast<std::uint16_t>(v));
  }
  return out;
}

void write_wav(const std::filesystem::path& path, const Audio& audio) {
  const std::vector<std::byte> bytes = encode_wav(audio);
  midi::write_file_atomically(
      path, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace musegen
