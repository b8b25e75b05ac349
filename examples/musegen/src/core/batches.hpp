// Cutting a dataset split into training examples (windows) and stacking them into batches.
//
// A window is up to T consecutive predictions of one sequence, always starting from a zero
// LSTM state. Token sequences predict token t+1 from tokens ..t; frame sequences (roll)
// predict frame t from frames ..t-1, the first frame from an all-zero frame, so a sequence of
// n frames gives n predictions (the protocol of the published JSB figures: every frame of a
// piece is scored, the first one from nothing). Batches are padded to their longest window;
// padded positions have target -100 (tokens: cross_entropy's ignore_index) or mask 0 (frames).
// What a step is comes from the codec (Codec::step()); nothing here knows an encoding.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <libnn/libnn.hpp>

#include "codec.hpp"

namespace musegen {

struct Window {
  std::int32_t sequence = 0;  // index in the split
  std::int64_t start = 0;     // first predicted position
  std::int64_t length = 0;    // predictions, 1..T
};

// Consecutive chunks of at most `max_length` predictions covering every prediction of every
// sequence once, in order. Sequences too short to predict anything are left out.
std::vector<Window> make_windows(std::span<const Sequence> split, StepKind kind,
                                 std::int64_t max_length);

struct Batch {
  nn::Tensor input;   // tokens (T,B) int64, or frames (T,B,K) float32 (K: the frame width)
  nn::Tensor target;  // tokens (T,B) int64 with -100 for padding, or frames (T,B,K) float32
  nn::Tensor mask;    // frames only: (T,B) float32, 1 = a real prediction
  std::int64_t predictions = 0;  // real (unpadded) positions: tokens or frames
};

// Throws std::invalid_argument when a sequence's steps are not of `kind`, or frames of
// different widths are mixed. The batch is built on the host and its tensors copied to
// `device` (the model's), one copy each (libnn has no pinned host memory yet, so the driver
// stages these copies: cheap next to a training step, docs/musegen.md "Devices").
Batch make_batch(std::span<const Sequence> split, std::span<const Window> windows, StepKind kind,
                 nn::Device device = nn::Device::cpu());

// Sum over the batch's real positions of the negative log-likelihood, in nats: cross-entropy
// per token, or the K Bernoulli terms per frame. Divide by batch.predictions for the mean.
nn::Tensor nll_sum(const nn::Tensor& logits, const Batch& batch, StepKind kind);

// A deterministic permutation of 0..n-1 from (seed, stream) (Fisher–Yates on Philox), the
// same on every machine: the order of an epoch's windows is shuffled with stream = epoch.
std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed, std::uint64_t stream);

}  // namespace musegen
