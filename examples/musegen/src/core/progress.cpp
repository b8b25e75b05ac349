#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace musegen {

Progress::Progress(std::string label, std::int64_t total, std::ostream& out, double log_seconds)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      tty_(&out == &std::cerr ? ::isatty(2) != 0 : (&out == &std::cout ? ::isatty(1) != 0 : false)),
      log_seconds_(log_seconds),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", s / 60, s % 60);
  }
  return buffer;
}

std::string Progress::format_rate(double per_second) {
  char buffer[32];
  if (per_second >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.2fM", per_second / 1e6);
  } else if (per_second >= 1e4) {
    std::snprintf(buffer, sizeof buffer, "%.1fk", per_second / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f", per_second);
  }
  return buffer;
}

void Progress::update(std::int64_t done, const std::string& figures) {
  last_done_ = done;
  last_figures_ = figures;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (done < total_ && drawn_ && since < (tty_ ? 0.1 : log_seconds_)) return;
  draw(done, figures, false);
  last_draw_ = now;
}

void Progress::finish() {
  draw(last_done_, last_figures_, true);
  if (tty_) out_ << '\n';
  out_.flush();
}

void Progress::draw(std::int64_t done, const std::string& figures, bool final) {
  if (!tty_ && final && drawn_ && done == total_) return;  // the last line was already logged
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1;
  const double eta = done > 0 ? elapsed * (1.0 - fraction) / fraction : NAN;
  std::string line = label_ + " ";
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    line += "[" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] ";
  }
  line += std::to_string(done) + "/" + std::to_string(total_);
  if (!figures.empty()) line += "  " + figures;
  line += "  " + format_duration(elapsed) + (done < total_ ? " ETA " + format_duration(eta) : "");
  if (tty_) {
    out_ << "\r\033[K" << line;
  } else {
    out_ << line << '\n';
  }
  out_.flush();
  drawn_ = true;
}

}  // namespace musegen
