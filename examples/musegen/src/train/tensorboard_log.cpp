#include "tensorboard_log.hpp"

#include <cmath>

namespace musegen {

TensorBoardLog::TensorBoardLog(const std::filesystem::path& run_dir, std::int64_t first_step)
    : writer_(run_dir) {
  writer_.add_session_start(first_step);
  writer_.flush();
}

void TensorBoardLog::scalar(const std::string& tag, double value, std::int64_t step) {
  if (!std::isnan(value)) writer_.add_scalar(tag, value, step);
}

void TensorBoardLog::image(std::int64_t step, const SamplePicture& picture) {
  writer_.add_image_png("valid/sample", picture.png, picture.width, picture.height, step);
}

}  // namespace musegen
