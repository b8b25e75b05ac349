// The generation jobs of a server: a bounded queue and a fixed number of worker threads.
// A request becomes a job at once (the client gets its id and polls it); a full queue is
// refused (the route answers 429) rather than growing without bound. Each job has its own
// std::stop_source: cancelling one stops it at its next step (core/run_control.hpp) and
// touches no other. Finished jobs are remembered (the newest kKeptJobs) so a client polling
// late still sees how its job ended.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "run_control.hpp"

namespace musegen::server {

enum class JobState { queued, running, done, failed, cancelled };
const char* job_state_name(JobState state);  // "queued", "running", ...

struct JobStatus {
  std::string id;
  std::string model;  // the model id the job uses
  JobState state = JobState::queued;
  std::string stage;  // what runs now: "queued", "generate", "render", ...
  std::int64_t done = 0, total = 0;
  std::string piece;  // done: the piece made
  std::string error;  // failed: why
};

// What a job runs, on a worker thread: report progress through `progress`, stop promptly
// when `stop` is requested, and return the id of the piece made, or std::nullopt when it
// stopped. An exception fails the job with its message.
using JobWork =
    std::function<std::optional<std::string>(std::stop_token stop, const ProgressFn& progress)>;

inline constexpr std::size_t kKeptJobs = 256;

class JobQueue {
 public:
  // `capacity` jobs may wait (>= 1) while `workers` (>= 1) run; `on_worker_start` runs first
  // on each worker thread (libnn's thread count is per thread).
  JobQueue(std::size_t capacity, int workers, std::function<void()> on_worker_start);
  ~JobQueue();  // shutdown()
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // The new job's id, or std::nullopt when `capacity` jobs already wait or the queue is
  // shutting down.
  std::optional<std::string> submit(std::string model, JobWork work);
  std::optional<JobStatus> status(const std::string& id) const;

  enum class Cancel { unknown, cancelled, already_finished };
  // A waiting job is cancelled at once; a running one is asked to stop (its state becomes
  // "cancelled" when it has).
  Cancel cancel(const std::string& id);

  // Refuses new jobs, cancels the waiting ones, asks the running ones to stop and joins the
  // workers. Idempotent.
  void shutdown();

  std::size_t capacity() const { return capacity_; }
  std::size_t waiting() const;

 private:
  struct Job {
    JobStatus status;
    JobWork work;
    std::stop_source stop;
  };
  void worker_loop(const std::function<void()>& on_start);
  void forget_old_locked();

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool shutting_down_ = false;
  std::uint64_t next_ = 0;
  std::map<std::string, Job> jobs_;
  std::deque<std::string> waiting_;   // ids, oldest first
  std::deque<std::string> finished_;  // ids, oldest first
  std::vector<std::thread> workers_;
};

}  // namespace musegen::server
