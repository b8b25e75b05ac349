#include "jobs.hpp"

#include <cstdio>
#include <random>
#include <stdexcept>

namespace musegen::server {

const char* job_state_name(JobState state) {
  switch (state) {
    case JobState::queued:
      return "queued";
    case JobState::running:
      return "running";
    case JobState::done:
      return "done";
    case JobState::failed:
      return "failed";
    case JobState::cancelled:
      return "cancelled";
  }
  return "unknown";
}

JobQueue::JobQueue(std::size_t capacity, int workers, std::function<void()> on_worker_start)
    : capacity_(capacity) {
  if (capacity < 1 || workers < 1)
    throw std::invalid_argument("JobQueue: expected capacity >= 1 and workers >= 1, found " +
                                std::to_string(capacity) + " and " + std::to_string(workers));
  // A random prefix per server (the ids of two servers do not collide), then the job's number.
  std::random_device random;
  next_ = (static_cast<std::uint64_t>(random()) << 32 | random()) & 0xffff'ffff'ff00'0000ULL;
  for (int i = 0; i < workers; ++i)
    workers_.emplace_back([this, on_worker_start] { worker_loop(on_worker_start); });
}

JobQueue::~JobQueue() { shutdown(); }

std::optional<std::string> JobQueue::submit(std::string model, JobWork work) {
  std::lock_guard lock(mutex_);
  if (shutting_down_ || waiting_.size() >= capacity_) return std::nullopt;
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(++next_));
  Job& job = jobs_[id];
  job.status.id = id;
  job.status.model = std::move(model);
  job.status.stage = "queued";
  job.work = std::move(work);
  waiting_.push_back(id);
  wake_.notify_one();
  return std::string(id);
}

std::optional<JobStatus> JobQueue::status(const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.status;
}

std::size_t JobQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

JobQueue::Cancel JobQueue::cancel(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return Cancel::unknown;
  Job& job = it->second;
  switch (job.status.state) {
    case JobState::queued:
      job.status.state = JobState::cancelled;
      job.status.stage = "cancelled";
      job.work = nullptr;
      std::erase(waiting_, id);
      finished_.push_back(id);
      forget_old_locked();
      return Cancel::cancelled;
    case JobState::running:
      job.stop.request_stop();
      return Cancel::cancelled;
    default:
      return Cancel::already_finished;
  }
}

void JobQueue::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_ && workers_.empty()) return;
    shutting_down_ = true;
    for (const std::string& id : waiting_) {
      Job& job = jobs_[id];
      job.status.state = JobState::cancelled;
      job.status.stage = "cancelled";
      job.work = nullptr;
      finished_.push_back(id);
    }
    waiting_.clear();
    for (auto& [id, job] : jobs_)
      if (job.status.state == JobState::running) job.stop.request_stop();
  }
  wake_.notify_all();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
  std::lock_guard lock(mutex_);
  workers_.clear();
}

void JobQueue::forget_old_locked() {
  while (finished_.size() > kKeptJobs) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void JobQueue::worker_loop(const std::function<void()>& on_start) {
  if (on_start) on_start();
  for (;;) {
    std::string id;
    JobWork work;
    std::stop_token stop;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return shutting_down_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // shutting down
      id = waiting_.front();
      waiting_.pop_front();
      Job& job = jobs_[id];
      job.status.state = JobState::running;
      job.status.stage = "starting";
      work = std::move(job.work);
      stop = job.stop.get_token();
    }
    // Progress goes straight into the job's status, under the lock, for the pollers.
    const ProgressFn progress = [this, &id](const ProgressUpdate& u) {
      std::lock_guard lock(mutex_);
      JobStatus& s = jobs_[id].status;
      s.stage = std::string(u.stage);
      s.done = u.done;
      s.total = u.total;
    };
    JobState state = JobState::done;
    std::string piece, error;
    try {
      const std::optional<std::string> made = work(stop, progress);
      if (made)
        piece = *made;
      else
        state = JobState::cancelled;
    } catch (const std::exception& e) {
      state = JobState::failed;
      error = e.what();
    } catch (...) {
      state = JobState::failed;
      error = "an exception that is not a std::exception";
    }
    std::lock_guard lock(mutex_);
    JobStatus& s = jobs_[id].status;
    s.state = state;
    s.stage = job_state_name(state);
    s.piece = piece;
    s.error = error;
    finished_.push_back(id);
    forget_old_locked();
  }
}

}  // namespace musegen::server
