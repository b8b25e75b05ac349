// Tests of the training-state file (libnn/io/state_file.hpp) and of its CRC-32C
// (libnn/io/checksum.hpp).
//
// Round trips are bit-exact (NaN payloads, -0, extreme integers, binary strings); the byte
// layout is checked field by field against docs/formats.md; every truncation and every
// single-byte corruption must be refused; tables crafted with a valid checksum must still
// be refused by the structural checks; a newer version must say so. The CRC is checked
// against published check values.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "libnn/io/checksum.hpp"
#include "libnn/io/state_file.hpp"

namespace {

using nn::io::FormatError;
using nn::io::StateFile;
using nn::io::StDType;
using nn::io::StTensor;
namespace fs = std::filesystem;

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

template <class T>
std::vector<std::byte> le_bytes(const std::vector<T>& values) {
  static_assert(std::endian::native == std::endian::little, "these tests assume a little-endian host");
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::uint64_t get_le(const std::vector<std::byte>& b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

void put_le(std::vector<std::byte>& b, std::size_t at, int n, std::uint64_t v) {
  for (int i = 0; i < n; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
}

// After tampering with a file, make its checksum valid again, so that only the structural
// checks stand between the reader and the tampered table.
void reseal(std::vector<std::byte>& b) {
  put_le(b, 16, 8, b.size());
  put_le(b, b.size() - 4, 4, nn::io::crc32c(std::span(b).first(b.size() - 4)));
}

StateFile sample_state() {
  StateFile s;
  s.tensors["adam.m.w"] = {"", StDType::F32, {2, 3},
                           le_bytes<float>({1.5f, -0.0f, std::numeric_limits<float>::infinity(),
                                            std::bit_cast<float>(0x7FC0BEEFu), std::numeric_limits<float>::denorm_min(),
                                            -3.25f})};
  s.tensors["adam.v.w"] = {"", StDType::F32, {}, le_bytes<float>({0.125f})};
  s.tensors["indices"] = {"", StDType::I64, {3}, le_bytes<std::int64_t>({-1, 0, std::numeric_limits<std::int64_t>::max()})};
  s.tensors["empty"] = {"", StDType::F32, {0}, {}};
  s.tensors["empty.2d"] = {"", StDType::I64, {2, 0, 5}, {}};
  s.tensors["half"] = {"", StDType::BF16, {2}, le_bytes<std::uint16_t>({0x3F80, 0xFFC1})};
  s.ints["step"] = 123456789012345;
  s.ints["min"] = std::numeric_limits<std::int64_t>::min();
  s.ints["max"] = std::numeric_limits<std::int64_t>::max();
  s.ints["epoch"] = -0;
  s.floats["lr"] = 3e-4;
  s.floats["nan"] = std::bit_cast<double>(0xFFF0000000000ABCull);  // a signalling NaN with payload
  s.floats["-0"] = -0.0;
  s.floats["inf"] = -std::numeric_limits<double>::infinity();
  s.floats["step"] = 0.5;  // the same name as an int: a different entry
  s.strings["rng"] = std::string("\x00\x01\xFF\x80 binary \x00", 13);
  s.strings["config.json"] = "{\"hidden\": 512, \"name\": \"é\"}";
  s.strings["empty"] = "";
  return s;
}

void expect_same(const StateFile& a, const StateFile& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.contains(name)) << name;
    const StTensor& u = b.tensors.at(name);
    EXPECT_EQ(u.name, name);
    EXPECT_EQ(t.dtype, u.dtype) << name;
    EXPECT_EQ(t.shape, u.shape) << name;
    EXPECT_EQ(t.data, u.data) << name;
  }
  EXPECT_EQ(a.ints, b.ints);
  ASSERT_EQ(a.floats.size(), b.floats.size());
  for (const auto& [name, x] : a.floats) {
    ASSERT_TRUE(b.floats.contains(name)) << name;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(x), std::bit_cast<std::uint64_t>(b.floats.at(name))) << name;
  }
  EXPECT_EQ(a.strings, b.strings);
}

void expect_format_error(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    nn::io::decode_state(bytes, "state.bin");
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

using test_util::read_text;

// A fresh folder per test.
class TempDir : public test_util::TempDir {
 public:
  TempDir() : test_util::TempDir("libnn_state") {}
};

// ---- CRC-32C -----------------------------------------------------------------------------

std::uint32_t crc32c_bitwise(std::span<const std::byte> bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const std::byte b : bytes) {
    crc ^= std::to_integer<std::uint32_t>(b);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
  }
  return ~crc;
}

TEST(ChecksumTest, PublishedCheckValues) {
  // The CRC catalogue's check value for CRC-32C (CRC-32/ISCSI).
  EXPECT_EQ(nn::io::crc32c(bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(nn::io::crc32c({}), 0u);
  // RFC 3720 (iSCSI), appendix B.4: 32 bytes of zeros, of 0xFF, ascending, descending.
  std::vector<std::byte> b(32, std::byte{0});
  EXPECT_EQ(nn::io::crc32c(b), 0x8A9136AAu);
  std::fill(b.begin(), b.end(), std::byte{0xFF});
  EXPECT_EQ(nn::io::crc32c(b), 0x62A8AB43u);
  for (std::size_t i = 0; i < 32; ++i) b[i] = static_cast<std::byte>(i);
  EXPECT_EQ(nn::io::crc32c(b), 0x46DD794Eu);
  for (std::size_t i = 0; i < 32; ++i) b[i] = static_cast<std::byte>(31 - i);
  EXPECT_EQ(nn::io::crc32c(b), 0x113FDB5Cu);
}

TEST(ChecksumTest, MatchesTheBitwiseDefinitionAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<std::byte> data(300);
  for (std::byte& x : data) x = static_cast<std::byte>(rng());
  for (std::size_t start = 0; start < 9; ++start)
    for (std::size_t length = 0; start + length <= data.size(); length += 1 + length / 8) {
      const auto part = std::span(data).subspan(start, length);
      ASSERT_EQ(nn::io::crc32c(part), crc32c_bitwise(part)) << "start " << start << " length " << length;
    }
}

TEST(ChecksumTest, IsIncremental) {
  const auto all = bytes_of("The quick brown fox jumps over the lazy dog");
  for (std::size_t cut = 0; cut <= all.size(); ++cut) {
    const auto head = std::span(all).first(cut);
    const auto tail = std::span(all).subspan(cut);
    EXPECT_EQ(nn::io::crc32c(tail, nn::io::crc32c(head)), nn::io::crc32c(all)) << cut;
  }
}

// ---- round trips -------------------------------------------------------------------------

TEST(StateFileTest, RoundTripIsBitExact) {
  const StateFile s = sample_state();
  const std::vector<std::byte> once = nn::io::encode_state(s);
  const StateFile back = nn::io::decode_state(once, "x");
  expect_same(s, back);
  EXPECT_EQ(nn::io::encode_state(back), once);
}

TEST(StateFileTest, EmptyStateRoundTrips) {
  const std::vector<std::byte> bytes = nn::io::encode_state({});
  EXPECT_EQ(bytes.size(), 28u);  // header and checksum
  expect_same({}, nn::io::decode_state(bytes, "x"));
}

TEST(StateFileTest, HasTheDocumentedByteLayout) {
  StateFile s;
  s.ints["step"] = 0x0102030405060708;
  s.tensors["w"] = {"", StDType::I64, {1}, le_bytes<std::int64_t>({-2})};
  s.strings["r"] = "xyz";
  const std::vector<std::byte> b = nn::io::encode_state(s);

  // Header.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 8), std::string("MGSTATE\0", 8));
  EXPECT_EQ(get_le(b, 8, 4), 1u);           // format version
  EXPECT_EQ(get_le(b, 12, 4), 3u);          // entry count
  EXPECT_EQ(get_le(b, 16, 8), b.size());    // file size
  // Entry 0: the tensor (tensors come first), at 24.
  std::size_t at = 24;
  EXPECT_EQ(get_le(b, at + 0, 1), 1u);      // kind: tensor
  EXPECT_EQ(get_le(b, at + 1, 1), 5u);      // dtype: I64
  EXPECT_EQ(get_le(b, at + 2, 4), 1u);      // name length
  EXPECT_EQ(get_le(b, at + 6, 4), 1u);      // rank
  EXPECT_EQ(get_le(b, at + 10, 8), 0u);     // payload offset
  EXPECT_EQ(get_le(b, at + 18, 8), 8u);     // payload size
  EXPECT_EQ(static_cast<char>(b[at + 26]), 'w');
  EXPECT_EQ(get_le(b, at + 27, 8), 1u);     // dims
  // Entry 1: the int, at 24 + 26 + 1 + 8 = 59.
  at = 59;
  EXPECT_EQ(get_le(b, at + 0, 1), 2u);
  EXPECT_EQ(get_le(b, at + 1, 1), 0u);
  EXPECT_EQ(get_le(b, at + 2, 4), 4u);
  EXPECT_EQ(get_le(b, at + 6, 4), 0u);
  EXPECT_EQ(get_le(b, at + 10, 8), 8u);
  EXPECT_EQ(get_le(b, at + 18, 8), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()) + at + 26, 4), "step");
  // Entry 2: the string, at 59 + 26 + 4 = 89.
  at = 89;
  EXPECT_EQ(get_le(b, at + 0, 1), 4u);
  EXPECT_EQ(get_le(b, at + 10, 8), 16u);
  EXPECT_EQ(get_le(b, at + 18, 8), 3u);
  // Payload at 89 + 26 + 1 = 116: -2 as I64, the int, "xyz"; then the CRC.
  const std::size_t payload = 116;
  EXPECT_EQ(get_le(b, payload, 8), static_cast<std::uint64_t>(-2));
  EXPECT_EQ(get_le(b, payload + 8, 8), 0x0102030405060708u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()) + payload + 16, 3), "xyz");
  ASSERT_EQ(b.size(), payload + 19 + 4);
  EXPECT_EQ(get_le(b, b.size() - 4, 4), nn::io::crc32c(std::span(b).first(b.size() - 4)));
}

// ---- rejection ---------------------------------------------------------------------------

TEST(StateFileTest, EveryTruncationIsRejected) {
  const std::vector<std::byte> full = nn::io::encode_state(sample_state());
  for (std::size_t length = 0; length < full.size(); ++length) {
    const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_THROW(nn::io::decode_state(cut, "cut"), FormatError) << "truncated to " << length << " bytes";
  }
  std::vector<std::byte> longer = full;
  longer.push_back(std::byte{0});
  expect_format_error(longer, "bytes after the end");
  expect_format_error(std::vector<std::byte>(full.begin(), full.end() - 1), "as the header declares, found");
}

TEST(StateFileTest, EverySingleByteCorruptionIsRejected) {
  StateFile s;
  s.tensors["m"] = {"", StDType::F32, {2}, le_bytes<float>({1.0f, 2.0f})};
  s.ints["step"] = 42;
  s.floats["lr"] = 0.001;
  s.strings["rng"] = "abc";
  const std::vector<std::byte> good = nn::io::encode_state(s);
  for (std::size_t i = 0; i < good.size(); ++i)
    for (const int flip : {0x01, 0x10, 0x80, 0xFF}) {
      std::vector<std::byte> bad = good;
      bad[i] ^= static_cast<std::byte>(flip);
      EXPECT_THROW(nn::io::decode_state(bad, "bad"), FormatError) << "byte " << i << " xor " << flip;
    }
}

TEST(StateFileTest, FutureVersionsAreRefusedWithTheirNumber) {
  std::vector<std::byte> b = nn::io::encode_state(sample_state());
  put_le(b, 8, 4, 2);
  reseal(b);
  expect_format_error(b, "format version: expected format version ≤ 1, found 2");
  put_le(b, 8, 4, 0);
  reseal(b);
  expect_format_error(b, "expected format version ≥ 1, found 0");
}

TEST(StateFileTest, HeaderProblemsAreNamed) {
  expect_format_error(bytes_of("MGST"), "magic: expected \"MGSTATE\\x00\", found a file of 4 bytes");
  expect_format_error(bytes_of("PK\x03\x04 some zip file here......"), "magic: expected \"MGSTATE\\x00\", found \"PK\\x03\\x04 som\"");
  std::vector<std::byte> b = nn::io::encode_state(sample_state());
  b[100] ^= std::byte{1};
  expect_format_error(b, "checksum: expected CRC-32C 0x");
}

TEST(StateFileTest, CraftedTablesWithAValidChecksumAreRejected) {
  StateFile s;
  s.tensors["t"] = {"", StDType::F32, {2}, le_bytes<float>({1.0f, 2.0f})};
  s.ints["i"] = 7;
  const std::vector<std::byte> good = nn::io::encode_state(s);
  // Layout: entry "t" at 24 (26 + 1 + 8 bytes), entry "i" at 59 (26 + 1), payload at 86.
  ASSERT_NO_THROW(nn::io::decode_state(good, "x"));
  const auto tampered = [&](std::size_t at, int n, std::uint64_t value) {
    std::vector<std::byte> b = good;
    put_le(b, at, n, value);
    reseal(b);
    return b;
  };
  expect_format_error(tampered(24, 1, 9), "entry 0: expected a kind 1 (tensor), 2 (int), 3 (float) or 4 (string), found 9");
  expect_format_error(tampered(25, 1, 11), "tensor \"t\": expected a dtype code 1 to 10, found 11");
  expect_format_error(tampered(25, 1, 4), "expected a payload of 4 bytes (BF16 of shape [2]), found 8 bytes");
  expect_format_error(tampered(26, 4, 0), "expected a name length ≥ 1, found 0");
  expect_format_error(tampered(26, 4, 0xFFFFFFFF), "4294967295 bytes of name, found only");
  expect_format_error(tampered(30, 4, 0x40000000), "a rank whose 1073741824 dimensions fit in the table");
  expect_format_error(tampered(51, 8, 3), "expected a payload of 12 bytes (F32 of shape [3]), found 8 bytes");
  expect_format_error(tampered(51, 8, 0x8000000000000000ull), "a dimension below 2^63");
  expect_format_error(tampered(34, 8, 4), "tensor \"t\": expected payload offset 0 (right after the previous payload), found 4");
  expect_format_error(tampered(12, 4, 1000), "entry count: expected at most");
  expect_format_error(tampered(12, 4, 1), "payload area: expected it to end at byte");
  expect_format_error(tampered(59 + 18, 8, 4), "int \"i\": expected a payload of 8 bytes, found 4 bytes");
  expect_format_error(tampered(59 + 1, 1, 2), "dtype 0 for a non-tensor");
  expect_format_error(tampered(59 + 6, 4, 1), "rank 0 for a non-tensor");
  expect_format_error(tampered(59 + 10, 8, 16), "expected payload offset 8");
  EXPECT_NO_THROW(nn::io::decode_state(tampered(59 + 26, 1, 't'), "x"));

  // Two ints with the same name.
  StateFile twins;
  twins.ints["a"] = 1;
  twins.ints["b"] = 2;
  std::vector<std::byte> b = nn::io::encode_state(twins);
  b[24 + 26 + 1 + 26] = static_cast<std::byte>('a');  // the second name
  reseal(b);
  expect_format_error(b, "int \"a\": expected unique names within a kind, found this name twice");
}

TEST(StateFileTest, EncodeRejectsWhatCannotBeRead) {
  StateFile s;
  s.ints[""] = 1;
  EXPECT_THROW(nn::io::encode_state(s), std::invalid_argument);
  StateFile t;
  t.tensors["w"] = {"", StDType::F32, {3}, le_bytes<float>({1.0f})};
  try {
    nn::io::encode_state(t);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expected 12 bytes for F32 of shape [3], got 4"), std::string::npos) << e.what();
  }
}

// ---- files -------------------------------------------------------------------------------

TEST(StateFileTest, WritesAndReadsFiles) {
  TempDir dir;
  const fs::path path = dir.path() / "state.mgstate";
  const StateFile s = sample_state();
  nn::io::write_state_file(path, s);
  expect_same(s, nn::io::read_state_file(path));
  StateFile next;
  next.ints["step"] = 2;
  nn::io::write_state_file(path, next);
  expect_same(next, nn::io::read_state_file(path));
  EXPECT_EQ(dir.temporaries(), 0);
  EXPECT_THROW(nn::io::read_state_file(dir.path() / "missing"), std::system_error);
}

TEST(StateFileTest, FailedWritesLeaveNoTemporaryAndTheOldFile) {
  TempDir dir;
  const fs::path path = dir.path() / "state.mgstate";
  nn::io::write_state_file(path, sample_state());
  const std::string before = read_text(path);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);

  EXPECT_THROW(nn::io::write_state_file(dir.path() / "no" / "such" / "folder", sample_state()), std::system_error);
  fs::create_directory(dir.path() / "folder");
  EXPECT_THROW(nn::io::write_state_file(dir.path() / "folder", sample_state()), std::system_error);
  EXPECT_TRUE(fs::is_directory(dir.path() / "folder"));
  StateFile bad;
  bad.ints[""] = 0;
  EXPECT_THROW(nn::io::write_state_file(path, bad), std::invalid_argument);
  EXPECT_EQ(read_text(path), before);
  EXPECT_EQ(dir.temporaries(), 0);

  // A successful replace keeps the old file's permissions.
  StateFile next;
  next.ints["step"] = 3;
  nn::io::write_state_file(path, next);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

}  // namespace
