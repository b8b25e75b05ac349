#include "primer.hpp"

#include <algorithm>
#include <stdexcept>

#include <libmidi/io.hpp>

#include "sampling.hpp"

namespace musegen {

Primer choose_primer(const Dataset& data, const std::string& dataset_name,
                     const PrimerOptions& options) {
  const Codec& codec = data.codec;
  const std::string& primer_midi = options.midi;
  const std::string& dataset_path = dataset_name;
  const std::int64_t primer_steps = options.steps;

  // The primer: a MIDI file, a dataset sequence, or nothing.
  Primer chosen;
  Sequence& primer = chosen.sequence;
  primer = Sequence::empty_of(codec.step());
  if (options.midi_file != nullptr) {
    primer = codec.encode(*options.midi_file, primer_midi, &chosen.dropped);
  } else if (!primer_midi.empty()) {
    primer = codec.encode(midi::load(primer_midi), primer_midi, &chosen.dropped);
  } else if (primer_steps > 0) {
    const auto& pool = data.valid.empty() ? data.train : data.valid;
    if (pool.empty()) throw std::runtime_error(dataset_path + ": no sequences to take a primer from");
    std::int64_t index = options.sequence;
    if (index < 0) index = static_cast<std::int64_t>(uniform(options.seed, ~0ULL, 0) * static_cast<double>(pool.size()));
    if (index >= static_cast<std::int64_t>(pool.size())) {
      throw PrimerSequenceOutOfRange("--primer-sequence " + std::to_string(index) + ": the split has " +
                                     std::to_string(pool.size()) + " sequences");
    }
    primer = pool[static_cast<std::size_t>(index)];
  }
  if (primer_steps >= 0) primer.truncate(primer_steps);
  if (!codec.frames() && primer.tokens.empty()) {
    // Token models need one token to start from: the first token of a training sequence.
    if (data.train.empty() || data.train[0].tokens.empty()) {
      throw std::runtime_error(dataset_path + ": no token to start from; give --primer");
    }
    primer.tokens.push_back(data.train[0].tokens[0]);
    primer.source = "first token of " + data.train[0].source;
  }
  return chosen;
}

}  // namespace musegen
