#include "tokens_file.hpp"

#include <charconv>
#include <map>
#include <stdexcept>

#include "libnn/io/atomic_file.hpp"

namespace musegen {

namespace {

constexpr std::string_view kMagic = "musegen tokens";
// The widest a header parameter may be before validate_params judges it: it must fit an int.
constexpr std::int64_t kMaxParameter = 1'000'000;

class LineReader {
 public:
  LineReader(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  // The next line (without its end), or false at the end of the text.
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    const std::size_t end = text_.find('\n', pos_);
    line = text_.substr(pos_, end == std::string_view::npos ? std::string_view::npos : end - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end == std::string_view::npos ? text_.size() : end + 1;
    ++line_;
    return true;
  }

  [[noreturn]] void fail(const std::string& expected, std::string_view found) const {
    std::string shown(found.substr(0, 60));
    if (found.size() > 60) shown += "...";
    throw std::runtime_error(source_ + ":" + std::to_string(line_) + ": expected " + expected +
                             ", found \"" + shown + "\"");
  }
  [[noreturn]] void fail_at_end(const std::string& expected) const {
    throw std::runtime_error(source_ + ":" + std::to_string(line_) + ": expected " + expected +
                             ", found the end of the file");
  }

 private:
  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 0;
};

bool parse_number(std::string_view text, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

std::pair<std::string_view, std::string_view> split_key(std::string_view line) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return {line, {}};
  return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

std::string format_tokens(const Codec& codec, const Sequence& sequence) {
  std::string out = std::string(kMagic) + " " + std::to_string(kTokensFormatVersion) + "\n";
  out += "encoding " + std::string(encoding_name(codec.encoding())) + "\n";
  for (const auto& [name, value] : codec.parameter_list()) out += name + " " + std::to_string(value) + "\n";
  std::string source = sequence.source;
  for (char& c : source)
    if (c == '\n' || c == '\r') c = ' ';
  if (!source.empty()) out += "source " + source + "\n";
  out += "steps " + std::to_string(sequence.steps()) + "\n";
  const StepFormat format = codec.step();
  if (sequence.steps() > 0 && !sequence.matches(format))
    throw std::invalid_argument("tokens file: " + sequence.source + ": the sequence's steps are not " +
                                std::string(encoding_name(codec.encoding())) + " steps");
  if (format.kind == StepKind::frame) {
    // A frame's line names the columns that are 1 (roll: the keys sounding).
    const std::size_t K = static_cast<std::size_t>(format.size);
    if (sequence.frames.size() % K != 0)
      throw std::invalid_argument("tokens file: frames not a multiple of " + std::to_string(K));
    out += "frames\n";
    for (std::size_t f = 0; f < sequence.frames.size(); f += K) {
      std::string line;
      for (std::size_t k = 0; k < K; ++k)
        if (sequence.frames[f + k]) line += (line.empty() ? "" : " ") + codec.token(static_cast<std::int32_t>(k));
      out += (line.empty() ? "-" : line) + "\n";
    }
  } else {
    out += "tokens\n";
    for (std::int32_t id : sequence.tokens) out += codec.token(id) + "\n";
  }
  return out;
}

std::pair<Codec, Sequence> parse_tokens(std::string_view text, const std::string& source) {
  // An editor may save a BOM; shown as found text it would be an invisible character.
  if (text.starts_with("\xEF\xBB\xBF"))
    throw std::runtime_error(source + ":1: expected \"" + std::string(kMagic) +
                             " 1\" at the start of the file, found a UTF-8 byte-order mark before it "
                             "(save the file as UTF-8 without a BOM)");
  LineReader in(text, source);
  std::string_view line;
  if (!in.next(line)) in.fail_at_end("\"" + std::string(kMagic) + " 1\"");
  {
    const std::string expected = "\"" + std::string(kMagic) + " 1\" (a musegen tokens file)";
    if (line.size() <= kMagic.size() + 1 || line.substr(0, kMagic.size()) != kMagic || line[kMagic.size()] != ' ')
      in.fail(expected, line);
    const std::string_view version_text = line.substr(kMagic.size() + 1);
    std::int64_t version = 0;
    if (!parse_number(version_text, version)) in.fail(expected, line);
    if (version < 1 || version > kTokensFormatVersion)
      in.fail("tokens format version 1.." + std::to_string(kTokensFormatVersion), version_text);
  }

  // Header: "key value" lines up to "tokens" or "frames"; blank lines and # comments skipped.
  std::map<std::string, std::string, std::less<>> header;
  std::string_view body;
  while (true) {
    if (!in.next(line)) in.fail_at_end("\"tokens\" or \"frames\" after the header");
    if (line.empty() || line[0] == '#') continue;
    if (line == "tokens" || line == "frames") {
      body = line;
      break;
    }
    auto [key, value] = split_key(line);
    if (value.empty()) in.fail("a header line \"name value\"", line);
    if (!header.emplace(std::string(key), std::string(value)).second) in.fail("each header name once", key);
  }
  const auto get = [&](const std::string& key) -> const std::string& {
    auto it = header.find(key);
    if (it == header.end()) in.fail("a header line \"" + key + " ...\" before the " + std::string(body), body);
    return it->second;
  };
  Encoding encoding;
  try {
    encoding = parse_encoding(get("encoding"));
  } catch (const std::invalid_argument&) {
    in.fail("encoding notes, events or roll in the header", get("encoding"));
  }
  CodecParams params;
  for (const auto& [name, field] : encoding_parameters(encoding, params)) {
    std::int64_t v = 0;
    if (!parse_number(get(name), v) || v < 0 || v > kMaxParameter)
      in.fail("an integer " + name + " in 0.." + std::to_string(kMaxParameter) + " in the header", get(name));
    *field = static_cast<int>(v);
  }
  try {
    validate_params(encoding, params);
  } catch (const std::invalid_argument& e) {
    in.fail(std::string("valid parameters (") + e.what() + ")", body);
  }
  std::int64_t steps = -1;
  if (header.count("steps") && (!parse_number(header.at("steps"), steps) || steps < 0))
    in.fail("a number of steps in the header", header.at("steps"));
  const bool roll = step_kind(encoding) == StepKind::frame;  // frames, named column by column
  if ((body == "frames") != roll) in.fail(roll ? "frames" : "tokens", body);

  // An encoding whose vocabulary comes from the data (notes) gets the tokens of this file, in
  // order of appearance; the others have theirs from the parameters.
  const bool own_vocabulary = vocabulary_from_data(encoding);
  std::vector<std::string> names;
  std::map<std::string, std::int32_t, std::less<>> own_ids;
  Codec codec = Codec::make(encoding, params);
  Sequence sequence = Sequence::empty_of(codec.step(), header.count("source") ? header.at("source") : "");
  const std::string grammar = token_grammar(encoding, params);
  while (in.next(line)) {
    if (line.empty() && roll) in.fail("a frame (key names, or - for silence)", line);
    if (line.empty()) continue;  // a trailing blank line
    if (roll) {
      std::vector<std::uint8_t> frame(static_cast<std::size_t>(sequence.width), 0);
      if (line != "-") {
        std::size_t begin = 0;
        while (begin <= line.size()) {
          const std::size_t end = std::min(line.find(' ', begin), line.size());
          const std::string_view key = line.substr(begin, end - begin);
          const std::int32_t id = codec.find(key);
          if (id < 0) in.fail(grammar, key);
          frame[static_cast<std::size_t>(id)] = 1;
          begin = end + 1;
        }
      }
      sequence.frames.insert(sequence.frames.end(), frame.begin(), frame.end());
    } else if (!own_vocabulary) {
      const std::int32_t id = codec.find(line);
      if (id < 0) in.fail(grammar, line);
      sequence.tokens.push_back(id);
    } else {
      auto it = own_ids.find(line);
      if (it == own_ids.end()) {
        try {
          Codec::make(encoding, params, {std::string(line)});
        } catch (const std::invalid_argument&) {
          in.fail(grammar, line);
        }
        it = own_ids.emplace(std::string(line), static_cast<std::int32_t>(names.size())).first;
        names.emplace_back(line);
      }
      sequence.tokens.push_back(it->second);
    }
  }
  if (own_vocabulary) codec = Codec::make(encoding, params, std::move(names));
  if (steps >= 0 && sequence.steps() != steps)
    throw std::runtime_error(source + ": expected " + std::to_string(steps) + " " + std::string(body) +
                             " as the header says, found " + std::to_string(sequence.steps()) +
                             " (a truncated file?)");
  return {std::move(codec), std::move(sequence)};
}

void save_tokens(const std::filesystem::path& path, const Codec& codec, const Sequence& sequence) {
  const std::string text = format_tokens(codec, sequence);
  nn::io::write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

std::pair<Codec, Sequence> load_tokens(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = nn::io::read_whole_file(path);
  return parse_tokens(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                      path.string());
}

}  // namespace musegen
