// TensorBoard event files: what `tensorboard --logdir DIR` shows, written without TensorFlow
// or protobuf.
//
// An event file is a sequence of TFRecords, each holding one `tensorflow.Event` protocol
// buffer (docs/formats.md, "TensorBoard event files"):
//   record = uint64 length (little-endian) | uint32 masked CRC-32C of the length bytes |
//            data[length] | uint32 masked CRC-32C of data
//   masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8
// The first event names the format ("brain.Event:2"); each later one carries a wall time, a
// step and a Summary with scalars (simple_value) or PNG images, or a SessionLog.
//
// Usage, as with PyTorch's torch.utils.tensorboard.SummaryWriter:
//   nn::io::SummaryWriter tb("runs/exp1");
//   tb.add_scalar("train/loss", loss, step);
//   tb.add_image_png("valid/sample", png_bytes, width, height, step);
//   tb.flush();   // also done by the destructor
//
// A writer owns one new file per run session, named like TensorBoard's own writers:
// events.out.tfevents.<seconds>.<host>.<pid>.<counter>. The seconds field is raised above
// the newest event file already in the folder when needed, so files sort in the order they
// were written (TensorBoard reads a folder's files in name order). Records are appended and
// flushed on flush(); a run killed mid-record leaves a partial last record, which
// TensorBoard's reader ignores.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nn::io {

class SummaryWriter {
 public:
  // Creates `log_dir` (and parents) when missing and opens a new event file in it.
  // Throws std::system_error naming the folder or file on failure.
  explicit SummaryWriter(const std::filesystem::path& log_dir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // One scalar, stored as a float32 `simple_value` (what TensorBoard's scalar dashboard
  // plots). NaN and infinities are stored as they are.
  void add_scalar(std::string_view tag, double value, std::int64_t step);

  // An image already encoded as PNG (TensorBoard's image dashboard decodes it);
  // `channels` is 1 (grey), 3 (RGB) or 4 (RGBA). Throws std::invalid_argument for
  // non-positive sizes, a bad channel count or bytes that do not start with the PNG
  // signature.
  void add_image_png(std::string_view tag, std::span<const std::uint8_t> png, int width, int height,
                     std::int64_t step, int channels = 3);

  // A SessionLog START at `step`. Log one when a session begins, at its first step: the
  // first START TensorBoard sees marks the run's beginning, and each later one a restart,
  // for which it drops what earlier files logged at steps >= `step` (the steps an
  // interrupted run logged after its last checkpoint, which the resumed run logs again).
  void add_session_start(std::int64_t step);

  // Writes buffered records to the file and flushes it. Throws std::system_error naming
  // the file when the write fails.
  void flush();

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(const std::vector<std::uint8_t>& event);

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// The framing of one TFRecord around `data` (exposed for tests).
std::vector<std::uint8_t> tfrecord(std::span<const std::uint8_t> data);

// TFRecord's masked CRC-32C.
std::uint32_t masked_crc32c(std::span<const std::uint8_t> bytes);

}  // namespace nn::io
