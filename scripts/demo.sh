#!/usr/bin/env bash
# Shows what musegen can do today. Until the training pipeline lands (the musegen command
# line in examples/), that is libmidi: midi-inspect summarises a few piano pieces of the
# training set, then checks every file of it and counts clean / repaired / unreadable.
#
# usage: scripts/demo.sh
# env:   MUSEGEN_DATA_DIR  datasets folder (default: ../shared/datasets beside the repository)
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # repo root, setup.sh, MUSEGEN_DATA_DIR

jobs=$(nproc)
echo "=== demo.sh: building the release preset"
cmake --preset release >/dev/null
cmake --build --preset release --parallel "$jobs" --target midi-inspect
inspect=$repo/build/release/libmidi/midi-inspect

if [[ -z "${MUSEGEN_DATA_DIR:-}" ]]; then
  echo
  echo "demo.sh: no data to show: MUSEGEN_DATA_DIR is not set and $repo/../shared/datasets"
  echo "  does not exist. Point MUSEGEN_DATA_DIR at the datasets folder (see datasets/README.md):"
  echo "  MUSEGEN_DATA_DIR=/path/to/datasets scripts/demo.sh"
  exit 1
fi
songs=$MUSEGEN_DATA_DIR/classical-piano-composer/midi_songs
if [[ ! -d "$songs" ]]; then
  echo
  echo "demo.sh: no data to show: $songs does not exist (see datasets/README.md)."
  exit 1
fi

shopt -s nullglob nocaseglob
files=("$songs"/*.mid "$songs"/*.midi)
shopt -u nocaseglob
if [[ ${#files[@]} -eq 0 ]]; then
  echo "demo.sh: no .mid files in $songs" >&2
  exit 1
fi

echo
echo "=== demo.sh: midi-inspect, summary of the first 3 of ${#files[@]} piano pieces"
"$inspect" --quiet "${files[@]:0:3}" || true

echo
echo "=== demo.sh: midi-inspect --check over all ${#files[@]} files"
clean=0 repaired=0 unreadable=0
for file in "${files[@]}"; do
  status=0
  "$inspect" --check --quiet "$file" 2>/dev/null || status=$?
  case $status in
    0) clean=$((clean + 1)) ;;
    1) repaired=$((repaired + 1)) ;;
    *) unreadable=$((unreadable + 1)); echo "  unreadable: ${file##*/}" ;;
  esac
done
echo "demo.sh: ${#files[@]} files: $clean clean, $repaired read with repairs, $unreadable unreadable"

edge=$MUSEGEN_DATA_DIR/midi-edge-cases/midi
if [[ -d "$edge" ]]; then
  echo
  echo "=== demo.sh: midi-inspect --check on broken files: what is repaired, what is refused"
  for name in test-corrupt-file-missing-byte.mid test-running-status-metaevent.mid \
              test-illegal-message-f2-xx-xx.mid test-not-a-midi-file.mid; do
    [[ -f "$edge/$name" ]] || continue
    status=0
    "$inspect" --check "$edge/$name" 2>&1 | sed "s|$edge/||" || status=${PIPESTATUS[0]}
    echo "  -> exit $status"
  done
fi
echo "demo.sh: the musegen training pipeline is not there yet; this demo grows with it."
