// libnn's own worker threads, for every parallel loop of the CPU kernels (parallel_for, the
// GEMM, the LSTM's recurrences).
//
// Why not an OpenMP parallel region: a region ends in a barrier that waits for every thread
// of its team to arrive, even one that finds nothing left to do. Where another process holds
// a core, the scheduler sets one of our threads aside for a time slice (milliseconds), and
// every region waits for it: 5 epochs of the demo's training took 6.7 s on 2 threads with one
// core busy, against 3.9 s on 1 thread (issue 17; docs/libnn.md, "Threads on a busy machine").
//
// Here the calling thread works too, and waits only for the workers that joined its region
// while it ran: a worker that wakes after the caller has finished is turned away without
// touching anything, and one that joined and was then descheduled delays only the piece of
// work it holds. Bodies claim their work in small pieces from a shared counter, so a thread
// that runs late simply does less. Idle workers spin for a few microseconds, then sleep on a
// futex (std::atomic::wait): waiting is short and passive.
//
// Determinism is the bodies' part, as before: a piece's result may not depend on which thread
// computes it or how many take part (each writes its own outputs; no reduction order depends
// on who claimed what).
//
// Team size: omp_get_max_threads() of the calling thread, so OMP_NUM_THREADS,
// omp_set_num_threads and nn::set_num_threads keep their meaning. A call made from inside a
// body, from inside a user's OpenMP region, or from a second thread while another thread's
// region runs (the pool runs one region at a time) runs on the calling thread alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

namespace nn::cpu {

// A type-erased reference to a callable `void(int slot)`; it does not own the callable.
class TeamBody {
 public:
  template <class Fn>
  explicit TeamBody(const Fn& fn)
      : object_(&fn), call_([](const void* object, int slot) { (*static_cast<const Fn*>(object))(slot); }) {}
  void operator()(int slot) const { call_(object_, slot); }

 private:
  const void* object_;
  void (*call_)(const void*, int);
};

// How many threads a region started here may use: 1 inside a region (of this pool or of
// OpenMP), else omp_get_max_threads().
int max_team();

// Runs body(slot) on the calling thread (slot 0) and on at most team - 1 workers that join in
// time (slots 1 .. team - 1, each given at most once), and returns when every call that
// started has returned. The body must take its work from shared state (a counter) so that
// any number of participants, from the caller alone to the whole team, completes it. The
// first exception thrown by any participant is rethrown here, after all have returned.
void run_team(int team, const TeamBody& body);

template <class Fn>
void run_team(int team, const Fn& fn) {
  run_team(team, TeamBody(fn));
}

namespace testing {
// Slows every worker down, for the tests that play a busy machine (tests/libnn/
// test_thread_pool.cpp): `before_join` after it wakes for a region and before it tries to join
// (a worker the scheduler set aside), `after_join` after it has joined and before it runs the
// body (one descheduled while it holds work). Zero (the default) for neither.
void set_worker_delays(std::chrono::microseconds before_join, std::chrono::microseconds after_join);
}  // namespace testing

}  // namespace nn::cpu
