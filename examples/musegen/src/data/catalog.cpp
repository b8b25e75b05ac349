// The dataset catalog: the embedded copy of datasets/catalog.tsv and its parser.
#include "catalog.hpp"

#include <sstream>
#include <stdexcept>

namespace musegen {

namespace {

// Keep byte-identical to datasets/catalog.tsv (tests/musegen/test_catalog.cpp compares them).
constexpr std::string_view kCatalog = R"catalog(
# musegen dataset catalog: one line per downloadable file; the lines of one dataset share its name.
# Columns (tab-separated): name, file, bytes, sha256, url, unpack, from, to, license, description.
#   bytes, sha256: of the downloaded file; "-" = not pinned (fetch prints the hash it finds and warns).
#   unpack: none (file kept as is) | zip | tar.gz.   from: folder inside the archive to install,
#   "*" = the single top-level folder of the archive (or all of it).   to: where it goes under <dest>/<name>.
# examples/musegen/src/data/catalog.cpp embeds this file; tests/musegen/test_catalog.cpp checks that they agree.
jsb-chorales	jsb-chorales-quarter.json	407200	2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91	https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d/jsb-chorales-quarter.json	none	-	.	public domain (Bach); split of Boulanger-Lewandowski et al. 2012	382 Bach chorales as piano-roll frames (JSON), train/valid/test
jsb-chorales	jsb-chorales-8th.json	870990	88fb80b22829a815e8105da538d94ae803773158507e2145938351f35142390a	https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d/jsb-chorales-8th.json	none	-	.	public domain (Bach); split of Boulanger-Lewandowski et al. 2012	382 Bach chorales as piano-roll frames (JSON), train/valid/test
jsb-chorales	jsb-chorales-16th.json	1741172	8730aca7b64e7d29493733d1cf19fad4a5b351d8f1845e57dac27728104fd39f	https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d/jsb-chorales-16th.json	none	-	.	public domain (Bach); split of Boulanger-Lewandowski et al. 2012	382 Bach chorales as piano-roll frames (JSON), train/valid/test
jsb-chorales	Jsb16thSeparated.json	1666444	79294cc374f9252e95ef4b703161524c1c53dc1f712c236f00f1c1f5d54af5a7	https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d/Jsb16thSeparated.json	none	-	.	public domain (Bach); split of Boulanger-Lewandowski et al. 2012	382 Bach chorales as piano-roll frames (JSON), train/valid/test
maestro-v3-midi	maestro-v3.0.0-midi.zip	58416533	70470ee253295c8d2c71e6d9d4a815189e35c89624b76d22fce5a019d5dde12c	https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/maestro-v3.0.0-midi.zip	zip	maestro-v3.0.0	.	CC BY-NC-SA 4.0	MAESTRO v3.0.0, MIDI only: 1276 piano performances (about 200 hours) with metadata
lakh-clean	clean_midi.tar.gz	234283029	de1bb64cbc0cf35545a05b5c3e786aa6890cfa144edffc4b827ff41bf8c33dc5	http://hog.ee.columbia.edu/craffel/lmd/clean_midi.tar.gz	tar.gz	clean_midi	.	CC BY 4.0	Lakh MIDI Dataset, clean subset: 17256 MIDI files as Artist/Title.mid
nottingham	Nottingham.zip	692283	fd4eb21b656002790cb8429c3482518876c48881ce58270f5296fe5aad50075f	https://web.archive.org/web/20190502175445id_/http://www-etud.iro.umontreal.ca/~boulanni/Nottingham.zip	zip	*	.	no license stated (traditional folk tunes)	Nottingham folk tunes as MIDI, train/valid/test split of Boulanger-Lewandowski et al. 2012 (archived copy; the original host is gone)
classical-piano-composer	Classical-Piano-Composer-master.zip	-	-	https://codeload.github.com/Skuldur/Classical-Piano-Composer/zip/refs/heads/master	zip	Classical-Piano-Composer-master/midi_songs	midi_songs	MIT (code); fan arrangements, for testing only	92 piano MIDI files, the training set of the reference Keras LSTM pipeline
midi-edge-cases	test-midi-files-master.zip	-	-	https://codeload.github.com/jazz-soft/test-midi-files/zip/refs/heads/master	zip	*	.	MIT	72 tiny MIDI files, one format corner case each
music21-multitrack	music21-10.5.1-py3-none-any.whl	20118992	dc3309498c4c95cebdf8d4f20c868deb6b63bce1d929cad4f51a7ccc982987b1	https://files.pythonhosted.org/packages/15/12/dee0eef7c82a63e83eea94bdcde97c66ab55213d89cee1347d2d11601faa/music21-10.5.1-py3-none-any.whl	zip	music21/corpus	corpus	music21 BSD; corpus encodings by permission of the encoders, some not for commercial use; music public domain	music21 10.5.1's corpus (PyPI wheel): string quartets, Bach chorales, Monteverdi madrigals; datasets/music21_multitrack.py makes one MIDI track per part
)catalog";

std::vector<std::string> split(std::string_view line, char separator) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(separator, start);
    fields.emplace_back(line.substr(start, end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

bool is_hex_digest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::optional<std::uint64_t> CatalogDataset::download_bytes() const {
  std::uint64_t total = 0;
  for (const CatalogFile& f : files) {
    if (!f.bytes) return std::nullopt;
    total += *f.bytes;
  }
  return total;
}

std::vector<CatalogDataset> parse_catalog(std::string_view text, const std::string& source) {
  constexpr std::size_t kColumns = 10;
  std::vector<CatalogDataset> catalog;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto fail = [&](std::size_t column, const std::string& message) {
      throw std::runtime_error(source + ": line " + std::to_string(line_number) + ", column " +
                               std::to_string(column) + ": " + message);
    };
    const std::vector<std::string> f = split(line, '\t');
    if (f.size() != kColumns)
      fail(f.size(), "expected " + std::to_string(kColumns) + " tab-separated columns, found " +
                         std::to_string(f.size()));
    for (std::size_t c = 0; c < kColumns; ++c)
      if (f[c].empty()) fail(c + 1, "empty field (write \"-\" for not pinned)");
    CatalogFile file;
    file.file = f[1];
    if (file.file.find('/') != std::string::npos || file.file == "." || file.file == "..")
      fail(2, "a file name without folders expected, found \"" + file.file + "\"");
    if (f[2] != "-") {
      try {
        std::size_t used = 0;
        file.bytes = std::stoull(f[2], &used);
        if (used != f[2].size()) throw std::invalid_argument("trailing characters");
      } catch (const std::exception&) {
        fail(3, "a byte count or \"-\" expected, found \"" + f[2] + "\"");
      }
    }
    if (f[3] != "-") {
      if (!is_hex_digest(f[3]))
        fail(4, "a SHA-256 of 64 lowercase hex digits or \"-\" expected, found \"" + f[3] + "\"");
      file.sha256 = f[3];
    }
    file.url = f[4];
    if (file.url.rfind("https://", 0) != 0 && file.url.rfind("http://", 0) != 0)
      fail(5, "an http(s) URL expected, found \"" + file.url + "\"");
    file.unpack = f[5];
    if (file.unpack != "none" && file.unpack != "zip" && file.unpack != "tar.gz")
      fail(6, "unpack none, zip or tar.gz expected, found \"" + file.unpack + "\"");
    file.from = f[6];
    file.to = f[7];
    for (const std::string* p : {&file.from, &file.to})
      if (p->find("..") != std::string::npos || p->front() == '/')
        fail(p == &file.from ? 7 : 8,
             "a relative path without \"..\" expected, found \"" + *p + "\"");
    CatalogDataset* dataset = nullptr;
    for (CatalogDataset& d : catalog)
      if (d.name == f[0]) dataset = &d;
    if (dataset == nullptr) {
      catalog.push_back({f[0], f[8], f[9], {}});
      dataset = &catalog.back();
    }
    for (const CatalogFile& other : dataset->files)
      if (other.file == file.file) fail(2, "file \"" + file.file + "\" listed twice for " + f[0]);
    dataset->files.push_back(std::move(file));
  }
  return catalog;
}

std::string_view builtin_catalog_text() { return kCatalog.substr(1); }  // after the first '\n'

const std::vector<CatalogDataset>& builtin_catalog() {
  static const std::vector<CatalogDataset> catalog =
      parse_catalog(builtin_catalog_text(), "datasets/catalog.tsv (built in)");
  return catalog;
}

const CatalogDataset* find_dataset(const std::vector<CatalogDataset>& catalog,
                                   std::string_view name) {
  for (const CatalogDataset& d : catalog)
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace musegen
