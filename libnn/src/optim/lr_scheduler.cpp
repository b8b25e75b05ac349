// Learning-rate schedules (libnn/optim/lr_scheduler.hpp), in closed form: step() moves the
// epoch counter and sets the optimizer's lr to lr_at(epoch). The formulas are PyTorch's
// _get_closed_form_lr; SequentialLR hands each epoch to the schedule whose segment holds it.
#include "libnn/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.hpp"

namespace nn::optim {

// --- LRScheduler ----------------------------------------------------------------------------

namespace {

double base_lr_of(Optimizer& optimizer) {
  if (!optimizer.initial_lr()) optimizer.set_initial_lr(optimizer.lr());
  return *optimizer.initial_lr();
}

}  // namespace

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(base_lr_of(optimizer)) {}

void LRScheduler::initial_step() { set_epoch(0); }

void LRScheduler::set_epoch(std::int64_t epoch) {
  last_epoch_ = epoch;
  last_lr_ = lr_at(epoch);
  optimizer_.set_lr(last_lr_);
}

void LRScheduler::step() { set_epoch(last_epoch_ + 1); }

void LRScheduler::save_state(TrainingState& out) const {
  TrainingState s;
  s.strings["scheduler"] = name();
  s.ints["last_epoch"] = last_epoch_;
  s.floats["base_lr"] = base_lr_;
  out.merge(s);
}

void LRScheduler::load_state(const TrainingState& in) {
  const std::string me = name();
  const auto name_it = in.strings.find("scheduler");
  NN_CHECK(name_it != in.strings.end(), "{}: load_state: missing string \"scheduler\"", me);
  NN_CHECK(name_it->second == me, "{}: load_state: expected the state of a {}, got {}", me, me,
           name_it->second);
  const auto epoch_it = in.ints.find("last_epoch");
  NN_CHECK(epoch_it != in.ints.end(), "{}: load_state: missing int \"last_epoch\"", me);
  NN_CHECK(epoch_it->second >= 0, "{}: load_state: expected \"last_epoch\" >= 0, got {}", me,
           epoch_it->second);
  const auto base_it = in.floats.find("base_lr");
  NN_CHECK(base_it != in.floats.end(), "{}: load_state: missing float \"base_lr\"", me);
  // Nothing else.
  const auto check_only = [&](const auto& map, const char* kind, const char* expected) {
    for (const auto& entry : map) {
      NN_CHECK(entry.first == expected, "{}: load_state: unexpected {} \"{}\"", me, kind,
               entry.first);
    }
  };
  check_only(in.strings, "string", "scheduler");
  check_only(in.ints, "int", "last_epoch");
  check_only(in.floats, "float", "base_lr");
  NN_CHECK(in.tensors.empty(), "{}: load_state: unexpected tensor \"{}\"", me,
           in.tensors.begin()->first);
  base_lr_ = base_it->second;
  set_epoch(epoch_it->second);
}

// --- StepLR, CosineAnnealingLR, LinearLR ---------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  NN_CHECK(step_size_ > 0, "StepLR: expected step_size > 0, got {}", step_size_);
  initial_step();
}

double StepLR::lr_at(std::int64_t epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  NN_CHECK(T_max_ > 0, "CosineAnnealingLR: expected T_max > 0, got {}", T_max_);
  initial_step();
}

double CosineAnnealingLR::lr_at(std::int64_t epoch) const {
  const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(T_max_);
  return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   std::int64_t total_iters)
    : LRScheduler(optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  // PyTorch's checks.
  NN_CHECK(start_factor_ > 0.0 && start_factor_ <= 1.0,
           "LinearLR: expected start_factor in (0, 1], got {}", start_factor_);
  NN_CHECK(end_factor_ >= 0.0 && end_factor_ <= 1.0,
           "LinearLR: expected end_factor in [0, 1], got {}", end_factor_);
  NN_CHECK(total_iters_ > 0, "LinearLR: expected total_iters > 0, got {}", total_iters_);
  initial_step();
}

double LinearLR::lr_at(std::int64_t epoch) const {
  const double progress = static_cast<double>(std::min(epoch, total_iters_)) /
                          static_cast<double>(total_iters_);
  return base_lr() * (start_factor_ + (end_factor_ - start_factor_) * progress);
}

// --- SequentialLR -------------------------------------------------------------------------

SequentialLR::SequentialLR(Optimizer& optimizer,
                           std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<std::int64_t> milestones)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  NN_CHECK(!schedulers_.empty(), "SequentialLR: expected at least one schedule, got none");
  NN_CHECK(milestones_.size() + 1 == schedulers_.size(),
           "SequentialLR: expected {} milestones for {} schedules, got {}",
           schedulers_.size() - 1, schedulers_.size(), milestones_.size());
  for (std::size_t j = 0; j < schedulers_.size(); ++j) {
    NN_CHECK(schedulers_[j] != nullptr, "SequentialLR: schedule {} is null", j);
    NN_CHECK(&schedulers_[j]->optimizer() == &optimizer,
             "SequentialLR: expected every schedule to drive the same optimizer, schedule {} "
             "drives another one", j);
  }
  for (std::size_t j = 0; j < milestones_.size(); ++j) {
    const std::int64_t previous = j == 0 ? 0 : milestones_[j - 1];
    NN_CHECK(milestones_[j] > previous,
             "SequentialLR: expected positive, strictly increasing milestones, got {} after {}",
             milestones_[j], previous);
  }
  // The schedules' constructors each moved the lr; start over from the first one's epoch 0.
  initial_step();
}

double SequentialLR::lr_at(std::int64_t epoch) const {
  // Schedule j covers [milestones[j-1], milestones[j]); its own epoch counts from the start.
  const auto j = static_cast<std::size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
  const std::int64_t start = j == 0 ? 0 : milestones_[j - 1];
  return schedulers_[j]->lr_at(epoch - start);
}

void SequentialLR::save_state(TrainingState& out) const {
  TrainingState s;
  LRScheduler::save_state(s);
  s.ints["num_schedulers"] = static_cast<std::int64_t>(schedulers_.size());
  for (std::size_t j = 0; j < schedulers_.size(); ++j) {
    TrainingState child;
    schedulers_[j]->save_state(child);
    s.merge(child.prefixed(fmt::format("schedulers.{}.", j)));
  }
  out.merge(s);
}

void SequentialLR::load_state(const TrainingState& in) {
  const auto n_it = in.ints.find("num_schedulers");
  NN_CHECK(n_it != in.ints.end(), "SequentialLR: load_state: missing int \"num_schedulers\"");
  NN_CHECK(n_it->second == static_cast<std::int64_t>(schedulers_.size()),
           "SequentialLR: load_state: expected the state of {} schedules, got {}",
           schedulers_.size(), n_it->second);
  // Our own entries, and a check that every "schedulers.<j>." entry has a schedule to go to.
  TrainingState own;
  std::vector<std::string> prefixes;
  for (std::size_t j = 0; j < schedulers_.size(); ++j) {
    prefixes.push_back(fmt::format("schedulers.{}.", j));
  }
  const auto split = [&](const auto& from, auto& to) {
    for (const auto& [key, value] : from) {
      if (key == "num_schedulers") continue;
      if (key.rfind("schedulers.", 0) != 0) {
        to.emplace(key, value);
        continue;
      }
      const bool known = std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) {
        return key.rfind(p, 0) == 0;
      });
      NN_CHECK(known, "SequentialLR: load_state: unexpected key \"{}\" ({} schedules)", key,
               schedulers_.size());
    }
  };
  split(in.tensors, own.tensors);
  split(in.ints, own.ints);
  split(in.floats, own.floats);
  split(in.strings, own.strings);

  // Load the schedules, then ourselves (which sets the optimizer's lr); if any part is
  // refused, put every part back as it was.
  std::vector<TrainingState> backups(schedulers_.size() + 1);
  for (std::size_t j = 0; j < schedulers_.size(); ++j) schedulers_[j]->save_state(backups[j]);
  LRScheduler::save_state(backups.back());
  const double lr_before = optimizer().lr();
  try {
    for (std::size_t j = 0; j < schedulers_.size(); ++j) {
      schedulers_[j]->load_state(in.sub(prefixes[j]));
    }
    LRScheduler::load_state(own);
  } catch (...) {
    for (std::size_t j = 0; j < schedulers_.size(); ++j) schedulers_[j]->load_state(backups[j]);
    LRScheduler::load_state(backups.back());
    optimizer().set_lr(lr_before);
    throw;
  }
}

}  // namespace nn::optim
