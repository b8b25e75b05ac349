// Sampling with particles (particles.hpp): on a small exact model whose posterior is known by
// enumeration, the particle drawn must follow Bayes' rule, not the prior; with one particle
// it must be plain sampling, token for token what generate() gives under the same rule; and
// accompaniment with particles keeps the given parts and the same seed gives the same piece
// on any thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <libnn/libnn.hpp>

#include "accompany.hpp"
#include "generate.hpp"
#include "instruments.hpp"
#include "model.hpp"
#include "multitrack_rules.hpp"
#include "particles.hpp"

namespace {

using namespace musegen;

// --- an exact toy: K stages, each a free choice (a or b) then a known token ---------------
//
// Tokens: 0 start, 1 a, 2 b, 3 the known token ("obs"). The choice is uniform; the known
// token's probability depends on the history: at stage 0, 0.9 after a and 0.1 after b; at
// stage k > 0, 0.9 when the choice repeats stage k-1's and 0.1 when it does not. The known
// token is always fed, so the posterior of the choices is the prior times these likelihoods,
// which the test enumerates. The likelihood reads the slot's own history, so a particle whose
// state did not follow it through resampling (SlotStepper::reorder) gets the wrong weights.
constexpr std::int32_t kStart = 0, kA = 1, kB = 2, kObs = 3;

class ToySlots final : public SlotStepper {
 public:
  explicit ToySlots(int slots) : history_(static_cast<std::size_t>(slots)) {}
  int slots() const override { return static_cast<int>(history_.size()); }
  std::int64_t vocab() const override { return 4; }
  void start(std::span<const std::int32_t> tokens) override {
    for (auto& h : history_) h.assign(tokens.begin(), tokens.end());
  }
  void step(std::span<const int> slots, std::span<const std::int32_t> tokens,
            std::span<float> logits) override {
    for (std::size_t j = 0; j < slots.size(); ++j) {
      std::vector<std::int32_t>& h = history_[static_cast<std::size_t>(slots[j])];
      h.push_back(tokens[j]);
      float* row = logits.data() + j * 4;
      std::fill(row, row + 4, 0.0f);  // after start or obs: uniform (the rule keeps a, b)
      if (h.back() == kA || h.back() == kB) {
        // The choices so far are h[1], h[3], ...: this one and the one before.
        const std::size_t n = h.size();
        const bool likely = n < 4 ? h.back() == kA : h[n - 1] == h[n - 3];
        const double p = likely ? 0.9 : 0.1;
        row[kObs] = static_cast<float>(std::log(p));
        for (std::int32_t t : {kStart, kA, kB}) row[t] = static_cast<float>(std::log((1 - p) / 3));
      }
    }
  }
  void reorder(std::span<const int> source) override {
    std::vector<std::vector<std::int32_t>> next;
    for (const int s : source) next.push_back(history_[static_cast<std::size_t>(s)]);
    history_ = std::move(next);
  }

 private:
  std::vector<std::vector<std::int32_t>> history_;
};

class ToyRule final : public ParticleRule {
 public:
  explicit ToyRule(int stages) : stages_(stages) {}
  std::unique_ptr<ParticleRule> clone() const override { return std::make_unique<ToyRule>(*this); }
  std::int64_t evidence() const override { return observed_; }
  std::int32_t next(std::span<const std::int32_t> so_far, std::span<float> logits) override {
    observed_ = std::count(so_far.begin(), so_far.end(), kObs);
    if (observed_ == stages_) return kEnd;
    if (so_far.back() == kA || so_far.back() == kB) return kObs;
    logits[kStart] = logits[kObs] = -INFINITY;
    return kSample;
  }

 private:
  std::int64_t stages_, observed_ = 0;
};

// P(choice k is a | every known token) by enumerating the 2^stages choice sequences.
std::vector<double> exact_posterior(int stages) {
  std::vector<double> a(static_cast<std::size_t>(stages), 0.0);
  double total = 0;
  for (int bits = 0; bits < (1 << stages); ++bits) {
    double w = 1;
    for (int k = 0; k < stages; ++k) {
      const bool is_a = (bits >> k & 1) == 0;
      const bool likely = k == 0 ? is_a : is_a == ((bits >> (k - 1) & 1) == 0);
      w *= likely ? 0.9 : 0.1;
    }
    total += w;
    for (int k = 0; k < stages; ++k)
      if ((bits >> k & 1) == 0) a[static_cast<std::size_t>(k)] += w;
  }
  for (double& x : a) x /= total;
  return a;
}

// The share of runs (seeds 1..runs) whose drawn particle chose a at each stage.
std::vector<double> drawn_a_share(int stages, int particles, int runs,
                                  std::int64_t* resamples = nullptr) {
  std::vector<double> share(static_cast<std::size_t>(stages), 0.0);
  const std::vector<std::int32_t> primer{kStart};
  for (int seed = 1; seed <= runs; ++seed) {
    ToySlots slots(particles);
    ParticleOptions o;
    o.sample.seed = static_cast<std::uint64_t>(seed);
    const ParticleResult r = sample_particles(slots, primer, ToyRule(stages), o);
    EXPECT_TRUE(r.ended);
    EXPECT_EQ(r.tokens.size(), static_cast<std::size_t>(1 + 2 * stages));
    if (resamples) *resamples += r.resamples;
    for (int k = 0; k < stages; ++k) {
      EXPECT_EQ(r.tokens[static_cast<std::size_t>(2 + 2 * k)], kObs);
      if (r.tokens[static_cast<std::size_t>(1 + 2 * k)] == kA)
        share[static_cast<std::size_t>(k)] += 1.0 / runs;
    }
  }
  return share;
}

TEST(Particles, TheDrawnParticleFollowsBayesRuleNotThePrior) {
  const int stages = 4, runs = 400;
  const std::vector<double> exact = exact_posterior(stages);
  // The exact posterior leans hard on a (0.9 at stage 0, and repeating it after); the prior
  // is 0.5 everywhere, which one particle must give.
  ASSERT_GT(exact[0], 0.85);
  std::int64_t resamples = 0;
  const std::vector<double> many = drawn_a_share(stages, 64, runs, &resamples);
  const std::vector<double> one = drawn_a_share(stages, 1, runs);
  EXPECT_GT(resamples, runs) << "the weights differ enough to resample in most runs";
  for (int k = 0; k < stages; ++k) {
    const auto i = static_cast<std::size_t>(k);
    // 400 runs: a standard error of about 0.015 on top of the particles' own O(1/N) bias.
    EXPECT_NEAR(many[i], exact[i], 0.06) << "stage " << k;
    EXPECT_NEAR(one[i], 0.5, 0.1) << "stage " << k << ": one particle samples the prior";
  }
}

TEST(Particles, RefusesAnEmptyPrimerAndTokensOutsideTheVocabulary) {
  ToySlots slots(2);
  EXPECT_THROW(sample_particles(slots, std::vector<std::int32_t>{}, ToyRule(1), {}),
               std::invalid_argument);
  EXPECT_THROW(sample_particles(slots, std::vector<std::int32_t>{7}, ToyRule(1), {}),
               std::invalid_argument);
}

// --- on the music model ---------------------------------------------------------------------

Codec multitrack_codec() {
  CodecParams p;
  p.max_duration = 16;
  return Codec::make(Encoding::multitrack, p);
}

MusicModel tiny_model(const Codec& codec, int layers) {
  ModelConfig config;
  config.encoding = Encoding::multitrack;
  config.vocab = codec.vocab_size();
  config.embed = 8;
  config.hidden = 16;
  config.layers = layers;
  nn::Generator g(5);
  return MusicModel(config, &g);
}

TEST(Particles, OneParticleIsTokenForTokenWhatGenerateGives) {
  const Codec codec = multitrack_codec();
  MusicModel model = tiny_model(codec, 2);
  const std::vector<int> ensemble{instrument_index("soprano"), instrument_index("alto"),
                                  instrument_index("bass")};
  const std::vector<GivenNote> given{{0, 4, 0, 72}, {4, 2, 0, 74}, {6, 2, 0, 76}, {8, 24, 0, 77}};
  const Sequence header = multitrack_header(codec, ensemble);
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    GenerateOptions g;
    g.steps = 100'000;
    g.sample.seed = seed;
    g.rule = accompaniment_rule(codec, ensemble, given, 32);
    const GenerateResult plain = generate(model, header, g);
    ASSERT_TRUE(plain.ended);

    ParticleOptions o;
    o.sample.seed = seed;
    const auto slots = model_slots(model, 1);
    const ParticleResult one =
        sample_particles(*slots, header.tokens, *accompaniment_rule(codec, ensemble, given, 32), o);
    EXPECT_TRUE(one.ended);
    EXPECT_EQ(one.tokens, plain.sequence.tokens) << "seed " << seed;
    EXPECT_EQ(one.resamples, 0);
  }
}

void note(midi::Track& t, std::uint64_t start, std::uint64_t end, int channel, int pitch) {
  t.add_channel(start, static_cast<std::uint8_t>(0x90 | channel), static_cast<std::uint8_t>(pitch),
                90);
  t.add_channel(end, static_cast<std::uint8_t>(0x80 | channel), static_cast<std::uint8_t>(pitch),
                0);
}

// Soprano and Alto tracks of eight beats each, and a tempo track.
midi::MidiFile two_part_file() {
  midi::MidiFile f;
  f.format = 1;
  f.division = midi::TimeDivision::ppq(96);
  f.tracks.resize(3);
  f.tracks[0].add_tempo(0, 600000);
  f.tracks[0].add_end_of_track(0);
  const char* names[] = {"Soprano", "Alto"};
  const int pitches[][8] = {{72, 74, 76, 77, 79, 77, 76, 74}, {64, 65, 67, 69, 67, 65, 64, 62}};
  for (int k = 0; k < 2; ++k) {
    midi::Track& t = f.tracks[static_cast<std::size_t>(k + 1)];
    t.add_meta_text(0, midi::meta::kTrackName, names[k]);
    t.add_channel(0, static_cast<std::uint8_t>(0xC0 | k), 52);
    for (int i = 0; i < 8; ++i)
      note(t, static_cast<std::uint64_t>(i * 96), static_cast<std::uint64_t>(i * 96 + 96), k,
           pitches[k][i]);
    t.add_end_of_track(t.end_tick());
  }
  return f;
}

TEST(Particles, AccompanyKeepsTheGivenPartAndRepeatsOnAnyThreadCount) {
  const Codec codec = multitrack_codec();
  MusicModel model = tiny_model(codec, 1);
  const midi::MidiFile in = two_part_file();
  AccompanyOptions o;
  o.keep = {"soprano"};
  o.particles = 8;
  o.generate.sample.seed = 4;
  const int threads = nn::get_num_threads();
  nn::set_num_threads(1);
  const AccompanyResult one_thread = accompany(model, codec, in, o);
  nn::set_num_threads(2);
  const AccompanyResult two_threads = accompany(model, codec, in, o);
  nn::set_num_threads(threads);
  EXPECT_EQ(one_thread.sequence.tokens, two_threads.sequence.tokens);
  EXPECT_GT(one_thread.notes_written, 0);
  // The soprano's track comes back as it was; the alto is written inside its range.
  ASSERT_EQ(one_thread.file.tracks.size(), 3u);
  const midi::Track& soprano = one_thread.file.tracks[1];
  ASSERT_EQ(soprano.events.size(), in.tracks[1].events.size());
  for (std::size_t i = 0; i < soprano.events.size(); ++i) {
    EXPECT_EQ(soprano.events[i].tick, in.tracks[1].events[i].tick);
    EXPECT_EQ(soprano.events[i].status, in.tracks[1].events[i].status);
    EXPECT_EQ(soprano.events[i].data1, in.tracks[1].events[i].data1);
  }
  const Piece out = piece_from_midi(one_thread.file);
  for (const PieceNote& n : out.notes) {
    if (n.track != 1) continue;
    EXPECT_GE(n.pitch, instrument(instrument_index("alto")).lowest);
    EXPECT_LE(n.pitch, instrument(instrument_index("alto")).highest);
  }
  o.particles = 0;
  EXPECT_THROW(accompany(model, codec, in, o), std::invalid_argument);
}

}  // namespace
