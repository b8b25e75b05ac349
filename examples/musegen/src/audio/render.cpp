// The render service: checks, the choice of synthesizer, and timing (render.hpp).
#include "render.hpp"

#include <ctime>

#include "fluid_render.hpp"
#include "libmidi/io.hpp"

namespace musegen {

namespace {

double cpu_seconds_since(std::clock_t begin) {
  return static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC;
}

}  // namespace

SynthOptions checked_synth_options(const RenderRequest& request) {
  using Field = BadRenderRequest::Field;
  if (request.sample_rate < kMinSampleRate || request.sample_rate > kMaxSampleRate)
    throw BadRenderRequest(Field::sample_rate, "expected " + std::to_string(kMinSampleRate) + ".." +
                                                   std::to_string(kMaxSampleRate) + ", found " +
                                                   std::to_string(request.sample_rate));
  if (!(request.gain_db <= kMaxGainDb && request.gain_db > kMinGainDb))
    throw BadRenderRequest(Field::gain_db, "expected -100 < DB <= 1 (louder would clip), found " +
                                               std::to_string(request.gain_db));
  if (!request.soundfont.empty() && !soundfont_support_built_in())
    throw BadRenderRequest(Field::soundfont, request.soundfont.string() +
                                                 ": FluidSynth support is not built in.\n" + kSoundFontHelp);
  SynthOptions options;
  options.sample_rate = static_cast<int>(request.sample_rate);
  options.gain_db = request.gain_db;
  return options;
}

RenderedAudio render_midi(const midi::MidiFile& file, const RenderRequest& request) {
  const SynthOptions options = checked_synth_options(request);
  RenderedAudio result;
  const std::clock_t begin = std::clock();
  if (request.soundfont.empty()) {
    result.audio = render(file, options);
    result.render_cpu_seconds = cpu_seconds_since(begin);
    result.synthesizer = "the built-in synthesizer";
    return result;
  }
  const SoundFontSynth synth(request.soundfont, options);
  const std::clock_t loaded = std::clock();
  result.load_cpu_seconds = static_cast<double>(loaded - begin) / CLOCKS_PER_SEC;
  result.audio = synth.render(file);
  result.render_cpu_seconds = cpu_seconds_since(loaded);
  result.synthesizer = "FluidSynth (" + request.soundfont.filename().string() + ")";
  return result;
}

RenderedAudio render_midi(const std::filesystem::path& midi_file, const RenderRequest& request) {
  checked_synth_options(request);  // a bad request fails before the file is read
  return render_midi(midi::load(midi_file), request);
}

}  // namespace musegen
