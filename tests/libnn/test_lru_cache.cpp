// nn::LruCache (src/core/lru_cache.hpp), the cache the CUDA backend keeps cuDNN's LSTM
// descriptors in (src/cuda/lstm_cudnn.cu): hits and misses, which entry goes when full,
// recency updated by a hit, evicted values living on while held, a throwing make() leaving
// the cache as it was, and the capacity check. CPU only: the logic has no CUDA in it.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

#include "core/lru_cache.hpp"
#include "libnn/error.hpp"

namespace {

using Key = std::tuple<int, int>;
using Cache = nn::LruCache<Key, std::string>;

// A make() that counts its calls and returns the key as text.
struct Maker {
  int calls = 0;
  auto operator()(const Key& key) {
    return [this, key] {
      ++calls;
      return std::make_shared<std::string>(std::to_string(std::get<0>(key)) + "x" +
                                           std::to_string(std::get<1>(key)));
    };
  }
};

TEST(LruCache, MissMakesHitReuses) {
  Cache cache(4);
  Maker make;
  const auto a = cache.get({1, 2}, make({1, 2}));
  const auto b = cache.get({1, 2}, make({1, 2}));
  EXPECT_EQ(*a, "1x2");
  EXPECT_EQ(a.get(), b.get());  // the same object, not a copy
  EXPECT_EQ(make.calls, 1);
  EXPECT_EQ(cache.hits(), 1);
  EXPECT_EQ(cache.misses(), 1);
  EXPECT_EQ(*cache.get({2, 1}, make({2, 1})), "2x1");  // another key: another value
  EXPECT_EQ(make.calls, 2);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(LruCache, TheLeastRecentlyUsedGoes) {
  Cache cache(2);
  Maker make;
  cache.get({1, 0}, make({1, 0}));
  cache.get({2, 0}, make({2, 0}));
  cache.get({1, 0}, make({1, 0}));  // a hit: {1,0} is now the most recent, {2,0} the least
  cache.get({3, 0}, make({3, 0}));  // full: {2,0} goes
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(make.calls, 3);
  cache.get({1, 0}, make({1, 0}));  // still there
  EXPECT_EQ(make.calls, 3);
  cache.get({2, 0}, make({2, 0}));  // made again; {3,0} was the least recent, it goes
  EXPECT_EQ(make.calls, 4);
  cache.get({1, 0}, make({1, 0}));
  EXPECT_EQ(make.calls, 4);
  cache.get({3, 0}, make({3, 0}));
  EXPECT_EQ(make.calls, 5);
}

TEST(LruCache, AnEvictedValueLivesWhileHeld) {
  Cache cache(1);
  Maker make;
  const std::shared_ptr<std::string> held = cache.get({7, 7}, make({7, 7}));
  cache.get({8, 8}, make({8, 8}));  // evicts {7,7}
  EXPECT_EQ(*held, "7x7");
  EXPECT_EQ(held.use_count(), 1);  // only ours now
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LruCache, AThrowingMakeLeavesTheCacheAsItWas) {
  Cache cache(2);
  Maker make;
  cache.get({1, 1}, make({1, 1}));
  EXPECT_THROW(
      cache.get({2, 2}, []() -> std::shared_ptr<std::string> { throw std::runtime_error("no"); }),
      std::runtime_error);
  EXPECT_EQ(cache.size(), 1u);
  cache.get({1, 1}, make({1, 1}));
  EXPECT_EQ(make.calls, 1);
}

TEST(LruCache, CapacityZeroIsRefused) { EXPECT_THROW(Cache(0), nn::Error); }

}  // namespace
