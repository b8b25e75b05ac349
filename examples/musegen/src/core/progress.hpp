// A one-line progress bar for long jobs: done/total, a bar, the caller's figures (loss,
// tokens/s) and the ETA. On a terminal the line is redrawn in place at most 10 times a
// second; when stderr is a file or a pipe (CI logs), one plain line is printed every
// `log_seconds` instead, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace musegen {

class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::ostream& out, double log_seconds = 10.0);
  // Updates the line; `figures` is appended after the counts ("loss 2.31  41.2k tok/s").
  void update(std::int64_t done, const std::string& figures);
  // Ends the line (the last update stays visible).
  void finish();

  static std::string format_duration(double seconds);  // "1:05:09", "4:02", "0:07"
  static std::string format_rate(double per_second);   // "812", "41.2k", "1.30M"

 private:
  void draw(std::int64_t done, const std::string& figures, bool final);

  std::string label_;
  std::int64_t total_;
  std::ostream& out_;
  bool tty_;
  double log_seconds_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::int64_t last_done_ = 0;
  std::string last_figures_;
  bool drawn_ = false;
};

}  // namespace musegen
