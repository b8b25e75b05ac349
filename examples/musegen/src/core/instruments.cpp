#include "instruments.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <stdexcept>

namespace musegen {

namespace {

// Ranges: the written-for range of each instrument in orchestration references, widened where
// the music21 corpus goes further (Bach's horn and trumpet parts reach C6 and D6; Beethoven's
// cello reaches D#6), so that every part of the shipped data lies inside its range.
// Append only: a multitrack vocabulary uses the first N rows (instruments.hpp).
constexpr Instrument kInstruments[] = {
    {"piano", "Piano", 0, 21, 108, "keyboards"},
    {"harpsichord", "Harpsichord", 6, 29, 89, "keyboards"},
    {"organ", "Organ", 19, 36, 96, "keyboards"},
    {"guitar", "Guitar", 24, 40, 88, "guitars"},
    {"violin", "Violin", 40, 55, 103, "strings"},
    {"viola", "Viola", 41, 48, 88, "strings"},
    {"cello", "Cello", 42, 36, 88, "strings"},
    {"contrabass", "Contrabass", 43, 28, 67, "strings"},
    {"harp", "Harp", 46, 23, 103, "strings"},
    {"timpani", "Timpani", 47, 36, 60, "percussion"},
    {"voice", "Voice", 52, 40, 84, "voices"},
    {"soprano", "Soprano", 52, 57, 84, "voices"},
    {"alto", "Alto", 52, 52, 79, "voices"},
    {"tenor", "Tenor", 52, 45, 72, "voices"},
    {"bass", "Bass", 52, 36, 67, "voices"},
    {"trumpet", "Trumpet", 56, 52, 86, "brass"},
    {"trombone", "Trombone", 57, 40, 72, "brass"},
    {"tuba", "Tuba", 58, 28, 58, "brass"},
    {"horn", "Horn", 60, 34, 84, "brass"},
    {"saxophone", "Saxophone", 65, 49, 81, "reeds"},
    {"oboe", "Oboe", 68, 53, 93, "reeds"},
    {"bassoon", "Bassoon", 70, 34, 75, "reeds"},
    {"clarinet", "Clarinet", 71, 50, 94, "reeds"},
    {"flute", "Flute", 73, 60, 98, "pipes"},
    {"recorder", "Recorder", 74, 60, 98, "pipes"},
    {"bassguitar", "Bass guitar", 33, 28, 67, "basses"},
    {"strings", "Strings", 48, 28, 103, "ensembles"},
};

// Words that name an instrument in part names (lower case; one or two words). The table's
// own names are aliases too.
struct Alias {
  std::string_view first, second;  // second empty: a one-word alias
  std::string_view instrument;
};
constexpr Alias kAliases[] = {
    {"double", "bass", "contrabass"},
    {"bass", "guitar", "bassguitar"},
    {"string", "ensemble", "strings"},
    {"pianoforte", "", "piano"},
    {"klavier", "", "piano"},
    {"keyboard", "", "piano"},
    {"cembalo", "", "harpsichord"},
    {"organo", "", "organ"},
    {"continuo", "", "organ"},
    {"gitarre", "", "guitar"},
    {"violino", "", "violin"},
    {"violine", "", "violin"},
    {"vln", "", "violin"},
    {"vn", "", "violin"},
    {"bratsche", "", "viola"},
    {"vla", "", "viola"},
    {"violoncello", "", "cello"},
    {"vc", "", "cello"},
    {"kontrabass", "", "contrabass"},
    {"contrabasso", "", "contrabass"},
    {"doublebass", "", "contrabass"},
    {"arpa", "", "harp"},
    {"timpano", "", "timpani"},
    {"pauken", "", "timpani"},
    {"quinto", "", "voice"},
    {"quintus", "", "voice"},
    {"sextus", "", "voice"},
    {"vox", "", "voice"},
    {"choir", "", "voice"},
    {"chorus", "", "voice"},
    {"canto", "", "soprano"},
    {"cantus", "", "soprano"},
    {"sopran", "", "soprano"},
    {"treble", "", "soprano"},
    {"s", "", "soprano"},
    {"altus", "", "alto"},
    {"contralto", "", "alto"},
    {"tenore", "", "tenor"},
    {"basso", "", "bass"},
    {"bassus", "", "bass"},
    {"baritone", "", "bass"},
    {"b", "", "bass"},
    {"tromba", "", "trumpet"},
    {"trompete", "", "trumpet"},
    {"cornet", "", "trumpet"},
    {"cornett", "", "trumpet"},
    {"cornetto", "", "trumpet"},
    {"clarino", "", "trumpet"},
    {"posaune", "", "trombone"},
    {"corno", "", "horn"},
    {"sax", "", "saxophone"},
    {"fagotto", "", "bassoon"},
    {"fagott", "", "bassoon"},
    {"clarinetto", "", "clarinet"},
    {"flutes", "", "flute"},
    {"flauto", "", "flute"},
    {"recorders", "", "recorder"},
};

// The instrument each GM family (programs 8k..8k+7) falls back to.
constexpr std::array<std::string_view, 16> kFamilyFallback = {
    "piano",     "piano", "organ", "guitar", "bassguitar", "violin", "strings", "trumpet",
    "saxophone", "flute", "piano", "piano",  "piano",      "piano",  "piano",   "piano"};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

// The words of a part name: runs of letters, lower case ("Violin1" → "violin").
std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (letter(c)) {
      word += lower(c);
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// The instrument named by the words at `i` (and `i + 1` for two-word aliases), or -1.
int match_at(const std::vector<std::string>& words, std::size_t i) {
  for (const Alias& a : kAliases) {
    if (a.second.empty() || i + 1 >= words.size()) continue;
    if (words[i] == a.first && words[i + 1] == a.second) return instrument_index(a.instrument);
  }
  if (const int own = instrument_index(words[i]); own >= 0) return own;
  for (const Alias& a : kAliases)
    if (a.second.empty() && words[i] == a.first) return instrument_index(a.instrument);
  return -1;
}

int below(int index, int limit) { return index >= 0 && index < limit ? index : -1; }

}  // namespace

std::span<const Instrument> instruments() { return kInstruments; }

int instrument_index(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kInstruments); ++i)
    if (kInstruments[i].name == name) return static_cast<int>(i);
  return -1;
}

const Instrument& instrument(int index) {
  if (index < 0 || static_cast<std::size_t>(index) >= std::size(kInstruments))
    throw std::out_of_range("instrument " + std::to_string(index) + ": expected 0.." +
                            std::to_string(std::size(kInstruments) - 1));
  return kInstruments[static_cast<std::size_t>(index)];
}

int instrument_for_track(std::string_view track_name, int program, int limit) {
  const std::vector<std::string> words = words_of(track_name);
  for (std::size_t i = 0; i < words.size(); ++i)
    if (const int found = below(match_at(words, i), limit); found >= 0) return found;
  for (std::size_t i = 0; i < std::size(kInstruments); ++i)
    if (kInstruments[i].program == program && below(static_cast<int>(i), limit) >= 0) {
      // Program 52 is every voice: a part known only by it is a "voice".
      return program == 52 ? std::max(0, below(instrument_index("voice"), limit))
                           : static_cast<int>(i);
    }
  if (program >= 0 && program < 128) {
    const int fallback =
        below(instrument_index(kFamilyFallback[static_cast<std::size_t>(program / 8)]), limit);
    if (fallback >= 0) return fallback;
  }
  return 0;  // piano
}

std::optional<int> parse_instrument(std::string_view text, int limit) {
  if (text.empty()) return std::nullopt;
  bool digits = text.size() <= 3;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    const int program = std::stoi(std::string(text));
    if (program > 127) return std::nullopt;
    return instrument_for_track("", program, limit);
  }
  const std::vector<std::string> words = words_of(text);
  if (words.empty()) return std::nullopt;
  // The whole text must name one instrument: "violin", "double bass", "Violoncello".
  if (words.size() > 2) return std::nullopt;
  const int found = below(match_at(words, 0), limit);
  if (found < 0) return std::nullopt;
  if (words.size() == 2) {  // only a two-word alias may use both words
    for (const Alias& a : kAliases)
      if (!a.second.empty() && words[0] == a.first && words[1] == a.second) return found;
    return std::nullopt;
  }
  return found;
}

std::vector<int> parse_instrument_list(std::string_view list, int limit) {
  std::vector<int> result;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = list.find(',', begin);
    const std::string_view entry =
        list.substr(begin, comma == std::string_view::npos ? comma : comma - begin);
    const std::optional<int> index = parse_instrument(entry, limit);
    if (!index)
      throw std::invalid_argument("instrument \"" + std::string(entry) +
                                  "\": expected a GM program 0..127 or one of " +
                                  instrument_names(limit));
    result.push_back(*index);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return result;
}

std::string instrument_names(int limit) {
  std::string names;
  for (std::size_t i = 0; i < std::size(kInstruments) && static_cast<int>(i) < limit; ++i)
    names += (names.empty() ? "" : ", ") + std::string(kInstruments[i].name);
  return names;
}

}  // namespace musegen
