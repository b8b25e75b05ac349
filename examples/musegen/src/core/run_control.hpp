// How a caller watches and stops long work (a generation, a training run) from outside:
// a std::stop_token passed in to ask it to stop, and a callback that it calls with its
// progress. Nothing process-wide: two jobs on two threads each have their own, so a server
// can cancel one without touching the other (docs/architecture.md, "The musegen app in
// layers").
//
//   std::stop_source cancel;                     // kept by whoever may press "cancel"
//   GenerateOptions g;
//   g.stop = cancel.get_token();
//   g.progress = [&](const ProgressUpdate& p) { send(p.stage, p.done, p.total); };
//   std::jthread worker([&] { result = generate(model, primer, g); });
//   cancel.request_stop();                       // from any thread: the run returns promptly
//
// A signal handler cannot call request_stop() (it is not async-signal-safe); it sets a
// lock-free flag that the work polls with the token (train.cpp's SignalStop,
// TrainerOptions::stop_flag).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace musegen {

struct ProgressUpdate {
  std::string_view stage;   // what is running: "generate"
  std::int64_t done = 0;    // units done so far (steps)
  std::int64_t total = 0;   // units in all
};

// Called on the thread doing the work, after every unit; keep it cheap (a console line
// redraws itself at most 10 times a second, core/progress.hpp).
using ProgressFn = std::function<void(const ProgressUpdate&)>;

}  // namespace musegen
