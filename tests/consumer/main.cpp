// Uses the installed libmidi as an outside program would: builds a file in memory, writes
// it, reads it back and checks the notes. Exits non-zero on any mismatch.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include <libmidi/libmidi.hpp>

int main() {
  constexpr int kNotes = 8;
  constexpr std::uint16_t kTicksPerQuarter = 480;

  midi::MidiFile file;
  file.format = 1;
  file.division = midi::TimeDivision::ppq(kTicksPerQuarter);
  midi::Track& track = file.tracks.emplace_back();
  track.add_tempo(0, 500000);  // 120 bpm: one quarter note = 0.5 s
  for (int i = 0; i < kNotes; ++i) {
    const std::uint64_t start = static_cast<std::uint64_t>(i) * kTicksPerQuarter;
    const auto pitch = static_cast<std::uint8_t>(60 + i);
    track.add_channel(start, 0x90, pitch, 100);                         // note on, channel 1
    track.add_channel(start + kTicksPerQuarter / 2, 0x80, pitch, 64);  // note off
  }
  track.add_end_of_track(static_cast<std::uint64_t>(kNotes) * kTicksPerQuarter);

  try {
    const std::vector<std::uint8_t> bytes = midi::write(file);
    const midi::MidiFile back = midi::read(bytes);
    const midi::Performance performance = midi::extract_notes(back);
    if (performance.notes.size() != kNotes) {
      std::fprintf(stderr, "libmidi_consumer: expected %d notes, got %zu\n", kNotes,
                   performance.notes.size());
      return 1;
    }
    const midi::Note& last = performance.notes.back();
    const double expected_start = (kNotes - 1) * 0.5;
    if (last.pitch != 60 + kNotes - 1 || std::abs(last.start_seconds - expected_start) > 1e-9) {
      std::fprintf(stderr, "libmidi_consumer: expected last note pitch %d at %.3f s, got %d at %.9f s\n",
                   60 + kNotes - 1, expected_start, last.pitch, last.start_seconds);
      return 1;
    }
    std::printf("libmidi_consumer: wrote %zu bytes, read back %zu notes: ok\n", bytes.size(),
                performance.notes.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "libmidi_consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
