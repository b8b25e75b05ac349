// Tests of nn::optim: the optimizers, clipping and LR schedules against PyTorch's golden
// values (tests/libnn/golden/optim.safetensors, described in golden/README.md), state
// save/load (a resumed run continues bit for bit; bad state is refused with a clear error),
// the option checks, and the multi-tensor step (one kernel call per device for all
// parameters) against the single-tensor kernels, bit for bit.
//
// Each golden optimizer case is built from its metadata "kwargs" only, with libnn's defaults
// for the rest; every entry of the metadata's "resolved" (PyTorch's values after its own
// defaults) must then equal our option of the same name, so a default that differs from
// PyTorch's, or a hyper-parameter libnn ignores, fails the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "golden_support.hpp"
#include "kernels/optim.hpp"
#include "libnn/optim.hpp"
#include "libnn/random.hpp"
#include "mini_json.hpp"

namespace {

using nn::Tensor;
using test_json::Value;
namespace optim = nn::optim;

const nn::io::StFile& optim_file() {
  static const nn::io::StFile file =
      nn::io::read_safetensors(golden::fixture_path("optim.safetensors"));
  return file;
}

struct MetaCase {
  std::string name;
  Value meta;
};

std::vector<MetaCase> cases_of_kind(const std::string& kind) {
  std::vector<MetaCase> out;
  for (const auto& [key, value] : optim_file().metadata) {
    if (key == "format" || key == "version" || key == "torch" || key == "generator") continue;
    Value meta = test_json::parse(value);
    if (meta["kind"].string == kind) out.push_back({key, std::move(meta)});
  }
  return out;
}

// Worst |got - ref| / (atol + rtol |ref|) over the elements: <= 1 passes.
double error_fraction(const std::vector<float>& got, const std::vector<double>& ref, double rtol,
                      double atol) {
  EXPECT_EQ(got.size(), ref.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double frac = err / (atol + rtol * std::fabs(ref[i]));
    if (!(frac <= worst)) worst = frac;  // NaN sticks
  }
  return worst;
}

// Bitwise equality of two float32 tensors' values.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  const auto va = a.to_vector<float>();
  const auto vb = b.to_vector<float>();
  // (memcmp of two empty vectors' null data is undefined: the sizes already matched)
  return va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

// --- the optimizer under test, from the fixture's metadata ---------------------------------

// Reads kwargs[key] into the option `set` when present; records the key as used.
struct Kwargs {
  const Value& kwargs;
  std::vector<std::string> used;
  bool has(const std::string& key) {
    used.push_back(key);
    return kwargs.has(key);
  }
  double num(const std::string& key) { return kwargs[key].num(); }
  bool flag(const std::string& key) { return kwargs[key].boolean; }
  void expect_all_used(const std::string& where) const {
    for (const auto& [key, value] : kwargs.object) {
      EXPECT_NE(std::find(used.begin(), used.end(), key), used.end())
          << where << ": kwarg \"" << key << "\" is not understood by the test";
    }
  }
};

// Checks that resolved[key] (PyTorch's value) equals ours.
void expect_resolved(const std::string& name, const Value& resolved, const std::string& key,
                     double ours) {
  ASSERT_TRUE(resolved.has(key)) << name << ": resolved has no \"" << key << "\"";
  EXPECT_EQ(resolved[key].num(), ours) << name << ": PyTorch resolved " << key << " = "
                                       << resolved[key].num() << ", libnn uses " << ours;
}
void expect_resolved_flag(const std::string& name, const Value& resolved, const std::string& key,
                          bool ours) {
  ASSERT_TRUE(resolved.has(key)) << name << ": resolved has no \"" << key << "\"";
  EXPECT_EQ(resolved[key].boolean, ours) << name << ": PyTorch resolved " << key << " = "
                                         << resolved[key].boolean << ", libnn uses " << ours;
}

template <class Options>
Options adam_like_options(Kwargs& k) {
  Options o = k.has("lr") ? Options(k.num("lr")) : Options();
  if (k.has("betas")) o.betas({k.kwargs["betas"].array.at(0).num(), k.kwargs["betas"].array.at(1).num()});
  if (k.has("eps")) o.eps(k.num("eps"));
  if (k.has("weight_decay")) o.weight_decay(k.num("weight_decay"));
  if (k.has("amsgrad")) o.amsgrad(k.flag("amsgrad"));
  if (k.has("maximize")) o.maximize(k.flag("maximize"));
  return o;
}

template <class Options>
void check_adam_like_resolved(const std::string& name, const Value& r, const Options& o) {
  expect_resolved(name, r, "lr", o.lr());
  ASSERT_EQ(r["betas"].array.size(), 2u);
  EXPECT_EQ(r["betas"].array[0].num(), o.betas().first) << name;
  EXPECT_EQ(r["betas"].array[1].num(), o.betas().second) << name;
  expect_resolved(name, r, "eps", o.eps());
  expect_resolved(name, r, "weight_decay", o.weight_decay());
  expect_resolved_flag(name, r, "amsgrad", o.amsgrad());
  expect_resolved_flag(name, r, "maximize", o.maximize());
  EXPECT_EQ(r.object.size(), 6u) << name << ": resolved has hyper-parameters the test ignores";
}

// The optimizer a fixture case describes, on `params`; checks its options against "resolved".
std::unique_ptr<optim::Optimizer> make_optimizer(const MetaCase& c, std::vector<Tensor> params) {
  const std::string& type = c.meta["optimizer"].string;
  const Value& r = c.meta["resolved"];
  Kwargs k{c.meta["kwargs"], {}};
  std::unique_ptr<optim::Optimizer> opt;
  if (type == "SGD") {
    optim::SGDOptions o(k.num("lr"));
    k.has("lr");
    if (k.has("momentum")) o.momentum(k.num("momentum"));
    if (k.has("dampening")) o.dampening(k.num("dampening"));
    if (k.has("weight_decay")) o.weight_decay(k.num("weight_decay"));
    if (k.has("nesterov")) o.nesterov(k.flag("nesterov"));
    if (k.has("maximize")) o.maximize(k.flag("maximize"));
    expect_resolved(c.name, r, "lr", o.lr());
    expect_resolved(c.name, r, "momentum", o.momentum());
    expect_resolved(c.name, r, "dampening", o.dampening());
    expect_resolved(c.name, r, "weight_decay", o.weight_decay());
    expect_resolved_flag(c.name, r, "nesterov", o.nesterov());
    expect_resolved_flag(c.name, r, "maximize", o.maximize());
    EXPECT_EQ(r.object.size(), 6u) << c.name << ": resolved has hyper-parameters the test ignores";
    opt = std::make_unique<optim::SGD>(std::move(params), o);
  } else if (type == "Adam") {
    const auto o = adam_like_options<optim::AdamOptions>(k);
    check_adam_like_resolved(c.name, r, o);
    opt = std::make_unique<optim::Adam>(std::move(params), o);
  } else if (type == "AdamW") {
    const auto o = adam_like_options<optim::AdamWOptions>(k);
    check_adam_like_resolved(c.name, r, o);
    opt = std::make_unique<optim::AdamW>(std::move(params), o);
  } else if (type == "RMSprop") {
    optim::RMSpropOptions o = k.has("lr") ? optim::RMSpropOptions(k.num("lr")) : optim::RMSpropOptions();
    if (k.has("alpha")) o.alpha(k.num("alpha"));
    if (k.has("eps")) o.eps(k.num("eps"));
    if (k.has("weight_decay")) o.weight_decay(k.num("weight_decay"));
    if (k.has("momentum")) o.momentum(k.num("momentum"));
    if (k.has("centered")) o.centered(k.flag("centered"));
    if (k.has("maximize")) o.maximize(k.flag("maximize"));
    expect_resolved(c.name, r, "lr", o.lr());
    expect_resolved(c.name, r, "alpha", o.alpha());
    expect_resolved(c.name, r, "eps", o.eps());
    expect_resolved(c.name, r, "weight_decay", o.weight_decay());
    expect_resolved(c.name, r, "momentum", o.momentum());
    expect_resolved_flag(c.name, r, "centered", o.centered());
    expect_resolved_flag(c.name, r, "maximize", o.maximize());
    EXPECT_EQ(r.object.size(), 7u) << c.name << ": resolved has hyper-parameters the test ignores";
    opt = std::make_unique<optim::RMSprop>(std::move(params), o);
  } else {
    ADD_FAILURE() << c.name << ": unknown optimizer " << type;
    return nullptr;
  }
  k.expect_all_used(c.name);
  EXPECT_EQ(opt->name(), type);
  return opt;
}

Tensor fixture_tensor(const std::string& name) {
  return golden::to_tensor(golden::tensor(optim_file(), name));
}

std::vector<double> fixture_doubles(const std::string& name) {
  return golden::to_doubles(golden::tensor(optim_file(), name));
}

// --- golden: optimizers --------------------------------------------------------------------

TEST(OptimGolden, OptimizersMatchPyTorchForFiveSteps) {
  // README: |libnn - ref| <= 1e-6 + 1e-5 |ref| for param1..5 (float32 vs float64).
  constexpr double kRtol = 1e-5, kAtol = 1e-6;
  const auto cases = cases_of_kind("optimizer");
  ASSERT_EQ(cases.size(), 12u);
  for (const MetaCase& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor param = fixture_tensor(c.name + "/param0");
    param.set_requires_grad(true);
    auto opt = make_optimizer(c, {param});
    ASSERT_NE(opt, nullptr);
    const auto steps = c.meta["steps"].integer();
    ASSERT_EQ(steps, 5);
    double worst = 0.0;
    for (long long t = 1; t <= steps; ++t) {
      param.set_grad(fixture_tensor(c.name + "/grad" + std::to_string(t)));
      opt->step();
      const double frac = error_fraction(param.to_vector<float>(),
                                         fixture_doubles(c.name + "/param" + std::to_string(t)),
                                         kRtol, kAtol);
      EXPECT_LE(frac, 1.0) << c.name << " step " << t << ": error is " << frac
                           << " of the allowed (rtol " << kRtol << ", atol " << kAtol << ")";
      worst = std::max(worst, frac);
    }
    EXPECT_EQ(opt->step_count(0), steps);
    std::printf("  %-30s worst error %.3f of the allowed\n", c.name.c_str(), worst);
  }
}

// --- golden: clip_grad_norm_ ---------------------------------------------------------------

TEST(OptimGolden, ClipGradNormMatchesPyTorch) {
  constexpr double kRtol = 1e-5, kAtol = 1e-6;
  const auto cases = cases_of_kind("clip_grad_norm");
  ASSERT_EQ(cases.size(), 2u);
  for (const MetaCase& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.meta["function"].string, "clip_grad_norm_");
    const Value& kw = c.meta["kwargs"];
    EXPECT_EQ(kw.object.size(), 2u) << "kwargs the test ignores";
    const auto count = c.meta["tensors"].integer();
    std::vector<Tensor> params;
    for (long long i = 0; i < count; ++i) {
      Tensor g = fixture_tensor(c.name + "/g" + std::to_string(i));
      Tensor p = nn::zeros(g.sizes());
      p.set_requires_grad(true);
      p.set_grad(g);
      params.push_back(p);
    }
    const double total = optim::clip_grad_norm_(params, kw["max_norm"].num(), kw["norm_type"].num());
    const double frac_norm = error_fraction({static_cast<float>(total)},
                                            fixture_doubles(c.name + "/total_norm"), kRtol, kAtol);
    EXPECT_LE(frac_norm, 1.0) << "total_norm " << total << ": error is " << frac_norm
                              << " of the allowed";
    double worst = frac_norm;
    for (long long i = 0; i < count; ++i) {
      const double frac = error_fraction(params[static_cast<std::size_t>(i)].grad().to_vector<float>(),
                                         fixture_doubles(c.name + "/clipped" + std::to_string(i)),
                                         kRtol, kAtol);
      EXPECT_LE(frac, 1.0) << "clipped" << i << ": error is " << frac << " of the allowed";
      worst = std::max(worst, frac);
    }
    std::printf("  %-30s worst error %.3f of the allowed\n", c.name.c_str(), worst);
  }
}

// --- golden: LR schedules ------------------------------------------------------------------

std::shared_ptr<optim::LRScheduler> make_scheduler(optim::Optimizer& opt, const std::string& type,
                                                   const Value& kwargs) {
  Kwargs k{kwargs, {}};
  std::shared_ptr<optim::LRScheduler> s;
  if (type == "StepLR") {
    s = std::make_shared<optim::StepLR>(opt, kwargs["step_size"].integer(),
                                        k.has("gamma") ? k.num("gamma") : 0.1);
    k.has("step_size");
  } else if (type == "CosineAnnealingLR") {
    s = std::make_shared<optim::CosineAnnealingLR>(opt, kwargs["T_max"].integer(),
                                                   k.has("eta_min") ? k.num("eta_min") : 0.0);
    k.has("T_max");
  } else if (type == "LinearLR") {
    s = std::make_shared<optim::LinearLR>(
        opt, k.has("start_factor") ? k.num("start_factor") : 1.0 / 3.0,
        k.has("end_factor") ? k.num("end_factor") : 1.0,
        k.has("total_iters") ? kwargs["total_iters"].integer() : 5);
  } else if (type == "SequentialLR") {
    std::vector<std::shared_ptr<optim::LRScheduler>> children;
    for (const Value& child : kwargs["schedulers"].array) {
      children.push_back(make_scheduler(opt, child["scheduler"].string, child["kwargs"]));
    }
    k.has("schedulers");
    k.has("milestones");
    s = std::make_shared<optim::SequentialLR>(opt, children, golden::int_list(kwargs["milestones"]));
  } else {
    ADD_FAILURE() << "unknown scheduler " << type;
    return nullptr;
  }
  k.expect_all_used(type);
  EXPECT_EQ(s->name(), type);
  return s;
}

TEST(OptimGolden, LRSchedulesMatchPyTorch) {
  constexpr double kRtol = 1e-12;
  const auto cases = cases_of_kind("lr_scheduler");
  ASSERT_EQ(cases.size(), 4u);
  for (const MetaCase& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.meta["optimizer"].string, "SGD");
    Tensor p = nn::zeros({2});
    p.set_requires_grad(true);
    optim::SGD opt({p}, optim::SGDOptions(c.meta["base_lr"].num()));
    auto schedule = make_scheduler(opt, c.meta["scheduler"].string, c.meta["kwargs"]);
    ASSERT_NE(schedule, nullptr);
    const std::vector<double> ref = fixture_doubles(c.name + "/lrs");
    ASSERT_EQ(static_cast<long long>(ref.size()), c.meta["steps"].integer());
    double worst = 0.0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      const double lr = opt.lr();
      EXPECT_EQ(schedule->get_last_lr(), lr);
      EXPECT_EQ(schedule->last_epoch(), static_cast<std::int64_t>(k));
      const double frac = std::fabs(lr - ref[k]) / (kRtol * std::fabs(ref[k]));
      EXPECT_LE(frac, 1.0) << "lrs[" << k << "] = " << lr << ", PyTorch " << ref[k] << ": error is "
                           << frac << " of the allowed (rtol " << kRtol << ")";
      worst = std::max(worst, frac);
      p.set_grad(nn::ones({2}));
      opt.step();
      schedule->step();
    }
    std::printf("  %-30s worst error %.3f of the allowed\n", c.name.c_str(), worst);
  }
}

// --- state save / load ---------------------------------------------------------------------

// Two parameters with a schedule of gradients where the second sometimes has none (skipped),
// so the per-parameter step counts differ.
struct GradSchedule {
  std::vector<Tensor> params;
  std::vector<std::vector<Tensor>> grads;  // grads[t][i], undefined = none at step t

  static GradSchedule make(int steps) {
    nn::Generator gen(1234);
    GradSchedule r;
    r.params = {nn::randn({3, 4}, &gen), nn::randn({70000}, &gen)};  // the second spans threads
    for (Tensor& p : r.params) p.set_requires_grad(true);
    for (int t = 0; t < steps; ++t) {
      r.grads.push_back({nn::randn({3, 4}, &gen),
                         t % 3 == 1 ? Tensor() : nn::randn({70000}, &gen)});
    }
    return r;
  }
  std::vector<Tensor> fresh_params() const {
    std::vector<Tensor> out;
    for (const Tensor& p : params) {
      Tensor c = p.detach().clone();
      c.set_requires_grad(true);
      out.push_back(c);
    }
    return out;
  }
  void apply(optim::Optimizer& opt, int t) const {
    for (std::size_t i = 0; i < params.size(); ++i) {
      opt.parameters()[i].set_grad(grads[static_cast<std::size_t>(t)][i]);
    }
    opt.step();
  }
};

TEST(OptimState, ResumeContinuesBitExactlyForEveryFixtureConfig) {
  constexpr int kSteps = 7, kSplit = 3;
  const GradSchedule run = GradSchedule::make(kSteps);
  for (const MetaCase& c : cases_of_kind("optimizer")) {
    SCOPED_TRACE(c.name);
    auto straight = make_optimizer(c, run.fresh_params());
    for (int t = 0; t < kSteps; ++t) run.apply(*straight, t);

    auto first = make_optimizer(c, run.fresh_params());
    for (int t = 0; t < kSplit; ++t) run.apply(*first, t);
    optim::TrainingState saved;
    first->save_state(saved);
    std::vector<Tensor> params_at_split;  // what the weights file would hold
    for (const Tensor& p : first->parameters()) {
      Tensor q = p.detach().clone();
      q.set_requires_grad(true);
      params_at_split.push_back(q);
    }
    // The saved tensors are a snapshot: stepping on must not change them.
    optim::TrainingState snapshot;
    first->save_state(snapshot);
    run.apply(*first, kSplit);
    for (const auto& [key, t] : snapshot.tensors) {
      EXPECT_TRUE(same_bits(saved.tensors.at(key), t)) << key << " changed after save_state";
    }

    auto resumed = make_optimizer(c, params_at_split);
    resumed->load_state(saved);
    EXPECT_EQ(resumed->step_count(0), kSplit);
    EXPECT_EQ(resumed->step_count(1), 2);  // skipped at t = 1
    for (int t = kSplit; t < kSteps; ++t) run.apply(*resumed, t);

    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_TRUE(same_bits(resumed->parameters()[i], straight->parameters()[i]))
          << "parameter " << i << " differs after resuming";
      EXPECT_EQ(resumed->step_count(i), straight->step_count(i));
    }
    optim::TrainingState a, b;
    straight->save_state(a);
    resumed->save_state(b);
    EXPECT_EQ(a.ints, b.ints);
    EXPECT_EQ(a.floats, b.floats);
    EXPECT_EQ(a.strings, b.strings);
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (const auto& [key, t] : a.tensors) {
      ASSERT_TRUE(b.tensors.count(key)) << key;
      EXPECT_TRUE(same_bits(t, b.tensors.at(key))) << key << " differs after resuming";
    }
  }
}

TEST(OptimState, KeysArePyTorchNames) {
  const GradSchedule run = GradSchedule::make(2);
  auto params = run.fresh_params();
  optim::Adam adam(params, optim::AdamOptions(1e-2).amsgrad(true));
  run.apply(adam, 0);
  run.apply(adam, 1);  // param 1 has no gradient at t = 1
  optim::TrainingState s;
  adam.save_state(s);
  EXPECT_EQ(s.strings.at("optimizer"), "Adam");
  EXPECT_EQ(s.ints.at("num_params"), 2);
  EXPECT_EQ(s.floats.at("lr"), 1e-2);
  EXPECT_EQ(s.ints.at("param.0.step"), 2);
  EXPECT_EQ(s.ints.at("param.1.step"), 1);
  for (const char* key : {"param.0.exp_avg", "param.0.exp_avg_sq", "param.0.max_exp_avg_sq",
                          "param.1.exp_avg", "param.1.exp_avg_sq", "param.1.max_exp_avg_sq"}) {
    EXPECT_TRUE(s.tensors.count(key)) << key;
  }
  EXPECT_EQ(s.tensors.size(), 6u);
  EXPECT_EQ(s.tensors.at("param.1.exp_avg").sizes(), nn::Shape({70000}));

  // A parameter never updated has no entries.
  auto fresh = run.fresh_params();
  optim::SGD sgd(fresh, optim::SGDOptions(0.1).momentum(0.9));
  fresh[0].set_grad(nn::ones({3, 4}));
  sgd.step();
  optim::TrainingState t;
  sgd.save_state(t);
  EXPECT_TRUE(t.tensors.count("param.0.momentum_buffer"));
  EXPECT_FALSE(t.tensors.count("param.1.momentum_buffer"));
  EXPECT_FALSE(t.ints.count("param.1.step"));
  EXPECT_EQ(sgd.step_count(1), 0);
}

// Expects load_state to throw nn::Error mentioning every fragment, and to leave `opt` as it was.
void expect_refused(optim::Optimizer& opt, const optim::TrainingState& bad,
                    const std::vector<std::string>& fragments) {
  optim::TrainingState before;
  opt.save_state(before);
  try {
    opt.load_state(bad);
    ADD_FAILURE() << "load_state accepted a bad state";
  } catch (const nn::Error& e) {
    const std::string what = e.what();
    for (const std::string& f : fragments) {
      EXPECT_NE(what.find(f), std::string::npos) << "message \"" << what << "\" lacks \"" << f << "\"";
    }
  }
  optim::TrainingState after;
  opt.save_state(after);
  EXPECT_EQ(before.ints, after.ints);
  EXPECT_EQ(before.floats, after.floats);
  ASSERT_EQ(before.tensors.size(), after.tensors.size());
  for (const auto& [key, t] : before.tensors) EXPECT_TRUE(same_bits(t, after.tensors.at(key))) << key;
}

TEST(OptimState, BadStateIsRefusedWithAClearError) {
  const GradSchedule run = GradSchedule::make(2);
  auto source_params = run.fresh_params();
  optim::Adam source(source_params, optim::AdamOptions(1e-2));
  run.apply(source, 0);
  optim::TrainingState good;
  source.save_state(good);

  auto params = run.fresh_params();
  optim::Adam target(params, optim::AdamOptions(1e-2));
  run.apply(target, 0);
  run.apply(target, 1);

  {  // wrong shape
    optim::TrainingState bad = good;
    bad.tensors["param.0.exp_avg"] = nn::zeros({4, 3});
    expect_refused(target, bad, {"param.0.exp_avg", "(3,4)", "(4,3)"});
  }
  {  // missing tensor
    optim::TrainingState bad = good;
    bad.tensors.erase("param.1.exp_avg_sq");
    expect_refused(target, bad, {"missing", "param.1.exp_avg_sq"});
  }
  {  // missing step
    optim::TrainingState bad = good;
    bad.ints.erase("param.0.step");
    expect_refused(target, bad, {"param.0.exp_avg", "param.0.step"});
  }
  {  // unknown buffer (e.g. a state saved with amsgrad)
    optim::TrainingState bad = good;
    bad.tensors["param.0.max_exp_avg_sq"] = nn::zeros({3, 4});
    expect_refused(target, bad, {"param.0.max_exp_avg_sq", "exp_avg, exp_avg_sq"});
  }
  {  // parameter index out of range
    optim::TrainingState bad = good;
    bad.ints["param.2.step"] = 1;
    expect_refused(target, bad, {"param.2.step", "2 parameters"});
  }
  {  // wrong number of parameters
    optim::TrainingState bad = good;
    bad.ints["num_params"] = 3;
    expect_refused(target, bad, {"2 parameters", "got 3"});
  }
  {  // another optimizer's state
    optim::TrainingState bad = good;
    bad.strings["optimizer"] = "SGD";
    expect_refused(target, bad, {"Adam", "SGD"});
  }
  {  // wrong dtype
    optim::TrainingState bad = good;
    bad.tensors["param.0.exp_avg"] = nn::zeros({3, 4}, nn::DType::Int64);
    expect_refused(target, bad, {"param.0.exp_avg", "float32", "int64"});
  }
  {  // no lr / unknown float / malformed key / empty dict
    optim::TrainingState bad = good;
    bad.floats.erase("lr");
    expect_refused(target, bad, {"\"lr\""});
    bad = good;
    bad.floats["momentum"] = 0.9;
    expect_refused(target, bad, {"unexpected float \"momentum\""});
    bad = good;
    bad.ints["param.00.step"] = 1;
    expect_refused(target, bad, {"param.00.step"});
    expect_refused(target, optim::TrainingState{}, {"missing", "optimizer"});
  }
  // The good one loads, and restores lr.
  target.set_lr(0.5);
  target.load_state(good);
  EXPECT_EQ(target.lr(), 1e-2);
  EXPECT_EQ(target.step_count(0), 1);
}

TEST(OptimState, StateDictPrefixAndMerge) {
  optim::TrainingState a;
  a.ints["last_epoch"] = 3;
  a.tensors["param.0.exp_avg"] = nn::zeros({2});
  optim::TrainingState all;
  all.merge(a.prefixed("optimizer."));
  all.merge(a.prefixed("scheduler."));
  EXPECT_EQ(all.ints.size(), 2u);
  EXPECT_EQ(all.sub("scheduler.").ints.at("last_epoch"), 3);
  EXPECT_TRUE(all.sub("optimizer.").tensors.count("param.0.exp_avg"));
  EXPECT_THROW(all.merge(a.prefixed("optimizer.")), nn::Error);
}

TEST(OptimState, SchedulesResumeExactly) {
  for (const MetaCase& c : cases_of_kind("lr_scheduler")) {
    SCOPED_TRACE(c.name);
    const auto make = [&](std::vector<Tensor> params) {
      return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions(c.meta["base_lr"].num()));
    };
    Tensor p = nn::zeros({1});
    auto opt = make({p});
    auto straight = make_scheduler(*opt, c.meta["scheduler"].string, c.meta["kwargs"]);
    std::vector<double> lrs;
    for (int k = 0; k < 12; ++k) {
      lrs.push_back(opt->lr());
      straight->step();
    }

    Tensor q = nn::zeros({1});
    auto opt2 = make({q});
    auto first = make_scheduler(*opt2, c.meta["scheduler"].string, c.meta["kwargs"]);
    for (int k = 0; k < 5; ++k) first->step();
    optim::TrainingState opt_state, sched_state;
    opt2->save_state(opt_state);
    first->save_state(sched_state);

    // Resume: load the optimizer first (its lr and initial_lr), then build and load the
    // schedule; and the other order. Both must continue exactly.
    for (int order = 0; order < 2; ++order) {
      Tensor r = nn::zeros({1});
      auto opt3 = make({r});
      std::shared_ptr<optim::LRScheduler> resumed;
      if (order == 0) {
        opt3->load_state(opt_state);
        resumed = make_scheduler(*opt3, c.meta["scheduler"].string, c.meta["kwargs"]);
        resumed->load_state(sched_state);
      } else {
        resumed = make_scheduler(*opt3, c.meta["scheduler"].string, c.meta["kwargs"]);
        resumed->load_state(sched_state);
        opt3->load_state(opt_state);
      }
      EXPECT_EQ(resumed->last_epoch(), 5);
      for (int k = 5; k < 12; ++k) {
        EXPECT_EQ(opt3->lr(), lrs[static_cast<std::size_t>(k)]) << "order " << order << " k " << k;
        resumed->step();
      }
    }
    // A state of another schedule is refused.
    optim::TrainingState bad = sched_state;
    bad.strings["scheduler"] = "NoSuchLR";
    EXPECT_THROW(first->load_state(bad), nn::Error);
    bad = sched_state;
    bad.ints.erase("last_epoch");
    EXPECT_THROW(first->load_state(bad), nn::Error);
    EXPECT_EQ(first->last_epoch(), 5);
  }
}

// --- behaviour beyond the fixtures ---------------------------------------------------------

TEST(Optim, ParametersWithoutGradientAreSkipped) {
  Tensor a = nn::ones({4}), b = nn::ones({4});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(nn::ones({4}));
  opt.step();
  EXPECT_NE(a.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(opt.step_count(0), 1);
  EXPECT_EQ(opt.step_count(1), 0);
}

TEST(Optim, ZeroGradAndLr) {
  Tensor a = nn::ones({3});
  a.set_requires_grad(true);
  optim::SGD opt({a}, optim::SGDOptions(0.1));
  a.set_grad(nn::ones({3}));
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>(3, 0.0f));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  opt.set_lr(0.25);
  EXPECT_EQ(opt.lr(), 0.25);
  EXPECT_EQ(opt.options().lr(), 0.25);
  a.set_grad(nn::ones({3}));
  opt.step();
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(3, 0.75f));
}

TEST(Optim, OptionsAreChecked) {
  Tensor a = nn::ones({3});
  EXPECT_THROW(optim::SGD({a}, optim::SGDOptions(-1.0)), nn::Error);
  EXPECT_THROW(optim::SGD({a}, optim::SGDOptions(0.1).nesterov(true)), nn::Error);
  EXPECT_THROW(optim::SGD({a}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
               nn::Error);
  EXPECT_THROW(optim::Adam({a}, optim::AdamOptions().betas({1.0, 0.999})), nn::Error);
  EXPECT_THROW(optim::AdamW({a}, optim::AdamWOptions().eps(-1.0)), nn::Error);
  EXPECT_THROW(optim::RMSprop({a}, optim::RMSpropOptions().alpha(-0.1)), nn::Error);
  EXPECT_THROW(optim::SGD({}, optim::SGDOptions(0.1)), nn::Error);
  EXPECT_THROW(optim::SGD({Tensor()}, optim::SGDOptions(0.1)), nn::Error);
  // PyTorch's defaults.
  EXPECT_EQ(optim::AdamOptions().lr(), 1e-3);
  EXPECT_EQ(optim::AdamWOptions().weight_decay(), 1e-2);
  EXPECT_EQ(optim::AdamOptions().weight_decay(), 0.0);
  EXPECT_EQ(optim::RMSpropOptions().lr(), 1e-2);
  EXPECT_EQ(optim::RMSpropOptions().alpha(), 0.99);

  Tensor b = nn::ones({3});
  b.set_requires_grad(true);
  optim::SGD opt({b}, optim::SGDOptions(0.1));
  b.impl()->grad = nn::ones({4}).impl_ptr();  // bypass set_grad's own check
  try {
    opt.step();
    ADD_FAILURE() << "a gradient of the wrong shape was accepted";
  } catch (const nn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(3)"), std::string::npos) << e.what();
  }
}

// Large tensors are split across threads by index; the result must equal the same elements
// updated in small (single-chunk) pieces, bit for bit.
TEST(Optim, ChunkedKernelsAgreeWithSmallPieces) {
  constexpr std::int64_t kN = 100000, kPiece = 1000;
  nn::Generator gen(7);
  const Tensor init = nn::randn({kN}, &gen);
  std::vector<Tensor> grads;
  for (int t = 0; t < 3; ++t) grads.push_back(nn::randn({kN}, &gen));

  const auto run = [&](auto make_opt) {
    Tensor whole = init.clone();
    std::vector<Tensor> pieces;
    for (std::int64_t s = 0; s < kN; s += kPiece) pieces.push_back(init.slice(0, s, s + kPiece).clone());
    auto opt_whole = make_opt(std::vector<Tensor>{whole});
    auto opt_pieces = make_opt(pieces);
    for (const Tensor& g : grads) {
      whole.set_grad(g);
      for (std::size_t k = 0; k < pieces.size(); ++k) {
        const auto s = static_cast<std::int64_t>(k) * kPiece;
        pieces[k].set_grad(g.slice(0, s, s + kPiece).clone());
      }
      opt_whole->step();
      opt_pieces->step();
    }
    const auto w = whole.to_vector<float>();
    for (std::size_t k = 0; k < pieces.size(); ++k) {
      const auto pv = pieces[k].to_vector<float>();
      ASSERT_EQ(std::memcmp(pv.data(), w.data() + k * kPiece, kPiece * sizeof(float)), 0)
          << "piece " << k;
    }
  };
  run([](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01));
  });
  run([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.01).amsgrad(true).weight_decay(0.1));
  });
  run([](std::vector<Tensor> p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(0.01)); });
  run([](std::vector<Tensor> p) {
    return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions().centered(true).momentum(0.5));
  });
}

// The optimizers hand all their parameters to the multi-tensor kernels (sgd_step_multi, ...)
// in one call per device. That must equal the single-tensor kernels called parameter by
// parameter, each with its own step count, bit for bit: here parameters get gradients on
// different steps (one skips every other step, one waits for step 3, so a call mixes first
// and later steps and different Adam bias corrections), and one parameter is empty.
struct MultiCase {
  std::string name;
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)> make;
  std::vector<std::string> buffers;  // buffer_names()
  // One parameter's update through the single-tensor kernel: buffers in buffer_names() order,
  // `step` counting this update.
  std::function<void(Tensor&, const Tensor&, std::vector<Tensor>&, std::int64_t)> single;
};

MultiCase sgd_multi_case(const std::string& name, optim::SGDOptions o) {
  nn::kernels::SgdStep h;
  h.lr = o.lr();
  h.momentum = o.momentum();
  h.dampening = o.dampening();
  h.weight_decay = o.weight_decay();
  h.nesterov = o.nesterov();
  h.maximize = o.maximize();
  std::vector<std::string> buffers;
  if (o.momentum() != 0.0) buffers.push_back("momentum_buffer");
  return {name,
          [o](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(std::move(p), o); },
          buffers,
          [h](Tensor& p, const Tensor& g, std::vector<Tensor>& b, std::int64_t step) {
            nn::kernels::SgdStep each = h;
            each.first_step = step == 1;
            Tensor none;
            nn::kernels::sgd_step(nn::Device::cpu(), p, g, b.empty() ? none : b[0], each);
          }};
}

template <class Opt, class Options>
MultiCase adam_multi_case(const std::string& name, Options o, bool decoupled) {
  nn::kernels::AdamStep h;
  h.lr = o.lr();
  h.beta1 = o.betas().first;
  h.beta2 = o.betas().second;
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.decoupled_weight_decay = decoupled;
  h.amsgrad = o.amsgrad();
  h.maximize = o.maximize();
  std::vector<std::string> buffers{"exp_avg", "exp_avg_sq"};
  if (o.amsgrad()) buffers.push_back("max_exp_avg_sq");
  return {name, [o](std::vector<Tensor> p) { return std::make_unique<Opt>(std::move(p), o); },
          buffers,
          [h](Tensor& p, const Tensor& g, std::vector<Tensor>& b, std::int64_t step) {
            nn::kernels::AdamStep each = h;
            each.step = step;
            Tensor none;
            nn::kernels::adam_step(nn::Device::cpu(), p, g, b[0], b[1], h.amsgrad ? b[2] : none,
                                   each);
          }};
}

MultiCase rmsprop_multi_case(const std::string& name, optim::RMSpropOptions o) {
  nn::kernels::RmspropStep h;
  h.lr = o.lr();
  h.alpha = o.alpha();
  h.eps = o.eps();
  h.weight_decay = o.weight_decay();
  h.momentum = o.momentum();
  h.centered = o.centered();
  h.maximize = o.maximize();
  const bool momentum = o.momentum() > 0.0;
  std::vector<std::string> buffers{"square_avg"};
  if (momentum) buffers.push_back("momentum_buffer");
  if (o.centered()) buffers.push_back("grad_avg");
  return {name,
          [o](std::vector<Tensor> p) { return std::make_unique<optim::RMSprop>(std::move(p), o); },
          buffers,
          [h, momentum](Tensor& p, const Tensor& g, std::vector<Tensor>& b, std::int64_t) {
            Tensor none_avg, none_buf;
            Tensor& buf = momentum ? b[1] : none_buf;
            Tensor& avg = h.centered ? b[momentum ? 2 : 1] : none_avg;
            nn::kernels::rmsprop_step(nn::Device::cpu(), p, g, b[0], avg, buf, h);
          }};
}

TEST(Optim, MultiTensorStepEqualsSingleTensorKernels) {
  using optim::AdamOptions;
  using optim::AdamWOptions;
  using optim::RMSpropOptions;
  using optim::SGDOptions;
  const std::vector<MultiCase> cases = {
      sgd_multi_case("SGD", SGDOptions(0.1).weight_decay(0.01)),
      sgd_multi_case("SGD_momentum_dampening", SGDOptions(0.05).momentum(0.8).dampening(0.3)),
      sgd_multi_case("SGD_nesterov_maximize",
                     SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.02).maximize(true)),
      adam_multi_case<optim::Adam>("Adam", AdamOptions(1e-2).weight_decay(0.1), false),
      adam_multi_case<optim::Adam>("Adam_amsgrad_maximize",
                                   AdamOptions(1e-2).betas({0.8, 0.99}).amsgrad(true).maximize(true),
                                   false),
      adam_multi_case<optim::AdamW>("AdamW", AdamWOptions(1e-2), true),
      adam_multi_case<optim::AdamW>("AdamW_amsgrad",
                                    AdamWOptions(2e-2).amsgrad(true).weight_decay(0.05).eps(1e-6),
                                    true),
      rmsprop_multi_case("RMSprop", RMSpropOptions(1e-2)),
      rmsprop_multi_case("RMSprop_centered_maximize",
                         RMSpropOptions(1e-2).centered(true).maximize(true).weight_decay(0.05)),
      rmsprop_multi_case("RMSprop_momentum", RMSpropOptions(1e-2).momentum(0.9).alpha(0.9)),
      rmsprop_multi_case("RMSprop_centered_momentum",
                         RMSpropOptions(1e-2).centered(true).momentum(0.5)),
  };
  // Parameter 1 gets a gradient on odd steps only, parameter 2 from step 3 on.
  const std::vector<nn::Shape> shapes = {{7, 5}, {13}, {3, 4, 6}, {0}, {50000}, {1}};
  const auto has_grad = [](std::size_t i, int step) {
    if (i == 1) return step % 2 == 1;
    if (i == 2) return step >= 3;
    return true;
  };
  constexpr int kSteps = 6;

  for (const MultiCase& c : cases) {
    SCOPED_TRACE(c.name);
    nn::Generator gen(11);
    std::vector<Tensor> params, ref_params;
    for (const nn::Shape& shape : shapes) {
      const Tensor init = nn::randn(shape, &gen);
      Tensor p = init.clone();
      p.set_requires_grad(true);
      params.push_back(p);
      ref_params.push_back(init.clone());
    }
    const auto opt = c.make(params);
    std::vector<std::vector<Tensor>> ref_buffers(shapes.size());
    std::vector<std::int64_t> ref_steps(shapes.size(), 0);

    for (int step = 0; step < kSteps; ++step) {
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        if (!has_grad(i, step)) {
          params[i].zero_grad(/*set_to_none=*/true);
          continue;
        }
        const Tensor g = nn::randn(shapes[i], &gen) * (i == 2 ? 1e-3 : 1.0);
        params[i].set_grad(g);
        if (ref_buffers[i].empty()) {
          for (std::size_t k = 0; k < c.buffers.size(); ++k) {
            ref_buffers[i].push_back(nn::zeros_like(ref_params[i]));
          }
        }
        c.single(ref_params[i], g, ref_buffers[i], ++ref_steps[i]);
      }
      opt->step();
    }

    optim::TrainingState state;
    opt->save_state(state);
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(same_bits(params[i].detach(), ref_params[i])) << "parameter " << i;
      EXPECT_EQ(opt->step_count(i), ref_steps[i]) << "parameter " << i;
      for (std::size_t k = 0; k < c.buffers.size(); ++k) {
        const std::string key = "param." + std::to_string(i) + "." + c.buffers[k];
        const auto it = state.tensors.find(key);
        ASSERT_NE(it, state.tensors.end()) << key;
        EXPECT_TRUE(same_bits(it->second, ref_buffers[i][k])) << key;
      }
    }
  }
}

// Every gradient is checked before anything changes: a bad one on a later parameter leaves
// the earlier ones, their state and their step counts as they were.
TEST(Optim, BadGradientLeavesEveryParameterUnchanged) {
  Tensor a = nn::ones({3}), b = nn::ones({3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(nn::ones({3}));
  b.impl()->grad = nn::ones({4}).impl_ptr();  // bypass set_grad's own check
  EXPECT_THROW(opt.step(), nn::Error);
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(opt.step_count(0), 0);
  optim::TrainingState state;
  opt.save_state(state);
  EXPECT_TRUE(state.tensors.empty());
  // With the gradient fixed, the step proceeds from a clean state.
  b.set_grad(nn::ones({3}));
  opt.step();
  EXPECT_EQ(opt.step_count(0), 1);
  EXPECT_EQ(opt.step_count(1), 1);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
}

TEST(Optim, ClipGradNormVariants) {
  Tensor a = nn::zeros({2}), b = nn::zeros({3}), none = nn::zeros({2});
  a.set_grad(nn::from_vector({3.0f, -4.0f}, {2}));
  b.set_grad(nn::from_vector({0.0f, 12.0f, 0.0f}, {3}));
  // L2: sqrt(9 + 16 + 144) = 13.
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm_({a, b, none}, 1e9), 13.0);
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>({3.0f, -4.0f}));  // unchanged
  // Inf norm = 12, scaled to 6 / (12 + 1e-6).
  const double total = optim::clip_grad_norm_({a, b}, 6.0, std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(total, 12.0);
  EXPECT_NEAR(b.grad().to_vector<float>()[1], 6.0f, 1e-5);
  // L1 of what is left: (3 + 4 + 12) * 6 / 12 = 9.5.
  EXPECT_NEAR(optim::clip_grad_norm_({a, b}, 100.0, 1.0), 9.5, 1e-5);
  // Non-finite total.
  a.set_grad(nn::from_vector({std::numeric_limits<float>::infinity(), 0.0f}, {2}));
  EXPECT_THROW(optim::clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/true), nn::Error);
  EXPECT_THROW(optim::clip_grad_norm_({a, b}, 1.0, -1.0), nn::Error);
  EXPECT_EQ(optim::clip_grad_norm_({none}, 1.0), 0.0);  // no gradients at all

  Tensor c = nn::zeros({4});
  c.set_grad(nn::from_vector({-2.0f, -0.5f, 0.5f, 2.0f}, {4}));
  optim::clip_grad_value_({c, none}, 1.0);
  EXPECT_EQ(c.grad().to_vector<float>(), std::vector<float>({-1.0f, -0.5f, 0.5f, 1.0f}));
}

TEST(Optim, SchedulesShareTheInitialLrAndCheckArguments) {
  Tensor p = nn::zeros({1});
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  auto warmup = std::make_shared<optim::LinearLR>(opt, 0.1, 1.0, 3);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.01);  // PyTorch's initial step
  auto cosine = std::make_shared<optim::CosineAnnealingLR>(opt, 9);
  EXPECT_EQ(cosine->base_lr(), 0.1);  // from initial_lr, not the warm-up's lr
  EXPECT_EQ(opt.initial_lr().value(), 0.1);
  EXPECT_THROW(optim::SequentialLR(opt, {warmup, cosine}, {}), nn::Error);
  EXPECT_THROW(optim::SequentialLR(opt, {warmup, cosine}, {0}), nn::Error);
  optim::SGD other({p}, optim::SGDOptions(0.1));
  auto foreign = std::make_shared<optim::StepLR>(other, 2);
  EXPECT_THROW(optim::SequentialLR(opt, {warmup, foreign}, {3}), nn::Error);
  EXPECT_THROW(optim::StepLR(opt, 0), nn::Error);
  EXPECT_THROW(optim::LinearLR(opt, 0.0), nn::Error);
}

}  // namespace
