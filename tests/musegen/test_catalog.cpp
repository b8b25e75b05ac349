// The dataset catalog, SHA-256 and fetching: FIPS 180 test vectors, the compiled-in catalog
// against datasets/catalog.tsv, fetching from a local mirror into a temp folder, refusing a
// download whose hash does not match, and clear errors when there is nothing to fetch from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "catalog.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "fetch.hpp"
#include "sha256.hpp"

namespace {

namespace fs = std::filesystem;
using musegen::sha256_hex;

// FIPS 180-2 appendix B and the NIST example values for SHA-256.
TEST(Sha256, FipsTestVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                 "klmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShotAtEveryBlockBoundary) {
  std::string text;
  for (int i = 0; i < 300; ++i) text.push_back(static_cast<char>('a' + i % 26));
  for (std::size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 128u, 299u}) {
    musegen::Sha256 h;
    h.update(std::string_view(text).substr(0, split));
    h.update(std::string_view(text).substr(split));
    EXPECT_EQ(h.hex_digest(), sha256_hex(text)) << "split at " << split;
  }
}

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("musegen_catalog_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Sha256, FileHashMatchesCoreutils) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 200000; ++i) text.push_back(static_cast<char>(i * 7));
  write_text(dir.path() / "f.bin", text);
  EXPECT_EQ(musegen::sha256_file(dir.path() / "f.bin"), sha256_hex(text));
  EXPECT_THROW(musegen::sha256_file(dir.path() / "missing"), std::system_error);
  // sha256sum (coreutils) as an independent oracle, when present.
  FILE* pipe =
      ::popen(("sha256sum '" + (dir.path() / "f.bin").string() + "' 2>/dev/null").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char out[65] = {};
  const bool got = std::fread(out, 1, 64, pipe) == 64;
  ::pclose(pipe);
  if (got) {
    EXPECT_EQ(std::string(out), sha256_hex(text));
  }
}

TEST(Catalog, BuiltInCopyAgreesWithTheFile) {
  const fs::path file = fs::path(MUSEGEN_TEST_DIR) / "../../datasets/catalog.tsv";
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_EQ(read_text(file), musegen::builtin_catalog_text())
      << "datasets/catalog.tsv and the copy in examples/musegen/src/data/catalog.cpp differ";
}

TEST(Catalog, HasTheIssuesDatasetsWithPinnedHashes) {
  const auto& catalog = musegen::builtin_catalog();
  for (const char* name :
       {"jsb-chorales", "maestro-v3-midi", "lakh-clean", "nottingham", "music21-multitrack"}) {
    const musegen::CatalogDataset* d = musegen::find_dataset(catalog, name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_FALSE(d->license.empty());
    for (const auto& f : d->files) {
      EXPECT_EQ(f.sha256.size(), 64u) << name << " " << f.file;
      EXPECT_TRUE(f.bytes.has_value()) << name << " " << f.file;
    }
  }
  EXPECT_EQ(musegen::find_dataset(catalog, "nope"), nullptr);
  EXPECT_EQ(musegen::find_dataset(catalog, "jsb-chorales")->files.size(), 4u);
  // music21's wheel is a zip; only its corpus is installed, as <data>/music21-multitrack/corpus,
  // where datasets/music21_multitrack.py looks for it.
  const musegen::CatalogDataset* m21 = musegen::find_dataset(catalog, "music21-multitrack");
  ASSERT_NE(m21, nullptr);
  ASSERT_EQ(m21->files.size(), 1u);
  EXPECT_EQ(m21->files[0].unpack, "zip");
  EXPECT_EQ(m21->files[0].from, "music21/corpus");
  EXPECT_EQ(m21->files[0].to, "corpus");
  EXPECT_EQ(m21->files[0].bytes, 20118992u);
}

// The shared mirror's copies of the plain files match the catalog (when the mirror is here).
TEST(Catalog, SharedMirrorMatchesPinnedHashes) {
  const char* data = std::getenv("MUSEGEN_DATA_DIR");
  if (!data || !fs::is_directory(fs::path(data) / "jsb-chorales"))
    GTEST_SKIP() << "MUSEGEN_DATA_DIR has no jsb-chorales/";
  const musegen::CatalogDataset& jsb =
      *musegen::find_dataset(musegen::builtin_catalog(), "jsb-chorales");
  const musegen::VerifyReport r = musegen::verify_dataset(jsb, fs::path(data) / "jsb-chorales");
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.files_checked, 4u);
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
}

TEST(Catalog, MalformedLinesNameLineAndColumn) {
  const std::string header = "# comment\n";
  const auto error = [&](const std::string& line) {
    try {
      musegen::parse_catalog(header + line + "\n", "test.tsv");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string good = "toy\tabc.txt\t3\t" + sha256_hex("abc") +
                           "\thttps://example.org/abc.txt\tnone\t-\t.\tMIT\ta toy";
  EXPECT_EQ(musegen::parse_catalog(header + good + "\n", "t").size(), 1u);
  EXPECT_NE(error("toy\tabc.txt\t3").find("test.tsv: line 2"), std::string::npos);
  std::string bad_hash = good;
  bad_hash.replace(bad_hash.find(sha256_hex("abc")), 3, "XYZ");
  EXPECT_NE(error(bad_hash).find("column 4"), std::string::npos) << error(bad_hash);
  std::string bad_unpack = good;
  bad_unpack.replace(bad_unpack.find("\tnone\t"), 6, "\trar\t");
  EXPECT_NE(error(bad_unpack).find("column 6"), std::string::npos) << error(bad_unpack);
  std::string bad_url = good;
  bad_url.replace(bad_url.find("https://"), 8, "ftp://");
  EXPECT_NE(error(bad_url).find("column 5"), std::string::npos);
  EXPECT_NE(error(good + "\n" + good).find("listed twice"), std::string::npos);
}

// A toy dataset: one plain file whose hash is a FIPS vector ("abc"), one unpinned tar.gz.
musegen::CatalogDataset toy_dataset(const std::string& extra_lines = "") {
  const std::string text = "toy\tabc.txt\t3\t" + sha256_hex("abc") +
                           "\thttp://127.0.0.1:9/abc.txt\tnone\t-\t.\tMIT\ta toy\n" + extra_lines;
  return musegen::parse_catalog(text, "toy.tsv").at(0);
}

TEST(Fetch, CopiesFromTheMirrorFolderAndVerifies) {
  TempDir dir;
  write_text(dir.path() / "mirror/toy/abc.txt", "abc");
  write_text(dir.path() / "mirror/toy/sub/other.mid", "MThd");
  musegen::FetchOptions o;
  o.dest = dir.path() / "dest";
  o.mirror = dir.path() / "mirror";
  o.allow_download = false;
  const auto r = musegen::fetch_dataset(toy_dataset(), o);
  EXPECT_EQ(r.folder, o.dest / "toy");
  EXPECT_EQ(read_text(o.dest / "toy/abc.txt"), "abc");
  EXPECT_EQ(read_text(o.dest / "toy/sub/other.mid"), "MThd");
  EXPECT_TRUE(fs::exists(o.dest / "toy" / musegen::kManifestName));
  auto v = musegen::verify_dataset(toy_dataset(), o.dest / "toy");
  EXPECT_TRUE(v.problems.empty());
  EXPECT_EQ(v.files_checked, 3u);  // the plain file, then both files of the manifest
  // Only the staged folder's rename touched dest: nothing else is left there.
  EXPECT_EQ(std::distance(fs::directory_iterator(o.dest), fs::directory_iterator()), 1);
  // A second fetch leaves it alone; tampering is caught by verify.
  EXPECT_EQ(musegen::fetch_dataset(toy_dataset(), o).source, "already present");
  write_text(o.dest / "toy/sub/other.mid", "MThx");
  v = musegen::verify_dataset(toy_dataset(), o.dest / "toy");
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_NE(v.problems[0].find("other.mid: SHA-256 mismatch"), std::string::npos) << v.problems[0];
}

TEST(Fetch, UnpacksAVerifiedArchiveFromTheMirrorDownloads) {
  TempDir dir;
  write_text(dir.path() / "src/pack-1.0/midi/a.mid", "one");
  write_text(dir.path() / "src/pack-1.0/README", "two");
  const std::string tar = "tar -czf '" + (dir.path() / "pack.tar.gz").string() + "' -C '" +
                          (dir.path() / "src").string() + "' pack-1.0";
  if (std::system(tar.c_str()) != 0) GTEST_SKIP() << "no tar";
  fs::create_directories(dir.path() / "mirror/downloads");
  fs::copy_file(dir.path() / "pack.tar.gz", dir.path() / "mirror/downloads/pack.tar.gz");
  write_text(dir.path() / "mirror/downloads/abc.txt", "abc");
  const musegen::CatalogDataset d = toy_dataset(
      "toy\tpack.tar.gz\t-\t-\thttp://127.0.0.1:9/pack.tar.gz\ttar.gz\t*\tdata\tMIT\ta toy\n");
  musegen::FetchOptions o;
  o.dest = dir.path() / "dest";
  o.mirror = dir.path() / "mirror";
  o.allow_download = false;
  const auto r = musegen::fetch_dataset(d, o);
  EXPECT_EQ(read_text(o.dest / "toy/abc.txt"), "abc");
  EXPECT_EQ(read_text(o.dest / "toy/data/midi/a.mid"), "one");  // pack-1.0/ stripped
  EXPECT_EQ(read_text(o.dest / "toy/data/README"), "two");
  ASSERT_EQ(r.warnings.size(), 1u);  // the unpinned archive: its hash is printed
  EXPECT_NE(r.warnings[0].find(musegen::sha256_file(dir.path() / "pack.tar.gz")),
            std::string::npos);
}

TEST(Fetch, RefusesAHashMismatchAndLeavesNothing) {
  TempDir dir;
  write_text(dir.path() / "mirror/downloads/abc.txt", "abd");  // same size, other bytes
  musegen::FetchOptions o;
  o.dest = dir.path() / "dest";
  o.mirror = dir.path() / "mirror";
  o.allow_download = false;
  try {
    musegen::fetch_dataset(toy_dataset(), o);
    FAIL() << "no error";
  } catch (const musegen::FetchError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("SHA-256 mismatch: expected " + sha256_hex("abc")), std::string::npos) << m;
    EXPECT_NE(m.find("found " + sha256_hex("abd")), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(o.dest / "toy"));
  EXPECT_TRUE(fs::is_empty(o.dest));  // no staging folder left behind

  write_text(dir.path() / "mirror/downloads/abc.txt", "abcd");
  try {
    musegen::fetch_dataset(toy_dataset(), o);
    FAIL() << "no error";
  } catch (const musegen::FetchError& e) {
    EXPECT_NE(std::string(e.what()).find("expected 3 bytes"), std::string::npos) << e.what();
  }
}

TEST(Fetch, ClearErrorsWithoutAnySource) {
  TempDir dir;
  musegen::FetchOptions o;
  o.dest = dir.path() / "dest";
  o.allow_download = false;
  EXPECT_THROW(musegen::fetch_dataset(toy_dataset(), o), musegen::FetchError);

  o.allow_download = true;
  o.curl = (dir.path() / "no-such-curl").string();
  try {
    musegen::fetch_dataset(toy_dataset(), o);
    FAIL() << "no error";
  } catch (const musegen::FetchError& e) {
    EXPECT_NE(std::string(e.what()).find("curl could not be started"), std::string::npos)
        << e.what();
  }

  // Port 9 (discard) on the loopback interface: refused at once, as without network.
  if (std::system("curl --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no curl";
  o.curl = "curl";
  try {
    musegen::fetch_dataset(toy_dataset(), o);
    FAIL() << "no error";
  } catch (const musegen::FetchError& e) {
    EXPECT_NE(std::string(e.what()).find("no network?"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(o.dest));
}

}  // namespace

// --- the subcommand -----------------------------------------------------------------------

namespace {

TEST(CmdDatasets, FetchesJsbFromTheSharedMirrorAndVerifies) {
  const char* data = std::getenv("MUSEGEN_DATA_DIR");
  if (!data || !fs::is_directory(fs::path(data) / "jsb-chorales"))
    GTEST_SKIP() << "MUSEGEN_DATA_DIR has no jsb-chorales/";
  TempDir dir;
  const std::string dest = (dir.path() / "data").string();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(musegen::cmd_datasets(std::vector<std::string>{"fetch", "jsb-chorales", "--dest", dest,
                                                           "--mirror", data, "--no-download"}),
            0);
  EXPECT_EQ(
      musegen::cmd_datasets(std::vector<std::string>{"verify", "jsb-chorales", "--dest", dest}), 0);
  EXPECT_EQ(musegen::cmd_datasets(std::vector<std::string>{"list", "--dest", dest}), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("8 files checked, 0 problems"), std::string::npos) << out;
  EXPECT_EQ(read_text(fs::path(dest) / "jsb-chorales/jsb-chorales-quarter.json"),
            read_text(fs::path(data) / "jsb-chorales/jsb-chorales-quarter.json"));
  EXPECT_THROW(musegen::cmd_datasets(std::vector<std::string>{"fetch", "no-such-set"}),
               musegen::cli::UsageError);
  EXPECT_THROW(musegen::cmd_datasets(std::vector<std::string>{"frobnicate"}),
               musegen::cli::UsageError);
}

}  // namespace
