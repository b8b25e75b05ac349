// The JSB chorales reader: nlohmann-json's SAX parser (docs/architecture.md, "The app's
// libraries") drives a handler that checks the shape as the parser goes (an object of lists of
// lists of lists of pitches) and builds the chorales directly, without a JSON tree in between.
//
// Every error names file:line:column. nlohmann reports a syntax error with the byte offset
// where its lexer stopped; its SAX events carry no position at all, so the parser reads the
// text through TrackedIterator, which leaves where it is for the handler: a value the handler
// rejects (a pitch of 128, a time step that is not a list) is found in the text from there.
#include "jsb.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>

#include "libnn/io/atomic_file.hpp"

namespace musegen {

namespace {

using Json = nlohmann::json;

// An input iterator over the text that writes its position to *head as it advances. nlohmann
// reads its input one byte at a time through an iterator pair and never looks back.
class TrackedIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackedIterator(const char* at, const char** head) : at_(at), head_(head) {}
  reference operator*() const { return *at_; }
  TrackedIterator& operator++() {
    *head_ = ++at_;
    return *this;
  }
  TrackedIterator operator++(int) {
    TrackedIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const TrackedIterator& other) const { return at_ == other.at_; }

 private:
  const char* at_;
  const char** head_;
};

// Where the handler is: the open containers, outermost first.
enum class Level { object, chorales, chorale, step };
struct Frame {
  Level level;
  std::size_t count = 0;  // elements begun so far
};

// What the document must be (kTop), what a new element of a container at `level` must be,
// and what that container is.
constexpr const char* kTop = "'{' starting the JSB chorales object";
const char* element_role(Level level) {
  switch (level) {
    case Level::object: return "a list of chorales";
    case Level::chorales: return "a chorale (a list of time steps)";
    case Level::chorale: return "a time step (a list of pitches)";
    case Level::step: return "a pitch (an integer -1..127)";
  }
  return "";
}
const char* container_role(Level level) {
  switch (level) {
    case Level::object: return "the JSB chorales object";
    case Level::chorales: return "the list of chorales";
    case Level::chorale: return "a chorale (a list of time steps)";
    case Level::step: return "a time step (a list of pitches)";
  }
  return "";
}

std::string describe_byte(std::string_view text, std::size_t at) {
  if (at >= text.size()) return "the end of the file";
  const char c = text[at];
  return c >= 0x20 && c < 0x7F ? "'" + std::string(1, c) + "'"
                               : "byte " + std::to_string(static_cast<unsigned char>(c));
}

class Handler {
 public:
  Handler(std::string_view text, const std::string& source) : text_(text), source_(source), head_(text.data()) {}

  const char** head() { return &head_; }
  JsbChorales take() { return std::move(out_); }

  // --- nlohmann's SAX interface ---------------------------------------------------------

  bool start_object(std::size_t) {
    if (!stack_.empty()) value_error(head_offset() - 1, "'{'");
    stack_.push_back({Level::object});
    return true;
  }
  bool key(Json::string_t& key) {
    const int index = key == "train" ? 0 : key == "valid" ? 1 : key == "test" ? 2 : -1;
    if (index < 0 || seen_[index]) {
      const std::size_t end = head_offset(), begin = string_begin(end);
      fail(begin, index < 0 ? "a key among \"train\", \"valid\", \"test\"" : "each key once",
           std::string(text_.substr(begin, end - begin)), false);
    }
    seen_[index] = true;
    key_ = key;
    split_ = index == 0 ? &out_.train : index == 1 ? &out_.valid : &out_.test;
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    if (stack_.empty() || stack_.back().level == Level::step) value_error(head_offset() - 1, "'['");
    Frame& parent = stack_.back();
    ++parent.count;
    switch (parent.level) {
      case Level::object: stack_.push_back({Level::chorales}); break;
      case Level::chorales: stack_.push_back({Level::chorale}); chorale_.clear(); break;
      case Level::chorale: stack_.push_back({Level::step}); step_.clear(); break;
      case Level::step: break;
    }
    return true;
  }
  bool end_array() {
    switch (stack_.back().level) {
      case Level::step:
        std::sort(step_.begin(), step_.end());
        step_.erase(std::unique(step_.begin(), step_.end()), step_.end());
        chorale_.push_back(std::move(step_));
        step_.clear();
        break;
      case Level::chorale: split_->push_back(std::move(chorale_)); break;
      case Level::chorales: key_.clear(); break;
      case Level::object: break;
    }
    stack_.pop_back();
    return true;
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (!in_step() || value > 127) number_error(std::to_string(value));
    return pitch(static_cast<int>(value));
  }
  bool number_integer(Json::number_integer_t value) {
    if (!in_step() || value < -1 || value > 127) number_error(std::to_string(value));
    return pitch(static_cast<int>(value));
  }
  // 60.0 (as some files write it) and 6e1 are 60, as Python's json module and int() read them.
  bool number_float(Json::number_float_t value, const Json::string_t& written) {
    if (!in_step() || !(value >= -1 && value <= 127) || value != static_cast<int>(value)) number_error(written);
    return pitch(static_cast<int>(value));
  }
  bool string(Json::string_t&) {
    const std::size_t end = head_offset(), begin = string_begin(end);
    value_error(begin, std::string(text_.substr(begin, end - begin)));
  }
  bool boolean(bool value) { return literal(value ? 4 : 5); }
  bool null() { return literal(4); }
  bool binary(Json::binary_t&) { return false; }  // never from JSON text

  // A syntax error, where `position` counts the bytes nlohmann's lexer has read. Its message
  // either says "unexpected T; expected E" (a whole token T, read up to its end, came where
  // the grammar allows E) or gives the lexer's own complaint about the byte it stopped at
  // ("invalid number; expected digit after '-'; last read: '-]'"). The words are nlohmann's
  // (3.11), pinned by JsbReader.SyntaxErrorsSayWhatWasExpected; wording this function does
  // not know is passed on as it is.
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& error) {
    // A number too large for a double (1e400): nlohmann's out_of_range.406, after the token.
    if (error.id == 406) value_error(position - std::min(position, last_token.size()), last_token);
    const std::string what = error.what();
    const std::size_t dash = what.find(" - ");
    const std::string detail = dash == std::string::npos ? what : what.substr(dash + 3);
    const std::size_t last_read = detail.find("; last read: '");
    const std::size_t expected_at = detail.rfind("; expected ");
    const bool has_expected = expected_at != std::string::npos &&
                              (last_read == std::string::npos || expected_at > last_read);
    const std::string expected = has_expected ? detail.substr(expected_at + 11) : "";
    const std::size_t stopped = position > 0 ? position - 1 : 0;
    if (detail.rfind("unexpected ", 0) == 0) {
      const std::string token = detail.substr(11, (has_expected ? expected_at : detail.size()) - 11);
      if (token == "end of input") fail(text_.size(), in_words(expected), "the end of the file", true);
      if (token.size() == 3 && token.front() == '\'') fail(stopped, in_words(expected), token, true);
      // A number, string or literal token, which ends where the lexer stopped.
      const std::size_t begin = position >= last_token.size() ? position - last_token.size() : 0;
      fail(begin, in_words(expected), last_token, true);
    }
    if (has_expected && stopped < text_.size())
      fail(stopped, in_words(expected), describe_byte(text_, stopped), true);
    fail(stopped, "", detail.substr(0, last_read) + ", found " + describe_byte(text_, stopped), true);
  }

 private:
  // nlohmann's name of what it expected, in the words of this format.
  std::string in_words(const std::string& expected) const {
    if (expected == "'[', '{', or a literal") return stack_.empty() ? kTop : element_role(stack_.back().level);
    if (expected == "']'") return "',' or ']' in " + std::string(container_role(stack_.back().level));
    if (expected == "'}'") return "',' or '}'";
    if (expected == "end of input") return "the end of the file after the object";
    if (expected == "string literal") return "a key among \"train\", \"valid\", \"test\"";
    if (expected == "':'") return "':' after the key";
    return expected;
  }

  bool in_step() const { return !stack_.empty() && stack_.back().level == Level::step; }
  bool pitch(int value) {
    ++stack_.back().count;
    if (value >= 0) step_.push_back(value);
    return true;
  }

  // A number the handler rejects, written as `written`. The lexer has read one byte past it
  // (and given it back to itself), except at the end of the text.
  [[noreturn]] void number_error(const std::string& written) {
    std::size_t end = head_offset();
    if (end > written.size() && text_.substr(end - 1 - written.size(), written.size()) == written) --end;
    value_error(end - std::min(end, written.size()), written);
  }

  bool literal(std::size_t length) {  // true, false, null: read to their last byte, no further
    const std::size_t end = head_offset(), begin = end - std::min(end, length);
    value_error(begin, std::string(text_.substr(begin, end - begin)));
  }

  // The value written `found` at byte `begin` is not what the containing level needs.
  [[noreturn]] void value_error(std::size_t begin, const std::string& found) {
    fail(begin, stack_.empty() ? kTop : element_role(stack_.back().level), found, true);
  }

  // The start of the string token that ends (after its closing quote) at `end`.
  std::size_t string_begin(std::size_t end) const {
    std::size_t i = end >= 2 ? end - 2 : 0;
    while (i > 0) {
      if (text_[i] == '"') {
        std::size_t backslashes = 0;
        while (backslashes < i && text_[i - 1 - backslashes] == '\\') ++backslashes;
        if (backslashes % 2 == 0) return i;
      }
      --i;
    }
    return i;
  }

  std::size_t head_offset() const { return static_cast<std::size_t>(head_ - text_.data()); }

  // Where the next value goes: "train[3][12][1]"; "train" for a key's value; "" at the top.
  std::string next_path() const {
    if (stack_.empty()) return "";
    std::string path = key_;
    for (std::size_t i = 2; i < stack_.size(); ++i) path += "[" + std::to_string(stack_[i - 1].count - 1) + "]";
    if (stack_.size() > 1) path += "[" + std::to_string(stack_.back().count) + "]";
    return path;
  }

  // Throws "<source>:<line>:<column>: expected <expected>, found <found>[ in <path>]" for the
  // byte `at` (1-based line and column, columns in bytes); with `expected` empty, `found` is
  // the whole complaint.
  [[noreturn]] void fail(std::size_t at, const std::string& expected, const std::string& found, bool with_path) const {
    at = std::min(at, text_.size());
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < at; ++i)
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    std::string message = source_ + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1) + ": " +
                          (expected.empty() ? found : "expected " + expected + ", found " + found);
    const std::string path = with_path ? next_path() : "";
    if (!path.empty()) message += " in " + path;
    throw std::runtime_error(message);
  }

  std::string_view text_;
  const std::string& source_;
  const char* head_;  // one past the last byte the parser has read
  std::vector<Frame> stack_;
  std::string key_;  // the key whose value is being read, "" between keys
  bool seen_[3] = {false, false, false};
  JsbChorales out_;
  std::vector<JsbChorale>* split_ = nullptr;
  JsbChorale chorale_;
  std::vector<int> step_;
};

}  // namespace

JsbChorales parse_jsb(std::string_view text, const std::string& source) {
  Handler handler(text, source);
  const char* begin = text.data();
  Json::sax_parse(TrackedIterator(begin, handler.head()), TrackedIterator(begin + text.size(), handler.head()),
                  &handler);
  return handler.take();
}

JsbChorales read_jsb(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = nn::io::read_whole_file(path);
  return parse_jsb(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                   path.string());
}

int jsb_frames_per_quarter(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (name.find("quarter") != std::string::npos) return 1;
  if (name.find("16th") != std::string::npos) return 4;
  if (name.find("8th") != std::string::npos) return 2;
  return 0;
}

Piece jsb_piece(const JsbChorale& chorale, int frames_per_quarter, double tempo_bpm) {
  Piece piece;
  const double seconds_per_quarter = 60.0 / tempo_bpm;
  const std::size_t steps = chorale.size();
  // For each pitch, the step where its current run began (or npos).
  std::vector<std::size_t> run_start(128, std::string::npos);
  const auto close = [&](int pitch, std::size_t end) {
    PieceNote n;
    n.start_quarters = static_cast<double>(run_start[static_cast<std::size_t>(pitch)]) / frames_per_quarter;
    n.end_quarters = static_cast<double>(end) / frames_per_quarter;
    n.start_seconds = n.start_quarters * seconds_per_quarter;
    n.end_seconds = n.end_quarters * seconds_per_quarter;
    n.pitch = pitch;
    n.velocity = 80;
    piece.notes.push_back(n);
    run_start[static_cast<std::size_t>(pitch)] = std::string::npos;
  };
  std::vector<bool> sounding(128, false);
  for (std::size_t s = 0; s <= steps; ++s) {
    std::vector<bool> now(128, false);
    if (s < steps)
      for (int p : chorale[s]) now[static_cast<std::size_t>(p)] = true;
    for (int p = 0; p < 128; ++p) {
      const auto i = static_cast<std::size_t>(p);
      if (sounding[i] && !now[i]) close(p, s);
      if (!sounding[i] && now[i]) run_start[i] = s;
    }
    sounding = now;
  }
  std::stable_sort(piece.notes.begin(), piece.notes.end(), [](const PieceNote& a, const PieceNote& b) {
    return a.start_quarters < b.start_quarters ||
           (a.start_quarters == b.start_quarters && a.pitch < b.pitch);
  });
  return piece;
}

}  // namespace musegen
