// The instruments musegen writes for: a name, the General MIDI program that plays it, the
// range a player (or singer) can reach, and the names and abbreviations scores give its part.
//
// The multitrack encoding names each part by its instrument ("inst:violin"), the sampler
// keeps every part inside its instrument's range, and `--instruments` takes these names (or
// GM program numbers). The table is part of the multitrack format: a vocabulary uses its
// first N rows (the encoding's `instruments` parameter), so new rows are only ever appended.
//
// Voices are instruments too (soprano, alto, tenor, bass): they all sound through GM program
// 52 ("Choir Aahs"), so a part's instrument comes from its track name before its program.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace musegen {

struct Instrument {
  std::string_view name;     // lower case, one word: the token and the --instruments name
  std::string_view display;  // for track names and legends: "Violin"
  int program;               // General MIDI program 0..127
  int lowest, highest;       // playable range, MIDI pitches, inclusive
  std::string_view family;   // "strings", "voices", "brass", "woodwinds", "keyboards", ...
};

// Every instrument, in the table's fixed order (the multitrack vocabulary's order).
std::span<const Instrument> instruments();
// Its row in instruments(), or -1.
int instrument_index(std::string_view name);
const Instrument& instrument(int index);

// The instrument of a track named `track_name` whose notes play on `program`:
//   1. the first instrument name or alias found in the track name ("Violin I." → violin,
//      "Basso" → bass, "Soprano Oboe 1 Violin1" → soprano: the earliest word wins);
//   2. else the instrument whose GM program is `program`;
//   3. else the first instrument of the program's GM family (programs 8k..8k+7), else piano.
// Returns an index into instruments() below `limit` (a vocabulary's instrument count).
int instrument_for_track(std::string_view track_name, int program, int limit);

// An --instruments entry: a name or alias ("violin", "violoncello", any case) or a GM
// program number ("40"). std::nullopt when it is neither; `limit` as above.
std::optional<int> parse_instrument(std::string_view text, int limit);

// The entries of a comma-separated --instruments list, each parsed with parse_instrument;
// throws std::invalid_argument naming the entry and the known names.
std::vector<int> parse_instrument_list(std::string_view list, int limit);

// "piano, violin, viola, ..." (the first `limit` rows), for error messages and --help.
std::string instrument_names(int limit);

}  // namespace musegen
