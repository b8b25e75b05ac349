// metrics.csv, the training log every run folder holds: its format, written here and read by
// read_metrics_csv (plot.hpp) for `musegen plot`. One file owns the format so that the writer
// (the trainer) and the reader cannot drift apart.
//
//   step,epoch,<the model's columns>,kind
//   120,0,0.0019,3.41,,,81234,0.82,12.5,interval
//   152,1,0.0018,3.38,3.29,26.8,80111,,16.1,epoch
//
// A row is either a log interval's means ("interval") or an epoch's summary with its
// validation ("epoch"); empty cells have no value. Files written before the kind column
// existed are read by the rule they were written with (an epoch row has no grad_norm).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace musegen::plot {

inline constexpr const char* kMetricsKindColumn = "kind";
enum class MetricsRowKind { interval, epoch };
const char* metrics_kind_name(MetricsRowKind kind);  // "interval", "epoch"

// Appends rows to a metrics.csv; writes the header when the file is new or empty. Numbers have
// 7 significant digits; NaN is an empty cell. Every row is flushed (a crash loses none).
class MetricsCsvWriter {
 public:
  // Throws std::runtime_error naming the file when it cannot be opened, or when it already has
  // a header that differs from this one (another kind of run wrote it).
  MetricsCsvWriter(const std::filesystem::path& file, std::vector<std::string> columns);
  void row(MetricsRowKind kind, std::int64_t step, std::int64_t epoch, std::span<const double> values);

  // "step,epoch,<columns>,kind"
  static std::string header(std::span<const std::string> columns);

 private:
  std::filesystem::path file_;
  std::size_t width_;
  std::ofstream out_;
};

// The cells of one line (no quoting: the format has none).
std::vector<std::string> split_csv_line(const std::string& line);

// Keeps the header and the rows up to `step` (a resumed run rewrites what came after its
// checkpoint), atomically. A file without the kind column gets it, each row's kind inferred by
// the old rule. A missing file is left missing.
void truncate_metrics_csv(const std::filesystem::path& file, std::int64_t step);

}  // namespace musegen::plot
