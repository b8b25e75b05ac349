#include "signal_stop.hpp"

#include <csignal>

namespace musegen {

namespace {

std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free,
              "a signal handler may only set a lock-free flag");

extern "C" void on_stop_signal(int signal) {
  g_signalled.store(true);
  std::signal(signal, SIG_DFL);  // a second one stops at once
}

}  // namespace

SignalStop::SignalStop()
    : previous_int_(std::signal(SIGINT, on_stop_signal)),
      previous_term_(std::signal(SIGTERM, on_stop_signal)) {
  g_signalled.store(false);
}

SignalStop::~SignalStop() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

const std::atomic<bool>* SignalStop::flag() const { return &g_signalled; }

}  // namespace musegen
