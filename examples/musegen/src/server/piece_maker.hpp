// One generation request made into a piece: the primer chosen, the model sampled (stopped
// through the job's token), the result decoded to MIDI, rendered to WAV with the built-in
// synthesizer, drawn as a piano roll (SVG) and measured (core/metrics.hpp), the files
// written into the piece's draft folder (pieces.hpp). What `musegen generate`, `render` and
// `plot` do one after the other, called as functions of the app's layers, never as
// subcommands.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <libmidi/midi_file.hpp>
#include <optional>
#include <stop_token>
#include <string>

#include "metrics.hpp"
#include "pieces.hpp"
#include "request.hpp"
#include "run_control.hpp"
#include "session.hpp"

namespace musegen::server {

// How a piece's WAV is made: the built-in synthesizer (render_midi_to_wav), or the server's
// loaded SoundFont (serve --soundfont). Called on the job's thread; thread-safe. Returns false
// when `stop` was requested before it finished (nothing written): FluidSynth takes about a
// minute for the longest piece, too long for a Ctrl-C to wait.
using WavRenderer = std::function<bool(const midi::MidiFile& file, const std::filesystem::path& wav,
                                       std::stop_token stop)>;
bool render_with_builtin_synth(const midi::MidiFile& file, const std::filesystem::path& wav,
                               std::stop_token stop);

// The longest piece a server renders: a WAV of 20 minutes is 200 MiB.
inline constexpr double kMaxPieceSeconds = 1200;

struct MadePiece {
  std::int64_t primer_steps = 0, generated = 0;
  bool ended_by_rule = false;  // the model's grammar or the length in seconds ended it
  double seconds = 0;          // the MIDI file's length
  double generate_seconds = 0, render_seconds = 0;
  PieceMetrics metrics;
};

// Throws std::invalid_argument for a request the model cannot take (a primer sequence past
// the data's end, a primer the model cannot start from), std::runtime_error for a piece
// longer than kMaxPieceSeconds. std::nullopt when `stop` was requested: nothing is kept.
// `run` is shared with other jobs: its model is only read (core/generate.hpp).
std::optional<MadePiece> make_piece(OpenedRun& run, const GenerationRequest& request,
                                    const PieceDraft& draft, std::stop_token stop,
                                    const ProgressFn& progress,
                                    const WavRenderer& wav = render_with_builtin_synth);

}  // namespace musegen::server
