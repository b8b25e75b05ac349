// The options a training run saves in its state file, and takes back on --resume: one table
// per command (`musegen train`, `musegen gan-train`) of the flag, the member of its options
// struct, and whether a resumed run keeps the saved value. The state key of a flag is
// "options." + the flag with '-' as '_' ("seq-len" -> "options.seq_len").
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <libnn/libnn.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace musegen {

template <class Options>
struct SavedOption {
  const char* flag;  // the command-line name
  std::variant<std::int64_t Options::*, double Options::*, std::string Options::*> member;
  bool fixed;  // a resumed run keeps the saved value (and the flag may not be given)
  // A string flag added after runs were saved: the value a state file without it had (null:
  // the key is required).
  const char* if_missing = nullptr;
};

inline std::string saved_option_key(const char* flag) {
  std::string key = std::string("options.") + flag;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// map[key], or an error naming the file and the key: `kind` says what the file should have
// been ("musegen training state").
template <class Map>
auto saved_value(const Map& map, const std::string& key, const std::filesystem::path& file,
                 const char* kind) {
  auto it = map.find(key);
  if (it == map.end()) {
    throw std::runtime_error(file.string() + ": not a " + kind + ": \"" + key + "\" is missing");
  }
  return it->second;
}

// Writes every field of `options` in the table into `state`.
template <class Options>
void save_option_fields(const std::vector<SavedOption<Options>>& fields, const Options& options,
                        nn::TrainingState& state) {
  for (const SavedOption<Options>& f : fields) {
    const std::string key = saved_option_key(f.flag);
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(options.*member)>;
          if constexpr (std::is_same_v<T, std::int64_t>)
            state.ints[key] = options.*member;
          else if constexpr (std::is_same_v<T, double>)
            state.floats[key] = options.*member;
          else
            state.strings[key] = options.*member;
        },
        f.member);
  }
}

// Sets the fixed fields of `options` to the values saved in `state` (read from `file`).
template <class Options>
void restore_fixed_fields(const std::vector<SavedOption<Options>>& fields,
                          const nn::TrainingState& state, Options& options,
                          const std::filesystem::path& file, const char* kind) {
  for (const SavedOption<Options>& f : fields) {
    if (!f.fixed) continue;
    const std::string key = saved_option_key(f.flag);
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(options.*member)>;
          if constexpr (std::is_same_v<T, std::int64_t>)
            options.*member = saved_value(state.ints, key, file, kind);
          else if constexpr (std::is_same_v<T, double>)
            options.*member = saved_value(state.floats, key, file, kind);
          else if (f.if_missing != nullptr && !state.strings.contains(key))
            options.*member = f.if_missing;
          else
            options.*member = saved_value(state.strings, key, file, kind);
        },
        f.member);
  }
}

}  // namespace musegen
