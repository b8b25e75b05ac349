// Optimizers, learning-rate schedules and gradient clipping (namespace nn::optim), with
// PyTorch's update rules and defaults and libtorch's shape:
//
//   nn::optim::AdamW opt(model.parameters(), nn::optim::AdamWOptions(3e-4).weight_decay(0.1));
//   nn::optim::SequentialLR schedule(opt,
//       {std::make_shared<nn::optim::LinearLR>(opt, 0.01, 1.0, 500),
//        std::make_shared<nn::optim::CosineAnnealingLR>(opt, 10000)}, {500});
//   for (...) {
//     opt.zero_grad();
//     loss.backward();
//     nn::optim::clip_grad_norm_(opt.parameters(), 1.0);
//     opt.step();
//     schedule.step();
//   }
//   nn::optim::StateDict state;  // for the training-state file
//   opt.save_state(state);       // or a prefixed copy per object, see StateDict
#pragma once

#include "libnn/optim/adam.hpp"
#include "libnn/optim/clip_grad.hpp"
#include "libnn/optim/lr_scheduler.hpp"
#include "libnn/optim/optimizer.hpp"
#include "libnn/optim/rmsprop.hpp"
#include "libnn/optim/sgd.hpp"
