// Accompaniment: given some parts of a MIDI file (a melody, a bass line), a multitrack model
// writes the other parts in time with them across the whole piece. The given parts' notes are
// fed to the model at their times (multitrack_rules.hpp), the other parts are sampled around
// them, and the result is the input file with the given parts untouched (their MIDI events
// byte for byte) and one new track per written part.
//
// Parts are the input's (MIDI track, channel) pairs with notes, in file order, numbered from
// 0 (piece_from_midi). Drum parts are never given to the model and always come back as they
// are. The ensemble is the file's melodic parts, or one given (--instruments); each kept part
// takes the first free part of its instrument there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec.hpp"
#include "generate.hpp"
#include "libmidi/midi_file.hpp"
#include "libmidi/notes.hpp"
#include "model.hpp"

namespace musegen {

struct AccompanyOptions {
  // The parts to keep: part numbers ("0") or names, matched against the track name or the
  // part's instrument ("soprano"), ignoring case.
  std::vector<std::string> keep;
  std::vector<int> ensemble;  // rows of instruments(); empty: the file's melodic parts
  midi::NoteOptions read;     // how the input's notes are read
  GenerateOptions generate;   // sampling, weights, stop, progress ({"accompany", units, units})
  // Candidate accompaniments sampled side by side and weighted by how likely the model finds
  // the given notes that follow them (particles.hpp); 1: plain left-to-right sampling.
  int particles = 1;
};

struct AccompanyResult {
  midi::MidiFile file;          // the input's given parts and the written ones
  Sequence sequence;            // the whole multitrack sequence (given and written parts)
  std::vector<int> ensemble;    // the instruments of the sequence's parts
  std::vector<int> kept_parts;  // the parts of the sequence that were given, by number
  std::int64_t notes_written = 0;
  double seconds = 0;           // sampling
  bool stopped = false;         // options.generate.stop asked: the written parts stop early
  std::int64_t resamples = 0;   // particles > 1: how often the particles were resampled
};

// A description of the input's parts, one per line: `0  "Soprano"  soprano  program 52  123
// notes` (for errors and `musegen accompany --list`).
std::string describe_parts(const midi::MidiFile& input, const Codec& codec, const midi::NoteOptions& read = {});

// Throws std::invalid_argument for what the user chose badly (a part that does not exist, an
// ensemble without room for a kept part, more parts than the model knows, nothing to write,
// a file in SMPTE time, kept parts without notes), each naming the part or the instrument.
AccompanyResult accompany(MusicModel& model, const Codec& codec, const midi::MidiFile& input,
                          const AccompanyOptions& options);

}  // namespace musegen
