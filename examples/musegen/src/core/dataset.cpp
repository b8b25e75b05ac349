// The dataset file: a schema of named entries in libnn's state container.
//
//   ints     version                      kDatasetVersion
//            param.<name>                 the codec's parameters (Codec::parameter_list)
//   strings  kind                         "musegen dataset"
//            encoding                     "notes", "events" or "roll"
//            vocabulary                   the token names, one per line, in id order
//            summary, options             free text (see Dataset)
//            <split>.sources              the sources of the split's sequences, one per line
//   tensors  <split>.offsets   I64 [n+1]  sequence i is steps offsets[i] .. offsets[i+1]
//            <split>.tokens    I32 [N]    notes, events: the token ids of all sequences
//            <split>.frames    U8 [N, 88] roll: the frames of all sequences
//
// with <split> in train, valid, test. The container checks its size and CRC-32C before
// anything is read here, so the checks below catch writer bugs and hand-made files.
#include "dataset.hpp"

#include <cstring>
#include <map>
#include <stdexcept>

#include "libnn/io/atomic_file.hpp"
#include "libnn/io/safetensors.hpp"
#include "libnn/io/state_file.hpp"

namespace musegen {

namespace {

constexpr const char* kSplits[] = {"train", "valid", "test"};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    for (char c : lines[i]) out += c == '\n' || c == '\r' ? ' ' : c;
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& text, std::size_t expected_count) {
  std::vector<std::string> lines;
  if (expected_count == 0 && text.empty()) return lines;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find('\n', begin);
    lines.push_back(text.substr(begin, end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return lines;
}

template <class T>
nn::io::StTensor make_tensor(nn::io::StDType dtype, std::vector<std::int64_t> shape,
                             const std::vector<T>& values) {
  nn::io::StTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());  // little-endian host
  return t;
}

template <class T>
std::vector<T> tensor_values(const nn::io::StTensor& t) {
  std::vector<T> values(t.data.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), t.data.data(), values.size() * sizeof(T));
  return values;
}

class Reader {
 public:
  Reader(std::string source, nn::io::StateFile state) : source_(std::move(source)), state_(std::move(state)) {}

  [[noreturn]] void fail(const std::string& entry, const std::string& expected,
                         const std::string& found, std::int64_t index = -1) const {
    std::string where = source_ + ": entry \"" + entry + "\"";
    if (index >= 0) where += " index " + std::to_string(index);
    throw std::runtime_error(where + ": expected " + expected + ", found " + found);
  }

  std::int64_t integer(const std::string& name) const {
    auto it = state_.ints.find(name);
    if (it == state_.ints.end()) fail(name, "an integer entry", "none");
    return it->second;
  }
  const std::string& string(const std::string& name) const {
    auto it = state_.strings.find(name);
    if (it == state_.strings.end()) fail(name, "a string entry", "none");
    return it->second;
  }
  const nn::io::StTensor& tensor(const std::string& name, nn::io::StDType dtype, std::size_t rank) const {
    auto it = state_.tensors.find(name);
    if (it == state_.tensors.end()) fail(name, "a tensor entry", "none");
    const nn::io::StTensor& t = it->second;
    if (t.dtype != dtype)
      fail(name, "dtype " + std::string(nn::io::dtype_name(dtype)), std::string(nn::io::dtype_name(t.dtype)));
    if (t.shape.size() != rank)
      fail(name, "rank " + std::to_string(rank), "rank " + std::to_string(t.shape.size()));
    return t;
  }

 private:
  std::string source_;
  nn::io::StateFile state_;
};

}  // namespace

std::int64_t Dataset::steps(const std::vector<Sequence>& split) const {
  std::int64_t total = 0;
  for (const Sequence& s : split) total += s.steps();
  return total;
}

std::vector<std::byte> encode_dataset(const Dataset& dataset) {
  const Codec& codec = dataset.codec;
  const StepFormat format = codec.step();
  const bool roll = format.kind == StepKind::frame;  // frames of K values, K = format.size
  const std::int64_t K = format.size;
  nn::io::StateFile state;
  state.ints["version"] = kDatasetVersion;
  for (const auto& [name, value] : codec.parameter_list()) state.ints["param." + name] = value;
  state.strings["kind"] = kDatasetKind;
  state.strings["encoding"] = std::string(encoding_name(codec.encoding()));
  state.strings["vocabulary"] = join_lines(codec.vocabulary());
  state.strings["summary"] = dataset.summary;
  state.strings["options"] = dataset.options;

  const std::vector<Sequence>* splits[] = {&dataset.train, &dataset.valid, &dataset.test};
  for (int s = 0; s < 3; ++s) {
    const std::string prefix = kSplits[s];
    std::vector<std::int64_t> offsets{0};
    std::vector<std::string> sources;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint8_t> frames;
    for (const Sequence& seq : *splits[s]) {
      sources.push_back(seq.source);
      if (roll) {
        if (!seq.tokens.empty() || !seq.matches(format) || seq.frames.size() % static_cast<std::size_t>(K) != 0)
          throw std::invalid_argument("save_dataset: " + seq.source + ": a " +
                                      std::string(encoding_name(codec.encoding())) +
                                      " sequence needs frames in rows of " + std::to_string(K) +
                                      " and no tokens");
        for (std::uint8_t v : seq.frames) frames.push_back(v != 0);
      } else {
        if (!seq.frames.empty() || seq.kind != StepKind::token)
          throw std::invalid_argument("save_dataset: " + seq.source + ": frames in a token dataset");
        for (std::int32_t id : seq.tokens) {
          if (id < 0 || id >= codec.vocab_size())
            throw std::invalid_argument("save_dataset: " + seq.source + ": token id " +
                                        std::to_string(id) + " outside the vocabulary of " +
                                        std::to_string(codec.vocab_size()));
        }
        tokens.insert(tokens.end(), seq.tokens.begin(), seq.tokens.end());
      }
      offsets.push_back(offsets.back() + seq.steps());
    }
    state.strings[prefix + ".sources"] = join_lines(sources);
    state.tensors[prefix + ".offsets"] = make_tensor(
        nn::io::StDType::I64, {static_cast<std::int64_t>(offsets.size())}, offsets);
    if (roll) {
      state.tensors[prefix + ".frames"] = make_tensor(
          nn::io::StDType::U8, {offsets.back(), K}, frames);
    } else {
      state.tensors[prefix + ".tokens"] = make_tensor(
          nn::io::StDType::I32, {static_cast<std::int64_t>(tokens.size())}, tokens);
    }
  }
  return nn::io::encode_state(state);
}

void save_dataset(const std::filesystem::path& path, const Dataset& dataset) {
  nn::io::write_file_atomically(path, encode_dataset(dataset));
}

Dataset load_dataset(const std::filesystem::path& path) {
  return decode_dataset(nn::io::read_whole_file(path), path.string());
}

Dataset decode_dataset(std::span<const std::byte> bytes, const std::string& source) {
  nn::io::StateFile state;
  try {
    state = nn::io::decode_state(bytes, source);
  } catch (const nn::io::FormatError& e) {
    if (e.offset() == 0 && e.context() == "magic")  // say what the file should have been
      throw nn::io::FormatError(e.source(), 0, "magic",
                                e.expected() + " (a musegen dataset file, written by musegen preprocess)",
                                e.found());
    throw;
  }
  Reader in(source, std::move(state));
  if (in.string("kind") != kDatasetKind) in.fail("kind", "\"" + std::string(kDatasetKind) + "\"", "\"" + in.string("kind") + "\"");
  const std::int64_t version = in.integer("version");
  if (version < 1 || version > kDatasetVersion)
    in.fail("version", "a dataset version 1.." + std::to_string(kDatasetVersion) +
                           " (a newer musegen wrote this file?)", std::to_string(version));

  Dataset dataset;
  Encoding encoding;
  try {
    encoding = parse_encoding(in.string("encoding"));
  } catch (const std::invalid_argument&) {
    in.fail("encoding", "notes, events or roll", "\"" + in.string("encoding") + "\"");
  }
  CodecParams params;
  for (const auto& [name, field] : encoding_parameters(encoding, params)) {
    const std::int64_t v = in.integer("param." + name);
    if (v < 0 || v > 1'000'000) in.fail("param." + name, "a parameter in 0..1000000", std::to_string(v));
    *field = static_cast<int>(v);
  }
  const std::string& vocabulary_text = in.string("vocabulary");
  std::vector<std::string> vocabulary = split_lines(vocabulary_text, 1);
  try {
    dataset.codec = Codec::make(encoding, params, vocabulary);
  } catch (const std::invalid_argument& e) {
    in.fail("param.*", "valid parameters", e.what());
  }
  if (dataset.codec.vocabulary() != vocabulary)
    in.fail("vocabulary", "the " + std::string(encoding_name(encoding)) + " vocabulary of " +
                              std::to_string(dataset.codec.vocab_size()) + " tokens",
            std::to_string(vocabulary.size()) + " different tokens");
  dataset.summary = in.string("summary");
  dataset.options = in.string("options");

  const StepFormat format = dataset.codec.step();
  const bool roll = format.kind == StepKind::frame;  // frames of K values, K = format.size
  const std::int64_t K = format.size;
  std::vector<Sequence>* splits[] = {&dataset.train, &dataset.valid, &dataset.test};
  for (int s = 0; s < 3; ++s) {
    const std::string prefix = kSplits[s];
    const auto offsets = tensor_values<std::int64_t>(in.tensor(prefix + ".offsets", nn::io::StDType::I64, 1));
    if (offsets.empty() || offsets[0] != 0)
      in.fail(prefix + ".offsets", "a list starting at 0", offsets.empty() ? "an empty list" : std::to_string(offsets[0]));
    const std::size_t count = offsets.size() - 1;
    const std::vector<std::string> sources = split_lines(in.string(prefix + ".sources"), count);
    if (sources.size() != count)
      in.fail(prefix + ".sources", std::to_string(count) + " lines", std::to_string(sources.size()));
    std::int64_t total = 0;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint8_t> frames;
    if (roll) {
      const nn::io::StTensor& t = in.tensor(prefix + ".frames", nn::io::StDType::U8, 2);
      if (t.shape[1] != K) in.fail(prefix + ".frames", std::to_string(K) + " columns", std::to_string(t.shape[1]));
      total = t.shape[0];
      frames = tensor_values<std::uint8_t>(t);
      for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i] > 1) in.fail(prefix + ".frames", "0 or 1", std::to_string(frames[i]), static_cast<std::int64_t>(i));
    } else {
      const nn::io::StTensor& t = in.tensor(prefix + ".tokens", nn::io::StDType::I32, 1);
      total = t.shape[0];
      tokens = tensor_values<std::int32_t>(t);
      for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] < 0 || tokens[i] >= dataset.codec.vocab_size())
          in.fail(prefix + ".tokens", "a token id in 0.." + std::to_string(dataset.codec.vocab_size() - 1),
                  std::to_string(tokens[i]), static_cast<std::int64_t>(i));
    }
    splits[s]->reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::int64_t begin = offsets[i], end = offsets[i + 1];
      if (end < begin || end > total)
        in.fail(prefix + ".offsets", "non-decreasing offsets up to " + std::to_string(total),
                std::to_string(end), static_cast<std::int64_t>(i + 1));
      Sequence seq = Sequence::empty_of(format, sources[i]);
      if (roll) {
        seq.frames.assign(frames.begin() + begin * K, frames.begin() + end * K);
      } else {
        seq.tokens.assign(tokens.begin() + begin, tokens.begin() + end);
      }
      splits[s]->push_back(std::move(seq));
    }
    if (offsets.back() != total)
      in.fail(prefix + ".offsets", "a last offset equal to the " + std::to_string(total) + " steps stored",
              std::to_string(offsets.back()), static_cast<std::int64_t>(count));
  }
  return dataset;
}

}  // namespace musegen
