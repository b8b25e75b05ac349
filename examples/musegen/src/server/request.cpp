#include "request.hpp"

#include <cmath>
#include <cstring>
#include <libmidi/io.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "api_error.hpp"
#include "codec.hpp"
#include "instruments.hpp"

namespace musegen::server {

namespace {

using Json = nlohmann::json;

const std::set<std::string> kFields = {"model", "steps", "seconds", "temperature", "top_k",
                                       "top_p", "seed",  "tempo",   "primer",      "instruments"};
const std::set<std::string> kPrimerFields = {"steps", "sequence", "midi_base64"};

std::string list_of(const std::set<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// How a value the client sent is quoted back in an error: short, one line.
std::string shown(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

std::string number_text(long double v) {
  std::ostringstream out;
  out << static_cast<double>(v);
  return out.str();
}

// An integer field in lo..hi (special: one more value outside the range, with its meaning).
std::int64_t integer_field(const Json& value, const std::string& field, std::int64_t lo,
                           std::int64_t hi, std::optional<std::int64_t> special = {},
                           const std::string& meaning = {}) {
  std::string allowed = "an integer " + std::to_string(lo) + ".." + std::to_string(hi);
  if (special)
    allowed = "an integer " + std::to_string(*special) + " (" + meaning + ") or " +
              std::to_string(lo) + ".." + std::to_string(hi);
  if (!value.is_number_integer()) throw bad_field(field, allowed, shown(value));
  // A JSON integer past int64 arrives as uint64: out of every range here.
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    throw bad_field(field, allowed, shown(value));
  const std::int64_t v = value.get<std::int64_t>();
  if ((v < lo || v > hi) && !(special && v == *special))
    throw bad_field(field, allowed, shown(value));
  return v;
}

struct Bounds {
  double lo, hi;
  bool lo_open;
  std::string text;  // "0 < T <= 100"
};

double number_field(const Json& value, const std::string& field, const Bounds& b,
                    std::optional<double> special = {}, const std::string& meaning = {}) {
  std::string allowed = "a number " + b.text;
  if (special) allowed = "a number " + number_text(*special) + " (" + meaning + ") or " + b.text;
  if (!value.is_number()) throw bad_field(field, allowed, shown(value));
  const double v = value.get<double>();
  if (special && v == *special) return v;
  const bool inside = std::isfinite(v) && (b.lo_open ? v > b.lo : v >= b.lo) && v <= b.hi;
  if (!inside) throw bad_field(field, allowed, shown(value));
  return v;
}

}  // namespace

GenerationRequest parse_generation_request(const std::string& body, std::int64_t new_seed) {
  Json json;
  try {
    json = Json::parse(body);
  } catch (const Json::parse_error& e) {
    throw ApiError(400, std::string("the body is not JSON: ") + e.what(), "body", "a JSON object");
  }
  if (!json.is_object()) throw bad_field("body", "a JSON object", shown(json));
  for (const auto& [name, value] : json.items()) {
    if (kFields.count(name) == 0)
      throw ApiError(
          400,
          name + ": not a field of a generation request (the fields: " + list_of(kFields) + ")",
          name, list_of(kFields));
  }
  GenerationRequest r;
  const auto model = json.find("model");
  if (model == json.end())
    throw ApiError(400, "model: missing (the id of a model from GET /api/models)", "model",
                   "a model id");
  if (!model->is_string()) throw bad_field("model", "a model id (a string)", shown(*model));
  r.model = model->get<std::string>();
  if (json.contains("steps") && json.contains("seconds"))
    throw ApiError(400, "seconds: give the length as steps or as seconds, not both", "seconds",
                   "absent when steps is given");
  if (json.contains("steps")) r.steps = integer_field(json["steps"], "steps", 1, kMaxRequestSteps);
  if (json.contains("seconds"))
    r.seconds =
        number_field(json["seconds"], "seconds",
                     {0, kMaxRequestSeconds, true, "0 < S <= " + number_text(kMaxRequestSeconds)});
  if (json.contains("temperature"))
    r.temperature =
        number_field(json["temperature"], "temperature", {0, 100, true, "0 < T <= 100"});
  if (json.contains("top_k")) r.top_k = integer_field(json["top_k"], "top_k", 0, kMaxTopK);
  if (json.contains("top_p"))
    r.top_p = number_field(json["top_p"], "top_p", {0, 1, true, "0 < P <= 1"});
  r.seed =
      json.contains("seed") ? integer_field(json["seed"], "seed", 0, kMaxRequestSeed) : new_seed;
  if (json.contains("tempo"))
    r.tempo = number_field(json["tempo"], "tempo",
                           {kMinTempoBpm, kMaxTempoBpm, false,
                            number_text(kMinTempoBpm) + ".." + number_text(kMaxTempoBpm)},
                           0.0, "the codec's default");
  if (json.contains("instruments")) {
    const Json& list = json["instruments"];
    const std::string allowed = "an array of 1.." + std::to_string(kMaxRequestInstruments) +
                                " instrument names (GET /api/models gives a model's)";
    if (!list.is_array() || list.empty() || list.size() > kMaxRequestInstruments)
      throw bad_field("instruments", allowed, shown(list));
    for (const Json& name : list) {
      if (!name.is_string() || name.get<std::string>().empty() ||
          name.get<std::string>().size() > 40)
        throw bad_field("instruments", allowed, shown(name));
      r.instruments.push_back(name.get<std::string>());
    }
  }
  if (json.contains("primer")) {
    const Json& primer = json["primer"];
    if (!primer.is_object())
      throw bad_field("primer", "an object with " + list_of(kPrimerFields), shown(primer));
    for (const auto& [name, value] : primer.items()) {
      if (kPrimerFields.count(name) == 0)
        throw ApiError(400,
                       "primer." + name +
                           ": not a field of a primer (the fields: " + list_of(kPrimerFields) + ")",
                       "primer." + name, list_of(kPrimerFields));
    }
    if (primer.contains("sequence") && primer.contains("midi_base64"))
      throw ApiError(400,
                     "primer.sequence: a primer is a sequence of the data or a MIDI file, not both",
                     "primer.sequence", "absent when primer.midi_base64 is given");
    if (primer.contains("steps"))
      r.primer_steps = integer_field(primer["steps"], "primer.steps", 0, kMaxPrimerSteps);
    if (primer.contains("sequence"))
      r.primer_sequence = integer_field(primer["sequence"], "primer.sequence", 0,
                                        kMaxPrimerSequence, -1, "picked by the seed");
    if (primer.contains("midi_base64")) {
      const Json& text = primer["midi_base64"];
      if (!text.is_string())
        throw bad_field("primer.midi_base64", "a MIDI file in base64 (a string)", shown(text));
      r.primer_midi_base64 = text.get<std::string>();
      try {
        r.primer_midi_bytes = base64_decode(r.primer_midi_base64);
      } catch (const std::invalid_argument& e) {
        throw ApiError(400, std::string("primer.midi_base64: ") + e.what(), "primer.midi_base64",
                       "a MIDI file in base64 (RFC 4648, with padding)");
      }
    }
  }
  return r;
}

std::vector<int> resolve_instruments(const GenerationRequest& r, const Codec& codec) {
  if (r.instruments.empty()) return {};
  if (codec.encoding() != Encoding::multitrack)
    throw ApiError(400,
                   "instruments: the model's encoding is " +
                       std::string(encoding_name(codec.encoding())) +
                       "; only multitrack models know instruments",
                   "instruments", "absent for this model");
  std::string list;
  for (const std::string& name : r.instruments) {
    if (name.find(',') != std::string::npos)
      throw bad_field("instruments", "one instrument name per entry", shown(Json(name)));
    list += (list.empty() ? "" : ",") + name;
  }
  std::vector<int> ensemble;
  try {
    ensemble = parse_instrument_list(list, codec.params().instruments);
  } catch (const std::invalid_argument& e) {
    throw ApiError(400, std::string("instruments: ") + e.what(), "instruments",
                   instrument_names(codec.params().instruments));
  }
  if (ensemble.size() > static_cast<std::size_t>(codec.params().tracks))
    throw ApiError(400,
                   "instruments: the model writes at most " +
                       std::to_string(codec.params().tracks) + " parts, the list names " +
                       std::to_string(ensemble.size()),
                   "instruments", "1.." + std::to_string(codec.params().tracks) + " names");
  return ensemble;
}

void check_primer_midi(const GenerationRequest& r) {
  if (r.primer_midi_bytes.empty()) return;
  try {
    (void)midi::read(r.primer_midi_bytes, midi::ReadOptions().source_name("primer.mid"));
  } catch (const midi::ParseError& e) {
    throw ApiError(400,
                   std::string("primer.midi_base64: not a MIDI file libmidi can read: ") + e.what(),
                   "primer.midi_base64", "a Standard MIDI File");
  }
}

std::string canonical_json(const GenerationRequest& r) {
  nlohmann::ordered_json json;
  json["model"] = r.model;
  if (r.seconds)
    json["seconds"] = *r.seconds;
  else
    json["steps"] = r.steps;
  json["temperature"] = r.temperature;
  json["top_k"] = r.top_k;
  json["top_p"] = r.top_p;
  json["seed"] = r.seed;
  json["tempo"] = r.tempo;
  nlohmann::ordered_json primer;
  primer["steps"] = r.primer_steps;
  if (!r.primer_midi_base64.empty())
    primer["midi_base64"] = r.primer_midi_base64;
  else
    primer["sequence"] = r.primer_sequence;
  json["primer"] = primer;
  // Only when given, so that the parameters stored before the field existed read the same.
  if (!r.instruments.empty()) json["instruments"] = r.instruments;
  return json.dump();
}

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t n =
        static_cast<std::uint32_t>(bytes[i]) << 16 |
        (i + 1 < bytes.size() ? static_cast<std::uint32_t>(bytes[i + 1]) << 8 : 0) |
        (i + 2 < bytes.size() ? bytes[i + 2] : 0);
    text += kBase64[n >> 18 & 63];
    text += kBase64[n >> 12 & 63];
    text += i + 1 < bytes.size() ? kBase64[n >> 6 & 63] : '=';
    text += i + 2 < bytes.size() ? kBase64[n & 63] : '=';
  }
  return text;
}

std::vector<std::uint8_t> base64_decode(const std::string& text) {
  if (text.size() % 4 != 0)
    throw std::invalid_argument("expected base64 of a length divisible by 4, found " +
                                std::to_string(text.size()) + " characters");
  std::vector<std::uint8_t> bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t n = 0;
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      const char* at = c == '\0' ? nullptr : std::strchr(kBase64, c);
      // '=' only at the end, and at most two of them.
      if (c == '=' && i + 4 == text.size() && j >= 2 && (j == 3 || text[i + 3] == '=')) {
        ++padding;
        n <<= 6;
        continue;
      }
      if (at == nullptr || padding > 0)
        throw std::invalid_argument("expected a base64 character at " + std::to_string(i + j) +
                                    ", found '" + std::string(1, c) + "'");
      n = n << 6 | static_cast<std::uint32_t>(at - kBase64);
    }
    bytes.push_back(static_cast<std::uint8_t>(n >> 16));
    if (padding < 2) bytes.push_back(static_cast<std::uint8_t>(n >> 8 & 255));
    if (padding < 1) bytes.push_back(static_cast<std::uint8_t>(n & 255));
  }
  return bytes;
}

}  // namespace musegen::server
