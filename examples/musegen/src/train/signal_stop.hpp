// Ctrl-C and SIGTERM for a training command: while a SignalStop lives, either signal sets a
// flag that the trainer polls after every step (TrainerOptions::stop_flag); the trainer then
// writes a checkpoint and returns. A second signal stops at once. `musegen train` and
// `musegen gan-train` each install one for the one run they start.
//
// A signal handler can only set a lock-free flag of static storage (request_stop() on a
// std::stop_source is not async-signal-safe). SIGTERM is what `timeout`, batch schedulers and
// service managers send: it checkpoints as Ctrl-C does.
#pragma once

#include <atomic>

namespace musegen {

class SignalStop {
 public:
  SignalStop();   // installs the handlers and clears the flag
  ~SignalStop();  // restores the previous handlers
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;
  const std::atomic<bool>* flag() const;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

}  // namespace musegen
