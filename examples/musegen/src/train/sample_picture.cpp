#include "sample_picture.hpp"

#include "generate.hpp"
#include "multitrack_rules.hpp"
#include "plot.hpp"

namespace musegen {

SamplePicture sample_piano_roll(MusicModel& model, const Codec& codec, const Sequence& primer,
                                std::int64_t steps, std::uint64_t seed, const std::string& title,
                                int width, int height) {
  GenerateOptions options;
  options.steps = steps;
  options.sample.seed = seed;
  options.keep_primer = true;
  options.rule = generation_rule(codec);
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

}  // namespace musegen
