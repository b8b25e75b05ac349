// A JSON reader for exactly the shape of the JSB chorales files (an object of arrays of
// arrays of arrays of integers), with line and column in every error. General JSON is not
// needed anywhere else in musegen, so this stays small rather than general.
#include "jsb.hpp"

#include <algorithm>
#include <cstddef>

#include "libnn/io/atomic_file.hpp"

namespace musegen {

namespace {

class JsonCursor {
 public:
  JsonCursor(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  [[noreturn]] void fail(const std::string& expected) const {
    std::string found;
    if (pos_ >= text_.size()) {
      found = "the end of the file";
    } else {
      const char c = text_[pos_];
      found = c >= 0x20 && c < 0x7F ? "'" + std::string(1, c) + "'"
                                    : "byte " + std::to_string(static_cast<unsigned char>(c));
    }
    // Line and column (1-based, columns in bytes) of pos_.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw std::runtime_error(source_ + ":" + std::to_string(line) + ":" + std::to_string(column) +
                             ": expected " + expected + ", found " + found);
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c, const std::string& what) {
    if (!peek(c)) fail(what);
    ++pos_;
  }
  bool at_end() {
    skip_space();
    return pos_ >= text_.size();
  }
  std::size_t pos() const { return pos_; }
  void set_pos(std::size_t p) { pos_ = p; }

  // A string without escapes (the keys of this format are plain words).
  std::string string() {
    expect('"', "'\"' (a key)");
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' || static_cast<unsigned char>(text_[pos_]) < 0x20)
        fail("a key made of plain characters");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("'\"' closing the key");
    return std::string(text_.substr(begin, pos_++ - begin));
  }

  // A number with an integral value in lo..hi ("60", "-1", and "60.0" as some files write it).
  int integer(int lo, int hi) {
    skip_space();
    const std::size_t begin = pos_;
    const std::string range = "a pitch (an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ")";
    const auto digit = [&] { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (!digit()) {
      pos_ = begin;
      fail(range);
    }
    long long value = 0;
    bool integral = true, huge = false;
    while (digit()) {
      value = value * 10 + (text_[pos_++] - '0');
      if (value > 1'000'000) {
        huge = true;
        value = 1'000'000;
      }
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digit()) fail("a digit after the decimal point");
      while (digit()) integral = integral && text_[pos_++] == '0';
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) integral = false;
    while (pos_ < text_.size() && (digit() || text_[pos_] == 'e' || text_[pos_] == 'E' ||
                                   text_[pos_] == '+' || text_[pos_] == '-'))
      ++pos_;
    if (text_[begin] == '-') value = -value;
    if (!integral || huge || value < lo || value > hi) {
      const std::string found(text_.substr(begin, pos_ - begin));
      pos_ = begin;
      throw_value(range, found);
    }
    return static_cast<int>(value);
  }

  [[noreturn]] void throw_value(const std::string& expected, const std::string& found) {
    try {
      fail(expected);
    } catch (const std::runtime_error& e) {
      std::string message = e.what();
      message = message.substr(0, message.rfind(", found ")) + ", found " + found;
      throw std::runtime_error(message);
    }
  }

 private:
  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

// [ item, item, ... ] with `item` called for each element.
template <class F>
void array(JsonCursor& in, const std::string& what, F&& item) {
  in.expect('[', "'[' starting " + what);
  if (in.peek(']')) {
    in.expect(']', "']'");
    return;
  }
  while (true) {
    item();
    if (in.peek(',')) {
      in.expect(',', "','");
      continue;
    }
    in.expect(']', "',' or ']' in " + what);
    return;
  }
}

}  // namespace

JsbChorales parse_jsb(std::string_view text, const std::string& source) {
  JsonCursor in(text, source);
  JsbChorales out;
  bool seen[3] = {false, false, false};
  in.expect('{', "'{' starting the JSB chorales object");
  bool first = true;
  while (!in.peek('}')) {
    if (!first) in.expect(',', "',' or '}'");
    first = false;
    const std::size_t key_pos = (in.skip_space(), in.pos());
    const std::string key = in.string();
    int index = key == "train" ? 0 : key == "valid" ? 1 : key == "test" ? 2 : -1;
    if (index < 0 || seen[index]) {
      in.set_pos(key_pos);
      in.throw_value(index < 0 ? "a key among \"train\", \"valid\", \"test\""
                               : "each key once",
                     "\"" + key + "\"");
    }
    seen[index] = true;
    in.expect(':', "':' after the key");
    std::vector<JsbChorale>& split = index == 0 ? out.train : index == 1 ? out.valid : out.test;
    array(in, "the list of chorales", [&] {
      JsbChorale chorale;
      array(in, "a chorale (a list of time steps)", [&] {
        std::vector<int> step;
        array(in, "a time step (a list of pitches)", [&] {
          const int pitch = in.integer(-1, 127);
          if (pitch >= 0) step.push_back(pitch);
        });
        std::sort(step.begin(), step.end());
        step.erase(std::unique(step.begin(), step.end()), step.end());
        chorale.push_back(std::move(step));
      });
      split.push_back(std::move(chorale));
    });
  }
  in.expect('}', "'}'");
  if (!in.at_end()) in.fail("the end of the file after the object");
  return out;
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
