// What a generation starts from: a MIDI file encoded with the run's codec, a validation
// sequence of the dataset (by index, or picked by the seed), or nothing, cut to a number of
// steps. Token models need at least one token, so an empty primer becomes the first token of
// the first training sequence; roll models start from silence.
#pragma once

#include <cstdint>
#include <libmidi/midi_file.hpp>
#include <stdexcept>
#include <string>

#include "codec.hpp"
#include "dataset.hpp"

namespace musegen {

struct PrimerOptions {
  std::string midi;             // a MIDI file to start from ("": a dataset sequence)
  // A MIDI file already read (a web server's upload): used instead of reading `midi`,
  // which then only names it in the primer's source.
  const midi::MidiFile* midi_file = nullptr;
  std::int64_t sequence = -1;   // the validation (else training) sequence; -1: picked by seed
  std::int64_t steps = 16;      // steps of the primer kept (0: none; < 0: a MIDI file whole,
                                // no dataset sequence)
  std::uint64_t seed = 1;       // the generation's seed
};

// options.sequence past the end of the split: the caller's mistake (a usage error).
struct PrimerSequenceOutOfRange : std::out_of_range {
  using std::out_of_range::out_of_range;
};

struct Primer {
  Sequence sequence;
  std::int64_t dropped = 0;     // MIDI primer: tokens not in the vocabulary, left out
};

// `dataset_name` names the dataset in errors. Throws PrimerSequenceOutOfRange when
// options.sequence is past the split's end, std::runtime_error when the dataset has no
// sequence or token to start from, and midi::load's errors for an unreadable MIDI file.
Primer choose_primer(const Dataset& data, const std::string& dataset_name,
                     const PrimerOptions& options);

}  // namespace musegen
