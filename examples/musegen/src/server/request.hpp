// A generation request of the web API (POST /api/generate), checked field by field, and its
// canonical form: every default filled in (the seed too), so that the stored form of a piece
// posted again makes the same piece, byte for byte.
//
//   {"model": "3f2a...", "steps": 256, "temperature": 1, "top_k": 0, "top_p": 0.95,
//    "seed": 42, "tempo": 0, "primer": {"steps": 16, "sequence": -1}}
//
// "steps" or "seconds" (not both) sets the length; "primer" is optional: {"steps": N} with
// "sequence" (a validation sequence of the model's data, -1: picked by the seed) or
// "midi_base64" (a MIDI file, base64). The ranges are the command line's where it has the
// same option (generate --temperature ...), tighter where a server must bound the work one
// request may ask for (steps, seconds).
#pragma once

#include <cstdint>
#include <libmidi/midi_file.hpp>
#include <optional>
#include <string>
#include <vector>

#include "codec.hpp"

namespace musegen::server {

inline constexpr std::int64_t kMaxRequestSteps = 20'000;
inline constexpr double kMaxRequestSeconds = 600;
inline constexpr std::int64_t kDefaultSteps = 256;
inline constexpr std::int64_t kMaxPrimerSteps = 20'000;
inline constexpr std::int64_t kMaxPrimerSequence = 100'000'000;
inline constexpr std::int64_t kMaxTopK = 100'000;
// JavaScript's numbers hold integers exactly up to 2^53 - 1: a seed the page shows is the seed
// used.
inline constexpr std::int64_t kMaxRequestSeed = 9'007'199'254'740'991;

struct GenerationRequest {
  std::string model;
  std::int64_t steps = kDefaultSteps;  // used when seconds is empty
  std::optional<double> seconds;       // generate until the piece lasts this long
  double temperature = 1.0;
  std::int64_t top_k = 0;
  double top_p = 0.95;
  std::int64_t seed = 0;
  double tempo = 0;  // 0: the codec's default
  std::int64_t primer_steps = 16;
  std::int64_t primer_sequence = -1;            // -1: picked by the seed (when no MIDI primer)
  std::string primer_midi_base64;               // empty: no MIDI primer
  std::vector<std::uint8_t> primer_midi_bytes;  // decoded from primer_midi_base64
  // A multitrack model's ensemble, one name (or GM program) per part, as generate
  // --instruments takes them; empty: the model chooses. Resolved against the model's
  // instruments by the server (resolve_instruments), not here: the parse knows no model.
  std::vector<std::string> instruments;
};

inline constexpr std::size_t kMaxRequestInstruments = 16;

// Parses and checks a request body. Throws ApiError 400 naming the field for malformed JSON,
// an unknown field, a value of the wrong type or outside its range, both steps and seconds,
// or broken base64. `new_seed` gives the seed when the request has none.
GenerationRequest parse_generation_request(const std::string& body, std::int64_t new_seed);

// Throws ApiError 400 (libmidi's diagnostic in it) when the request's MIDI primer is not a
// file libmidi can read (leniently, as musegen generate --primer reads). Apart from the parse:
// the server looks the model up first, so that a request the OpenAPI document calls valid is
// a 404 for an unknown model whatever its primer holds, and a 400 only for what the document
// cannot say (that the bytes are a MIDI file). Read before the job, so that a broken file is
// the client's 400 rather than a failed job later.
void check_primer_midi(const GenerationRequest& request);

// The request's instruments as rows of instruments() for a model with `codec`: empty when
// none are asked. Throws ApiError 400 naming "instruments" for a model that is not multitrack,
// an unknown name (the known ones in the error) or more parts than the model writes.
std::vector<int> resolve_instruments(const GenerationRequest& request, const Codec& codec);

// The canonical JSON of a request (every field present, the MIDI primer as base64): what a
// piece stores as its parameters, and what parse_generation_request reads back unchanged.
std::string canonical_json(const GenerationRequest& request);

// RFC 4648 base64 (with padding, no whitespace). decode throws std::invalid_argument saying
// where the text stops being base64.
std::string base64_encode(const std::vector<std::uint8_t>& bytes);
std::vector<std::uint8_t> base64_decode(const std::string& text);

}  // namespace musegen::server
