#!/usr/bin/env bash
# Fuzzes libmidi's reader with libFuzzer (clang, ASan + UBSan) for a given time.
# Builds build/fuzz/, seeds build/fuzz/corpus/ with the MIDI edge-case files, runs, and
# exits non-zero if the fuzzer found a crash, printing the input that caused it.
#
# usage: scripts/fuzz.sh [SECONDS]      (default 60)
# env:   MUSEGEN_DATA_DIR  datasets folder, for the seed corpus (default: ../shared/datasets
#                          beside the repository); without it the fuzzer starts from nothing
set -euo pipefail

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]" >&2
  exit 64
fi

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # repo root, setup.sh, MUSEGEN_DATA_DIR

build=$repo/build/fuzz
corpus=$build/corpus
artifacts=$build/artifacts

echo "=== fuzz.sh: building the fuzzer in $build"
CC=clang CXX=clang++ cmake -S "$repo" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMUSEGEN_BUILD_FUZZERS=ON \
  -DMUSEGEN_BUILD_TESTS=OFF -DMUSEGEN_BUILD_BENCHES=OFF -DMUSEGEN_BUILD_TOOLS=OFF \
  -DNN_CUDA=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target fuzz_reader
fuzzer=$build/tests/fuzz_reader

# The corpus keeps growing across runs (libFuzzer adds every input that finds new coverage).
mkdir -p "$corpus"
seeds=${MUSEGEN_DATA_DIR:-}/midi-edge-cases/midi
if [[ -n "${MUSEGEN_DATA_DIR:-}" && -d "$seeds" ]]; then
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz.sh: seeded the corpus from $seeds"
else
  echo "fuzz.sh: no seed files ($seeds not found); starting from an empty corpus"
fi

# Tokens of the format, so mutations find chunk headers and meta events quickly.
dictionary=$repo/tests/fuzz/midi.dict
if [[ ! -f "$dictionary" ]]; then
  dictionary=$build/midi.dict
  cat >"$dictionary" <<'DICT'
mthd="MThd"
mtrk="MTrk"
riff="RIFF"
rmid="RMID"
data="data"
header_format0="MThd\x00\x00\x00\x06\x00\x00"
header_format1="MThd\x00\x00\x00\x06\x00\x01"
header_format2="MThd\x00\x00\x00\x06\x00\x02"
end_of_track="\xFF\x2F\x00"
tempo="\xFF\x51\x03"
time_signature="\xFF\x58\x04"
key_signature="\xFF\x59\x02"
smpte_offset="\xFF\x54\x05"
track_name="\xFF\x03"
sysex="\xF0"
sysex_escape="\xF7"
note_on="\x90"
note_off="\x80"
control_change="\xB0"
program_change="\xC0"
pitch_bend="\xE0"
vlq_max="\xFF\xFF\xFF\x7F"
vlq_overlong="\x80\x80\x80\x80\x00"
smpte_division="\xE7\x28"
DICT
fi

rm -rf "$artifacts"
mkdir -p "$artifacts"

echo "=== fuzz.sh: fuzzing for ${seconds}s"
status=0
"$fuzzer" "$corpus" \
  -max_total_time="$seconds" \
  -dict="$dictionary" \
  -artifact_prefix="$artifacts/" \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || status=$?

shopt -s nullglob
found=("$artifacts"/*)
if [[ $status -ne 0 || ${#found[@]} -gt 0 ]]; then
  echo
  echo "fuzz.sh: FAIL: the fuzzer stopped with status $status"
  for file in "${found[@]}"; do
    echo "  input: $file ($(stat -c %s "$file") bytes)"
    od -A d -t x1 "$file" | head -n 8 | sed 's/^/    /'
  done
  echo "  reproduce: $fuzzer <input>   (or build/*/tests/fuzz_reader_replay <input>)"
  exit 1
fi
echo "fuzz.sh: PASS: no crash in ${seconds}s ($(find "$corpus" -type f | wc -l) inputs in the corpus)"
