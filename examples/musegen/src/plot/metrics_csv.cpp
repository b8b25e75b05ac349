#include "metrics_csv.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "libmidi/io.hpp"

namespace musegen::plot {

const char* metrics_kind_name(MetricsRowKind kind) {
  return kind == MetricsRowKind::epoch ? "epoch" : "interval";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (char c : line) {
    if (c == ',') {
      cells.push_back(std::move(cell));
      cell.clear();
    } else {
      cell += c;
    }
  }
  cells.push_back(std::move(cell));
  return cells;
}

std::string MetricsCsvWriter::header(std::span<const std::string> columns) {
  std::string h = "step,epoch";
  for (const std::string& c : columns) h += "," + c;
  return h + "," + kMetricsKindColumn;
}

MetricsCsvWriter::MetricsCsvWriter(const std::filesystem::path& file, std::vector<std::string> columns)
    : file_(file), width_(columns.size()) {
  const std::string want = header(columns);
  {
    std::ifstream in(file);
    std::string first;
    if (in && std::getline(in, first)) {
      if (!first.empty() && first.back() == '\r') first.pop_back();
      if (first != want) {
        throw std::runtime_error(file.string() + ":1: expected the header \"" + want +
                                 "\", found \"" + first + "\" (a metrics file of another kind of run)");
      }
    }
  }
  out_.open(file, std::ios::app);
  if (!out_) throw std::runtime_error(file.string() + ": cannot open for writing");
  if (std::filesystem::file_size(file) == 0) out_ << want << '\n' << std::flush;
}

void MetricsCsvWriter::row(MetricsRowKind kind, std::int64_t step, std::int64_t epoch,
                           std::span<const double> values) {
  if (values.size() != width_) {
    throw std::logic_error("metrics.csv row: expected " + std::to_string(width_) + " values, found " +
                           std::to_string(values.size()));
  }
  std::ostringstream line;
  line << step << ',' << epoch;
  for (double v : values) {
    line << ',';
    if (!std::isnan(v)) line << std::setprecision(7) << v;
  }
  line << ',' << metrics_kind_name(kind) << '\n';
  out_ << line.str();
  out_.flush();
  if (!out_) throw std::runtime_error(file_.string() + ": write failed");
}

void truncate_metrics_csv(const std::filesystem::path& file, std::int64_t step) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return;
  std::string line, kept;
  if (!std::getline(in, line)) return;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = split_csv_line(line);
  const bool has_kind = std::find(header.begin(), header.end(), kMetricsKindColumn) != header.end();
  const auto grad = std::find(header.begin(), header.end(), "grad_norm");
  kept = has_kind ? line : line + "," + kMetricsKindColumn;
  kept += '\n';
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (std::atoll(line.c_str()) > step) continue;
    if (!has_kind) {
      // The rule files without the kind column were written with: an epoch row has no grad_norm.
      const std::vector<std::string> cells = split_csv_line(line);
      const auto c = static_cast<std::size_t>(grad - header.begin());
      const bool epoch = grad != header.end() && c < cells.size() && cells[c].empty();
      line += ',';
      line += metrics_kind_name(epoch ? MetricsRowKind::epoch : MetricsRowKind::interval);
    }
    kept += line + '\n';
  }
  in.close();
  midi::write_file_atomically(
      file, std::span(reinterpret_cast<const std::uint8_t*>(kept.data()), kept.size()));
}

}  // namespace musegen::plot
