// The JSB chorales as published by Boulanger-Lewandowski et al. (2012): a JSON object
// {"train": [...], "valid": [...], "test": [...]}, each chorale a list of time steps, each
// step the list of MIDI pitches sounding then ([] = rest; -1 = a silent voice, in the
// voice-separated variant). The resolution (frames per quarter note) is not in the file;
// the published files say it in their names (quarter, 8th, 16th).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "codec.hpp"

namespace musegen {

using JsbChorale = std::vector<std::vector<int>>;  // steps × sounding pitches

struct JsbChorales {
  std::vector<JsbChorale> train, valid, test;
};

// Parses the JSON text (with nlohmann-json). A pitch is any JSON number whose value is an
// integer in -1..127 (60, 60.0, 6e1), as Python's json module and int() read it. Throws
// std::runtime_error "<source>:<line>:<column>: expected X, found Y in <path>" for malformed
// JSON, a value of the wrong kind (a time step that is not a list, a pitch that is not a
// number or out of range), a key other than train/valid/test, or a key given twice; <path>
// names where in the document, as "valid[0][12][1]" (left out at the top level).
JsbChorales parse_jsb(std::string_view text, const std::string& source);
// Reads and parses a file (std::system_error when it cannot be read).
JsbChorales read_jsb(const std::filesystem::path& path);

// Frames per quarter note guessed from a published file name: "quarter" → 1, "8th" → 2,
// "16th" → 4; 0 when the name says nothing.
int jsb_frames_per_quarter(const std::filesystem::path& path);

// A chorale as notes: each run of consecutive steps holding a pitch becomes one note (held
// and repeated notes are not told apart in the data), -1 ignored, velocity 80, program 0
// (piano; Magenta's JSB models use it too), `tempo_bpm` for the times in seconds.
Piece jsb_piece(const JsbChorale& chorale, int frames_per_quarter, double tempo_bpm = 120);

}  // namespace musegen
