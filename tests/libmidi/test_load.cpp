// load() on what a path may be besides a regular file: a directory (refused by name), a FIFO
// or a pipe's /dev/fd/N (read to the end; they cannot seek), and a stream or file past
// kMaxLoadBytes (refused with the cap in the message).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include "libmidi/libmidi.hpp"
#include "smf_bytes.hpp"

namespace {

using namespace smf_bytes;

// One track: a note on and off, End of Track.
Bytes small_file() {
  Bytes out = header(0, 1);
  append(out, chunk("MTrk", {0x00, 0x90, 60, 100, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00}));
  return out;
}

class Load : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::filesystem::temp_directory_path() /
              ("libmidi-load-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  // Writes `bytes` to `path` from another thread: a FIFO's open blocks until both ends are open.
  static std::thread writer(std::filesystem::path path, Bytes bytes) {
    return std::thread([path = std::move(path), bytes = std::move(bytes)] {
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    });
  }

  std::filesystem::path folder_;
};

TEST_F(Load, ADirectoryIsRefusedByName) {
  const std::filesystem::path dir = folder_ / "song.mid";
  std::filesystem::create_directory(dir);
  try {
    midi::load(dir);
    FAIL() << "a directory was loaded";
  } catch (const midi::FileError& e) {
    EXPECT_EQ(std::string(e.what()), dir.string() + ": is a directory, not a MIDI file");
    EXPECT_EQ(e.code(), std::errc::is_a_directory);
  }
}

TEST_F(Load, AMissingFileIsASystemError) {
  EXPECT_THROW(midi::load(folder_ / "absent.mid"), std::system_error);
}

TEST_F(Load, AFifoIsReadToItsEnd) {
  const std::filesystem::path fifo = folder_ / "song.mid";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread t = writer(fifo, small_file());
  const midi::MidiFile f = midi::load(fifo);
  t.join();
  ASSERT_EQ(f.tracks.size(), 1u);
  EXPECT_EQ(f.tracks[0].events.size(), 3u);
  EXPECT_TRUE(f.warnings.empty());
}

// What `musegen render <(cat x.mid) out.wav` hands over: /dev/fd/N of a pipe, which cannot seek.
TEST_F(Load, APipeOfTheShellIsRead) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const Bytes bytes = small_file();
  std::thread t([&] {
    ASSERT_EQ(::write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fds[1]);
  });
  const std::filesystem::path path = "/dev/fd/" + std::to_string(fds[0]);
  midi::MidiFile f;
  EXPECT_NO_THROW(f = midi::load(path));
  t.join();
  ::close(fds[0]);
  ASSERT_EQ(f.tracks.size(), 1u);
  EXPECT_EQ(f.tracks[0].events.size(), 3u);
}

// /dev/zero never ends: load() stops at the cap instead of filling memory.
TEST_F(Load, AStreamPastTheCapIsRefused) {
  try {
    midi::load("/dev/zero");
    FAIL() << "/dev/zero was loaded";
  } catch (const midi::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/zero: larger than 256 MiB"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), std::errc::file_too_large);
  }
}

// A regular file past the cap is refused by its size, before a byte is read (the file is sparse).
TEST_F(Load, ARegularFilePastTheCapIsRefusedBeforeReading) {
  const std::filesystem::path big = folder_ / "big.mid";
  std::ofstream(big).put('M');
  std::filesystem::resize_file(big, midi::kMaxLoadBytes + 1);
  try {
    midi::load(big);
    FAIL() << "a file past the cap was loaded";
  } catch (const midi::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 256 MiB (midi::kMaxLoadBytes)"), std::string::npos) << e.what();
  }
}

TEST_F(Load, AFileOfExactlyTheCapIsRead) {
  // Up to the cap is allowed: the sparse file is read (and found not to be a MIDI file).
  const std::filesystem::path big = folder_ / "cap.mid";
  std::ofstream(big).put('M');
  std::filesystem::resize_file(big, midi::kMaxLoadBytes);
  EXPECT_THROW(midi::load(big), midi::ParseError);
}

}  // namespace
