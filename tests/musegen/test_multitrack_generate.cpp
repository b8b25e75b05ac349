// Generation with the multitrack encoding: the rules the sampler follows (multitrack_rules.hpp)
// driven by random logits, so that every path of the rule is taken, checked against the
// encoding's grammar and the instruments' ranges read from the decoded piece; and
// accompaniment end to end on an untrained model, whose kept parts must come back byte for
// byte and whose given notes must appear in the sequence exactly as the encoder writes them.
#include <gtest/gtest.h>

#include <libnn/libnn.hpp>
#include <random>

#include "accompany.hpp"
#include "generate.hpp"
#include "instruments.hpp"
#include "model.hpp"
#include "multitrack.hpp"
#include "multitrack_rules.hpp"
#include "sampling.hpp"

namespace {

using namespace musegen;

Codec multitrack_codec(int max_duration = 8) {
  CodecParams p;
  p.max_duration = max_duration;
  return Codec::make(Encoding::multitrack, p);
}

// Runs `rule` for up to `steps` tokens after `primer` with logits drawn at random (a few
// tokens made much likelier, so that chords, long notes and long waits all happen).
Sequence drive(TokenRule& rule, const Codec& codec, Sequence primer, std::int64_t steps,
               std::uint64_t seed, bool* ended = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const auto V = static_cast<std::size_t>(codec.vocab_size());
  std::vector<float> logits(V);
  SampleOptions sample;
  sample.seed = seed;
  if (ended) *ended = false;
  for (std::int64_t step = 0; step < steps; ++step) {
    for (float& l : logits) l = normal(rng);
    for (int k = 0; k < 20; ++k) logits[rng() % V] += 6.0f;
    // Half the time the longest duration is by far the likeliest: the loop the cap stops.
    if (step % 2 == 0)
      logits[static_cast<std::size_t>(
          codec.find("dur:" + std::to_string(codec.params().max_duration)))] += 20.0f;
    std::int32_t token = rule.next(primer.tokens, logits);
    if (token == TokenRule::kEnd) {
      if (ended) *ended = true;
      break;
    }
    if (token == TokenRule::kSample)
      token = sample_token(logits, sample, static_cast<std::uint64_t>(step));
    EXPECT_GE(token, 0);
    EXPECT_LT(token, static_cast<std::int32_t>(V));
    primer.tokens.push_back(token);
  }
  return primer;
}

// The grammar, from the token names (not the layout): a note is followed by a duration; a
// duration follows a note or the longest duration; instruments only before the first note
// or wait; at one onset the parts do not go back.
void expect_grammar(const Codec& codec, const Sequence& s, std::size_t parts) {
  const std::string longest = "dur:" + std::to_string(codec.params().max_duration);
  std::string previous;
  bool header = true;
  int last_part = 0;
  for (std::size_t i = 0; i < s.tokens.size(); ++i) {
    const std::string& name = codec.token(s.tokens[i]);
    const bool dur = name.rfind("dur:", 0) == 0, wait = name.rfind("wait:", 0) == 0,
               inst = name.rfind("inst:", 0) == 0;
    const bool note = !dur && !wait && !inst;
    if (previous.size() && previous[0] == 't') {
      ASSERT_TRUE(dur) << "token " << i << " " << name << " after note " << previous;
    }
    if (dur) {
      ASSERT_TRUE(previous[0] == 't' || previous == longest)
          << "token " << i << " " << name << " after " << previous;
    }
    if (inst) {
      ASSERT_TRUE(header) << "token " << i << " " << name << " after the header";
    }
    if (wait) {
      header = false;
      last_part = 0;
    }
    if (note) {
      header = false;
      const int part = std::stoi(name.substr(1, name.find(':') - 1));
      ASSERT_LT(static_cast<std::size_t>(part), parts) << "token " << i << " " << name;
      ASSERT_GE(part, last_part) << "token " << i << " " << name
                                 << ": parts out of order at one onset";
      last_part = part;
    }
    previous = name;
  }
}

void expect_in_range(const Codec& codec, const Sequence& s, const std::vector<int>& ensemble) {
  const Piece piece = codec.decode_piece(s);
  ASSERT_EQ(piece.tracks.size(), ensemble.size());
  for (const PieceNote& n : piece.notes) {
    EXPECT_LE(n.end_quarters - n.start_quarters, kMaxSampledNoteQuarters) << "a note too long";
    const Instrument& inst = instrument(ensemble[static_cast<std::size_t>(n.track)]);
    EXPECT_GE(n.pitch, inst.lowest) << inst.name;
    EXPECT_LE(n.pitch, inst.highest) << inst.name;
  }
}

// Token sequences equal; else the first difference with its neighbours, by name.
void expect_same_tokens(const Codec& codec, const Sequence& got, const Sequence& want,
                        const std::string& what) {
  std::size_t i = 0;
  while (i < got.tokens.size() && i < want.tokens.size() && got.tokens[i] == want.tokens[i]) ++i;
  if (i == got.tokens.size() && i == want.tokens.size()) return;
  std::string g, w;
  for (std::size_t j = i >= 6 ? i - 6 : 0; j < i + 6; ++j) {
    if (j < got.tokens.size()) g += codec.token(got.tokens[j]) + " ";
    if (j < want.tokens.size()) w += codec.token(want.tokens[j]) + " ";
  }
  ADD_FAILURE() << what << ": the tokens differ at " << i << "\n  got:  " << g << "\n  want: " << w;
}

// A generation cut anywhere, trimmed to what the encoder would end with: no wait after the
// last note, no note whose durations the cut left out.
Sequence trimmed(const Codec& codec, Sequence s) {
  while (!s.tokens.empty()) {
    const std::string& name = codec.token(s.tokens.back());
    if (name.rfind("wait:", 0) != 0 && name[0] != 't') break;
    s.tokens.pop_back();
  }
  return s;
}

TEST(MultitrackRule, FixedEnsembleKeepsGrammarAndRanges) {
  const Codec codec = multitrack_codec();
  for (const std::vector<int>& ensemble :
       {std::vector<int>{instrument_index("violin"), instrument_index("violin"),
                         instrument_index("viola"), instrument_index("cello")},
        std::vector<int>{instrument_index("tuba"), instrument_index("flute")}}) {
    auto rule = multitrack_rule(codec, true);
    const Sequence s = drive(*rule, codec, multitrack_header(codec, ensemble), 4000, 3);
    EXPECT_EQ(s.tokens.size(), ensemble.size() + 4000);
    expect_grammar(codec, s, ensemble.size());
    expect_in_range(codec, s, ensemble);
    EXPECT_EQ(multitrack_ensemble(codec, s), ensemble);
    EXPECT_GT(codec.decode_piece(s).notes.size(), 500u);
    // In the encoder's own order: encoding the decoded piece gives the tokens back (but a
    // wait after the last note, which the encoder has no reason to write).
    const Sequence cut = trimmed(codec, s);
    expect_same_tokens(codec, codec.encode(codec.decode_piece(cut), "again"), cut,
                       "free generation");
  }
}

TEST(MultitrackRule, OpenHeaderGrowsTheEnsembleUpToTheParts) {
  const Codec codec = multitrack_codec();
  auto rule = multitrack_rule(codec, false);
  Sequence primer = Sequence::of_tokens("primer", {codec.find("inst:soprano")});
  const Sequence s = drive(*rule, codec, primer, 3000, 11);
  const std::vector<int> ensemble = multitrack_ensemble(codec, s);
  ASSERT_GE(ensemble.size(), 1u);
  EXPECT_LE(static_cast<int>(ensemble.size()), codec.params().tracks);
  expect_grammar(codec, s, ensemble.size());
  expect_in_range(codec, s, ensemble);
}

TEST(MultitrackRule, NeedsAMultitrackCodec) {
  EXPECT_THROW(multitrack_rule(Codec::events(CodecParams{}), false), std::invalid_argument);
  EXPECT_EQ(generation_rule(Codec::events(CodecParams{})), nullptr);
  EXPECT_NE(generation_rule(multitrack_codec()), nullptr);
  const Codec codec = multitrack_codec();
  EXPECT_THROW(multitrack_header(codec, {}), std::invalid_argument);
  EXPECT_THROW(multitrack_header(codec, std::vector<int>(7, 0)),
               std::invalid_argument);  // 6 parts at most
}

// Given notes with chords, a note longer than the longest duration token, rests longer than
// the longest wait, and two given parts around two sampled ones.
std::vector<GivenNote> some_given() {
  return {{0, 4, 0, 72},  {0, 4, 0, 76},  {0, 20, 3, 48}, {4, 2, 0, 74},  {6, 2, 0, 72},
          {20, 3, 0, 71}, {23, 1, 0, 69}, {24, 4, 3, 45}, {40, 8, 0, 67}, {40, 8, 3, 43}};
}

TEST(AccompanimentRule, FeedsTheGivenNotesExactlyAndEndsWithThem) {
  const Codec codec = multitrack_codec();
  const std::vector<int> ensemble = {instrument_index("soprano"), instrument_index("alto"),
                                     instrument_index("tenor"), instrument_index("bass")};
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    auto rule = accompaniment_rule(codec, ensemble, some_given(), 50);
    bool ended = false;
    const Sequence s =
        drive(*rule, codec, multitrack_header(codec, ensemble), 100000, seed, &ended);
    ASSERT_TRUE(ended) << "seed " << seed;
    EXPECT_EQ(rule->now_units(), 50) << "the piece ends where the given music does";
    expect_grammar(codec, s, ensemble.size());
    expect_in_range(codec, s, ensemble);
    std::vector<GivenNote> given_back, written;
    for (const GivenNote& n : multitrack_grid_notes(codec, s))
      (n.part == 0 || n.part == 3 ? given_back : written).push_back(n);
    const std::vector<GivenNote> expected = some_given();
    ASSERT_EQ(given_back.size(), expected.size()) << "seed " << seed;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(given_back[i].start, expected[i].start) << i;
      EXPECT_EQ(given_back[i].units, expected[i].units) << i;
      EXPECT_EQ(given_back[i].part, expected[i].part) << i;
      EXPECT_EQ(given_back[i].pitch, expected[i].pitch) << i;
    }
    EXPECT_FALSE(written.empty()) << "seed " << seed;
    for (const GivenNote& n : written) EXPECT_LT(n.start, 50);
    // The encoder's order: re-encoding the decoded piece gives the same tokens.
    const Sequence cut = trimmed(codec, s);
    expect_same_tokens(codec, codec.encode(codec.decode_piece(cut), "again"), cut,
                       "seed " + std::to_string(seed));
  }
}

TEST(AccompanimentRule, RefusesNotesOutsideTheEnsemble) {
  const Codec codec = multitrack_codec();
  EXPECT_THROW(accompaniment_rule(codec, {0, 0}, {{0, 1, 2, 60}}, 4), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// accompany() on an untrained model

MusicModel tiny_model(const Codec& codec) {
  ModelConfig config;
  config.encoding = Encoding::multitrack;
  config.vocab = codec.vocab_size();
  config.embed = 8;
  config.hidden = 16;
  config.layers = 1;
  nn::Generator g(5);
  return MusicModel(config, &g);
}

void note(midi::Track& t, std::uint64_t start, std::uint64_t end, int channel, int pitch) {
  t.add_channel(start, static_cast<std::uint8_t>(0x90 | channel), static_cast<std::uint8_t>(pitch),
                90);
  t.add_channel(end, static_cast<std::uint8_t>(0x80 | channel), static_cast<std::uint8_t>(pitch),
                0);
}

// A chorale-like file: tempo track, then Soprano, Alto, Bass tracks, and a drum track.
midi::MidiFile chorale_file() {
  midi::MidiFile f;
  f.format = 1;
  f.division = midi::TimeDivision::ppq(96);
  f.tracks.resize(5);
  f.tracks[0].add_tempo(0, 600000);
  f.tracks[0].add_end_of_track(0);
  const char* names[] = {"Soprano", "Alto", "Bass"};
  const int pitches[][4] = {{72, 74, 76, 77}, {64, 65, 67, 69}, {48, 50, 52, 53}};
  for (int k = 0; k < 3; ++k) {
    midi::Track& t = f.tracks[static_cast<std::size_t>(k + 1)];
    t.add_meta_text(0, midi::meta::kTrackName, names[k]);
    t.add_channel(0, static_cast<std::uint8_t>(0xC0 | k), 52);
    for (int i = 0; i < 4; ++i)
      note(t, static_cast<std::uint64_t>(i * 96),
           static_cast<std::uint64_t>(i * 96 + (k == 0 ? 48 : 96)), k, pitches[k][i]);
    note(t, 400, 470, k, pitches[k][0]);  // off the grid of 4 per quarter: 4.1667 quarters
    t.add_end_of_track(t.end_tick());
  }
  midi::Track& drums = f.tracks[4];
  drums.add_meta_text(0, midi::meta::kTrackName, "Drums");
  for (int i = 0; i < 4; ++i)
    note(drums, static_cast<std::uint64_t>(i * 96), static_cast<std::uint64_t>(i * 96 + 10), 9, 36);
  drums.add_end_of_track(drums.end_tick());
  return f;
}

bool same_track(const midi::Track& a, const midi::Track& b) {
  if (a.events.size() != b.events.size()) return false;
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const midi::Event &x = a.events[i], &y = b.events[i];
    if (x.tick != y.tick || x.status != y.status || x.data1 != y.data1 || x.data2 != y.data2)
      return false;
    if ((x.is_meta() || x.status == 0xF0 || x.status == 0xF7) &&
        !std::ranges::equal(a.data(x), b.data(y)))
      return false;
  }
  return true;
}

TEST(Accompany, KeptPartsComeBackByteForByteAndTheOthersAreWritten) {
  const Codec codec = multitrack_codec(16);
  MusicModel model = tiny_model(codec);
  const midi::MidiFile in = chorale_file();
  AccompanyOptions o;
  o.keep = {"soprano", "2"};  // by instrument, and the bass by number
  o.generate.sample.seed = 9;
  const AccompanyResult r = accompany(model, codec, in, o);
  EXPECT_EQ(r.ensemble, (std::vector<int>{instrument_index("soprano"), instrument_index("alto"),
                                          instrument_index("bass")}));
  EXPECT_EQ(r.kept_parts, (std::vector<int>{0, 2}));
  // Tempo track, Soprano, Bass, Drums kept as they were; the Alto track replaced by a new one.
  ASSERT_EQ(r.file.tracks.size(), 5u);
  EXPECT_TRUE(same_track(r.file.tracks[0], in.tracks[0]));
  EXPECT_TRUE(same_track(r.file.tracks[1], in.tracks[1]));
  EXPECT_TRUE(same_track(r.file.tracks[2], in.tracks[3]));
  EXPECT_TRUE(same_track(r.file.tracks[3], in.tracks[4]));
  const Piece out = piece_from_midi(r.file);
  ASSERT_EQ(out.tracks.size(), 4u);
  EXPECT_EQ(out.tracks[3].name, "Alto");
  EXPECT_EQ(out.tracks[3].program, 52);
  std::int64_t alto = 0;
  for (const PieceNote& n : out.notes) {
    if (n.track != 3) continue;
    ++alto;
    EXPECT_GE(n.pitch, instrument(instrument_index("alto")).lowest);
    EXPECT_LE(n.pitch, instrument(instrument_index("alto")).highest);
    EXPECT_LE(n.start_quarters, 5.0) << "no written note starts after the given music ends";
  }
  EXPECT_EQ(alto, r.notes_written);
  EXPECT_GT(alto, 0);
  // The same seed gives the same file.
  const AccompanyResult again = accompany(model, codec, in, o);
  EXPECT_EQ(again.sequence.tokens, r.sequence.tokens);
}

TEST(Accompany, ClearErrorsForWhatCannotBeDone) {
  const Codec codec = multitrack_codec();
  MusicModel model = tiny_model(codec);
  const midi::MidiFile in = chorale_file();
  const auto message = [&](AccompanyOptions o) {
    try {
      accompany(model, codec, in, o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  AccompanyOptions o;
  o.keep = {"tenor"};
  EXPECT_NE(message(o).find("--keep tenor: no such part"), std::string::npos) << message(o);
  EXPECT_NE(message(o).find("\"Alto\""), std::string::npos)
      << "the parts are listed: " << message(o);
  o.keep = {"3"};
  EXPECT_NE(message(o).find("is drums"), std::string::npos) << message(o);
  o.keep = {"0", "1", "2"};
  EXPECT_NE(message(o).find("nothing to write"), std::string::npos) << message(o);
  o.keep = {"Soprano"};
  o.ensemble = {instrument_index("violin"), instrument_index("cello")};
  EXPECT_NE(message(o).find("no free soprano part"), std::string::npos) << message(o);
  o.ensemble = std::vector<int>(7, instrument_index("soprano"));
  EXPECT_NE(message(o).find("at most 6"), std::string::npos) << message(o);
  o.ensemble.clear();
  midi::MidiFile smpte = in;
  smpte.division = midi::TimeDivision::frames(25, 40);
  EXPECT_THROW(accompany(model, codec, smpte, o), std::invalid_argument);
  EXPECT_THROW(accompany(model, Codec::events(CodecParams{}), in, o), std::invalid_argument);
}

}  // namespace
