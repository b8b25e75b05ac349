// One writer per run folder. `musegen train` (a new run or --resume) holds an exclusive
// flock(2) on RunDir::lock() for as long as it runs, so two sessions can never interleave
// their checkpoints, metrics rows and weights in one folder. The kernel drops the lock when
// the process ends however it ends (a crash, SIGKILL), so a lock is never stale; the file
// stays behind and only says who held it last. Readers (generate, eval) take no lock: every
// file they read is replaced atomically.
//
// The file holds the holder's description, one "key value" line each:
//   command musegen train
//   pid 1234
//   host studio
//   since 2026-12-05T13:00:00Z
#pragma once

#include <string>

#include "run_dir.hpp"

namespace musegen {

class RunLock {
 public:
  // Takes the lock (creating the file; the folder must exist) and writes this process's
  // description into it. Throws std::runtime_error naming the folder and the holder when
  // another process holds it, std::system_error naming the file when it cannot be opened.
  RunLock(const RunDir& run, const std::string& command);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary files that atomic writes (nn::io::write_file_atomically,
// midi::write_file_atomically: "<name>.tmp-<pid>-<counter>-<clock>") of the run's own files
// leave behind when the writer is killed mid-write. Only the lock's holder may call it: no
// other process can be writing them. Other files are left alone. Returns how many it removed.
int remove_stale_temporaries(const RunDir& run);

}  // namespace musegen
