// libFuzzer target for the MIDI reader (scripts/fuzz.sh runs it).
//
// Beyond "no crash, no sanitizer report", each input that reads is pushed through the rest of
// libmidi and checked for consistency: notes and the tempo map must not crash, and the file
// written back must read again to the same events (write/read is a round trip on any input).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "libmidi/libmidi.hpp"
#include "../libmidi/same_events.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input as a crash
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  midi::MidiFile file;
  try {
    file = midi::read(std::span<const std::uint8_t>(data, size));
  } catch (const midi::ParseError&) {
    return 0;  // a clear refusal is a correct answer
  }
  // Strict mode must agree: it throws exactly when lenient mode repaired something.
  bool strict_ok = true;
  try {
    midi::read(std::span<const std::uint8_t>(data, size), midi::ReadOptions::strict());
  } catch (const midi::ParseError&) {
    strict_ok = false;
  }
  check(strict_ok == file.warnings.empty());

  const auto performance = midi::extract_notes(file, midi::NoteOptions().sustain_pedal(size % 2 == 0));
  for (const auto& n : performance.notes) check(n.end_tick >= n.start_tick && n.end_seconds >= n.start_seconds);

  if (file.format == 0 && file.tracks.size() != 1) return 0;  // not writable as format 0
  const auto bytes = midi::write(file);
  const auto again = midi::read(bytes, midi::ReadOptions::strict().on(midi::Malformation::StrayStatusByte,
                                                                       midi::Policy::Repair)
                                           .on(midi::Malformation::BadKeySignature, midi::Policy::Repair)
                                           .on(midi::Malformation::BadMetaLength, midi::Policy::Repair));
  check(midi_test::first_difference(file, again).empty());
  return 0;
}
