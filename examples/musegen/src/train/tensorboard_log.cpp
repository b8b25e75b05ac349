#include "tensorboard_log.hpp"

#include <cmath>

#include "generate.hpp"
#include "plot.hpp"

namespace musegen {

SamplePicture sample_piano_roll(MusicModel& model, const Codec& codec, const Sequence& primer,
                                std::int64_t steps, std::uint64_t seed, const std::string& title,
                                int width, int height) {
  GenerateOptions options;
  options.steps = steps;
  options.sample.seed = seed;
  options.keep_primer = true;
  const GenerateResult result = generate(model, primer, options);
  plot::PianoRollOptions roll;
  roll.width = width;
  roll.height = height;
  roll.title = title;
  SamplePicture picture;
  picture.png = plot::render_png(plot::piano_roll(codec.decode(result.sequence), roll));
  picture.width = width;
  picture.height = height;
  return picture;
}

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
