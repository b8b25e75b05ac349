// The training-state file (docs/formats.md, "The training-state file"): writer and reader.
//
// The reader checks, in this order, what it can explain best: the magic, the format
// version (a newer file says so rather than "bad checksum"), the declared file size (a
// truncated file says so), the CRC-32C over everything before it, and only then parses
// the entry table; the table is still read through a bounds-checked cursor, because a
// checksum protects against accidents, not against a file built to match it.
#include "libnn/io/state_file.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include "libnn/io/atomic_file.hpp"
#include "libnn/io/checksum.hpp"

namespace nn::io {
namespace {

constexpr std::array<char, 8> kMagic{'M', 'G', 'S', 'T', 'A', 'T', 'E', '\0'};
constexpr std::size_t kHeaderSize = 24;      // magic, version, entry count, file size
constexpr std::size_t kChecksumSize = 4;     // CRC-32C, last in the file
constexpr std::size_t kEntryFixedSize = 26;  // kind, dtype, name length, rank, offset, size

enum class Kind : std::uint8_t { Tensor = 1, Int = 2, Float = 3, Bytes = 4 };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Tensor: return "tensor";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Bytes: return "string";
  }
  return "?";
}

// Tensor element types are stored as 1 + the StDType value: F64 1, F32 2, F16 3, BF16 4,
// I64 5, I32 6, I16 7, I8 8, U8 9, BOOL 10 (0 means "not a tensor").
std::uint8_t dtype_code(StDType dtype) { return static_cast<std::uint8_t>(static_cast<int>(dtype) + 1); }

class Writer {
 public:
  void u8(std::uint8_t v) { bytes.push_back(static_cast<std::byte>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  void put_u64_at(std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
  }
  std::vector<std::byte> bytes;
};

// One entry as laid out in the table, with a view of its payload bytes.
struct EntryOut {
  Kind kind;
  std::uint8_t dtype = 0;
  const std::string* name;
  const std::vector<std::int64_t>* shape = nullptr;
  std::span<const std::byte> payload;
  std::array<std::byte, 8> scalar{};  // the payload of an int or a float
};

std::array<std::byte, 8> le_bytes(std::uint64_t v) {
  std::array<std::byte, 8> out{};
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(v >> (8 * i));
  return out;
}

std::uint64_t le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

std::uint32_t le32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}

std::string printable(std::span<const std::byte> bytes) {
  std::string out = "\"";
  for (const std::byte b : bytes) {
    const auto c = std::to_integer<unsigned char>(b);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02X}", c);
  }
  return out + "\"";
}

// A bounds-checked reader over [begin, end) of the file; every read names what it reads.
class Cursor {
 public:
  Cursor(std::span<const std::byte> file, std::size_t begin, std::size_t end, const std::string& source)
      : file_(file), pos_(begin), end_(end), source_(source) {}

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return end_ - pos_; }

  [[noreturn]] void fail(std::size_t at, std::string context, std::string expected, std::string found) const {
    throw FormatError(source_, at, std::move(context), std::move(expected), std::move(found));
  }

  const std::byte* take(std::size_t n, const std::string& context, const char* what) {
    if (n > left())
      fail(pos_, context, fmt::format("{} bytes of {}", n, what),
           fmt::format("only {} bytes before the checksum", left()));
    const std::byte* p = file_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::uint8_t u8(const std::string& context, const char* what) {
    return std::to_integer<std::uint8_t>(*take(1, context, what));
  }
  std::uint32_t u32(const std::string& context, const char* what) { return le32(take(4, context, what)); }
  std::uint64_t u64(const std::string& context, const char* what) { return le64(take(8, context, what)); }

 private:
  std::span<const std::byte> file_;
  std::size_t pos_;
  std::size_t end_;
  const std::string& source_;
};

template <class Map>
void insert_unique(Map& map, std::string name, typename Map::mapped_type value, const Cursor& cursor,
                   std::size_t at, Kind kind) {
  const std::string shown = printable(std::as_bytes(std::span(name.data(), name.size())));
  if (!map.emplace(std::move(name), std::move(value)).second)
    cursor.fail(at, fmt::format("{} {}", kind_name(kind), shown), "unique names within a kind",
                "this name twice");
}

}  // namespace

std::vector<std::byte> encode_state(const StateFile& state) {
  std::vector<EntryOut> entries;
  for (const auto& [name, tensor] : state.tensors) {
    const std::optional<std::uint64_t> bytes = byte_count(tensor.dtype, tensor.shape);
    if (!bytes || *bytes != tensor.data.size())
      throw std::invalid_argument(fmt::format("state file: tensor \"{}\": expected {} bytes for {} of shape [{}], got {}",
                                              name, bytes ? std::to_string(*bytes) : std::string("(invalid shape)"),
                                              dtype_name(tensor.dtype), fmt::join(tensor.shape, ", "),
                                              tensor.data.size()));
    entries.push_back({Kind::Tensor, dtype_code(tensor.dtype), &name, &tensor.shape, tensor.data, {}});
  }
  for (const auto& [name, value] : state.ints) {
    entries.push_back({Kind::Int, 0, &name, nullptr, {}, le_bytes(static_cast<std::uint64_t>(value))});
  }
  for (const auto& [name, value] : state.floats) {
    std::uint64_t bits = 0;
    static_assert(sizeof(double) == 8);
    std::memcpy(&bits, &value, 8);
    entries.push_back({Kind::Float, 0, &name, nullptr, {}, le_bytes(bits)});
  }
  for (const auto& [name, value] : state.strings) {
    entries.push_back({Kind::Bytes, 0, &name, nullptr, std::as_bytes(std::span(value.data(), value.size())), {}});
  }
  for (EntryOut& e : entries) {
    if (e.name->empty())
      throw std::invalid_argument(fmt::format("state file: a {} has an empty name", kind_name(e.kind)));
    if (e.name->size() > std::numeric_limits<std::uint32_t>::max())
      throw std::invalid_argument("state file: a name longer than 4 GiB");
    if (e.kind == Kind::Int || e.kind == Kind::Float) e.payload = e.scalar;
  }
  if (entries.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument("state file: more than 2^32 - 1 entries");

  Writer out;
  out.raw(kMagic.data(), kMagic.size());
  out.u32(kStateFormatVersion);
  out.u32(static_cast<std::uint32_t>(entries.size()));
  out.u64(0);  // the file size, filled in at the end
  std::uint64_t offset = 0;
  for (const EntryOut& e : entries) {
    out.u8(static_cast<std::uint8_t>(e.kind));
    out.u8(e.dtype);
    out.u32(static_cast<std::uint32_t>(e.name->size()));
    out.u32(e.shape ? static_cast<std::uint32_t>(e.shape->size()) : 0);
    out.u64(offset);
    out.u64(e.payload.size());
    out.raw(e.name->data(), e.name->size());
    if (e.shape)
      for (const std::int64_t dim : *e.shape) out.u64(static_cast<std::uint64_t>(dim));
    offset += e.payload.size();
  }
  for (const EntryOut& e : entries) out.raw(e.payload.data(), e.payload.size());
  out.put_u64_at(16, out.bytes.size() + kChecksumSize);
  const std::uint32_t crc = crc32c(out.bytes);
  out.u32(crc);
  return std::move(out.bytes);
}

void write_state_file(const std::filesystem::path& path, const StateFile& state) {
  write_file_atomically(path, encode_state(state));
}

StateFile decode_state(std::span<const std::byte> bytes, const std::string& source) {
  const std::size_t size = bytes.size();
  const std::string magic_text = "\"MGSTATE\\x00\"";
  if (size < kMagic.size())
    throw FormatError(source, 0, "magic", magic_text, fmt::format("a file of {} bytes", size));
  if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    throw FormatError(source, 0, "magic", magic_text, printable(bytes.first(kMagic.size())));
  if (size < 12) throw FormatError(source, 8, "format version", "a u32", fmt::format("a file of {} bytes", size));
  const std::uint32_t version = le32(bytes.data() + 8);
  if (version > kStateFormatVersion)
    throw FormatError(source, 8, "format version", fmt::format("format version ≤ {}", kStateFormatVersion),
                      std::to_string(version));
  if (version == 0) throw FormatError(source, 8, "format version", "format version ≥ 1", "0");
  if (size < kHeaderSize + kChecksumSize)
    throw FormatError(source, 0, "header", fmt::format("at least {} bytes (header and checksum)", kHeaderSize + kChecksumSize),
                      fmt::format("a file of {} bytes", size));
  const std::uint64_t declared_size = le64(bytes.data() + 16);
  if (declared_size != size)
    throw FormatError(source, 16, "file size", fmt::format("{} bytes, as the header declares", declared_size),
                      fmt::format("{} bytes ({})", size, size < declared_size ? "truncated" : "bytes after the end"));
  const std::size_t body = size - kChecksumSize;
  const std::uint32_t stored = le32(bytes.data() + body);
  const std::uint32_t computed = crc32c(bytes.first(body));
  if (stored != computed)
    throw FormatError(source, body, "checksum",
                      fmt::format("CRC-32C 0x{:08X} of bytes 0 to {}", computed, body),
                      fmt::format("0x{:08X} (the file is corrupted)", stored));

  // The table: entries back to back from byte 24; the payload area follows the last one
  // and ends at the checksum.
  const std::uint32_t count = le32(bytes.data() + 12);
  if (count > (body - kHeaderSize) / kEntryFixedSize)
    throw FormatError(source, 12, "entry count",
                      fmt::format("at most {} entries in {} bytes", (body - kHeaderSize) / kEntryFixedSize,
                                  body - kHeaderSize),
                      std::to_string(count));
  struct EntryIn {
    std::size_t at;  // file offset of the entry, for errors
    Kind kind;
    std::uint8_t dtype;
    std::string name;
    std::vector<std::int64_t> shape;
    std::uint64_t offset;
    std::uint64_t size;
  };
  std::vector<EntryIn> entries;
  entries.reserve(count);
  Cursor table(bytes, kHeaderSize, body, source);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string context = fmt::format("entry {}", i);
    EntryIn e;
    e.at = table.pos();
    const std::uint8_t kind = table.u8(context, "kind");
    if (kind < 1 || kind > 4)
      table.fail(e.at, context, "a kind 1 (tensor), 2 (int), 3 (float) or 4 (string)", std::to_string(kind));
    e.kind = static_cast<Kind>(kind);
    e.dtype = table.u8(context, "dtype");
    const std::uint32_t name_length = table.u32(context, "name length");
    const std::uint32_t rank = table.u32(context, "rank");
    e.offset = table.u64(context, "payload offset");
    e.size = table.u64(context, "payload size");
    if (name_length == 0) table.fail(e.at + 2, context, "a name length ≥ 1", "0");
    const std::byte* name = table.take(name_length, context, "name");
    e.name.assign(reinterpret_cast<const char*>(name), name_length);
    const std::string named = fmt::format("{} {}", kind_name(e.kind), printable(std::span(name, name_length)));
    if (e.kind == Kind::Tensor) {
      if (e.dtype < 1 || e.dtype > kStDTypeCount)
        table.fail(e.at + 1, named, fmt::format("a dtype code 1 to {}", kStDTypeCount), std::to_string(e.dtype));
      if (rank > table.left() / 8)
        table.fail(e.at + 6, named, fmt::format("a rank whose {} dimensions fit in the table", rank),
                   fmt::format("only {} bytes left in it", table.left()));
      for (std::uint32_t d = 0; d < rank; ++d) {
        const std::size_t dim_at = table.pos();
        const std::uint64_t dim = table.u64(named, "dimension");
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          table.fail(dim_at, named, "a dimension below 2^63", std::to_string(dim));
        e.shape.push_back(static_cast<std::int64_t>(dim));
      }
      const std::optional<std::uint64_t> expected = byte_count(static_cast<StDType>(e.dtype - 1), e.shape);
      if (!expected || *expected != e.size)
        table.fail(e.at + 18, named,
                   fmt::format("a payload of {} bytes ({} of shape [{}])",
                               expected ? std::to_string(*expected) : std::string("(overflowing)"),
                               dtype_name(static_cast<StDType>(e.dtype - 1)), fmt::join(e.shape, ", ")),
                   fmt::format("{} bytes", e.size));
    } else {
      if (e.dtype != 0) table.fail(e.at + 1, named, "dtype 0 for a non-tensor", std::to_string(e.dtype));
      if (rank != 0) table.fail(e.at + 6, named, "rank 0 for a non-tensor", std::to_string(rank));
      if (e.kind != Kind::Bytes && e.size != 8)
        table.fail(e.at + 18, named, "a payload of 8 bytes", fmt::format("{} bytes", e.size));
    }
    entries.push_back(std::move(e));
  }

  // The payloads tile the payload area in table order.
  const std::size_t payload_start = table.pos();
  const std::uint64_t payload_size = body - payload_start;
  std::uint64_t cursor = 0;
  StateFile state;
  for (EntryIn& e : entries) {
    const std::string named = fmt::format("{} {}", kind_name(e.kind), printable(std::as_bytes(std::span(e.name))));
    if (e.offset != cursor)
      table.fail(e.at + 10, named, fmt::format("payload offset {} (right after the previous payload)", cursor),
                 std::to_string(e.offset));
    if (e.size > payload_size - cursor)
      table.fail(e.at + 18, named,
                 fmt::format("a payload within the {} bytes left in the payload area", payload_size - cursor),
                 fmt::format("{} bytes", e.size));
    const std::byte* p = bytes.data() + payload_start + cursor;
    cursor += e.size;
    switch (e.kind) {
      case Kind::Tensor: {
        StTensor t{e.name, static_cast<StDType>(e.dtype - 1), std::move(e.shape),
                   std::vector<std::byte>(p, p + e.size)};
        insert_unique(state.tensors, std::move(e.name), std::move(t), table, e.at, e.kind);
        break;
      }
      case Kind::Int:
        insert_unique(state.ints, std::move(e.name), static_cast<std::int64_t>(le64(p)), table, e.at, e.kind);
        break;
      case Kind::Float: {
        const std::uint64_t bits = le64(p);
        double value = 0;
        std::memcpy(&value, &bits, 8);
        insert_unique(state.floats, std::move(e.name), value, table, e.at, e.kind);
        break;
      }
      case Kind::Bytes:
        insert_unique(state.strings, std::move(e.name), std::string(reinterpret_cast<const char*>(p), e.size),
                      table, e.at, e.kind);
        break;
    }
  }
  if (cursor != payload_size)
    table.fail(payload_start + cursor, "payload area", fmt::format("it to end at byte {}, with the last payload", payload_start + cursor),
               fmt::format("{} more bytes before the checksum", payload_size - cursor));
  return state;
}

StateFile read_state_file(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = read_whole_file(path);
  return decode_state(bytes, path.string());
}

}  // namespace nn::io
