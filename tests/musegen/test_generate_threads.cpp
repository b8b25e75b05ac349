// Generation on worker threads, as a server runs it (generate.hpp, run_control.hpp): a run is
// opened once (session.hpp), its model shared, and each request picks its primer
// (primer.hpp) and generates on a thread of its own. Two generations at once give exactly
// what each gives alone; cancelling one through its stop token stops it at once and leaves
// the other untouched. The oracle is the same generation run alone, one after the other.
//
// The model is randomly initialised (nothing here needs a trained one) and large enough
// (H = 128) that every step forks OpenMP teams, so the two threads' teams run side by side.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <stop_token>
#include <string>
#include <vector>

#include <libnn/libnn.hpp>

#include "../libnn/temp_dir.hpp"
#include "generate.hpp"
#include "primer.hpp"
#include "session.hpp"
#include "tiny_run.hpp"

namespace {

using namespace musegen;

constexpr std::int64_t kSteps = 300;

OpenedRun open_tiny_run(const test_util::TempDir& tmp, Encoding encoding) {
  ModelConfig config;
  config.embed = 64;
  config.hidden = 128;
  config.layers = 2;
  config.dropout = 0.3;  // only in training: generation must not draw from any generator
  return open_run(test::save_tiny_run(tmp.path() / encoding_name(encoding),
                                      test::tiny_dataset(encoding), config));
}

// One request: its primer (a validation sequence picked by the seed) and its options.
struct Request {
  Sequence primer;
  GenerateOptions options;
};

Request request(const OpenedRun& run, std::uint64_t seed) {
  PrimerOptions p;
  p.seed = seed;
  p.steps = 8;
  Request r;
  r.primer = choose_primer(run.dataset, run.dataset_path.string(), p).sequence;
  r.options.steps = kSteps;
  r.options.sample.seed = seed;
  r.options.sample.temperature = 1.5;  // spread out: many different tokens and keys
  return r;
}

// The primer and the first n generated steps of a generation's sequence.
Sequence first_steps(Sequence s, std::int64_t n) {
  s.truncate(n);
  return s;
}

void expect_same(const GenerateResult& got, const Sequence& want, const std::string& what) {
  EXPECT_EQ(got.sequence.tokens, want.tokens) << what;
  EXPECT_EQ(got.sequence.frames, want.frames) << what;
}

// Both requests on their own threads, released together.
std::pair<GenerateResult, GenerateResult> run_together(MusicModel& model, const Request& a,
                                                       const Request& b) {
  std::latch start(2);
  auto run = [&](const Request& r) {
    start.arrive_and_wait();
    return generate(model, r.primer, r.options);
  };
  auto fa = std::async(std::launch::async, run, std::cref(a));
  auto fb = std::async(std::launch::async, run, std::cref(b));
  return {fa.get(), fb.get()};
}

TEST(GenerateThreads, TwoAtOnceGiveWhatEachGivesAlone) {
  test_util::TempDir tmp("musegen_threads");
  for (Encoding encoding : {Encoding::events, Encoding::roll}) {
    OpenedRun run = open_tiny_run(tmp, encoding);
    MusicModel& model = *run.loaded.model;
    const Request a = request(run, 1), b = request(run, 2);
    const GenerateResult alone_a = generate(model, a.primer, a.options);
    const GenerateResult alone_b = generate(model, b.primer, b.options);
    ASSERT_FALSE(alone_a.sequence.tokens == alone_b.sequence.tokens &&
                 alone_a.sequence.frames == alone_b.sequence.frames)
        << "two seeds, two pieces: otherwise this test could not tell them apart";

    const nn::Generator::State global = nn::default_generator().state();
    const auto [together_a, together_b] = run_together(model, a, b);
    EXPECT_EQ(nn::default_generator().state(), global) << "generation drew from the global generator";
    EXPECT_FALSE(model.is_training());
    for (const auto* r : {&together_a, &together_b}) {
      EXPECT_FALSE(r->stopped);
      EXPECT_EQ(r->generated, kSteps);
    }
    expect_same(together_a, alone_a.sequence, std::string(encoding_name(encoding)));
    expect_same(together_b, alone_b.sequence, std::string(encoding_name(encoding)));
  }
}

// A server's cancel button: another thread requests the stop while the run is at step 25 (the
// run waits in its progress callback until the button is pressed, so the step is known).
TEST(GenerateThreads, CancellingOneStopsItAndLeavesTheOtherUntouched) {
  test_util::TempDir tmp("musegen_threads");
  for (Encoding encoding : {Encoding::events, Encoding::roll}) {
    OpenedRun run = open_tiny_run(tmp, encoding);
    MusicModel& model = *run.loaded.model;
    Request a = request(run, 11);
    const Request b = request(run, 12);
    const GenerateResult alone_a = generate(model, a.primer, a.options);
    const GenerateResult alone_b = generate(model, b.primer, b.options);

    constexpr std::int64_t kCancelAt = 25;
    std::stop_source cancel;
    std::promise<void> reached, pressed;
    std::shared_future<void> pressed_future = pressed.get_future().share();
    std::int64_t reports = 0;
    a.options.stop = cancel.get_token();
    a.options.progress = [&](const ProgressUpdate& u) {
      ++reports;
      if (u.done == kCancelAt) {
        reached.set_value();
        pressed_future.wait();
      }
    };
    auto fa = std::async(std::launch::async, [&] { return generate(model, a.primer, a.options); });
    auto fb = std::async(std::launch::async, [&] { return generate(model, b.primer, b.options); });
    const bool got_there =
        reached.get_future().wait_for(std::chrono::seconds(120)) == std::future_status::ready;
    cancel.request_stop();
    pressed.set_value();  // also when it never got there: the threads must not wait forever
    ASSERT_TRUE(got_there) << "the run never reached step " << kCancelAt;
    const GenerateResult stopped = fa.get();
    const GenerateResult other = fb.get();

    EXPECT_TRUE(stopped.stopped);
    EXPECT_EQ(stopped.generated, kCancelAt);
    EXPECT_EQ(reports, kCancelAt) << "no step after the stop";
    expect_same(stopped, first_steps(alone_a.sequence, alone_a.primer_steps + kCancelAt),
                "the stopped run: its steps until the stop, unchanged");
    EXPECT_FALSE(other.stopped);
    EXPECT_EQ(other.generated, kSteps);
    expect_same(other, alone_b.sequence, "the other run");
  }
}

TEST(GenerateThreads, ProgressReportsEveryStepAndAStoppedTokenStopsBeforeTheFirst) {
  test_util::TempDir tmp("musegen_threads");
  OpenedRun run = open_tiny_run(tmp, Encoding::events);
  Request r = request(run, 3);
  r.options.steps = 20;
  std::vector<std::int64_t> done;
  r.options.progress = [&](const ProgressUpdate& u) {
    EXPECT_EQ(u.stage, "generate");
    EXPECT_EQ(u.total, 20);
    done.push_back(u.done);
  };
  const GenerateResult full = generate(*run.loaded.model, r.primer, r.options);
  ASSERT_EQ(done.size(), 20u);
  for (std::size_t i = 0; i < done.size(); ++i) EXPECT_EQ(done[i], static_cast<std::int64_t>(i) + 1);
  EXPECT_FALSE(full.stopped);

  std::stop_source cancel;
  cancel.request_stop();
  r.options.stop = cancel.get_token();
  done.clear();
  const GenerateResult none = generate(*run.loaded.model, r.primer, r.options);
  EXPECT_TRUE(none.stopped);
  EXPECT_EQ(none.generated, 0);
  EXPECT_TRUE(done.empty());
  expect_same(none, r.primer, "a run stopped before it started: the primer alone");
}

}  // namespace
