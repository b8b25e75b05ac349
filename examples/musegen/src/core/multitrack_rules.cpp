#include "multitrack_rules.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>

#include "instruments.hpp"
#include "multitrack.hpp"

namespace musegen {

namespace {

using Kind = MultitrackLayout::Kind;

void require_multitrack(const Codec& codec, const char* what) {
  if (codec.encoding() != Encoding::multitrack)
    throw std::invalid_argument(std::string(what) + ": the model's encoding is " +
                                std::string(encoding_name(codec.encoding())) +
                                "; only multitrack models know instruments");
}

constexpr float kNever = -std::numeric_limits<float>::infinity();

// What both rules track of the sequence so far, token by token.
class Tracker {
 public:
  explicit Tracker(const CodecParams& params)
      : layout(params),
        max_note_units(static_cast<std::int64_t>(kMaxSampledNoteQuarters) * params.grid),
        sounding_until(static_cast<std::size_t>(params.tracks)) {
    for (auto& part : sounding_until) part.fill(0);
  }

  void observe(std::int32_t id) {
    const MultitrackLayout::Token t = layout.decode(id);
    last_wait = 0;
    switch (t.kind) {
      case Kind::instrument:
        if (header_open) ensemble.push_back(t.value);
        open_part = -1;
        last_note = false;
        last_dur = 0;
        break;
      case Kind::note:
        header_open = false;
        if (t.part != cursor) last_pitch = -1;
        cursor = t.part;
        last_pitch = t.value;
        last_note = true;
        last_dur = 0;
        sounding_until[static_cast<std::size_t>(t.part)][static_cast<std::size_t>(t.value)] = now;
        open_part = t.part;
        open_pitch = t.value;
        open_units = 0;
        break;
      case Kind::duration:
        last_note = false;
        last_dur = t.value;
        open_units += t.value;
        if (open_part >= 0)
          sounding_until[static_cast<std::size_t>(open_part)]
                        [static_cast<std::size_t>(open_pitch)] += t.value;
        break;
      case Kind::wait:
        header_open = false;
        now += t.value;
        cursor = 0;
        last_pitch = -1;
        last_note = false;
        last_dur = 0;
        last_wait = t.value;
        return;
    }
  }
  void catch_up(std::span<const std::int32_t> so_far) {
    for (; seen < so_far.size(); ++seen) observe(so_far[seen]);
  }

  // The logits of everything but `allowed` set to -infinity.
  static void keep_only(std::span<float> logits, const std::vector<bool>& allowed) {
    for (std::size_t i = 0; i < logits.size(); ++i)
      if (!allowed[i]) logits[i] = kNever;
  }
  // Notes of part k inside its instrument's range (and the encoding's A0..C8), not of a pitch
  // the part still sounds, and at this onset above the part's last note (the encoder's order).
  void allow_notes(std::vector<bool>& allowed, int part) const {
    const Instrument& inst = instrument(ensemble[static_cast<std::size_t>(part)]);
    int lo = std::max(inst.lowest, kMultitrackLowestPitch);
    const int hi = std::min(inst.highest, kMultitrackLowestPitch + kMultitrackPitches - 1);
    if (part == cursor && last_pitch >= 0) lo = std::max(lo, last_pitch + 1);
    const auto& until = sounding_until[static_cast<std::size_t>(part)];
    for (int p = lo; p <= hi; ++p)
      if (until[static_cast<std::size_t>(p)] <= now)
        allowed[static_cast<std::size_t>(layout.note(part, p))] = true;
  }
  // Durations that keep the open note within kMaxSampledNoteQuarters.
  void allow_durations(std::vector<bool>& allowed) const {
    const std::int64_t room = std::max<std::int64_t>(1, max_note_units - open_units);
    for (int u = 1; u <= layout.max_units && u <= room; ++u)
      allowed[static_cast<std::size_t>(layout.duration(u))] = true;
  }
  // After a note only durations; after the longest duration more may follow, up to the cap.
  bool needs_duration() const { return last_note; }
  bool may_extend() const { return last_dur == layout.max_units && open_units < max_note_units; }
  // Waits in a row only after the longest one (the encoder merges the rest).
  bool may_wait() const { return last_wait == 0 || last_wait == layout.max_units; }

  MultitrackLayout layout;
  std::vector<int> ensemble;
  bool header_open = true;
  std::int64_t now = 0;
  int cursor = 0;       // at the current onset, the part of the last note (parts come in order)
  int last_pitch = -1;  // at the current onset, the pitch of the last note of part `cursor`
  int open_part = -1, open_pitch = 0;  // the last note, while its durations come
  std::int64_t open_units = 0;         // its units so far
  std::int64_t max_note_units;         // kMaxSampledNoteQuarters on the grid
  int last_wait = 0;                   // the units of the last token when it was a wait, else 0
  std::vector<std::array<std::int64_t, 128>> sounding_until;  // per part and pitch: end unit
  bool last_note = false;
  int last_dur = 0;
  std::size_t seen = 0;
};

class FreeRule final : public TokenRule {
 public:
  FreeRule(const CodecParams& params, bool fixed) : tracker_(params), fixed_(fixed) {}

  std::int32_t next(std::span<const std::int32_t> so_far, std::span<float> logits) override {
    Tracker& t = tracker_;
    t.catch_up(so_far);
    std::vector<bool> allowed(logits.size(), false);
    if (t.needs_duration()) {
      t.allow_durations(allowed);
    } else {
      if (t.may_extend()) t.allow_durations(allowed);
      const auto parts = static_cast<int>(t.ensemble.size());
      if (t.header_open && !fixed_ && parts < t.layout.tracks)
        for (int i = 0; i < t.layout.instruments; ++i) allowed[static_cast<std::size_t>(t.layout.instrument(i))] = true;
      if (parts > 0) {
        for (int k = t.cursor; k < parts; ++k) t.allow_notes(allowed, k);
        if (t.may_wait())
          for (int u = 1; u <= t.layout.max_units; ++u)
            allowed[static_cast<std::size_t>(t.layout.wait(u))] = true;
      }
    }
    if (std::find(allowed.begin(), allowed.end(), true) == allowed.end()) return kEnd;  // no part at all
    Tracker::keep_only(logits, allowed);
    return kSample;
  }

 private:
  Tracker tracker_;
  bool fixed_;
};

class Accompaniment final : public AccompanimentRule {
 public:
  Accompaniment(const CodecParams& params, std::vector<int> ensemble, std::vector<GivenNote> given,
                std::int64_t end)
      : tracker_(params), given_(std::move(given)), end_(end), given_part_(ensemble.size(), false) {
    for (const GivenNote& g : given_) {
      given_part_[static_cast<std::size_t>(g.part)] = true;
      end_ = std::max(end_, g.start + g.units);
    }
    ensemble_ = std::move(ensemble);
  }

  std::int64_t now_units() const override { return tracker_.now; }
  std::int64_t end_units() const override { return end_; }
  std::unique_ptr<ParticleRule> clone() const override {
    return std::make_unique<Accompaniment>(*this);
  }
  std::int64_t evidence() const override {
    return static_cast<std::int64_t>(next_given_) - (forced_.empty() ? 0 : 1);
  }

  std::int32_t next(std::span<const std::int32_t> so_far, std::span<float> logits) override {
    Tracker& t = tracker_;
    for (; t.seen < so_far.size(); ++t.seen) {
      const std::int32_t id = so_far[t.seen];
      const MultitrackLayout::Token tok = t.layout.decode(id);
      if (!forced_.empty() && forced_.front() == id) {
        forced_.pop_front();  // a given note's duration, fed in
      } else if (tok.kind == Kind::note && t.ensemble.size() == ensemble_.size() &&
                 given_part_[static_cast<std::size_t>(tok.part)]) {
        // A given note: the one due (the rule forced it, or the sampler chose its stand-in).
        last_given_ = true;
        const GivenNote& g = given_[next_given_++];
        for (std::int64_t left = g.units; left > 0;) {
          const auto u = static_cast<int>(std::min<std::int64_t>(left, t.layout.max_units));
          forced_.push_back(t.layout.duration(u));
          left -= u;
        }
      }
      if (tok.kind == Kind::note && !given_part_[static_cast<std::size_t>(tok.part)])
        last_given_ = false;
      t.observe(id);
    }
    if (t.ensemble.size() < ensemble_.size())  // the header, when the primer did not hold it all
      return t.layout.instrument(ensemble_[t.ensemble.size()]);
    if (!forced_.empty()) return forced_.front();

    std::vector<bool> allowed(logits.size(), false);
    if (t.needs_duration()) {  // a sampled note: its duration
      t.allow_durations(allowed);
      Tracker::keep_only(logits, allowed);
      return kSample;
    }
    const GivenNote* due = next_given_ < given_.size() ? &given_[next_given_] : nullptr;
    if (!due && t.now >= end_) return kEnd;
    const bool extend = t.may_extend() && !last_given_;  // a given note's durations are its own
    if (extend) t.allow_durations(allowed);
    const auto parts = static_cast<int>(ensemble_.size());
    if (due && due->start == t.now) {
      // Sampled parts before the given note's part may come first; the rest of the
      // probability stands for "the given note now".
      bool any = false;
      for (int k = t.cursor; k < due->part; ++k) {
        if (given_part_[static_cast<std::size_t>(k)]) continue;
        t.allow_notes(allowed, k);
        any = true;
      }
      const auto due_id = static_cast<std::size_t>(t.layout.note(due->part, due->pitch));
      if (!any && !extend) return static_cast<std::int32_t>(due_id);
      double max = -INFINITY;
      for (std::size_t i = 0; i < logits.size(); ++i)
        if (!allowed[i]) max = std::max(max, static_cast<double>(logits[i]));
      double rest = 0;
      for (std::size_t i = 0; i < logits.size(); ++i)
        if (!allowed[i]) rest += std::exp(static_cast<double>(logits[i]) - max);
      Tracker::keep_only(logits, allowed);
      logits[due_id] = static_cast<float>(max + std::log(rest));
      return kSample;
    }
    // No given note now: sampled parts at this onset, or time moves on, never past the next
    // given onset or the end.
    for (int k = t.cursor; k < parts; ++k)
      if (!given_part_[static_cast<std::size_t>(k)]) t.allow_notes(allowed, k);
    const std::int64_t limit = std::min<std::int64_t>(due ? due->start - t.now : end_ - t.now, t.layout.max_units);
    const bool nothing_else = std::find(allowed.begin(), allowed.end(), true) == allowed.end();
    if (t.may_wait() || nothing_else)  // a second short wait only when nothing else may come
      for (std::int64_t u = 1; u <= limit; ++u)
        allowed[static_cast<std::size_t>(t.layout.wait(static_cast<int>(u)))] = true;
    if (std::find(allowed.begin(), allowed.end(), true) == allowed.end()) return kEnd;
    Tracker::keep_only(logits, allowed);
    return kSample;
  }

 private:
  Tracker tracker_;
  std::vector<int> ensemble_;
  std::vector<GivenNote> given_;
  std::int64_t end_;
  std::vector<bool> given_part_;
  std::size_t next_given_ = 0;
  std::deque<std::int32_t> forced_;  // the given note's duration tokens still to feed
  bool last_given_ = false;          // the last note was a given one
};

}  // namespace

std::vector<int> multitrack_ensemble(const Codec& codec, const Sequence& sequence) {
  require_multitrack(codec, "ensemble");
  const MultitrackLayout l(codec.params());
  std::vector<int> ensemble;
  for (std::int32_t id : sequence.tokens) {
    const MultitrackLayout::Token t = l.decode(id);
    if (t.kind != Kind::instrument) break;
    ensemble.push_back(t.value);
  }
  return ensemble;
}

Sequence multitrack_header(const Codec& codec, const std::vector<int>& ensemble) {
  require_multitrack(codec, "--instruments");
  const CodecParams& p = codec.params();
  if (ensemble.empty()) throw std::invalid_argument("--instruments: expected at least one instrument");
  if (static_cast<int>(ensemble.size()) > p.tracks)
    throw std::invalid_argument("--instruments: " + std::to_string(ensemble.size()) + " parts, the model knows at most " +
                                std::to_string(p.tracks));
  const MultitrackLayout l(p);
  Sequence header = Sequence::of_tokens("--instruments");
  for (int i : ensemble) {
    if (i < 0 || i >= p.instruments)
      throw std::invalid_argument("--instruments: the model's vocabulary has no " + std::string(instrument(i).name));
    header.tokens.push_back(l.instrument(i));
  }
  return header;
}

std::shared_ptr<TokenRule> multitrack_rule(const Codec& codec, bool fixed_ensemble) {
  require_multitrack(codec, "multitrack rule");
  return std::make_shared<FreeRule>(codec.params(), fixed_ensemble);
}

std::shared_ptr<TokenRule> generation_rule(const Codec& codec) {
  return codec.encoding() == Encoding::multitrack ? multitrack_rule(codec, false) : nullptr;
}

std::shared_ptr<AccompanimentRule> accompaniment_rule(const Codec& codec, std::vector<int> ensemble,
                                                      std::vector<GivenNote> given, std::int64_t end_units) {
  require_multitrack(codec, "accompaniment");
  for (const GivenNote& g : given)
    if (g.part < 0 || g.part >= static_cast<int>(ensemble.size()))
      throw std::invalid_argument("accompaniment: a given note of part " + std::to_string(g.part) +
                                  " outside the ensemble of " + std::to_string(ensemble.size()));
  return std::make_shared<Accompaniment>(codec.params(), std::move(ensemble), std::move(given), end_units);
}

std::string unseen_instruments_warning(const Dataset& data, const std::vector<int>& ensemble) {
  if (data.codec.encoding() != Encoding::multitrack) return "";
  std::vector<bool> seen(static_cast<std::size_t>(data.codec.params().instruments), false);
  for (const Sequence& s : data.train)
    for (int i : multitrack_ensemble(data.codec, s)) seen[static_cast<std::size_t>(i)] = true;
  std::string unseen, known;
  for (int i : ensemble)
    if (!seen[static_cast<std::size_t>(i)] && unseen.find(std::string(instrument(i).name)) == std::string::npos)
      unseen += (unseen.empty() ? "" : ", ") + std::string(instrument(i).name);
  if (unseen.empty()) return "";
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (seen[i]) known += (known.empty() ? "" : ", ") + std::string(instrument(static_cast<int>(i)).name);
  return "the model never trained on " + unseen + " (its training data has " + known +
         "): it writes those parts as it learned the others, inside their ranges";
}

std::vector<GivenNote> multitrack_grid_notes(const Codec& codec, const Sequence& sequence) {
  require_multitrack(codec, "grid notes");
  const MultitrackLayout l(codec.params());
  std::vector<GivenNote> notes;
  std::int64_t now = 0;
  bool open = false;  // the last token belongs to notes.back(): its durations follow
  for (std::int32_t id : sequence.tokens) {
    const MultitrackLayout::Token t = l.decode(id);
    if (t.kind == Kind::duration) {
      if (open) notes.back().units += t.value;
      continue;
    }
    if (open) notes.back().units = std::max<std::int64_t>(notes.back().units, 1);
    open = t.kind == Kind::note;
    if (open) notes.push_back({now, 0, t.part, t.value});
    if (t.kind == Kind::wait) now += t.value;
  }
  if (open) notes.back().units = std::max<std::int64_t>(notes.back().units, 1);
  return notes;
}

Sequence primer_for_ensemble(const Codec& codec, const Sequence& primer,
                             const std::vector<int>& ensemble, bool keep_primer_notes) {
  Sequence header = multitrack_header(codec, ensemble);
  if (!keep_primer_notes) return header;
  int parts_used = -1;
  for (const GivenNote& n : multitrack_grid_notes(codec, primer))
    parts_used = std::max(parts_used, n.part);
  if (parts_used >= static_cast<int>(ensemble.size()))
    throw std::invalid_argument("the primer has notes for part " + std::to_string(parts_used + 1) +
                                ", the list names " + std::to_string(ensemble.size()) + " parts");
  const std::size_t old_header = multitrack_ensemble(codec, primer).size();
  header.tokens.insert(header.tokens.end(),
                       primer.tokens.begin() + static_cast<std::ptrdiff_t>(old_header),
                       primer.tokens.end());
  header.source = primer.source;
  return header;
}

}  // namespace musegen
