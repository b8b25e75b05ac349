// A fresh folder per test under the system's temp dir, removed afterwards; shared by the
// file-format and checkpoint tests. temporaries() counts files left by an atomic write.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace test_util {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "libnn_test") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int temporaries() const {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      if (entry.path().filename().string().find(".tmp-") != std::string::npos) ++n;
    return n;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace test_util
