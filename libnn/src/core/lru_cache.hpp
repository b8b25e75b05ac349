// A small least-recently-used cache of shared values, keyed by equality: what the CUDA
// backend keeps between calls that would otherwise rebuild the same setup for the same shape
// (src/cuda/lstm_cudnn.cu: cuDNN's RNN descriptors and sizes per layer shape). Holds at most
// `capacity` values; a lookup that misses makes the value with the caller's function, and
// the least recently used entry goes when there is no room. Values are shared_ptrs, so an
// evicted value lives on while a caller still holds it. Thread-safe (one mutex; make() runs
// under it, so two threads never make the same key twice).
//
// A linear scan: meant for tens of entries (a model's layer shapes), not thousands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <utility>

#include "core/check.hpp"

namespace nn {

template <class Key, class Value>
class LruCache {
 public:
  explicit LruCache(std::size_t capacity) : capacity_(capacity) {
    NN_CHECK(capacity >= 1, "LruCache: expected a capacity of at least 1, got {}", capacity);
  }

  // The value of `key`: the cached one (now the most recently used), or make()'s, cached.
  // make() returns a std::shared_ptr<Value> (or something convertible); if it throws, the
  // cache is left as it was.
  template <class Make>
  std::shared_ptr<Value> get(const Key& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        ++hits_;
        entries_.splice(entries_.begin(), entries_, it);  // to the front: most recent
        return entries_.front().second;
      }
    }
    ++misses_;
    std::shared_ptr<Value> value = std::forward<Make>(make)();
    entries_.emplace_front(key, value);
    if (entries_.size() > capacity_) entries_.pop_back();
    return value;
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }
  std::int64_t hits() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hits_;
  }
  std::int64_t misses() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return misses_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<Key, std::shared_ptr<Value>>> entries_;  // most recently used first
  std::int64_t hits_ = 0, misses_ = 0;
};

}  // namespace nn
