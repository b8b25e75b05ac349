// The C++ side of tests/libnn/safetensors_torch_check.py: writes safetensors files whose
// values Python can rebuild independently, and prints what it reads from a file written by
// Python, so that the two implementations are checked against each other in both directions.
//
//   safetensors_tool write <path>        tensors of every dtype + metadata (see write_file)
//   safetensors_tool write-plain <path>  the same tensors, no metadata
//   safetensors_tool dump <path>         one JSON object: metadata, and per tensor its dtype,
//                                        shape, bytes in hex and values decoded here
//                                        (F16/BF16 converted by this program, floats printed
//                                        with 17 significant digits or nan/inf/-inf)
// Exit status: 0 on success, 1 on a FormatError or any other error (message on stderr).
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "libnn/io/safetensors.hpp"

namespace {

using nn::io::StDType;
using nn::io::StFile;
using nn::io::StTensor;

template <class T>
void append_le(std::vector<std::byte>& out, T value) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<std::byte>((bits >> (8 * i)) & 0xFF));
}

// float -> IEEE binary16, round to nearest even (normal, subnormal, inf, nan).
std::uint16_t to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000);
  const std::uint32_t abs = x & 0x7FFFFFFF;
  if (abs > 0x7F800000) return sign | 0x7E00;
  if (abs >= 0x477FF000) return sign | 0x7C00;  // rounds to infinity
  if (abs < 0x38800000) {                        // subnormal half (or zero)
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // 2^24: units of 2^-24
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));
  }
  std::uint32_t mantissa = abs & 0x7FFFFF;
  const std::uint32_t exponent = (abs >> 23) - 112;
  std::uint32_t h = (exponent << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return sign | static_cast<std::uint16_t>(h);
}

double from_half(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  double value;
  if (exponent == 0) value = std::ldexp(mantissa, -24);
  else if (exponent == 31) value = mantissa ? NAN : INFINITY;
  else value = std::ldexp(mantissa + 1024, exponent - 25);
  return (h & 0x8000) ? -value : value;
}

double from_bf16(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t{b} << 16); }

// value(i) for flat index i of each tensor: the formulas the Python side rebuilds.
StFile make_file(bool with_metadata) {
  StFile f;
  const auto tensor = [&](std::string name, StDType dtype, std::vector<std::int64_t> shape, auto value) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    StTensor t{std::move(name), dtype, std::move(shape), {}};
    for (std::int64_t i = 0; i < n; ++i) value(t.data, static_cast<double>(i));
    f.tensors.push_back(std::move(t));
  };
  tensor("f64", StDType::F64, {2, 3}, [](auto& out, double i) { append_le(out, i * 0.5 - 1); });
  tensor("f32", StDType::F32, {3, 4}, [](auto& out, double i) { append_le(out, static_cast<float>(i * 0.25 - 1.5)); });
  tensor("f16", StDType::F16, {5}, [](auto& out, double i) { append_le(out, to_half(static_cast<float>(i * 0.5 - 1))); });
  tensor("bf16", StDType::BF16, {2, 2}, [](auto& out, double i) {
    append_le(out, static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(static_cast<float>(i - 2)) >> 16));
  });
  tensor("i64", StDType::I64, {4}, [](auto& out, double i) {
    append_le(out, (static_cast<std::int64_t>(i) - 2) * 1'000'000'000'000);
  });
  tensor("i32", StDType::I32, {2, 3}, [](auto& out, double i) { append_le(out, static_cast<std::int32_t>(i * 1000 - 2500)); });
  tensor("i16", StDType::I16, {7}, [](auto& out, double i) { append_le(out, static_cast<std::int16_t>(i * 100 - 300)); });
  tensor("i8", StDType::I8, {3}, [](auto& out, double i) { append_le(out, static_cast<std::int8_t>(i - 1)); });
  tensor("u8", StDType::U8, {2, 2, 2}, [](auto& out, double i) { append_le(out, static_cast<std::uint8_t>(i * 30)); });
  tensor("bool", StDType::BOOL, {5}, [](auto& out, double i) { append_le(out, static_cast<std::uint8_t>(static_cast<int>(i) % 2)); });
  tensor("scalar", StDType::F32, {}, [](auto& out, double) { append_le(out, 3.5f); });
  tensor("empty", StDType::F32, {0}, [](auto&, double) {});
  tensor("empty2d", StDType::I64, {2, 0}, [](auto&, double) {});
  const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, std::bit_cast<float>(1u)};
  tensor("special", StDType::F32, {5}, [&](auto& out, double i) { append_le(out, specials[static_cast<int>(i)]); });
  if (with_metadata) {
    f.metadata["format"] = "pt";
    f.metadata["note"] = "\xC3\xBC\xC3\xB1\xC3\xAE \"quoted\"\n\ttab";
  }
  return f;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string float_text(double v) {
  if (std::isnan(v)) return "\"nan\"";
  if (std::isinf(v)) return v > 0 ? "\"inf\"" : "\"-inf\"";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "\"%.17g\"", v);
  return buffer;
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string value_text(StDType dtype, const std::byte* p) {
  switch (dtype) {
    case StDType::F64: return float_text(load<double>(p));
    case StDType::F32: return float_text(load<float>(p));
    case StDType::F16: return float_text(from_half(load<std::uint16_t>(p)));
    case StDType::BF16: return float_text(from_bf16(load<std::uint16_t>(p)));
    case StDType::I64: return std::to_string(load<std::int64_t>(p));
    case StDType::I32: return std::to_string(load<std::int32_t>(p));
    case StDType::I16: return std::to_string(load<std::int16_t>(p));
    case StDType::I8: return std::to_string(load<std::int8_t>(p));
    case StDType::U8: return std::to_string(load<std::uint8_t>(p));
    case StDType::BOOL: return load<std::uint8_t>(p) ? "true" : "false";
  }
  return "null";
}

void dump(const StFile& f) {
  std::string out = "{\"metadata\":{";
  bool first = true;
  for (const auto& [k, v] : f.metadata) {
    out += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
    first = false;
  }
  out += "},\"tensors\":[";
  first = true;
  for (const StTensor& t : f.tensors) {
    out += first ? "{" : ",{";
    first = false;
    out += "\"name\":" + json_string(t.name) + ",\"dtype\":\"" + std::string(nn::io::dtype_name(t.dtype)) + "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) out += (i ? "," : "") + std::to_string(t.shape[i]);
    out += "],\"hex\":\"";
    static constexpr char kHex[] = "0123456789abcdef";
    for (const std::byte b : t.data) {
      out += kHex[std::to_integer<int>(b) >> 4];
      out += kHex[std::to_integer<int>(b) & 15];
    }
    out += "\",\"values\":[";
    const std::size_t size = nn::io::element_size(t.dtype);
    for (std::size_t i = 0; i < t.data.size(); i += size) out += (i ? "," : "") + value_text(t.dtype, t.data.data() + i);
    out += "]}";
  }
  out += "]}\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s write|write-plain|dump <path>\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "write" || command == "write-plain") {
      nn::io::write_safetensors(argv[2], make_file(command == "write"));
    } else if (command == "dump") {
      dump(nn::io::read_safetensors(argv[2]));
    } else {
      std::fprintf(stderr, "unknown command '%s'\n", command.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "safetensors_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}
