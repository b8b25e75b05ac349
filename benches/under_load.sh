#!/usr/bin/env bash
# libnn on a busy machine (issue 17): the same work quiet and with one core taken by another
# process, on 1 and on 2 threads, in one run, and the ratios.
#
#   1. `musegen train` for 5 epochs on the JSB chorales (the demo's roll data and model,
#      --no-tensorboard), wall time;
#   2. the reference model's training step (benches/train_step: Embedding(360,512) ->
#      3 x LSTM(512) -> Linear, T = 100, B = 64, Adam), median step time.
#
# "Busy" is a spinner this script starts (a shell loop at normal priority, pinned to no core)
# and stops itself. Each measurement is the median of --repeats runs.
#
# usage: benches/under_load.sh [--build DIR] [--repeats N] [--steps N] [--epochs N]
#   --build DIR   the build tree with examples/musegen/musegen and benches/train_step
#                 (default build/release)
#   --repeats N   runs per measurement, the median is reported (default 3)
#   --steps N     timed training steps of the reference model per run (default 3)
#   --epochs N    epochs of the JSB training (default 5)
# Needs MUSEGEN_DATA_DIR (the JSB chorales) for part 1; without it part 1 is skipped.
#
# Targets (docs/perf.md, "Threads on a busy machine"): with one core busy, 2 threads take at
# most 1.1x the 1-thread time; quiet, no slower than before.
set -euo pipefail

build=build/release repeats=3 steps=3 epochs=5
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "under_load.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
musegen=$build/examples/musegen/musegen
train_step=$build/benches/train_step
for exe in "$musegen" "$train_step"; do
  [[ -x $exe ]] || { echo "under_load.sh: $exe not found: build it first (cmake --build --preset release --target musegen train_step)" >&2; exit 1; }
done

work=$(mktemp -d)
spinner=""
stop_spinner() { if [[ -n $spinner ]]; then kill "$spinner" 2>/dev/null || true; wait "$spinner" 2>/dev/null || true; spinner=""; fi; }
trap 'stop_spinner; rm -rf "$work"' EXIT
start_spinner() { (while :; do :; done) & spinner=$!; sleep 0.5; }

median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

jsb_seconds() {  # threads
  local times=()
  for ((r = 0; r < repeats; r++)); do
    rm -rf "$work/run"
    local t0 t1
    t0=$(date +%s.%N)
    OMP_NUM_THREADS=$1 "$musegen" train "$work/jsb.mgds" --run-dir "$work/run" --epochs "$epochs" \
      --no-tensorboard --quiet >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | median
}

step_seconds() {  # threads
  local times=()
  for ((r = 0; r < repeats; r++)); do
    times+=("$(OMP_NUM_THREADS=$1 "$train_step" --steps "$steps" --warmup 1 |
      sed -n 's/.*"median_step_seconds": \([0-9.]*\).*/\1/p')")
  done
  printf '%s\n' "${times[@]}" | median
}

echo "under_load.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), build $build, median of $repeats"
declare -A result
jsb=${MUSEGEN_DATA_DIR:-}/jsb-chorales/jsb-chorales-quarter.json
workloads=()
if [[ -n ${MUSEGEN_DATA_DIR:-} && -f $jsb ]]; then
  "$musegen" preprocess --encoding roll --out "$work/jsb.mgds" "$jsb" >/dev/null
  workloads+=(jsb)
else
  echo "under_load.sh: MUSEGEN_DATA_DIR/jsb-chorales not found: skipping the JSB training"
fi
workloads+=(step)

for load in quiet busy; do
  [[ $load == busy ]] && start_spinner
  for w in "${workloads[@]}"; do
    for threads in 1 2; do
      if [[ $w == jsb ]]; then result[$w,$load,$threads]=$(jsb_seconds "$threads")
      else result[$w,$load,$threads]=$(step_seconds "$threads"); fi
      echo "  $w, $load, $threads thread(s): ${result[$w,$load,$threads]} s"
    done
  done
  stop_spinner
done

echo
echo "| work | condition | 1 thread | 2 threads | 2 threads / 1 thread |"
echo "|---|---|---|---|---|"
for w in "${workloads[@]}"; do
  name=$([[ $w == jsb ]] && echo "JSB train, $epochs epochs (s)" || echo "reference model, step (s)")
  for load in quiet busy; do
    one=${result[$w,$load,1]} two=${result[$w,$load,2]}
    printf '| %s | %s | %.3f | %.3f | %.2fx |\n' "$name" \
      "$([[ $load == busy ]] && echo 'one core busy' || echo quiet)" "$one" "$two" "$(echo "$two / $one" | bc -l)"
  done
done
