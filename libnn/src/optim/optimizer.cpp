// The optimizers' common part (libnn/optim/optimizer.hpp): parameter checks, zero_grad, lazy
// per-parameter state, the collection of a step's updates by device (for the multi-tensor
// kernels), and the strict save/load of that state through a TrainingState.
#include "libnn/optim/optimizer.hpp"

#include <algorithm>
#include <charconv>

#include "core/check.hpp"

namespace nn::optim {

// --- TrainingState ------------------------------------------------------------------------------

namespace {

template <class Map>
void add_prefixed(Map& out, const Map& in, std::string_view prefix) {
  for (const auto& [key, value] : in) out.emplace(std::string(prefix) + key, value);
}

template <class Map>
void add_sub(Map& out, const Map& in, std::string_view prefix) {
  for (const auto& [key, value] : in) {
    if (key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0) {
      out.emplace(key.substr(prefix.size()), value);
    }
  }
}

template <class Map>
void add_unique(Map& out, const Map& in, const char* kind) {
  for (const auto& [key, value] : in) {
    NN_CHECK(out.emplace(key, value).second, "TrainingState: {} key \"{}\" is already present",
             kind, key);
  }
}

}  // namespace

bool TrainingState::empty() const {
  return tensors.empty() && ints.empty() && floats.empty() && strings.empty();
}

TrainingState TrainingState::prefixed(std::string_view prefix) const {
  TrainingState out;
  add_prefixed(out.tensors, tensors, prefix);
  add_prefixed(out.ints, ints, prefix);
  add_prefixed(out.floats, floats, prefix);
  add_prefixed(out.strings, strings, prefix);
  return out;
}

TrainingState TrainingState::sub(std::string_view prefix) const {
  TrainingState out;
  add_sub(out.tensors, tensors, prefix);
  add_sub(out.ints, ints, prefix);
  add_sub(out.floats, floats, prefix);
  add_sub(out.strings, strings, prefix);
  return out;
}

void TrainingState::merge(const TrainingState& other) {
  add_unique(tensors, other.tensors, "tensor");
  add_unique(ints, other.ints, "int");
  add_unique(floats, other.floats, "float");
  add_unique(strings, other.strings, "string");
}

// --- Optimizer ------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> params, const char* what)
    : params_(std::move(params)), what_(what), state_(params_.size()) {
  NN_CHECK(!params_.empty(), "{}: expected at least one parameter, got an empty list", what_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    NN_CHECK(p.defined(), "{}: parameter {} is an undefined tensor", what_, i);
    NN_CHECK(p.dtype() == DType::Float32, "{}: expected float32 parameters, parameter {} is {}",
             what_, i, dtype_name(p.dtype()));
    NN_CHECK(p.is_leaf(), "{}: can't optimize parameter {}: it is not a leaf (an op made it)",
             what_, i);
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const Tensor& p : params_) p.zero_grad(set_to_none);
}

std::int64_t Optimizer::step_count(std::size_t i) const {
  NN_CHECK(i < state_.size(), "{}: step_count: parameter index {} out of range [0, {})", what_,
           i, state_.size());
  return state_[i].step;
}

Tensor Optimizer::grad_for_step(std::size_t i) const {
  const Tensor& p = params_[i];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  NN_CHECK(g.dtype() == DType::Float32, "{}: expected a float32 gradient for parameter {}, got {}",
           what_, i, dtype_name(g.dtype()));
  NN_CHECK(g.device() == p.device(), "{}: expected the gradient of parameter {} on {}, got {}",
           what_, i, p.device().str(), g.device().str());
  NN_CHECK(g.sizes() == p.sizes(), "{}: expected the gradient of parameter {} of shape {}, got {}",
           what_, i, shape_str(p.sizes()), shape_str(g.sizes()));
  return g;
}

Optimizer::ParamState& Optimizer::state_for(std::size_t i) {
  ParamState& s = state_[i];
  const std::vector<std::string> names = buffer_names();
  if (s.buffers.size() != names.size()) {
    s.buffers.clear();
    for (std::size_t k = 0; k < names.size(); ++k) s.buffers.push_back(zeros_like(params_[i]));
  }
  return s;
}

std::vector<Optimizer::DeviceUpdates> Optimizer::collect_updates() {
  // First every check: an error leaves the optimizer as it was.
  std::vector<Tensor> grads(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) grads[i] = grad_for_step(i);

  std::vector<DeviceUpdates> groups;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    ParamState& state = state_for(i);
    ++state.step;
    const Device device = params_[i].device();
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const DeviceUpdates& g) { return g.device == device; });
    if (group == groups.end()) group = groups.insert(groups.end(), DeviceUpdates{device, {}});
    group->updates.push_back({params_[i], std::move(grads[i]), &state});
  }
  return groups;
}

namespace {

std::string param_key(std::size_t i, std::string_view name) {
  return fmt::format("param.{}.{}", i, name);
}

// "param.<i>.<rest>" -> (i, rest); false for any other form (including "param.03.x").
bool parse_param_key(const std::string& key, std::size_t& index, std::string& rest) {
  constexpr std::string_view kPrefix = "param.";
  if (key.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  const char* begin = key.data() + kPrefix.size();
  const char* end = key.data() + key.size();
  const auto [ptr, ec] = std::from_chars(begin, end, index);
  if (ec != std::errc() || ptr == end || *ptr != '.') return false;
  if (std::to_string(index) != std::string_view(begin, static_cast<std::size_t>(ptr - begin))) {
    return false;
  }
  rest.assign(ptr + 1, end);
  return !rest.empty();
}

}  // namespace

void Optimizer::save_state(TrainingState& out) const {
  TrainingState s;
  s.strings["optimizer"] = name();
  s.ints["num_params"] = static_cast<std::int64_t>(params_.size());
  s.floats["lr"] = lr();
  if (initial_lr_) s.floats["initial_lr"] = *initial_lr_;
  const std::vector<std::string> names = buffer_names();
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const ParamState& ps = state_[i];
    if (ps.step == 0) continue;
    s.ints[param_key(i, "step")] = ps.step;
    for (std::size_t k = 0; k < names.size(); ++k) {
      s.tensors[param_key(i, names[k])] = ps.buffers[k].detach().clone();
    }
  }
  out.merge(s);
}

void Optimizer::load_state(const TrainingState& in) {
  const std::string me = name();
  const auto found_keys = [](const auto& map) {
    std::string keys;
    for (const auto& entry : map) keys += (keys.empty() ? "\"" : ", \"") + entry.first + "\"";
    return keys.empty() ? std::string("none") : keys;
  };

  // Strings: exactly the optimizer's name.
  const auto name_it = in.strings.find("optimizer");
  NN_CHECK(name_it != in.strings.end(),
           "{}: load_state: missing string \"optimizer\" (found strings: {})", me,
           found_keys(in.strings));
  NN_CHECK(name_it->second == me, "{}: load_state: expected the state of a {} optimizer, got {}",
           me, me, name_it->second);
  NN_CHECK(in.strings.size() == 1, "{}: load_state: unexpected strings besides \"optimizer\": {}",
           me, found_keys(in.strings));

  // Floats: lr, and initial_lr when a schedule had set it.
  const auto lr_it = in.floats.find("lr");
  NN_CHECK(lr_it != in.floats.end(), "{}: load_state: missing float \"lr\"", me);
  std::optional<double> initial_lr;
  for (const auto& [key, value] : in.floats) {
    if (key == "initial_lr") {
      initial_lr = value;
    } else {
      NN_CHECK(key == "lr", "{}: load_state: unexpected float \"{}\" (expected \"lr\", \"initial_lr\")",
               me, key);
    }
  }

  // Ints: num_params and the step of each updated parameter.
  const std::size_t n = params_.size();
  const auto count_it = in.ints.find("num_params");
  NN_CHECK(count_it != in.ints.end(), "{}: load_state: missing int \"num_params\"", me);
  NN_CHECK(count_it->second == static_cast<std::int64_t>(n),
           "{}: load_state: expected the state of {} parameters, got {}", me, n,
           count_it->second);
  std::vector<ParamState> loaded(n);
  for (const auto& [key, value] : in.ints) {
    if (key == "num_params") continue;
    std::size_t i = 0;
    std::string rest;
    NN_CHECK(parse_param_key(key, i, rest) && rest == "step",
             "{}: load_state: unexpected int \"{}\" (expected \"num_params\" or \"param.<i>.step\")",
             me, key);
    NN_CHECK(i < n, "{}: load_state: \"{}\" names parameter {}, but there are {} parameters", me,
             key, i, n);
    NN_CHECK(value >= 1, "{}: load_state: expected \"{}\" >= 1, got {}", me, key, value);
    loaded[i].step = value;
  }

  // Tensors: every buffer of every updated parameter, of its parameter's shape.
  const std::vector<std::string> names = buffer_names();
  for (std::size_t i = 0; i < n; ++i) {
    if (loaded[i].step > 0) loaded[i].buffers.resize(names.size());
  }
  std::string expected;
  for (const std::string& b : names) expected += (expected.empty() ? "" : ", ") + b;
  for (const auto& [key, tensor] : in.tensors) {
    std::size_t i = 0;
    std::string rest;
    NN_CHECK(parse_param_key(key, i, rest),
             "{}: load_state: unexpected tensor \"{}\" (expected \"param.<i>.<buffer>\")", me, key);
    const auto k = static_cast<std::size_t>(
        std::find(names.begin(), names.end(), rest) - names.begin());
    NN_CHECK(k < names.size(),
             "{}: load_state: unexpected tensor \"{}\": this {} keeps buffers [{}] per parameter",
             me, key, me, expected);
    NN_CHECK(i < n, "{}: load_state: \"{}\" names parameter {}, but there are {} parameters", me,
             key, i, n);
    NN_CHECK(loaded[i].step > 0, "{}: load_state: tensor \"{}\" given without \"{}\"", me, key,
             param_key(i, "step"));
    NN_CHECK(tensor.defined(), "{}: load_state: tensor \"{}\" is undefined", me, key);
    const Tensor& p = params_[i];
    NN_CHECK(tensor.dtype() == p.dtype(), "{}: load_state: expected \"{}\" of dtype {}, got {}",
             me, key, dtype_name(p.dtype()), dtype_name(tensor.dtype()));
    NN_CHECK(tensor.sizes() == p.sizes(),
             "{}: load_state: expected \"{}\" of shape {} (the parameter's), got {}", me, key,
             shape_str(p.sizes()), shape_str(tensor.sizes()));
    loaded[i].buffers[k] = tensor.detach().to(p.device()).clone();
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < loaded[i].buffers.size(); ++k) {
      NN_CHECK(loaded[i].buffers[k].defined(), "{}: load_state: missing tensor \"{}\" (\"{}\" is {})",
               me, param_key(i, names[k]), param_key(i, "step"), loaded[i].step);
    }
  }

  // Everything checked: commit.
  state_ = std::move(loaded);
  set_lr(lr_it->second);
  initial_lr_ = initial_lr;
}

}  // namespace nn::optim
