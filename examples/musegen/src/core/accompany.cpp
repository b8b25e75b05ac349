#include "accompany.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include "instruments.hpp"
#include "multitrack.hpp"
#include "multitrack_rules.hpp"

namespace musegen {

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

int part_instrument(const PieceTrack& track, const Codec& codec) {
  return instrument_for_track(track.name, track.program, codec.params().instruments);
}

// The part number a --keep entry names, or -1.
int find_part(const Piece& piece, const Codec& codec, const std::string& entry) {
  if (!entry.empty() && std::all_of(entry.begin(), entry.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (entry.size() > 4) return -1;
    const int n = std::stoi(entry);
    return n < static_cast<int>(piece.tracks.size()) ? n : -1;
  }
  const std::string wanted = lower(entry);
  for (std::size_t i = 0; i < piece.tracks.size(); ++i)
    if (lower(piece.tracks[i].name) == wanted) return static_cast<int>(i);
  for (std::size_t i = 0; i < piece.tracks.size(); ++i)
    if (!piece.tracks[i].drum && instrument(part_instrument(piece.tracks[i], codec)).name == wanted)
      return static_cast<int>(i);
  return -1;
}

}  // namespace

std::string describe_parts(const midi::MidiFile& input, const Codec& codec, const midi::NoteOptions& read) {
  const Piece piece = piece_from_midi(input, read);
  std::vector<std::int64_t> notes(piece.tracks.size(), 0);
  for (const PieceNote& n : piece.notes) ++notes[static_cast<std::size_t>(n.track)];
  std::string out;
  for (std::size_t i = 0; i < piece.tracks.size(); ++i) {
    const PieceTrack& t = piece.tracks[i];
    out += "  " + std::to_string(i) + "  \"" + t.name + "\"  " +
           (t.drum ? std::string("drums (kept as they are)")
                   : std::string(instrument(part_instrument(t, codec)).name) + "  program " + std::to_string(t.program)) +
           "  " + std::to_string(notes[i]) + " notes\n";
  }
  return out;
}

AccompanyResult accompany(MusicModel& model, const Codec& codec, const midi::MidiFile& input,
                          const AccompanyOptions& options) {
  if (codec.encoding() != Encoding::multitrack)
    throw std::invalid_argument("accompany: the model's encoding is " + std::string(encoding_name(codec.encoding())) +
                                "; accompaniment needs a multitrack model");
  if (input.division.smpte)
    throw std::invalid_argument("accompany: the file's time is SMPTE frames; accompaniment needs quarter notes (PPQ)");
  const CodecParams& params = codec.params();
  const Piece piece = piece_from_midi(input, options.read);
  if (piece.tracks.empty()) throw std::invalid_argument("accompany: the file has no notes");
  const auto parts_text = [&] { return "; its parts:\n" + describe_parts(input, codec, options.read); };

  // The kept parts.
  if (options.keep.empty()) throw std::invalid_argument("accompany: --keep names no part" + parts_text());
  std::set<int> kept;
  for (const std::string& entry : options.keep) {
    const int part = find_part(piece, codec, entry);
    if (part < 0) throw std::invalid_argument("accompany: --keep " + entry + ": no such part" + parts_text());
    if (piece.tracks[static_cast<std::size_t>(part)].drum)
      throw std::invalid_argument("accompany: --keep " + entry + ": part " + std::to_string(part) +
                                  " is drums, which always come back as they are; keep a melodic part");
    kept.insert(part);
  }

  // The ensemble and the part of the sequence each kept part plays.
  std::vector<int> melodic;  // the file's melodic parts, in order
  for (std::size_t i = 0; i < piece.tracks.size(); ++i)
    if (!piece.tracks[i].drum) melodic.push_back(static_cast<int>(i));
  std::vector<int> ensemble = options.ensemble;
  std::map<int, int> slot_of;  // file part → sequence part
  if (ensemble.empty()) {
    if (static_cast<int>(melodic.size()) > params.tracks)
      throw std::invalid_argument("accompany: the file has " + std::to_string(melodic.size()) +
                                  " melodic parts, the model writes at most " + std::to_string(params.tracks) +
                                  "; choose the ensemble with --instruments (the kept parts must be in it)");
    for (std::size_t k = 0; k < melodic.size(); ++k) {
      ensemble.push_back(part_instrument(piece.tracks[static_cast<std::size_t>(melodic[k])], codec));
      if (kept.count(melodic[k])) slot_of[melodic[k]] = static_cast<int>(k);
    }
  } else {
    if (static_cast<int>(ensemble.size()) > params.tracks)
      throw std::invalid_argument("accompany: --instruments names " + std::to_string(ensemble.size()) +
                                  " parts, the model writes at most " + std::to_string(params.tracks));
    std::vector<bool> taken(ensemble.size(), false);
    for (int part : kept) {
      const int inst = part_instrument(piece.tracks[static_cast<std::size_t>(part)], codec);
      int slot = -1;
      for (std::size_t k = 0; k < ensemble.size() && slot < 0; ++k)
        if (!taken[k] && ensemble[k] == inst) slot = static_cast<int>(k);
      if (slot < 0)
        throw std::invalid_argument("accompany: kept part " + std::to_string(part) + " (\"" +
                                    piece.tracks[static_cast<std::size_t>(part)].name + "\") is a " +
                                    std::string(instrument(inst).name) + ", and --instruments has no free " +
                                    std::string(instrument(inst).name) + " part for it");
      taken[static_cast<std::size_t>(slot)] = true;
      slot_of[part] = slot;
    }
  }
  if (slot_of.size() == ensemble.size())
    throw std::invalid_argument("accompany: every part of the ensemble is kept: nothing to write");

  // The given parts encoded as the model was trained: a piece of the ensemble's parts with
  // the kept notes only.
  Piece given_piece;
  for (int inst : ensemble) given_piece.tracks.push_back({std::string(instrument(inst).display), instrument(inst).program, false});
  double end_quarters = 0;
  for (const PieceNote& n : piece.notes) {
    auto it = slot_of.find(n.track);
    if (it == slot_of.end()) continue;
    PieceNote copy = n;
    copy.track = it->second;
    given_piece.notes.push_back(copy);
    end_quarters = std::max(end_quarters, n.end_quarters);
  }
  if (given_piece.notes.empty()) throw std::invalid_argument("accompany: the kept parts have no notes");
  const Sequence encoded = codec.encode(given_piece, "given");
  if (multitrack_ensemble(codec, encoded) != ensemble)
    throw std::logic_error("accompany: the given parts' header does not name the ensemble");
  std::vector<GivenNote> given = multitrack_grid_notes(codec, encoded);
  const std::int64_t end_units = static_cast<std::int64_t>(std::ceil(end_quarters * params.grid - 1e-9));

  AccompanyResult result;
  result.ensemble = ensemble;
  for (const auto& [part, slot] : slot_of) result.kept_parts.push_back(slot);
  std::sort(result.kept_parts.begin(), result.kept_parts.end());

  auto rule = accompaniment_rule(codec, ensemble, std::move(given), end_units);
  const ProgressFn progress = options.generate.progress;
  const Sequence header = multitrack_header(codec, ensemble);
  if (options.particles < 1)
    throw std::invalid_argument("accompany: particles must be at least 1, found " +
                                std::to_string(options.particles));
  if (options.particles == 1) {
    GenerateOptions g = options.generate;
    g.steps = std::numeric_limits<std::int32_t>::max();  // the rule ends the piece
    g.rule = rule;
    g.keep_primer = true;
    g.progress = progress ? ProgressFn([&, rule](const ProgressUpdate&) {
      progress({"accompany", std::min(rule->now_units(), rule->end_units()), rule->end_units()});
    })
                          : ProgressFn();
    GenerateResult generated = generate(model, header, g);
    result.sequence = std::move(generated.sequence);
    result.seconds = generated.seconds;
    result.stopped = generated.stopped;
  } else {
    ParticleOptions p;
    p.sample = options.generate.sample;
    p.stop = options.generate.stop;
    if (progress)
      p.progress = [&](const ParticleRule& r) {
        const auto& a = dynamic_cast<const AccompanimentRule&>(r);
        progress({"accompany", std::min(a.now_units(), a.end_units()), a.end_units()});
      };
    const std::unique_ptr<SlotStepper> slots =
        model_slots(model, options.particles, options.generate.weights);
    ParticleResult sampled = sample_particles(*slots, header.tokens, *rule, p);
    result.sequence = Sequence::of_tokens(header.source, std::move(sampled.tokens));
    result.seconds = sampled.seconds;
    result.stopped = sampled.stopped;
    result.resamples = sampled.resamples;
  }

  // The output: the input without the parts the model rewrote, then one track per written part.
  Piece written = codec.decode_piece(result.sequence);
  std::set<std::pair<int, int>> replaced;  // (MIDI track, channel) of the parts rewritten
  for (std::size_t i = 0; i < piece.tracks.size(); ++i)
    if (!piece.tracks[i].drum && !kept.count(static_cast<int>(i)))
      replaced.insert({piece.tracks[i].midi_track, piece.tracks[i].channel});
  midi::MidiFile out = input;
  std::set<int> channels_in_use;
  std::vector<midi::Track> tracks;
  for (std::size_t t = 0; t < out.tracks.size(); ++t) {
    midi::Track& track = out.tracks[t];
    bool own_notes = false, other_notes = false;
    for (const midi::Event& e : track.events) {
      if (!e.is_note_on() && !e.is_note_off()) continue;
      (replaced.count({static_cast<int>(t), e.channel()}) ? other_notes : own_notes) = true;
    }
    if (other_notes && !own_notes) continue;  // a track of rewritten parts only: dropped
    if (other_notes) {
      std::erase_if(track.events, [&](const midi::Event& e) {
        return (e.is_note_on() || e.is_note_off()) && replaced.count({static_cast<int>(t), e.channel()});
      });
    }
    for (const midi::Event& e : track.events)
      if ((e.is_note_on() || e.is_note_off()) && !replaced.count({static_cast<int>(t), e.channel()}))
        channels_in_use.insert(e.channel());
    tracks.push_back(std::move(track));
  }
  out.tracks = std::move(tracks);
  if (out.format == 0) out.format = 1;
  std::set<int> kept_slots(result.kept_parts.begin(), result.kept_parts.end());
  // The written parts play as loud as the given ones: their median velocity.
  std::vector<int> velocities;
  for (const PieceNote& n : given_piece.notes) velocities.push_back(n.velocity);
  std::nth_element(velocities.begin(), velocities.begin() + static_cast<std::ptrdiff_t>(velocities.size() / 2), velocities.end());
  const int velocity = std::clamp(velocities[velocities.size() / 2], 1, 127);
  for (PieceNote& n : written.notes) {
    n.velocity = velocity;
    if (!kept_slots.count(n.track)) ++result.notes_written;
  }
  int next_channel = 0;
  for (std::size_t k = 0; k < written.tracks.size(); ++k) {
    if (kept_slots.count(static_cast<int>(k))) continue;
    while (next_channel < 16 && (next_channel == 9 || channels_in_use.count(next_channel))) ++next_channel;
    const int channel = next_channel < 16 ? next_channel++ : static_cast<int>(k % 9);  // all taken: shared
    out.tracks.push_back(
        part_to_track(written, static_cast<int>(k), channel, input.division.ticks_per_quarter));
  }
  result.file = std::move(out);
  return result;
}

}  // namespace musegen
