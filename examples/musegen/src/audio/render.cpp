// The render service: checks, the choice of synthesizer, and timing (render.hpp).
#include "render.hpp"

#include <algorithm>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <system_error>
#include <vector>

#include "fluid_render.hpp"
#include "libmidi/io.hpp"
#include "wav.hpp"

namespace musegen {

namespace {

double cpu_seconds_since(std::clock_t begin) {
  return static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC;
}

constexpr std::int64_t kSpillFrames = 1 << 15;  // frames read back at a time (256 KB)

// A temporary file of raw float samples in the folder of `beside` (the same file system as
// the WAV being written, which is where there is room for it), unlinked as soon as it is
// created: the system removes it when it is closed, even after a crash.
class SpillFile {
 public:
  explicit SpillFile(const std::filesystem::path& beside) {
    std::filesystem::path folder = beside.parent_path();
    if (folder.empty()) folder = ".";
    std::string name = (folder / ".musegen-render-XXXXXX").string();
    fd_ = ::mkstemp(name.data());
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "cannot create a temporary file in " + folder.string());
    ::unlink(name.c_str());
    where_ = folder.string();
  }
  ~SpillFile() { ::close(fd_); }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  void write(std::span<const float> samples) {
    const char* p = reinterpret_cast<const char*>(samples.data());
    std::size_t left = samples.size_bytes();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::system_error(errno, std::generic_category(), "cannot write a temporary file in " + where_);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void rewind() {
    if (::lseek(fd_, 0, SEEK_SET) != 0)
      throw std::system_error(errno, std::generic_category(), "cannot rewind a temporary file in " + where_);
  }
  void read(std::span<float> samples) {
    char* p = reinterpret_cast<char*>(samples.data());
    std::size_t left = samples.size_bytes();
    while (left > 0) {
      const ssize_t n = ::read(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::system_error(n < 0 ? errno : EIO, std::generic_category(), "cannot read back a temporary file in " + where_);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_ = -1;
  std::string where_;
};

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

RenderedFile render_midi_to_wav(const midi::MidiFile& file, const RenderRequest& request,
                                const std::filesystem::path& wav) {
  const SynthOptions options = checked_synth_options(request);
  RenderedFile result;
  result.sample_rate = options.sample_rate;
  const std::clock_t begin = std::clock();
  std::optional<SoundFontSynth> fluid;
  std::optional<FileNotes> notes;
  if (request.soundfont.empty()) {
    notes = file_notes(file);
    result.synthesizer = "the built-in synthesizer";
    result.frames = audio_frames(notes->seconds, options.sample_rate);
  } else {
    fluid.emplace(request.soundfont, options);
    result.synthesizer = "FluidSynth (" + request.soundfont.filename().string() + ")";
    result.frames = audio_frames(file_seconds(file), options.sample_rate);
  }
  const std::clock_t loaded = std::clock();
  result.load_cpu_seconds = fluid ? static_cast<double>(loaded - begin) / CLOCKS_PER_SEC : 0.0;
  WavWriter writer(wav, options.sample_rate, result.frames);  // too long: refused here

  // The raw mix goes to a spill file while its peak is found; then it is read back, scaled
  // and converted. One rendering, not two (the synthesizer is the expensive part), at the
  // price of twice the WAV's size on disk for a moment.
  SpillFile spill(wav);
  float peak = 0;
  const auto keep = [&](std::span<const float> block) {
    peak = std::max(peak, peak_of(block));
    spill.write(block);
  };
  if (fluid) {
    fluid->render_blocks(file, keep);
  } else {
    render_blocks(notes->performance, notes->seconds, options.sample_rate, keep);
  }
  const float scale = peak > 0 ? normalization_scale(peak, options) : 1.0f;  // silence stays zeros
  spill.rewind();
  std::vector<float> block(static_cast<std::size_t>(2 * kSpillFrames));
  for (std::int64_t done = 0; done < result.frames;) {
    const std::int64_t n = std::min(kSpillFrames, result.frames - done);
    const std::span<float> samples(block.data(), static_cast<std::size_t>(2 * n));
    spill.read(samples);
    if (peak > 0)
      for (float& x : samples) x *= scale;  // normalize()'s arithmetic, sample for sample
    writer.write(samples);
    done += n;
  }
  writer.commit();
  result.render_cpu_seconds = cpu_seconds_since(loaded);
  return result;
}

RenderedFile render_midi_to_wav(const std::filesystem::path& midi_file, const RenderRequest& request,
                                const std::filesystem::path& wav) {
  checked_synth_options(request);  // a bad request fails before the file is read
  return render_midi_to_wav(midi::load(midi_file), request, wav);
}

}  // namespace musegen
