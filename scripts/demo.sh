#!/usr/bin/env bash
# The whole musegen pipeline on the JSB chorales, in a few minutes on 2 CPU cores:
#   preprocess (piano-roll frames) -> train an LSTM -> generate new chorales -> MIDI files,
# then a report of the generated pieces' music metrics next to the training data's, and
# the model's negative log-likelihood on the test split (the published benchmark figure);
# last, each piece as a WAV file and a piano roll, and the training curves as a picture.
# Then several instruments: a small multitrack model trained on the four-voice chorales
# writes alto, tenor and bass under the soprano of a chorale it never saw (accompaniment),
# rendered and drawn beside the chorales.
#
# Everything goes to output/ (override with MUSEGEN_DEMO_OUT). Interrupted? Run it again:
# training resumes from its last checkpoint.
#
# usage: scripts/demo.sh
# env:   MUSEGEN_DATA_DIR   datasets folder (default: ../shared/datasets beside the repository)
#        MUSEGEN_DEMO_OUT   output folder (default: output/ in the repository)
#        MUSEGEN_DEMO_EPOCHS  training epochs (default: musegen train's default for roll data, 150)
#        MUSEGEN_DEMO_MULTITRACK_STEPS  training steps of the multitrack model (default: 400)
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # repo root, setup.sh, MUSEGEN_DATA_DIR

out=${MUSEGEN_DEMO_OUT:-$repo/output}
epochs=${MUSEGEN_DEMO_EPOCHS:-150}
jobs=$(nproc)

echo "=== demo.sh: building musegen (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release --parallel "$jobs" --target musegen
musegen=$repo/build/release/examples/musegen/musegen

if [[ -z "${MUSEGEN_DATA_DIR:-}" ]]; then
  echo "demo.sh: no data: MUSEGEN_DATA_DIR is not set and $repo/../shared/datasets does not exist." >&2
  echo "  Fetch the JSB chorales (needs the network):  $musegen datasets fetch jsb-chorales --dest DIR" >&2
  echo "  then: MUSEGEN_DATA_DIR=DIR scripts/demo.sh" >&2
  exit 1
fi
jsb=$MUSEGEN_DATA_DIR/jsb-chorales/jsb-chorales-quarter.json
if [[ ! -f "$jsb" ]]; then
  echo "demo.sh: $jsb does not exist; fetch it with: $musegen datasets fetch jsb-chorales" >&2
  exit 1
fi
mkdir -p "$out"

echo
echo "=== demo.sh: 1/4 preprocess: the JSB chorales as piano-roll frames (one per quarter note)"
"$musegen" preprocess --encoding roll --out "$out/jsb.mgds" "$jsb"

echo
echo "=== demo.sh: 2/4 train an LSTM ($epochs epochs; Ctrl-C saves a checkpoint, run again to resume)"
if [[ -f "$out/run/state.mgstate" ]]; then
  # A previous demo's run: continue it (or find it finished) with its saved options.
  "$musegen" train --resume --run-dir "$out/run"
else
  "$musegen" train "$out/jsb.mgds" --run-dir "$out/run" --epochs "$epochs"
fi

echo
echo "=== demo.sh: 3/4 generate three chorales (128 quarter notes each, primed with 8 chords of a validation chorale)"
pieces=()
for seed in 1 2 3; do
  "$musegen" generate "$out/run" --seed "$seed" --steps 128 --primer-steps 8 --temperature 0.9 \
    --tempo 90 --out "$out/chorale-$seed.tokens" --midi "$out/chorale-$seed.mid" --quiet
  pieces+=("$out/chorale-$seed.mid")
  echo "  wrote $out/chorale-$seed.mid"
done

echo
echo "=== demo.sh: 4/4 report: generated chorales against the JSB chorales"
{
  echo "musegen demo report ($(date -u +%Y-%m-%d))"
  echo
  "$musegen" eval --checkpoint "$out/run" --split test
  echo
  "$musegen" eval "${pieces[@]}" --reference "$jsb" --json "$out/metrics.json"
} | tee "$out/report.txt"

echo
echo "=== demo.sh: hear and see them: WAV (built-in synthesizer), piano rolls, training curves"
for piece in "${pieces[@]}"; do
  "$musegen" render "$piece" "${piece%.mid}.wav"
  "$musegen" plot "$piece" "${piece%.mid}.png" --quiet
done
"$musegen" plot-metrics "$out/run" "$out/training.png" --quiet
# Sampled instruments too, when this build has FluidSynth and the General MIDI SoundFont is
# installed (scripts/setup.sh installs both; docs/architecture.md says why it is optional).
sf2=/usr/share/sounds/sf2/FluidR3_GM.sf2
if [[ -f "$sf2" && "$("$musegen" render --help)" == *"This build can play MIDI with FluidSynth"* ]]; then
  "$musegen" render "${pieces[0]}" "${pieces[0]%.mid}-fluidsynth.wav" --soundfont "$sf2"
  also=" and $out/chorale-1-fluidsynth.wav (FluidSynth)"
else
  also=""
  echo "  (no FluidSynth rendering: see 'musegen render --help' for how to get sampled instruments)"
fi

multitrack=$MUSEGEN_DATA_DIR/music21-multitrack/chorales
if [[ -d "$multitrack" ]]; then
  echo
  echo "=== demo.sh: several instruments: a multitrack model writes alto, tenor and bass under a soprano"
  # Every chorale but the one it will harmonize, each voice on its own track.
  held_out=$multitrack/bach-bwv10.7.mid
  mapfile -t chorales < <(find "$multitrack" -name '*.mid' ! -name "$(basename "$held_out")" | sort)
  "$musegen" preprocess --encoding multitrack --zero-length-off-first --tracks 4 --quiet \
    --out "$out/satb.mgds" "${chorales[@]}"
  if [[ -f "$out/satb-run/state.mgstate" ]]; then
    "$musegen" train --resume --run-dir "$out/satb-run"
  else
    "$musegen" train "$out/satb.mgds" --run-dir "$out/satb-run" --embed 64 --hidden 256 --layers 1 \
      --max-steps "${MUSEGEN_DEMO_MULTITRACK_STEPS:-400}" --epochs 100 --batch 32 --no-tensorboard
  fi
  "$musegen" accompany "$out/satb-run" "$held_out" --keep soprano --zero-length-off-first --seed 1 \
    --temperature 0.8 --out "$out/harmonized.mid"
  "$musegen" render "$out/harmonized.mid" "$out/harmonized.wav"
  "$musegen" plot "$out/harmonized.mid" "$out/harmonized.png" --quiet
  "$musegen" plot "$held_out" "$out/bach-bwv10.7.png" --quiet
  echo "  wrote $out/harmonized.mid (Bach's soprano, the model's alto, tenor and bass), .wav and .png;"
  echo "  Bach's own: $out/bach-bwv10.7.png"
else
  echo
  echo "=== demo.sh: several instruments: skipped ($multitrack does not exist)"
fi

echo
echo "demo.sh: done. Listen to $out/chorale-1.wav$also"
echo "  (or play it: $musegen play $out/chorale-1.mid),"
echo "  look at $out/chorale-1.png and $out/training.png; the report is in $out/report.txt."
echo "  The training curves and a sampled chorale per epoch are in TensorBoard:"
echo "  tensorboard --logdir $out/run   (pip install tensorboard)"
