// The tokens file: one generated (or encoded) sequence as text, self-describing enough to
// be turned into MIDI without the dataset file: `musegen generate` writes it, `musegen
// to-midi` reads it, a person can read or edit it. docs/formats.md gives the grammar:
//
//   musegen tokens 1
//   encoding events
//   step_ms 10
//   max_shift_steps 100
//   velocity_bins 32
//   source generated from model.safetensors, seed 1
//   steps 3
//   tokens
//   velocity_bin:20
//   note_on:60
//   shift:500ms
//
// Roll files have `frames` instead of `tokens`, one line per frame: the sounding keys'
// names separated by spaces, `-` for silence.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "codec.hpp"

namespace musegen {

inline constexpr int kTokensFormatVersion = 1;

// The text of a tokens file. Throws std::out_of_range for a token id outside the codec.
std::string format_tokens(const Codec& codec, const Sequence& sequence);
// Parses it. Throws std::runtime_error "<source>:<line>: expected X, found Y". For notes, the
// codec's vocabulary is the file's distinct tokens in order of appearance.
std::pair<Codec, Sequence> parse_tokens(std::string_view text, const std::string& source);

// Written atomically.
void save_tokens(const std::filesystem::path& path, const Codec& codec, const Sequence& sequence);
std::pair<Codec, Sequence> load_tokens(const std::filesystem::path& path);

}  // namespace musegen
