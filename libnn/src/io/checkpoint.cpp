// Checkpoints in nn::Tensor terms (libnn/checkpoint.hpp), on top of the byte-level formats in
// src/io/safetensors.cpp and src/io/state_file.cpp.
#include "libnn/checkpoint.hpp"

#include <bit>
#include <cstring>

#include "core/check.hpp"
#include "libnn/io/state_file.hpp"

namespace nn {

namespace {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace

io::StTensor to_safetensor(const std::string& name, const Tensor& tensor) {
  NN_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Int64,
           "to_safetensor: expected a float32 or int64 tensor for '{}', got {}", name,
           dtype_name(tensor.dtype()));
  const Tensor host = tensor.to(Device::cpu());
  io::StTensor out;
  out.name = name;
  out.dtype = tensor.dtype() == DType::Float32 ? io::StDType::F32 : io::StDType::I64;
  out.shape.assign(tensor.sizes().begin(), tensor.sizes().end());
  out.data.resize(host.nbytes());
  if (!out.data.empty()) std::memcpy(out.data.data(), host.raw_data(), out.data.size());
  static_assert(std::endian::native == std::endian::little, "safetensors data are little-endian");
  return out;
}

Tensor from_safetensor(const io::StTensor& t) {
  const Shape shape(t.shape.begin(), t.shape.end());
  const auto n = static_cast<std::size_t>(numel(shape));
  const std::byte* src = t.data.data();
  switch (t.dtype) {
    case io::StDType::F32: {
      Tensor out = empty(shape);
      if (n) std::memcpy(out.raw_data(), src, n * 4);
      return out;
    }
    case io::StDType::I64: {
      Tensor out = empty(shape, DType::Int64);
      if (n) std::memcpy(out.raw_data(), src, n * 8);
      return out;
    }
    case io::StDType::F64: {
      Tensor out = empty(shape);
      float* dst = out.data_ptr<float>();
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + i * 8, 8);
        dst[i] = static_cast<float>(v);
      }
      return out;
    }
    case io::StDType::F16:
    case io::StDType::BF16: {
      Tensor out = empty(shape);
      float* dst = out.data_ptr<float>();
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, src + i * 2, 2);
        dst[i] = t.dtype == io::StDType::F16 ? half_to_float(v)
                                              : std::bit_cast<float>(static_cast<std::uint32_t>(v) << 16);
      }
      return out;
    }
    case io::StDType::I32: {
      Tensor out = empty(shape, DType::Int64);
      std::int64_t* dst = out.data_ptr<std::int64_t>();
      for (std::size_t i = 0; i < n; ++i) {
        std::int32_t v;
        std::memcpy(&v, src + i * 4, 4);
        dst[i] = v;
      }
      return out;
    }
    default:
      NN_CHECK(false, "from_safetensor: tensor '{}' has dtype {}, which libnn cannot hold (expected "
               "F32, F64, F16, BF16, I64 or I32)", t.name, io::dtype_name(t.dtype));
  }
  return Tensor();
}

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  io::StFile file;
  file.metadata = metadata;
  for (const auto& [name, tensor] : tensors) file.tensors.push_back(to_safetensor(name, tensor));
  io::write_safetensors(path, file);
}

NamedTensors load_safetensors(const std::filesystem::path& path,
                              std::map<std::string, std::string>* metadata) {
  io::StFile file = io::read_safetensors(path);
  NamedTensors out;
  for (const io::StTensor& t : file.tensors) out.insert(t.name, from_safetensor(t));
  if (metadata) *metadata = std::move(file.metadata);
  return out;
}

void save_weights(const Module& module, const std::filesystem::path& path,
                  const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

void load_weights(Module& module, const std::filesystem::path& path, bool strict) {
  const NamedTensors loaded = load_safetensors(path);
  try {
    module.load_state_dict(loaded, strict);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path.string(), e.what()));
  }
}

void save_training_state(const std::filesystem::path& path, const TrainingState& state) {
  io::StateFile file;
  for (const auto& [name, tensor] : state.tensors) file.tensors[name] = to_safetensor(name, tensor);
  file.ints = state.ints;
  file.floats = state.floats;
  file.strings = state.strings;
  io::write_state_file(path, file);
}

TrainingState load_training_state(const std::filesystem::path& path) {
  io::StateFile file = io::read_state_file(path);
  TrainingState state;
  for (const auto& [name, tensor] : file.tensors) state.tensors[name] = from_safetensor(tensor);
  state.ints = std::move(file.ints);
  state.floats = std::move(file.floats);
  state.strings = std::move(file.strings);
  return state;
}

void save_generator(TrainingState& state, const std::string& prefix, const Generator& generator) {
  const Generator::State s = generator.state();
  state.ints[prefix + "seed"] = std::bit_cast<std::int64_t>(s.seed);
  state.ints[prefix + "offset"] = std::bit_cast<std::int64_t>(s.offset);
}

void load_generator(const TrainingState& state, const std::string& prefix, Generator& generator) {
  const auto seed = state.ints.find(prefix + "seed");
  const auto offset = state.ints.find(prefix + "offset");
  NN_CHECK(seed != state.ints.end() && offset != state.ints.end(),
           "load_generator: expected ints '{0}seed' and '{0}offset' in the training state, "
           "found {1}", prefix, seed == state.ints.end() ? "no seed" : "no offset");
  generator.set_state({std::bit_cast<std::uint64_t>(seed->second),
                       std::bit_cast<std::uint64_t>(offset->second)});
}

}  // namespace nn
