// Tests on the real files in $MUSEGEN_DATA_DIR: the 72 MIDI edge cases read as the table below
// says (clean / repaired with these warnings / refused with this reason), and every readable
// file of both MIDI folders survives read -> write -> read with the same events.
// Data absent: the tests skip and say which path they looked for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "libmidi/libmidi.hpp"
#include "same_events.hpp"

namespace {

namespace fs = std::filesystem;
using midi::Malformation;

std::optional<fs::path> data_folder(const char* relative) {
  const char* root = std::getenv("MUSEGEN_DATA_DIR");
  if (!root) return std::nullopt;
  fs::path p = fs::path(root) / relative;
  if (!fs::is_directory(p)) return std::nullopt;
  return p;
}

#define REQUIRE_DATA(var, relative)                                                                   \
  const auto var = data_folder(relative);                                                             \
  if (!var)                                                                                           \
    GTEST_SKIP() << "data not found: set MUSEGEN_DATA_DIR to the datasets folder (it must hold " \
                 << (relative) << "); MUSEGEN_DATA_DIR=" << (std::getenv("MUSEGEN_DATA_DIR") ? std::getenv("MUSEGEN_DATA_DIR") : "(unset)")

std::vector<fs::path> files_in(const fs::path& folder) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_regular_file()) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What reading each edge-case file leniently must give.
struct Expected {
  std::vector<Malformation> warnings;  // kinds of the repairs, in order (empty: clean)
  const char* error = nullptr;         // a fragment of the error message if unreadable
};

const std::map<std::string, Expected>& edge_case_table() {
  using M = Malformation;
  const Expected clean{};
  const Expected stray{{M::StrayStatusByte}};
  static const std::map<std::string, Expected> table = {
      {"test-2-tracks-type-0.mid", {{M::WrongTrackCount}}},
      {"test-2-tracks-type-1.mid", clean},
      {"test-2-tracks-type-2.mid", clean},
      {"test-all-gm-percussion.mid", clean},
      {"test-all-gm-sounds.mid", clean},
      {"test-all-gm2-sounds.mid", clean},
      {"test-all-gs-sounds.mid", clean},
      {"test-all-microsoft-gs-wavetable-synth-sounds.mid", clean},
      {"test-all-xg-sounds.mid", clean},
      {"test-c-major-scale.mid", clean},
      {"test-control-00-20-bank-select.mid", clean},
      {"test-control-40-damper.mid", clean},
      {"test-control-41-portamento.mid", clean},
      {"test-control-54-portamento-control.mid", clean},
      {"test-control-7c-omni-mode-off.mid", clean},
      {"test-control-7d-omni-mode-on.mid", clean},
      {"test-control-7e-mono-mode-on.mid", clean},
      {"test-control-7f-poly-mode-on.mid", clean},
      {"test-corrupt-file-extra-byte.mid", {{M::TrailingBytes}}},
      {"test-corrupt-file-missing-byte.mid", {{M::TruncatedFile}}},
      {"test-empty-file.mid", {{}, "empty file"}},
      {"test-empty.mid", clean},
      {"test-gm2-doggy-78-00-38-4c.mid", clean},
      {"test-gm2-doggy-79-01-7b.mid", clean},
      {"test-gs-doggy-01-00-7b.mid", clean},
      {"test-illegal-message-all.mid", {std::vector<M>(13, M::StrayStatusByte)}},
      {"test-illegal-message-f1-xx.mid", stray},
      {"test-illegal-message-f2-xx-xx.mid", stray},
      {"test-illegal-message-f3-xx.mid", stray},
      {"test-illegal-message-f4.mid", stray},
      {"test-illegal-message-f5.mid", stray},
      {"test-illegal-message-f6.mid", stray},
      {"test-illegal-message-f8.mid", stray},
      {"test-illegal-message-f9.mid", stray},
      {"test-illegal-message-fa.mid", stray},
      {"test-illegal-message-fb.mid", stray},
      {"test-illegal-message-fc.mid", stray},
      {"test-illegal-message-fd.mid", stray},
      {"test-illegal-message-fe.mid", stray},
      {"test-karaoke-kar.mid", clean},
      {"test-multichannel-chords-0.mid", clean},
      {"test-multichannel-chords-1.mid", clean},
      {"test-multichannel-chords-2.mid", clean},
      {"test-multichannel-chords-3.mid", clean},
      {"test-non-midi-track.mid", clean},  // the unknown chunk is skipped and kept
      {"test-not-a-midi-file.mid", {{}, "expected 'MThd', found 'not '"}},
      {"test-note-on-velocity.mid", clean},
      {"test-rpn-00-00-pitch-bend-range.mid", clean},
      {"test-rpn-00-01-fine-tuning.mid", clean},
      {"test-rpn-00-02-coarse-tuning.mid", clean},
      {"test-rpn-00-05-modulation-depth-range.mid", clean},
      {"test-running-status-metaevent.mid", {{M::RunningStatusAfterMetaOrSysEx}}},
      {"test-running-status-sysex.mid", {{M::RunningStatusAfterMetaOrSysEx}}},
      {"test-silence-all-notes-off.mid", clean},
      {"test-silence-end-of-track.mid", clean},
      {"test-silence-text-metaevent.mid", clean},
      {"test-smpte-offset.mid", clean},
      {"test-sysex-7e-06-01-id-request.mid", clean},
      {"test-sysex-7e-09-01-gm1-enable.mid", clean},
      {"test-sysex-7e-09-02-gm-disable.mid", clean},
      {"test-sysex-7e-09-03-gm2-enable.mid", clean},
      {"test-sysex-7f-04-03-master-fine-tuning.mid", clean},
      {"test-sysex-7f-04-04-master-coarse-tuning.mid", clean},
      {"test-sysex-7x-08-0x-scale-tuning.mid", clean},
      {"test-sysex-gs-40-1x-15-drum-part-change.mid", clean},
      {"test-sysex-gs-40-1x-4x-scale-tuning.mid", clean},
      {"test-syx-7e-06-01-id-request.syx", {{}, "expected 'MThd', found F0 7E 7F 06"}},  // raw SysEx, not an SMF
      {"test-track-length.mid", clean},
      {"test-vlq-2-byte.mid", clean},
      {"test-vlq-3-byte.mid", clean},
      {"test-vlq-4-byte.mid", clean},
      {"test-xg-doggy-40-00-30.mid", clean},
      {"test-xg-doggy-7e-00-00-54.mid", clean},
  };
  return table;
}

TEST(EdgeCases, EveryFileReadsAsTheTableSays) {
  REQUIRE_DATA(folder, "midi-edge-cases/midi");
  const auto& table = edge_case_table();
  std::size_t seen = 0;
  for (const auto& path : files_in(*folder)) {
    const std::string name = path.filename().string();
    SCOPED_TRACE(name);
    const auto row = table.find(name);
    if (row == table.end()) {
      ADD_FAILURE() << "file not in the test's table: " << name;
      continue;
    }
    ++seen;
    const Expected& expected = row->second;
    try {
      const midi::MidiFile f = midi::load(path);
      ASSERT_EQ(expected.error, nullptr) << "read a file that must be refused";
      std::vector<Malformation> kinds;
      std::string text;
      for (const auto& w : f.warnings) {
        ASSERT_TRUE(w.kind.has_value());
        kinds.push_back(*w.kind);
        text += w.to_string() + "\n";
        EXPECT_LT(w.offset, fs::file_size(path)) << "a warning must point into the file";
      }
      EXPECT_EQ(kinds, expected.warnings) << text;
      EXPECT_FALSE(f.tracks.empty());
      // Strict mode refuses exactly the files that needed repairs.
      if (expected.warnings.empty())
        EXPECT_NO_THROW(midi::load(path, midi::ReadOptions::strict()));
      else
        EXPECT_THROW(midi::load(path, midi::ReadOptions::strict()), midi::ParseError);
    } catch (const midi::ParseError& e) {
      ASSERT_NE(expected.error, nullptr) << "unexpected error: " << e.what();
      const std::string message = e.what();
      EXPECT_NE(message.find(expected.error), std::string::npos) << message;
      EXPECT_NE(message.find(path.string()), std::string::npos) << "the error must name the file: " << message;
    }
  }
  EXPECT_EQ(seen, table.size()) << "some files of the table are missing from " << *folder;
}

void expect_same_events(const midi::MidiFile& a, const midi::MidiFile& b) {
  EXPECT_EQ(midi_test::first_difference(a, b), "");
}

void round_trip_folder(const fs::path& folder, std::size_t minimum_files) {
  std::size_t read_ok = 0, byte_identical = 0;
  for (const auto& path : files_in(folder)) {
    SCOPED_TRACE(path.filename().string());
    midi::MidiFile original;
    try {
      original = midi::load(path);
    } catch (const midi::ParseError&) {
      continue;  // unreadable files are covered by the edge-case table
    }
    ++read_ok;
    const auto written = midi::write(original);
    const auto reread = midi::read(written);
    expect_same_events(original, reread);
    // What we wrote is canonical: writing it again gives the same bytes.
    EXPECT_EQ(midi::write(reread), written);
    if (written == slurp(path)) ++byte_identical;
  }
  EXPECT_GE(read_ok, minimum_files);
  std::printf("[ info ] %s: %zu files read, round trip ok; %zu of them rewritten byte for byte\n",
              folder.string().c_str(), read_ok, byte_identical);
}

TEST(RoundTrip, EdgeCaseFiles) {
  REQUIRE_DATA(folder, "midi-edge-cases/midi");
  round_trip_folder(*folder, 70);
}

TEST(RoundTrip, PianoFiles) {
  REQUIRE_DATA(folder, "classical-piano-composer/midi_songs");
  round_trip_folder(*folder, 92);
}

TEST(RoundTrip, WithoutRunningStatusToo) {
  REQUIRE_DATA(folder, "classical-piano-composer/midi_songs");
  for (const auto& path : files_in(*folder)) {
    SCOPED_TRACE(path.filename().string());
    const auto original = midi::load(path);
    const auto plain = midi::write(original, midi::WriteOptions().running_status(false));
    expect_same_events(original, midi::read(plain));
  }
}

}  // namespace
