// The safetensors writer and reader, and the small JSON reader the header needs.
//
// The reader trusts nothing the file declares: the header length is checked against the
// file size (and a 100 MB cap, the reference's) before anything is read, every tensor's
// byte count is computed with overflow checks and compared with its data_offsets, and the
// tensors must tile the data buffer exactly (no gap, no overlap, nothing after the last),
// as the reference loader requires. Nothing is allocated from a declared size: every
// tensor's bytes are copied out of the input only once its offsets are known to lie inside.
//
// The JSON reader handles what a header holds and nothing more: objects, arrays, strings
// (all escapes, \uXXXX with surrogate pairs) and non-negative integers. Anything else
// (true/false/null, fractions, exponents, negative numbers, nesting deeper than 8) is a
// FormatError that says so.
#include "libnn/io/safetensors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <utility>

#include "libnn/io/atomic_file.hpp"

namespace nn::io {

FormatError::FormatError(std::string source, std::uint64_t offset, std::string context,
                         std::string expected, std::string found)
    : nn::Error(fmt::format("{}: byte {}: {}: expected {}, found {}", source, offset, context, expected,
                            found)),
      source_(std::move(source)),
      offset_(offset),
      context_(std::move(context)),
      expected_(std::move(expected)),
      found_(std::move(found)) {}

namespace {

struct DTypeInfo {
  StDType dtype;
  const char* name;
  std::size_t size;
  int reference_rank;  // position in the reference's Dtype enum, which orders the tensors
};

// Indexed by StDType. reference_rank: BOOL 0, U8 1, I8 2, I16 5, F16 7, BF16 8, I32 9,
// F32 11, F64 12, I64 13 (the gaps are F8_*, U16, U32, which libnn does not use).
constexpr std::array<DTypeInfo, kStDTypeCount> kDTypes{{
    {StDType::F64, "F64", 8, 12},
    {StDType::F32, "F32", 4, 11},
    {StDType::F16, "F16", 2, 7},
    {StDType::BF16, "BF16", 2, 8},
    {StDType::I64, "I64", 8, 13},
    {StDType::I32, "I32", 4, 9},
    {StDType::I16, "I16", 2, 5},
    {StDType::I8, "I8", 1, 2},
    {StDType::U8, "U8", 1, 1},
    {StDType::BOOL, "BOOL", 1, 0},
}};
static_assert(kDTypes.size() == static_cast<std::size_t>(StDType::BOOL) + 1,
              "kDTypes needs one entry per StDType");

const DTypeInfo& info(StDType dtype) {
  const auto index = static_cast<std::size_t>(dtype);
  if (index >= kDTypes.size() || kDTypes[index].dtype != dtype)
    throw std::invalid_argument(fmt::format("invalid StDType value {}", index));
  return kDTypes[index];
}

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // the reference's MAX_HEADER_SIZE
constexpr int kMaxJsonDepth = 8;                        // a header needs 3
constexpr std::string_view kMetadataKey = "__metadata__";

// ---- UTF-8 --------------------------------------------------------------------------------

// Offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or text.size() if none.
std::size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > n || s[i + 1] < low || s[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    i += length;
  }
  return n;
}

// A few characters of `text` from `pos`, quoted and escaped, for error messages.
std::string snippet(std::string_view text, std::size_t pos, std::size_t length = 16) {
  if (pos >= text.size()) return "the end of the header";
  std::string out = "'";
  const std::size_t end = std::min(text.size(), pos + length);
  for (std::size_t i = pos; i < end; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\'' || c == '\\') out += fmt::format("\\{}", static_cast<char>(c));
    else if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02X}", c);
  }
  if (end < text.size()) out += "...";
  return out + "'";
}

std::string quote_name(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') out += fmt::format("\\{}", ch);
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02X}", c);
    else out += ch;
  }
  return out + "\"";
}

// ---- JSON reader --------------------------------------------------------------------------

struct JsonMember;

struct JsonValue {
  enum class Kind { Object, Array, String, Integer };
  Kind kind = Kind::Object;
  std::size_t offset = 0;  // of the value's first byte, in the header text
  std::string string;
  std::uint64_t integer = 0;
  std::vector<JsonValue> items;     // Array
  std::vector<JsonMember> members;  // Object, in file order
};

struct JsonMember {
  std::string key;
  std::size_t key_offset = 0;
  JsonValue value;
};

const char* kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::Object: return "an object";
    case JsonValue::Kind::Array: return "an array";
    case JsonValue::Kind::String: return "a string";
    case JsonValue::Kind::Integer: return "an integer";
  }
  return "?";
}

class JsonParser {
 public:
  // `base` is the header's offset in the file, so that errors give file offsets.
  JsonParser(std::string_view text, std::uint64_t base, const std::string& source)
      : text_(text), base_(base), source_(source) {}

  // The header: one object, then nothing but whitespace (the writer's padding).
  JsonValue parse_header() {
    if (text_.empty() || text_[0] != '{') fail(0, "'{' opening the header", snippet(text_, 0));
    JsonValue top = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size())
      fail(pos_, "only spaces after the header's closing '}'", snippet(text_, pos_));
    return top;
  }

  [[noreturn]] void fail(std::size_t pos, std::string expected, std::string found) const {
    throw FormatError(source_, base_ + pos, "header JSON", std::move(expected), std::move(found));
  }

 private:
  void skip_whitespace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c, const char* what) {
    skip_whitespace();
    if (pos_ >= text_.size() || text_[pos_] != c) fail(pos_, what, snippet(text_, pos_));
    ++pos_;
  }

  JsonValue parse_value(int depth) {
    skip_whitespace();
    if (pos_ >= text_.size()) fail(pos_, "a value", "the end of the header");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= kMaxJsonDepth)
        fail(pos_, fmt::format("at most {} levels of nesting", kMaxJsonDepth), "deeper nesting");
      return c == '{' ? parse_object(depth + 1) : parse_array(depth + 1);
    }
    if (c == '"') return parse_string();
    if (c >= '0' && c <= '9') return parse_integer();
    if (c == '-') fail(pos_, "a non-negative integer", snippet(text_, pos_));
    fail(pos_, "a string, a non-negative integer, an object or an array", snippet(text_, pos_));
  }

  JsonValue parse_object(int depth) {
    JsonValue value;
    value.kind = JsonValue::Kind::Object;
    value.offset = pos_;
    ++pos_;  // '{'
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return value;
    }
    while (true) {
      skip_whitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') fail(pos_, "a quoted key", snippet(text_, pos_));
      JsonMember member;
      member.key_offset = pos_;
      member.key = parse_string().string;
      expect(':', "':' after the key");
      member.value = parse_value(depth);
      value.members.push_back(std::move(member));
      skip_whitespace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      expect('}', "',' or '}' in an object");
      return value;
    }
  }

  JsonValue parse_array(int depth) {
    JsonValue value;
    value.kind = JsonValue::Kind::Array;
    value.offset = pos_;
    ++pos_;  // '['
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return value;
    }
    while (true) {
      value.items.push_back(parse_value(depth));
      skip_whitespace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      expect(']', "',' or ']' in an array");
      return value;
    }
  }

  JsonValue parse_integer() {
    JsonValue value;
    value.kind = JsonValue::Kind::Integer;
    value.offset = pos_;
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
      fail(pos_, "an integer without leading zeros", snippet(text_, pos_));
    std::uint64_t n = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
        fail(value.offset, "an integer below 2^64", snippet(text_, value.offset, 24));
      n = n * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      fail(value.offset, "an integer", "a number with a fraction or an exponent: " + snippet(text_, value.offset));
    value.integer = n;
    return value;
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // The four hex digits after "\u" at pos_ (which points at the backslash).
  unsigned parse_u_escape() {
    if (pos_ + 6 > text_.size()) fail(pos_, "four hex digits after \\u", snippet(text_, pos_));
    unsigned code = 0;
    for (std::size_t k = 2; k < 6; ++k) {
      const int d = hex_digit(text_[pos_ + k]);
      if (d < 0) fail(pos_, "four hex digits after \\u", snippet(text_, pos_, 6));
      code = code * 16 + static_cast<unsigned>(d);
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // The header was checked to be valid UTF-8 as a whole, so multi-byte characters are
  // copied through; only escapes and control characters need attention here.
  JsonValue parse_string() {
    JsonValue value;
    value.kind = JsonValue::Kind::String;
    value.offset = pos_;
    ++pos_;  // '"'
    while (true) {
      if (pos_ >= text_.size()) fail(value.offset, "a closing '\"' for the string", "the end of the header");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return value;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        fail(pos_, "a control character to be escaped in a string", snippet(text_, pos_, 1));
      if (c != '\\') {
        value.string += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) fail(pos_, "an escape sequence", "the end of the header");
      const char e = text_[pos_ + 1];
      switch (e) {
        case '"': value.string += '"'; break;
        case '\\': value.string += '\\'; break;
        case '/': value.string += '/'; break;
        case 'b': value.string += '\b'; break;
        case 'f': value.string += '\f'; break;
        case 'n': value.string += '\n'; break;
        case 'r': value.string += '\r'; break;
        case 't': value.string += '\t'; break;
        case 'u': {
          unsigned code = parse_u_escape();
          const std::size_t escape_at = pos_;
          if (code >= 0xDC00 && code <= 0xDFFF)
            fail(escape_at, "a high surrogate before a low one", snippet(text_, escape_at, 6));
          if (code >= 0xD800 && code <= 0xDBFF) {
            pos_ += 6;
            if (pos_ + 1 >= text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
              fail(escape_at, "a low surrogate \\uDC00-\\uDFFF after a high one", snippet(text_, escape_at, 12));
            const unsigned low = parse_u_escape();
            if (low < 0xDC00 || low > 0xDFFF)
              fail(escape_at, "a low surrogate \\uDC00-\\uDFFF after a high one", snippet(text_, escape_at, 12));
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(value.string, code);
          pos_ += 6;
          continue;
        }
        default: fail(pos_, "an escape sequence (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", snippet(text_, pos_, 2));
      }
      pos_ += 2;
    }
  }

  std::string_view text_;
  std::uint64_t base_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

// ---- JSON writer (the reference's compact serde_json output) -------------------------------

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += ch;
    }
  }
  out += '"';
}

void require_utf8(std::string_view s, const char* what) {
  const std::size_t bad = first_invalid_utf8(s);
  if (bad != s.size())
    throw std::invalid_argument(
        fmt::format("safetensors: {} {} is not valid UTF-8 (byte {})", what, quote_name(s), bad));
}

std::string shape_string(std::span<const std::int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// ---- decoding helpers ----------------------------------------------------------------------

struct Entry {
  std::string name;
  std::uint64_t file_offset;  // of the entry's value in the file, for errors
  StDType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
};

class HeaderReader {
 public:
  HeaderReader(std::uint64_t base, const std::string& source) : base_(base), source_(source) {}

  [[noreturn]] void fail(std::size_t pos, std::string context, std::string expected, std::string found) const {
    throw FormatError(source_, base_ + pos, std::move(context), std::move(expected), std::move(found));
  }

  std::map<std::string, std::string> metadata(const JsonValue& value) const {
    if (value.kind != JsonValue::Kind::Object)
      fail(value.offset, "\"__metadata__\"", "an object of strings", kind_name(value.kind));
    std::map<std::string, std::string> out;
    for (const JsonMember& m : value.members) {
      if (m.value.kind != JsonValue::Kind::String)
        fail(m.value.offset, fmt::format("\"__metadata__\" key {}", quote_name(m.key)), "a string value",
             kind_name(m.value.kind));
      if (!out.emplace(m.key, m.value.string).second)
        fail(m.key_offset, "\"__metadata__\"", "unique keys", fmt::format("{} twice", quote_name(m.key)));
    }
    return out;
  }

  Entry tensor(const JsonMember& member) const {
    const std::string context = fmt::format("tensor {}", quote_name(member.key));
    const JsonValue& value = member.value;
    if (value.kind != JsonValue::Kind::Object)
      fail(value.offset, context, "an object with dtype, shape and data_offsets", kind_name(value.kind));
    const JsonValue* dtype = nullptr;
    const JsonValue* shape = nullptr;
    const JsonValue* offsets = nullptr;
    for (const JsonMember& field : value.members) {
      const JsonValue** slot = field.key == "dtype"          ? &dtype
                               : field.key == "shape"        ? &shape
                               : field.key == "data_offsets" ? &offsets
                                                             : nullptr;
      if (!slot) fail(field.key_offset, context, "only the keys dtype, shape and data_offsets", quote_name(field.key));
      if (*slot) fail(field.key_offset, context, "each key once", fmt::format("{} twice", quote_name(field.key)));
      *slot = &field.value;
    }
    if (!dtype) fail(value.offset, context, "a \"dtype\"", "none");
    if (!shape) fail(value.offset, context, "a \"shape\"", "none");
    if (!offsets) fail(value.offset, context, "\"data_offsets\"", "none");

    Entry entry;
    entry.name = member.key;
    entry.file_offset = base_ + value.offset;

    if (dtype->kind != JsonValue::Kind::String) fail(dtype->offset, context, "a dtype string", kind_name(dtype->kind));
    const auto known = std::find_if(kDTypes.begin(), kDTypes.end(),
                                    [&](const DTypeInfo& d) { return dtype->string == d.name; });
    if (known == kDTypes.end())
      fail(dtype->offset, context, "a dtype among F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL",
           quote_name(dtype->string));
    entry.dtype = known->dtype;

    if (shape->kind != JsonValue::Kind::Array) fail(shape->offset, context, "a shape array", kind_name(shape->kind));
    for (const JsonValue& dim : shape->items) {
      if (dim.kind != JsonValue::Kind::Integer)
        fail(dim.offset, context, "integer dimensions in the shape", kind_name(dim.kind));
      if (dim.integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(dim.offset, context, "dimensions below 2^63", std::to_string(dim.integer));
      entry.shape.push_back(static_cast<std::int64_t>(dim.integer));
    }

    if (offsets->kind != JsonValue::Kind::Array || offsets->items.size() != 2 ||
        offsets->items[0].kind != JsonValue::Kind::Integer || offsets->items[1].kind != JsonValue::Kind::Integer)
      fail(offsets->offset, context, "data_offsets as [begin, end], two integers",
           offsets->kind == JsonValue::Kind::Array ? fmt::format("an array of {} items", offsets->items.size())
                                                   : kind_name(offsets->kind));
    entry.begin = offsets->items[0].integer;
    entry.end = offsets->items[1].integer;
    if (entry.end < entry.begin)
      fail(offsets->offset, context, "data_offsets with begin <= end",
           fmt::format("[{}, {}]", entry.begin, entry.end));

    const std::optional<std::uint64_t> bytes = byte_count(entry.dtype, entry.shape);
    if (!bytes)
      fail(shape->offset, context, "a shape whose byte count fits in 64 bits",
           fmt::format("{} {}", known->name, shape_string(entry.shape)));
    if (entry.end - entry.begin != *bytes)
      fail(offsets->offset, context,
           fmt::format("data_offsets spanning {} bytes ({} of shape {})", *bytes, known->name,
                       shape_string(entry.shape)),
           fmt::format("[{}, {}], {} bytes", entry.begin, entry.end, entry.end - entry.begin));
    return entry;
  }

 private:
  std::uint64_t base_;
  const std::string& source_;
};

}  // namespace

std::size_t element_size(StDType dtype) { return info(dtype).size; }

std::string_view dtype_name(StDType dtype) { return info(dtype).name; }

std::optional<std::uint64_t> byte_count(StDType dtype, std::span<const std::int64_t> shape) {
  // Element count first, then bytes, as the reference does: [2^62, 0] is fine, [2^40,
  // 2^40, 0] overflows on the way and is rejected even though its product is 0.
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t elements = 1;
  for (const std::int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(dim);
    if (d != 0 && elements > kMax / d) return std::nullopt;
    elements *= d;
  }
  const std::uint64_t size = info(dtype).size;
  if (elements > kMax / size) return std::nullopt;
  return elements * size;
}

const StTensor* StFile::find(std::string_view name) const {
  for (const StTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<std::byte> encode_safetensors(const StFile& file) {
  // Validate first: nothing is written for a file that cannot be read back.
  std::set<std::string_view> names;
  for (const StTensor& t : file.tensors) {
    const DTypeInfo& d = info(t.dtype);
    if (t.name == kMetadataKey)
      throw std::invalid_argument("safetensors: a tensor cannot be called \"__metadata__\"");
    require_utf8(t.name, "tensor name");
    if (!names.insert(t.name).second)
      throw std::invalid_argument(fmt::format("safetensors: two tensors are called {}", quote_name(t.name)));
    const std::optional<std::uint64_t> bytes = byte_count(t.dtype, t.shape);
    if (!bytes)
      throw std::invalid_argument(fmt::format("safetensors: tensor {}: invalid shape {}", quote_name(t.name),
                                              shape_string(t.shape)));
    if (*bytes != t.data.size())
      throw std::invalid_argument(fmt::format("safetensors: tensor {}: expected {} bytes ({} of shape {}), got {}",
                                              quote_name(t.name), *bytes, d.name, shape_string(t.shape),
                                              t.data.size()));
  }
  for (const auto& [key, value] : file.metadata) {
    require_utf8(key, "metadata key");
    require_utf8(value, "metadata value");
  }

  // The reference's order: widest alignment first, then by name.
  std::vector<const StTensor*> order;
  for (const StTensor& t : file.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const StTensor* a, const StTensor* b) {
    const int ra = info(a->dtype).reference_rank, rb = info(b->dtype).reference_rank;
    return ra != rb ? ra > rb : a->name < b->name;
  });

  std::string header = "{";
  if (!file.metadata.empty()) {
    append_json_string(header, kMetadataKey);
    header += ":{";
    bool first = true;
    for (const auto& [key, value] : file.metadata) {
      if (!first) header += ',';
      first = false;
      append_json_string(header, key);
      header += ':';
      append_json_string(header, value);
    }
    header += '}';
  }
  std::uint64_t offset = 0;
  for (const StTensor* t : order) {
    if (header.size() > 1) header += ',';
    append_json_string(header, t->name);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", info(t->dtype).name,
                          fmt::join(t->shape, ","), offset, offset + t->data.size());
    offset += t->data.size();
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');  // the data buffer starts 8-aligned

  std::vector<std::byte> out;
  out.reserve(8 + header.size() + offset);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xFF));
  const auto* h = reinterpret_cast<const std::byte*>(header.data());
  out.insert(out.end(), h, h + header.size());
  for (const StTensor* t : order) out.insert(out.end(), t->data.begin(), t->data.end());
  return out;
}

void write_safetensors(const std::filesystem::path& path, const StFile& file) {
  write_file_atomically(path, encode_safetensors(file));
}

StFile decode_safetensors(std::span<const std::byte> bytes, const std::string& source_name) {
  const std::uint64_t size = bytes.size();
  if (size < 8)
    throw FormatError(source_name, 0, "header length", "an 8-byte little-endian header length",
                      fmt::format("a file of {} bytes", size));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
  if (n > kMaxHeaderSize)
    throw FormatError(source_name, 0, "header length", fmt::format("at most {} bytes", kMaxHeaderSize),
                      std::to_string(n));
  if (n > size - 8)
    throw FormatError(source_name, 0, "header length",
                      fmt::format("a header of {} bytes, which needs a file of at least {} bytes", n, 8 + n),
                      fmt::format("a file of {} bytes", size));

  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n));
  const std::size_t bad = first_invalid_utf8(text);
  if (bad != text.size())
    throw FormatError(source_name, 8 + bad, "header", "valid UTF-8",
                      fmt::format("the byte 0x{:02X}", static_cast<unsigned char>(text[bad])));

  JsonParser parser(text, 8, source_name);
  const JsonValue top = parser.parse_header();

  const HeaderReader reader(8, source_name);
  StFile file;
  bool seen_metadata = false;
  std::vector<Entry> entries;
  std::map<std::string_view, std::size_t> seen;  // name -> key offset
  for (const JsonMember& m : top.members) {
    if (m.key == kMetadataKey) {
      if (seen_metadata) reader.fail(m.key_offset, "header", "\"__metadata__\" once", "it twice");
      seen_metadata = true;
      file.metadata = reader.metadata(m.value);
      continue;
    }
    if (!seen.emplace(m.key, m.key_offset).second)
      reader.fail(m.key_offset, "header", "unique tensor names", fmt::format("{} twice", quote_name(m.key)));
    entries.push_back(reader.tensor(m));
  }

  // The tensors must tile the data buffer: sorted by offsets, each begins where the
  // previous one ended, and the last one ends at the end of the file.
  const std::uint64_t buffer_start = 8 + n;
  const std::uint64_t buffer_size = size - buffer_start;
  std::vector<std::size_t> order(entries.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(entries[a].begin, entries[a].end) < std::pair(entries[b].begin, entries[b].end);
  });
  std::uint64_t cursor = 0;
  const Entry* previous = nullptr;
  for (const std::size_t i : order) {
    const Entry& e = entries[i];
    const std::string context = fmt::format("tensor {}", quote_name(e.name));
    if (e.begin < cursor)
      throw FormatError(source_name, e.file_offset, context,
                        fmt::format("data beginning at {}, where tensor {} ends (no overlap)", cursor,
                                    quote_name(previous->name)),
                        fmt::format("data_offsets [{}, {}], overlapping it", e.begin, e.end));
    if (e.begin > cursor)
      throw FormatError(source_name, e.file_offset, context,
                        previous ? fmt::format("data beginning at {}, where tensor {} ends (no gap)", cursor,
                                               quote_name(previous->name))
                                 : std::string("data beginning at 0, the start of the data buffer (no gap)"),
                        fmt::format("data_offsets [{}, {}], leaving a gap of {} bytes", e.begin, e.end,
                                    e.begin - cursor));
    if (e.end > buffer_size)
      throw FormatError(source_name, e.file_offset, context,
                        fmt::format("data_offsets inside the data buffer of {} bytes (bytes {} to {} of the file)",
                                    buffer_size, buffer_start, size),
                        fmt::format("[{}, {}], reaching {} bytes past the end of the file (truncated?)", e.begin,
                                    e.end, e.end - buffer_size));
    cursor = e.end;
    previous = &e;
  }
  if (cursor != buffer_size)
    throw FormatError(source_name, buffer_start + cursor, "data buffer",
                      fmt::format("the file to end with the last tensor, at byte {}", buffer_start + cursor),
                      fmt::format("{} more bytes", buffer_size - cursor));

  file.tensors.reserve(entries.size());
  for (const std::size_t i : order) {
    Entry& e = entries[i];
    const auto first = bytes.begin() + static_cast<std::ptrdiff_t>(buffer_start + e.begin);
    const auto last = bytes.begin() + static_cast<std::ptrdiff_t>(buffer_start + e.end);
    file.tensors.push_back(StTensor{std::move(e.name), e.dtype, std::move(e.shape), std::vector<std::byte>(first, last)});
  }
  return file;
}

StFile read_safetensors(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = read_whole_file(path);
  return decode_safetensors(bytes, path.string());
}

}  // namespace nn::io
