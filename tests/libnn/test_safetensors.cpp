// Tests of the safetensors writer and reader (libnn/io/safetensors.hpp).
//
// The byte layout is checked against the reference implementation's own published test
// vectors (huggingface/safetensors, safetensors/src/tensor.rs: test_serialization, test_empty,
// test_serialization_forced_alignement) and against a hand-built file; round trips are
// bit-exact; every truncation and a list of targeted corruptions must give a FormatError
// whose message names the problem. Interop with PyTorch is tests/libnn/safetensors_torch_check.py.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "libnn/io/safetensors.hpp"

namespace {

using nn::io::FormatError;
using nn::io::StDType;
using nn::io::StFile;
using nn::io::StTensor;
namespace fs = std::filesystem;

template <class T>
std::vector<std::byte> le_bytes(const std::vector<T>& values) {
  static_assert(std::endian::native == std::endian::little, "these tests assume a little-endian host");
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// A file from a header text (not padded: the reader must not require padding) and data.
std::vector<std::byte> make_file(std::string_view header, const std::vector<std::byte>& data) {
  std::vector<std::byte> out;
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xFF));
  const auto h = bytes_of(header);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::uint64_t header_length(const std::vector<std::byte>& file) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(i)]);
  return n;
}

std::string header_text(const std::vector<std::byte>& file) {
  return std::string(reinterpret_cast<const char*>(file.data()) + 8, header_length(file));
}

StFile all_kinds_file() {
  StFile f;
  const float nan_payload = std::bit_cast<float>(0x7FC01234u);
  f.tensors.push_back({"f32.special", StDType::F32, {2, 3},
                       le_bytes<float>({std::numeric_limits<float>::quiet_NaN(), nan_payload,
                                        std::numeric_limits<float>::infinity(),
                                        -std::numeric_limits<float>::infinity(), -0.0f,
                                        std::numeric_limits<float>::denorm_min()})});
  f.tensors.push_back({"f64", StDType::F64, {3},
                       le_bytes<double>({-0.0, std::bit_cast<double>(0xFFF8000000000001ull), 1e-310})});
  f.tensors.push_back({"f16", StDType::F16, {2, 2}, le_bytes<std::uint16_t>({0x3C00, 0x8000, 0x7C00, 0x7E01})});
  f.tensors.push_back({"bf16", StDType::BF16, {3}, le_bytes<std::uint16_t>({0x3F80, 0xFF80, 0x7FC1})});
  f.tensors.push_back({"i64", StDType::I64, {2},
                       le_bytes<std::int64_t>({std::numeric_limits<std::int64_t>::min(),
                                               std::numeric_limits<std::int64_t>::max()})});
  f.tensors.push_back({"i32", StDType::I32, {1, 1, 1}, le_bytes<std::int32_t>({-123456789})});
  f.tensors.push_back({"i16", StDType::I16, {3}, le_bytes<std::int16_t>({-32768, 0, 32767})});
  f.tensors.push_back({"i8", StDType::I8, {5}, bytes_of({0x80, 0xFF, 0, 1, 0x7F})});
  f.tensors.push_back({"u8", StDType::U8, {2, 2, 1}, bytes_of({0, 1, 254, 255})});
  f.tensors.push_back({"bool", StDType::BOOL, {3}, bytes_of({1, 0, 1})});
  f.tensors.push_back({"scalar", StDType::F32, {}, le_bytes<float>({3.5f})});
  f.tensors.push_back({"empty", StDType::F32, {0}, {}});
  f.tensors.push_back({"empty.2d", StDType::I64, {4, 0}, {}});
  f.tensors.push_back({"ünïcødé name \"quoted\" \\ \n", StDType::U8, {1}, bytes_of({42})});
  f.metadata = {{"format", "pt"}, {"escapes", "tab\tnewline\n\"quote\" back\\slash \x01 é 𝄞"}, {"", ""}};
  return f;
}

void expect_same(const StFile& a, const StFile& b) {
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const StTensor& t : a.tensors) {
    const StTensor* u = b.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(t.dtype, u->dtype) << t.name;
    EXPECT_EQ(t.shape, u->shape) << t.name;
    EXPECT_EQ(t.data, u->data) << t.name;  // bytes: NaN payloads and -0 included
  }
}

// Decoding `bytes` must throw a FormatError whose message contains `needle`.
void expect_format_error(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    nn::io::decode_safetensors(bytes, "bad.safetensors");
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << "message: " << what << "\nexpected to contain: " << needle;
    EXPECT_EQ(what.rfind("bad.safetensors: byte ", 0), 0u) << what;
    EXPECT_EQ(e.source(), "bad.safetensors");
  }
}

using test_util::read_text;

// A fresh folder per test.
class TempDir : public test_util::TempDir {
 public:
  TempDir() : test_util::TempDir("libnn_io") {}
};

// ---- byte layout -------------------------------------------------------------------------

TEST(SafetensorsTest, MatchesTheReferenceSerializationVector) {
  // safetensors/src/tensor.rs, test_serialization: "attn.0", F32, shape [1,2,3], 0..5.
  StFile f;
  f.tensors.push_back({"attn.0", StDType::F32, {1, 2, 3}, le_bytes<float>({0, 1, 2, 3, 4, 5})});
  const std::vector<std::byte> expected = bytes_of(
      {64,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,  34,  58,  123, 34,
       100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,  44,  34,  115, 104, 97,  112, 101, 34,
       58,  91,  49,  44,  50,  44,  51,  93,  44,  34,  100, 97,  116, 97,  95,  111, 102, 102, 115, 101,
       116, 115, 34,  58,  91,  48,  44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
       0,   0,   0,   64,  0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64});
  EXPECT_EQ(nn::io::encode_safetensors(f), expected);
}

TEST(SafetensorsTest, MatchesTheReferenceAlignmentVector) {
  // test_serialization_forced_alignement: a shorter name, so 7 spaces pad the header to 72.
  StFile f;
  f.tensors.push_back({"attn0", StDType::F32, {1, 1, 2, 3}, le_bytes<float>({0, 1, 2, 3, 4, 5})});
  const std::vector<std::byte> out = nn::io::encode_safetensors(f);
  ASSERT_EQ(header_length(out), 72u);
  EXPECT_EQ(header_text(out),
            "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ");
  EXPECT_EQ(out.size(), 8u + 72u + 24u);
}

TEST(SafetensorsTest, MatchesTheReferenceEmptyVectors) {
  // test_empty: no tensors -> "{}" + 6 spaces; with metadata {"framework": "pt"} -> 40 bytes.
  EXPECT_EQ(nn::io::encode_safetensors({}), bytes_of({8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 32, 32, 32, 32, 32, 32}));
  StFile f;
  f.metadata["framework"] = "pt";
  const std::vector<std::byte> out = nn::io::encode_safetensors(f);
  EXPECT_EQ(header_length(out), 40u);
  EXPECT_EQ(header_text(out), "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
  EXPECT_EQ(nn::io::decode_safetensors(out, "x").metadata, f.metadata);
}

TEST(SafetensorsTest, HandBuiltFileHasTheSpecifiedLayout) {
  // Given in name order; written I64 first, then F32 "a" before F32 "b", then F16, then U8.
  StFile f;
  f.tensors.push_back({"u", StDType::U8, {3}, bytes_of({7, 8, 9})});
  f.tensors.push_back({"h", StDType::F16, {1}, le_bytes<std::uint16_t>({0x3C00})});
  f.tensors.push_back({"b", StDType::F32, {2}, le_bytes<float>({1.0f, 2.0f})});
  f.tensors.push_back({"a", StDType::F32, {}, le_bytes<float>({-1.0f})});
  f.tensors.push_back({"z", StDType::I64, {1}, le_bytes<std::int64_t>({-2})});
  f.metadata["k"] = "v";
  const std::vector<std::byte> out = nn::io::encode_safetensors(f);

  const std::string expected_json =
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[20,22]},"
      "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[22,25]}}";
  const std::uint64_t n = header_length(out);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_GE(n, expected_json.size());
  EXPECT_LT(n - expected_json.size(), 8u);
  EXPECT_EQ(header_text(out), expected_json + std::string(n - expected_json.size(), ' '));
  ASSERT_EQ(out.size(), 8 + n + 25);
  std::vector<std::byte> data(out.begin() + static_cast<std::ptrdiff_t>(8 + n), out.end());
  std::vector<std::byte> expected_data = le_bytes<std::int64_t>({-2});
  for (const auto& part : {le_bytes<float>({-1.0f, 1.0f, 2.0f}), le_bytes<std::uint16_t>({0x3C00}), bytes_of({7, 8, 9})})
    expected_data.insert(expected_data.end(), part.begin(), part.end());
  EXPECT_EQ(data, expected_data);

  // Read back in data order.
  const StFile back = nn::io::decode_safetensors(out, "x");
  std::vector<std::string> names;
  for (const StTensor& t : back.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"z", "a", "b", "h", "u"}));
  expect_same(f, back);
}

TEST(SafetensorsTest, EscapesStringsAsTheReferenceDoes) {
  StFile f;
  f.metadata["m"] = "\"\\/\b\f\n\r\t\x01\x1f\x7f é";
  const std::string json = header_text(nn::io::encode_safetensors(f));
  EXPECT_EQ(json.substr(0, json.find_last_not_of(' ') + 1),
            "{\"__metadata__\":{\"m\":\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f é\"}}");
}

// ---- round trips -------------------------------------------------------------------------

TEST(SafetensorsTest, RoundTripIsBitExact) {
  const StFile f = all_kinds_file();
  const std::vector<std::byte> once = nn::io::encode_safetensors(f);
  const StFile back = nn::io::decode_safetensors(once, "round trip");
  expect_same(f, back);
  EXPECT_EQ(nn::io::encode_safetensors(back), once);  // and re-encoding is stable
}

TEST(SafetensorsTest, EveryTensorStartsAlignedToItsElementSize) {
  const std::vector<std::byte> out = nn::io::encode_safetensors(all_kinds_file());
  const std::uint64_t start = 8 + header_length(out);
  EXPECT_EQ(start % 8, 0u);
  const StFile back = nn::io::decode_safetensors(out, "x");
  std::uint64_t offset = 0;
  for (const StTensor& t : back.tensors) {
    EXPECT_EQ((start + offset) % nn::io::element_size(t.dtype), 0u) << t.name;
    offset += t.data.size();
  }
}

TEST(SafetensorsTest, ReadsHeadersWrittenDifferently) {
  // Whitespace, fields in another order, entries not in data order, escapes incl. a
  // surrogate pair, no padding, metadata last: all valid JSON the reference accepts.
  const std::string header =
      "{\n \"b\" : { \"data_offsets\" : [ 4 , 6 ], \"shape\": [2], \"dtype\": \"U8\" },\r\n"
      "\t\"\\u0061\\ud834\\udd1e\\/\":{\"shape\":[],\"dtype\":\"F32\",\"data_offsets\":[0,4]},"
      "\"__metadata__\":{\"x\\n\":\"\\u00e9\"}}\n";
  const std::vector<std::byte> data = bytes_of({0, 0, 0x80, 0x3F, 5, 6});
  const StFile f = nn::io::decode_safetensors(make_file(header, data), "x");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "a\xF0\x9D\x84\x9E/");
  EXPECT_EQ(f.tensors[0].shape, std::vector<std::int64_t>{});
  EXPECT_EQ(f.tensors[0].data, le_bytes<float>({1.0f}));
  EXPECT_EQ(f.tensors[1].name, "b");
  EXPECT_EQ(f.tensors[1].data, bytes_of({5, 6}));
  EXPECT_EQ(f.metadata.at("x\n"), "\xC3\xA9");
}

TEST(SafetensorsTest, EmptyTensorsMayShareAnOffset) {
  const std::string header =
      "{\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
      "\"s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"e2\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
      "\"e0\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[0,0]}}";
  const StFile f = nn::io::decode_safetensors(make_file(header, le_bytes<float>({2.0f})), "x");
  ASSERT_EQ(f.tensors.size(), 4u);
  EXPECT_EQ(f.tensors[0].name, "e0");
  EXPECT_EQ(f.tensors[1].name, "s");
}

TEST(SafetensorsTest, FindReturnsNullForMissingNames) {
  const StFile f = all_kinds_file();
  ASSERT_NE(f.find("i8"), nullptr);
  EXPECT_EQ(f.find("i8")->dtype, StDType::I8);
  EXPECT_EQ(f.find("nope"), nullptr);
}

// ---- rejection ---------------------------------------------------------------------------

TEST(SafetensorsTest, EveryTruncationIsRejected) {
  StFile f;
  f.tensors.push_back({"w", StDType::F32, {2, 2}, le_bytes<float>({1, 2, 3, 4})});
  f.tensors.push_back({"b", StDType::I8, {3}, bytes_of({1, 2, 3})});
  f.metadata["k"] = "v";
  const std::vector<std::byte> full = nn::io::encode_safetensors(f);
  ASSERT_NO_THROW(nn::io::decode_safetensors(full, "x"));
  for (std::size_t length = 0; length < full.size(); ++length) {
    const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_THROW(nn::io::decode_safetensors(cut, "cut"), FormatError) << "truncated to " << length << " bytes";
  }
}

TEST(SafetensorsTest, TargetedCorruptionsNameTheProblem) {
  const auto f32x2 = le_bytes<float>({1, 2});
  const auto f32x4 = le_bytes<float>({1, 2, 3, 4});
  struct Case {
    const char* what;
    std::vector<std::byte> file;
    std::string needle;
  };
  std::vector<std::byte> huge_length = make_file("{}", {});
  huge_length[5] = std::byte{1};  // 2^40
  std::vector<std::byte> long_header = make_file("{}", {});
  long_header[0] = std::byte{200};
  std::vector<std::byte> bad_utf8 = make_file("{\"a\xFF\":{}}", {});
  const std::string deep = "{\"__metadata__\":" + std::string(20, '[') + std::string(20, ']') + "}";
  const std::vector<Case> cases = {
      {"short file", bytes_of({1, 0, 0}), "an 8-byte little-endian header length, found a file of 3 bytes"},
      {"header length > 100 MB", huge_length, "at most 100000000 bytes, found 1099511627778"},
      {"header length > file", long_header, "a header of 200 bytes"},
      {"not UTF-8", bad_utf8, "valid UTF-8, found the byte 0xFF"},
      {"not an object", make_file("[1]", {}), "'{' opening the header"},
      {"unterminated JSON", make_file("{\"a\":{\"dtype\":\"F32\",", {}), "header JSON: expected a quoted key"},
      {"missing comma", make_file("{\"a\":{} \"b\":{}}", {}), "',' or '}' in an object"},
      {"garbage after", make_file("{}x", {}), "only spaces after the header's closing '}'"},
      {"literal", make_file("{\"__metadata__\":true}", {}), "a string, a non-negative integer, an object or an array, found 'true}'"},
      {"negative dimension", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", {}),
       "a non-negative integer, found '-1]"},
      {"fraction", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", {}),
       "a number with a fraction or an exponent"},
      {"integer overflow", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]}}", {}),
       "an integer below 2^64"},
      {"bad escape", make_file("{\"a\\q\":{}}", {}), "an escape sequence"},
      {"lone surrogate", make_file("{\"a\\ud800\":{}}", {}), "a low surrogate"},
      {"raw control character", make_file("{\"a\nb\":{}}", {}), "a control character to be escaped"},
      {"too deep", make_file(deep, {}), "at most 8 levels of nesting"},
      {"unknown dtype", make_file("{\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}", bytes_of({0, 0})),
       "tensor \"a\": expected a dtype among F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, found \"U16\""},
      {"dtype not a string", make_file("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", f32x2),
       "expected a dtype string, found an integer"},
      {"missing data_offsets", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", {}), "expected \"data_offsets\", found none"},
      {"missing shape", make_file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", {}), "expected a \"shape\", found none"},
      {"unknown field", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":1}}", {}),
       "only the keys dtype, shape and data_offsets, found \"x\""},
      {"repeated field", make_file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", {}),
       "each key once"},
      {"three offsets", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", f32x2),
       "data_offsets as [begin, end], two integers, found an array of 3 items"},
      {"end before begin", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", f32x2),
       "data_offsets with begin <= end, found [8, 4]"},
      {"shape/size mismatch", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", f32x2),
       "expected data_offsets spanning 12 bytes (F32 of shape [3]), found [0, 8], 8 bytes"},
      {"shape overflow", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", {}),
       "a shape whose byte count fits in 64 bits"},
      {"offsets out of range", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", f32x2),
       "data_offsets inside the data buffer of 8 bytes"},
      {"overlap", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", le_bytes<float>({1, 2, 3})),
       "tensor \"b\": expected data beginning at 8, where tensor \"a\" ends (no overlap), found data_offsets [4, 12]"},
      {"gap", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", f32x4),
       "leaving a gap of 4 bytes"},
      {"gap at the start", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", f32x2),
       "data beginning at 0, the start of the data buffer"},
      {"trailing bytes", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32x2),
       "data buffer: expected the file to end with the last tensor, at byte"},
      {"duplicate name", make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                   "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", bytes_of({1, 2})),
       "unique tensor names, found \"a\" twice"},
      {"metadata not strings", make_file("{\"__metadata__\":{\"k\":1}}", {}), "expected a string value, found an integer"},
      {"metadata not an object", make_file("{\"__metadata__\":[\"k\"]}", {}), "expected an object of strings, found an array"},
      {"metadata twice", make_file("{\"__metadata__\":{},\"__metadata__\":{}}", {}), "\"__metadata__\" once"},
      {"duplicate metadata key", make_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", {}), "unique keys, found \"k\" twice"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    expect_format_error(c.file, c.needle);
  }
}

TEST(SafetensorsTest, ErrorsCarryTheFileOffset) {
  // The overlap error points at tensor "b"'s entry in the header.
  const std::string header =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}";
  try {
    nn::io::decode_safetensors(make_file(header, bytes_of({1, 2, 3})), "f");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.offset(), 8 + header.find("{", header.find("\"b\"")));
    EXPECT_EQ(e.context(), "tensor \"b\"");
    EXPECT_NE(e.expected().find("no overlap"), std::string::npos);
  }
}

TEST(SafetensorsTest, EncodeRejectsWhatCannotBeRead) {
  const auto rejects = [](StFile f, const std::string& needle) {
    try {
      nn::io::encode_safetensors(f);
      ADD_FAILURE() << "no error; expected " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  StFile f;
  f.tensors.push_back({"w", StDType::F32, {3}, le_bytes<float>({1, 2})});
  rejects(f, "expected 12 bytes (F32 of shape [3]), got 8");
  f.tensors = {{"w", StDType::F32, {-1}, {}}};
  rejects(f, "invalid shape [-1]");
  f.tensors = {{"w", StDType::U8, {1}, bytes_of({1})}, {"w", StDType::U8, {1}, bytes_of({2})}};
  rejects(f, "two tensors are called \"w\"");
  f.tensors = {{"__metadata__", StDType::U8, {1}, bytes_of({1})}};
  rejects(f, "cannot be called \"__metadata__\"");
  f.tensors = {{"bad\xC0\xAF", StDType::U8, {1}, bytes_of({1})}};
  rejects(f, "not valid UTF-8");
  f.tensors.clear();
  f.metadata["k"] = "\xED\xA0\x80";  // an encoded surrogate
  rejects(f, "metadata value");
}

// ---- files -------------------------------------------------------------------------------

TEST(SafetensorsTest, WritesAndReadsFiles) {
  TempDir dir;
  const fs::path path = dir.path() / "model.safetensors";
  const StFile f = all_kinds_file();
  nn::io::write_safetensors(path, f);
  expect_same(f, nn::io::read_safetensors(path));
  EXPECT_EQ(dir.temporaries(), 0);

  // Overwriting replaces the whole file.
  StFile small;
  small.tensors.push_back({"x", StDType::U8, {1}, bytes_of({1})});
  nn::io::write_safetensors(path, small);
  expect_same(small, nn::io::read_safetensors(path));
}

TEST(SafetensorsTest, ReadErrorsNameThePath) {
  TempDir dir;
  const fs::path path = dir.path() / "junk.safetensors";
  std::ofstream(path, std::ios::binary) << "not a safetensors file at all";
  try {
    nn::io::read_safetensors(path);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.source(), path.string());
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
  EXPECT_THROW(nn::io::read_safetensors(dir.path() / "missing.safetensors"), std::system_error);
  EXPECT_THROW(nn::io::read_safetensors(dir.path()), std::system_error);
}

TEST(SafetensorsTest, FailedWritesLeaveNoTemporaryAndTheOldFile) {
  TempDir dir;
  const StFile f = all_kinds_file();
  // The folder does not exist.
  EXPECT_THROW(nn::io::write_safetensors(dir.path() / "missing" / "m.safetensors", f), std::system_error);
  EXPECT_FALSE(fs::exists(dir.path() / "missing"));
  // A folder stands where the file should go: it stays, with its content.
  fs::create_directory(dir.path() / "taken");
  std::ofstream(dir.path() / "taken" / "inside") << "keep";
  EXPECT_THROW(nn::io::write_safetensors(dir.path() / "taken", f), std::system_error);
  EXPECT_TRUE(fs::is_directory(dir.path() / "taken"));
  EXPECT_EQ(read_text(dir.path() / "taken" / "inside"), "keep");
  EXPECT_EQ(dir.temporaries(), 0);
  // A file that cannot be encoded leaves the old one untouched.
  const fs::path path = dir.path() / "m.safetensors";
  nn::io::write_safetensors(path, f);
  const std::string before = read_text(path);
  StFile bad;
  bad.tensors.push_back({"w", StDType::F32, {2}, {}});
  EXPECT_THROW(nn::io::write_safetensors(path, bad), std::invalid_argument);
  EXPECT_EQ(read_text(path), before);
  EXPECT_EQ(dir.temporaries(), 0);
}

TEST(SafetensorsTest, WriteFailingHalfwayKeepsTheOldFile) {
  // A real failure in the middle of write(): the file-size limit (RLIMIT_FSIZE) makes the
  // kernel refuse bytes past 1 KiB with EFBIG (SIGXFSZ ignored so the process survives).
  TempDir dir;
  const fs::path path = dir.path() / "m.safetensors";
  StFile old;
  old.tensors.push_back({"old", StDType::U8, {4}, bytes_of({1, 2, 3, 4})});
  nn::io::write_safetensors(path, old);
  const std::string before = read_text(path);

  StFile big;
  big.tensors.push_back({"big", StDType::U8, {8192}, std::vector<std::byte>(8192, std::byte{7})});
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  bool threw = false;
  try {
    nn::io::write_safetensors(path, big);
  } catch (const std::system_error& e) {
    threw = true;
    EXPECT_EQ(e.code().value(), EFBIG) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(read_text(path), before);
  EXPECT_EQ(dir.temporaries(), 0);
  expect_same(old, nn::io::read_safetensors(path));
}

}  // namespace
