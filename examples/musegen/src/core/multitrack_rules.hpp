// Generation with the multitrack encoding: the ensemble a piece is written for, and the rules
// the sampler follows (generate.hpp's TokenRule) so that what it writes is always a valid
// multitrack sequence:
//
//   - after a note, its duration; a duration of the longest kind may be followed by more;
//   - instrument tokens only in the header, and only while the ensemble may still grow;
//   - notes only for the ensemble's parts, and only inside the part's instrument's range
//     (instruments.hpp): the sampler never leaves it;
//   - at one onset, the parts in order (t0 before t1 ...) and in a part the pitches rising,
//     as the encoder writes them; a part never strikes a pitch it still holds; waits in a
//     row only after the longest one;
//   - a sampled note lasts at most kMaxSampledNoteQuarters. Without that cap a model trained
//     on files with a few notes held for hundreds of bars (export artefacts: the quartets
//     have 411 notes past 16 quarters, one of 1,234) can loop on the longest duration token
//     for the rest of the piece.
//
// Accompaniment adds the given parts: their notes are fed in at their times, exactly as the
// encoder writes them, and the sampler writes the other parts around them up to the end of
// the given music (accompaniment_rule).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "codec.hpp"
#include "dataset.hpp"
#include "generate.hpp"
#include "particles.hpp"

namespace musegen {

// The longest note the sampler writes, in quarter notes (four bars of 4/4).
inline constexpr int kMaxSampledNoteQuarters = 16;

// The instruments (rows of instruments()) a multitrack sequence's header declares.
std::vector<int> multitrack_ensemble(const Codec& codec, const Sequence& sequence);
// The header of an ensemble: one inst token per part. Throws std::invalid_argument when
// the ensemble is empty, has more parts than codec.params().tracks, or names an instrument
// the vocabulary lacks.
Sequence multitrack_header(const Codec& codec, const std::vector<int>& ensemble);

// The primer of a generation for `ensemble` (generate --instruments, serve's "instruments"):
// the ensemble's header, followed by the primer's notes when `keep_primer_notes` (a primer the
// user asked for), whose parts must then exist in the ensemble. Throws std::invalid_argument
// (what multitrack_header throws, or "the primer has notes for part N, the list names M
// parts").
Sequence primer_for_ensemble(const Codec& codec, const Sequence& primer,
                             const std::vector<int>& ensemble, bool keep_primer_notes);

// The rule of a free generation. `fixed_ensemble`: the primer's header is the whole
// ensemble (generate --instruments); otherwise the model may add parts while the header
// lasts. Throws std::invalid_argument for a codec that is not multitrack.
std::shared_ptr<TokenRule> multitrack_rule(const Codec& codec, bool fixed_ensemble);

// The rule a free generation with `codec` follows: multitrack_rule(codec, false) for a
// multitrack codec, none (nullptr) for the other encodings, whose every token may follow any.
std::shared_ptr<TokenRule> generation_rule(const Codec& codec);

// One note of a given part, on the codec's grid, as the encoder writes it.
struct GivenNote {
  std::int64_t start = 0, units = 1;  // grid units
  int part = 0, pitch = 60;
};

// Accompaniment: the primer is the ensemble's header; the notes of the parts in `given`
// (sorted as the encoder sorts them: by start, part, pitch, units) are fed in at their
// times, the other parts are sampled, and the piece ends when the given music does
// (`end_units`, at least the end of its last note). progress() reports the grid units
// written so far against end_units.
class AccompanimentRule;
std::shared_ptr<AccompanimentRule> accompaniment_rule(const Codec& codec, std::vector<int> ensemble,
                                                      std::vector<GivenNote> given, std::int64_t end_units);
// It is a ParticleRule (particles.hpp): copyable, and its evidence is the number of given
// notes fed in whole (the note and all its durations).
class AccompanimentRule : public ParticleRule {
 public:
  virtual std::int64_t now_units() const = 0;
  virtual std::int64_t end_units() const = 0;
};

// The notes of a multitrack token sequence on the grid (start, units, part, pitch), in
// sequence order: what the encoder wrote, read back without the decoder's times in seconds.
std::vector<GivenNote> multitrack_grid_notes(const Codec& codec, const Sequence& sequence);

// "the model never trained on tuba, horn (its training data has soprano, alto, tenor, bass):
// it writes those parts as it learned the others, inside their ranges", or "" when the
// ensemble's instruments all occur in the training split's headers.
std::string unseen_instruments_warning(const Dataset& data, const std::vector<int>& ensemble);

}  // namespace musegen
