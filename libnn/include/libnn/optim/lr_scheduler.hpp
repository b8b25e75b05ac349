// Learning-rate schedules: each sets its optimizer's lr once per step(), as torch.optim's
// lr_scheduler does (StepLR, CosineAnnealingLR, LinearLR, SequentialLR).
//
// Usage, one schedule step per optimizer step (or per epoch):
//   nn::optim::SGD opt(params, nn::optim::SGDOptions(0.1));
//   nn::optim::CosineAnnealingLR schedule(opt, /*T_max=*/100);
//   for (...) { ...; opt.step(); schedule.step(); }
//
// Unlike PyTorch's recursive ("chainable") form, every lr here is a closed form of the epoch
// counter (lr_at), so a schedule's whole state is last_epoch and base_lr, and resuming cannot
// drift. The values equal PyTorch's to about 1e-16 relative; they differ only if something
// else changes the optimizer's lr between steps, which step() overwrites. Constructing a
// schedule performs PyTorch's initial step: last_epoch becomes 0 and the optimizer's lr
// lr_at(0). base_lr is the optimizer's initial_lr(), which the first schedule made for it sets
// to its lr() (so a second schedule on the same optimizer starts from the same base).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libnn/optim/optimizer.hpp"

namespace nn::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // last_epoch += 1, then the optimizer's lr = lr_at(last_epoch).
  void step();
  // The lr this schedule set last (what the next optimizer step uses).
  double get_last_lr() const { return last_lr_; }
  std::int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }
  Optimizer& optimizer() const { return optimizer_; }

  // The lr at `epoch` (>= 0).
  virtual double lr_at(std::int64_t epoch) const = 0;
  // PyTorch's class name: "StepLR", ...; saved with the state and checked on load.
  virtual std::string name() const = 0;

  // Writes strings "scheduler" (name()), ints "last_epoch", floats "base_lr" (adding to
  // `out`; nn::Error if a key is taken). SequentialLR adds its schedules' states under
  // "schedulers.<j>.".
  virtual void save_state(TrainingState& out) const;
  // Restores them after checking the name and that no key is missing or unknown (nn::Error
  // otherwise, this schedule unchanged), and sets the optimizer's lr to lr_at(last_epoch).
  virtual void load_state(const TrainingState& in);

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Each derived constructor ends with this, once lr_at() can run: last_epoch = 0.
  void initial_step();
  void set_epoch(std::int64_t epoch);  // last_epoch = epoch, lr = lr_at(epoch)

 private:
  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t last_epoch_ = -1;
  double last_lr_ = 0.0;
};

// lr = base_lr * gamma^floor(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  double lr_at(std::int64_t epoch) const override;
  std::string name() const override { return "StepLR"; }

 private:
  std::int64_t step_size_;
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2; past T_max it keeps
// following the cosine (rising again), as PyTorch's does.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);
  double lr_at(std::int64_t epoch) const override;
  std::string name() const override { return "CosineAnnealingLR"; }

 private:
  std::int64_t T_max_;
  double eta_min_;
};

// Linear warm-up: lr = base_lr * (start_factor + (end_factor - start_factor) *
// min(epoch, total_iters) / total_iters).
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
           std::int64_t total_iters = 5);
  double lr_at(std::int64_t epoch) const override;
  std::string name() const override { return "LinearLR"; }

 private:
  double start_factor_;
  double end_factor_;
  std::int64_t total_iters_;
};

// Schedules one after another: schedule j runs from milestones[j-1] (its epoch 0 there)
// until milestones[j]. E.g. warm-up then cosine:
//   auto warmup = std::make_shared<LinearLR>(opt, 0.1, 1.0, 3);
//   auto cosine = std::make_shared<CosineAnnealingLR>(opt, 9);
//   SequentialLR schedule(opt, {warmup, cosine}, {3});
class SequentialLR : public LRScheduler {
 public:
  // Throws nn::Error unless milestones has one entry fewer than schedulers, is strictly
  // increasing and positive, and every schedule drives `optimizer`.
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<std::int64_t> milestones);
  double lr_at(std::int64_t epoch) const override;
  std::string name() const override { return "SequentialLR"; }
  void save_state(TrainingState& out) const override;
  void load_state(const TrainingState& in) override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<std::int64_t> milestones_;
};

}  // namespace nn::optim
