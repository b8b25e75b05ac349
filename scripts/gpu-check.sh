#!/usr/bin/env bash
# The one prepared check of libnn's CUDA code on a machine with an NVIDIA GPU: the CUDA tests,
# compute-sanitizer (memcheck and racecheck) on them, and the CUDA benchmarks, ending with a
# short table. Meant to finish in under 6 minutes on an H200, so that a lent GPU has time for
# a fix and a second run.
#
# usage:
#   scripts/gpu-check.sh --pack   here, on a machine with nvcc but no GPU: build the `cuda`
#                                 preset's test and benchmark binaries and bundle them, with
#                                 the shared libraries they need and the Debian packages to
#                                 build them from source, in build/gpu-bundle/
#   scripts/gpu-check.sh          on the GPU machine: run the bundled binaries; when there is
#                                 no bundle or its binaries do not start there, build the
#                                 `cuda` preset on the spot (for sm_90 only, with all cores;
#                                 GoogleTest, Google Benchmark and fmt from the bundle's
#                                 packages when the machine lacks them) and run those
# env:
#   OUT          where the logs go (default build/gpu-check/); the device tool sets it
#   GPU_CHECK_QUICK=1   a second, quick run: no CPU tests, no racecheck, shorter benchmarks
#                       (musegen: no CPU training runs)
#
# With the device tool (docs/perf.md, "CUDA"): run --pack here, then
#   run(command="scripts/gpu-check.sh", carry=["build/gpu-bundle"], timeout_s=480)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1
bundle=$repo/build/gpu-bundle

# --- here: pack -----------------------------------------------------------------------------
if [[ "${1:-}" == "--pack" ]]; then
  set -e
  # For sm_90 only: the device tool lends H100s and H200s, and the bundle must fit what it
  # carries (64 MiB with the repository; seven binaries of two architectures would not).
  # musegen without FluidSynth: its tree of audio libraries is not on a GPU image, and no
  # check renders audio.
  cmake --preset cuda -DCMAKE_CUDA_ARCHITECTURES=90 -DMUSEGEN_WITH_FLUIDSYNTH=OFF >/dev/null
  cmake --build --preset cuda --parallel "$(nproc)" --target libnn_cuda_tests libnn_tests bench_cuda_ops mlp \
    musegen musegen_tests train_step bench_lstm_cuda
  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/deps" "$bundle/data"
  cp build/cuda/tests/libnn_cuda_tests build/cuda/tests/libnn_tests "$bundle/bin/"
  cp build/cuda/benches/bench_cuda_ops build/cuda/benches/bench_lstm_cuda build/cuda/examples/mlp/mlp "$bundle/bin/"
  # musegen on the GPU (issue 13): the program, its tests, the reference-model benchmark,
  # and the two datasets its runs train on, preprocessed here (the raw files stay behind).
  cp build/cuda/examples/musegen/musegen build/cuda/tests/musegen_tests build/cuda/benches/train_step "$bundle/bin/"
  data_dir=${MUSEGEN_DATA_DIR:-$repo/datasets}
  build/cuda/examples/musegen/musegen preprocess --encoding roll --quiet --out "$bundle/data/jsb.mgds" \
    "$data_dir/jsb-chorales/jsb-chorales-quarter.json"
  build/cuda/examples/musegen/musegen preprocess --encoding events --quiet --out "$bundle/data/piano.mgds" \
    "$data_dir/classical-piano-composer/midi_songs"
  # gan-train reads the JSB chorales' JSON itself (issue 15: C-RNN-GAN's speed on both devices).
  cp "$data_dir/jsb-chorales/jsb-chorales-quarter.json" "$bundle/data/"
  # The shared libraries a GPU machine's CUDA image may lack (never the CUDA ones: cuBLAS
  # must match that machine's driver, and it has them).
  for binary in "$bundle"/bin/*; do
    ldd "$binary" | awk '/=> \// {print $3}'
  done | sort -u | grep -E 'lib(fmt|benchmark|gomp|cpp-httplib|crypto|ssl|brotli(common|dec|enc))\.so' |
    xargs -r cp -L -t "$bundle/lib/"
  # Compressed: four binaries of sm_80 and sm_90 code would fill most of what the device tool
  # carries (64 MiB with the repository); gzip takes them to a third.
  gzip -1 "$bundle"/bin/*
  # The packages to build from source there if the binaries cannot run (apt-get download
  # needs no root; dpkg -x unpacks without installing).
  (cd "$bundle/deps" && apt-get download libgtest-dev googletest libbenchmark-dev libbenchmark1debian \
      libfmt-dev libfmt9 >/dev/null 2>&1 || echo "gpu-check: apt-get download failed; the bundle has no packages to build from")
  du -sh "$bundle"
  echo "gpu-check: bundle ready in $bundle; carry build/gpu-bundle with the device tool"
  exit 0
fi

# --- on the GPU machine: run ------------------------------------------------------------------
out=${OUT:-$repo/build/gpu-check}
mkdir -p "$out"
quick=${GPU_CHECK_QUICK:-0}
start=$(date +%s)
rows=()   # "step|result|seconds"
row() { rows+=("$1|$2|$3"); }
elapsed() { echo $(( $(date +%s) - $1 )); }

echo "gpu-check: $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
if ! nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | tee "$out/gpu.txt"; then
  echo "gpu-check: nvidia-smi failed: no GPU here?"
fi

# cuBLAS comes from this machine: the toolkit's, or a Python wheel's.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null) \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cublas", "lib") for p in nvidia.__path__))' 2>/dev/null); do
  if compgen -G "$dir/libcublas.so*" >/dev/null; then
    export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
    break
  fi
done
# cuDNN (the LSTM's cudnn algorithm opens libcudnn.so.9 on first use): the toolkit's, or the
# one PyTorch's wheels bring (nvidia-cudnn-cu13).
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $(python3 -c 'import nvidia, os, glob; print(" ".join(sorted({os.path.dirname(f) for p in nvidia.__path__ for f in glob.glob(os.path.join(p, "**", "libcudnn.so.9"), recursive=True)})))' 2>/dev/null); do
  if [[ -e "$dir/libcudnn.so.9" ]]; then
    export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
    echo "gpu-check: cuDNN from $dir"
    break
  fi
done
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
export LIBNN_TEST_DIR=$repo/tests/libnn

bin=""
if compgen -G "$bundle/bin/*.gz" >/dev/null; then  # unpacked next to the logs, not in the bundle
  mkdir -p /tmp/gpu-check-bin
  for f in "$bundle"/bin/*.gz; do gunzip -c "$f" >"/tmp/gpu-check-bin/$(basename "$f" .gz)"; done
  chmod +x /tmp/gpu-check-bin/*
fi
if [[ -x /tmp/gpu-check-bin/libnn_cuda_tests ]] && /tmp/gpu-check-bin/libnn_cuda_tests --gtest_list_tests >/dev/null 2>"$out/bundle-start.txt"; then
  bin=/tmp/gpu-check-bin
  row "binaries" "prebuilt bundle" 0
elif [[ -x "$bundle/bin/libnn_cuda_tests" ]] && "$bundle/bin/libnn_cuda_tests" --gtest_list_tests >/dev/null 2>"$out/bundle-start.txt"; then
  bin=$bundle/bin
  row "binaries" "prebuilt bundle" 0
else
  echo "gpu-check: no usable bundle ($(head -c 300 "$out/bundle-start.txt" 2>/dev/null)); building here"
  t=$(date +%s)
  prefix=""
  if ! { [[ -f /usr/include/gtest/gtest.h ]] && [[ -f /usr/include/benchmark/benchmark.h ]] && [[ -f /usr/include/fmt/core.h ]]; }; then
    prefix=$out/deps
    mkdir -p "$prefix"
    for deb in "$bundle"/deps/*.deb; do dpkg -x "$deb" "$prefix"; done
    export CMAKE_PREFIX_PATH="$prefix/usr:${CMAKE_PREFIX_PATH:-}"
    export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH"
  fi
  if cmake --preset cuda -DCMAKE_CUDA_ARCHITECTURES=90 -DMUSEGEN_BUILD_TOOLS=OFF -DMUSEGEN_WITH_FLUIDSYNTH=OFF >"$out/configure.log" 2>&1 &&
     cmake --build --preset cuda --parallel "$(nproc)" --target libnn_cuda_tests libnn_tests bench_cuda_ops bench_lstm_cuda mlp >"$out/build.log" 2>&1; then
    bin=$repo/build/cuda/tests
    cp build/cuda/benches/bench_cuda_ops build/cuda/benches/bench_lstm_cuda build/cuda/examples/mlp/mlp "$bin/" 2>/dev/null
    # musegen's part (below) runs only if these build too, after the libnn part: a failure
    # here leaves the libnn checks standing.
    cmake --build --preset cuda --parallel "$(nproc)" --target musegen musegen_tests train_step >>"$out/build.log" 2>&1 &&
      cp build/cuda/examples/musegen/musegen build/cuda/benches/train_step "$bin/" 2>/dev/null
    row "binaries" "built here" "$(elapsed "$t")"
  else
    tail -30 "$out/configure.log" "$out/build.log"
    row "binaries" "BUILD FAILED (build.log)" "$(elapsed "$t")"
  fi
fi

# gtest_counts LOG: "N passed, N failed, N skipped" from the per-test lines of a gtest log
# (not its closing summary, which a crash never prints).
gtest_counts() {
  local passed failed skipped
  passed=$(grep -cE '^\[       OK \] .* \([0-9]+ ms\)$' "$1")
  failed=$(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' "$1")
  skipped=$(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' "$1")
  echo "$passed passed, $failed failed, $skipped skipped"
}

if [[ -n "$bin" ]]; then
  t=$(date +%s)
  timeout 100 "$bin/libnn_cuda_tests" --gtest_color=no >"$out/cuda-tests.log" 2>&1
  status=$?
  row "libnn_cuda_tests" "$(gtest_counts "$out/cuda-tests.log")$([[ $status -ne 0 ]] && echo " (exit $status)")" "$(elapsed "$t")"
  grep -E '^\[  FAILED  \]|Failure|error' "$out/cuda-tests.log" | head -40

  # The CPU tests too: with a GPU present nothing of the CPU side may change.
  if [[ "$quick" != 1 ]]; then
    t=$(date +%s)
    OMP_NUM_THREADS=8 timeout 60 "$bin/libnn_tests" --gtest_color=no >"$out/cpu-tests.log" 2>&1
    status=$?
    row "libnn_tests (CPU)" "$(gtest_counts "$out/cpu-tests.log")$([[ $status -ne 0 ]] && echo " (exit $status)")" "$(elapsed "$t")"
  fi

  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [[ -x "$sanitizer" ]]; then
    tools=(memcheck racecheck)
    [[ "$quick" == 1 ]] && tools=(memcheck)
    for tool in "${tools[@]}"; do
      t=$(date +%s)
      # racecheck watches shared memory only, which the op kernels use: their golden replay
      # runs every kernel; the rest adds allocator and copy tests it cannot see into.
      # memcheck: the out-of-memory test's refused cudaMalloc would count as an API error;
      # the LSTM's cudnn algorithm is left out (cuDNN's start-up and kernels under memcheck
      # would eat the time box; the persistent kernel, ours, stays in). The LSTM precision
      # test is left out too: it runs the same kernels as the algorithm tests (which stay),
      # three times over, plus a CPU reference that is slow in its own right.
      # The token loop's chi-square (10,000 one-token calls) is left out of memcheck for the
      # same reason; its kernels run in the other CudaLstmTokenLoop tests. racecheck adds the
      # stepper's and the token loop's kernels (shared memory: the gates, the sampler's sort).
      filter='-*OutOfMemory*:*cudnn*:*Cudnn*:*LstmPrecision*:*DrawsFollowTheModel*'
      limit=100
      [[ "$tool" == racecheck ]] && filter='*GoldenReplay*:CudaLstmStepper.SameBitsEveryRun:CudaLstmTokenLoop.GraphReplayIsEager' && limit=60
      timeout "$limit" "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 20 \
        "$bin/libnn_cuda_tests" --gtest_color=no --gtest_filter="$filter" >"$out/$tool.log" 2>&1
      status=$?
      summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/$tool.log" | tail -1)
      [[ $status -eq 124 ]] && summary="timed out after $limit s ($summary)"
      row "compute-sanitizer $tool" "${summary:-exit $status} ($(gtest_counts "$out/$tool.log"))" "$(elapsed "$t")"
    done
  else
    row "compute-sanitizer" "not found" 0
  fi

  # examples/mlp end to end on each device: the same data, weights and batches.
  if [[ -x "$bin/mlp" ]]; then
    for device in cuda cpu; do
      t=$(date +%s)
      timeout 60 "$bin/mlp" --device "$device" --epochs 15 >"$out/mlp-$device.log" 2>&1
      status=$?
      row "mlp --device $device" "$(grep -o 'final test accuracy.*' "$out/mlp-$device.log" | head -c 60) (exit $status)" "$(elapsed "$t")"
    done
  fi

  if [[ -x "$bin/bench_cuda_ops" ]]; then
    t=$(date +%s)
    min_time=0.1
    [[ "$quick" == 1 ]] && min_time=0.03
    timeout 60 "$bin/bench_cuda_ops" --benchmark_min_time="$min_time" \
      --benchmark_out="$out/bench_cuda_ops.json" --benchmark_out_format=json >"$out/bench.log" 2>&1
    row "bench_cuda_ops" "exit $?" "$(elapsed "$t")"
  fi

  # The LSTM's CUDA algorithms (stepwise, persistent, cudnn) at T = 100, batch 1..256, hidden
  # 256..1024, forward + backward, in fp32 and bf16 (the matmul precision), then PyTorch's
  # cuDNN LSTM at the same shapes and precisions, side by side (docs/perf.md, "The LSTM on
  # CUDA"). 3 timed passes per shape (2 in a quick run).
  if [[ -x "$bin/bench_lstm_cuda" ]]; then
    t=$(date +%s)
    lstm_reps=(--warmup 1 --reps 3)
    [[ "$quick" == 1 ]] && lstm_reps=(--quick)
    timeout 150 "$bin/bench_lstm_cuda" "${lstm_reps[@]}" >"$out/bench-lstm-cuda.log" 2>&1
    row "bench_lstm_cuda" "exit $? ($(grep -c '^{' "$out/bench-lstm-cuda.log") rows, $(grep -c '"ran": "error' "$out/bench-lstm-cuda.log") errors)" "$(elapsed "$t")"
    # Batch-1 generation (nn::LSTMStepper per token; nn::LSTMTokenLoop eager and as a CUDA
    # graph), 3 layers, hidden 512 and 1024, fp32 and fp16 weights (docs/perf.md, "LSTMStepper
    # on CUDA").
    t=$(date +%s)
    timeout 60 "$bin/bench_lstm_cuda" --generate --hidden 512,1024 --tokens 2000 >"$out/bench-lstm-generate.log" 2>&1
    row "bench_lstm_cuda --generate" "exit $? ($(grep -c '^{' "$out/bench-lstm-generate.log") rows, $(grep -c '"ran": "error\|(the graph failed' "$out/bench-lstm-generate.log") errors)" "$(elapsed "$t")"
    grep '^|' "$out/bench-lstm-generate.log" | head -16
    t=$(date +%s)
    timeout 90 python3 benches/lstm_cudnn_torch.py "${lstm_reps[@]}" --compare "$out/bench-lstm-cuda.log" \
      >"$out/lstm-cudnn-torch.log" 2>&1
    row "lstm_cudnn_torch.py" "exit $? ($(grep -c '^{' "$out/lstm-cudnn-torch.log") rows)" "$(elapsed "$t")"
  fi

  # === musegen on the GPU (issue 13; branch `device`) =========================================
  # `--device cuda` end to end, each part time-boxed: the app's device tests (the CPU is their
  # oracle), the reference model against PyTorch on this GPU (benches/lstm_vs_torch.py), the
  # JSB demo on the GPU (wall time, test NLL; the CPU's is 8.24 ± 0.05) and on this machine's
  # CPU (wall time), and the piano `events` model (3 × 512) in tokens/s on both.
  # Everything lands in $out/musegen-*; docs/perf.md, "musegen on a GPU", says how to read it.
  mg_ms() { date +%s%3N; }
  mg_secs() { awk -v a="$1" -v b="$(mg_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
  # mg_rate CSV: the median predictions/s of a run's metrics.csv rows after its first two.
  mg_rate() {
    python3 - "$1" <<'PY' 2>/dev/null || echo "?"
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("predictions_per_s")]
rates = [float(r["predictions_per_s"]) for r in rows[2:]] or [float(r["predictions_per_s"]) for r in rows]
print(f"{statistics.median(rates):.0f}")
PY
  }
  if [[ -x "$bin/musegen_tests" ]]; then
    t=$(date +%s)
    timeout 60 "$bin/musegen_tests" --gtest_color=no --gtest_filter='Device*:GpuMemory*:GanDevice*' >"$out/musegen-device-tests.log" 2>&1
    status=$?
    row "musegen device tests" "$(gtest_counts "$out/musegen-device-tests.log")$([[ $status -ne 0 ]] && echo " (exit $status)")" "$(elapsed "$t")"
    grep -E '^\[  FAILED  \]|Failure' "$out/musegen-device-tests.log" | head -20
  fi
  if [[ -x "$bin/train_step" ]]; then
    t=$(date +%s)
    timeout 110 python3 benches/lstm_vs_torch.py "$bin/train_step" --device cuda --steps 10 --warmup 3 \
      --tokens 2000 >"$out/musegen-lstm-vs-torch.log" 2>&1
    status=$?
    summary=$(python3 - "$out/musegen-lstm-vs-torch.log" <<'PY' 2>/dev/null
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
t, g = r["train"], r["generate"]
print(f"train {t['speedup']:.2f}x ({t['libnn_tokens_per_second']:.0f} vs {t['torch_tokens_per_second']:.0f} tok/s), "
      f"gen fp32 {g['speedup']['fp32']:.2f}x fp16 {g['speedup']['fp16']:.2f}x, on the device: "
      f"graph fp32 {g['speedup'].get('fp32-graph', 0):.2f}x fp16 {g['speedup'].get('fp16-graph', 0):.2f}x "
      f"eager fp32 {g['speedup'].get('fp32-eager', 0):.2f}x")
PY
)
    row "lstm_vs_torch --device cuda" "${summary:-no result} (exit $status)" "$(elapsed "$t")"
  fi
  jsb=$bundle/data/jsb.mgds
  piano=$bundle/data/piano.mgds
  runs=$out/musegen-runs
  if [[ -x "$bin/musegen" && -f "$jsb" ]]; then
    rm -rf "$runs"
    mkdir -p "$runs"
    t=$(date +%s)
    s=$(mg_ms)
    timeout 120 "$bin/musegen" train "$jsb" --run-dir "$runs/jsb-cuda" --device cuda --no-tensorboard \
      --log-seconds 30 >"$out/musegen-jsb-cuda.log" 2>&1
    status=$?
    wall=$(mg_secs "$s")
    nll=$(timeout 20 "$bin/musegen" eval --checkpoint "$runs/jsb-cuda" --split test --device cuda \
      2>>"$out/musegen-jsb-cuda.log" | tee -a "$out/musegen-jsb-cuda.log" | grep -oE '[0-9.]+ nats per frame' | grep -oE '^[0-9.]+')
    row "JSB demo --device cuda" "150 epochs in $wall s, test NLL ${nll:-?} (exit $status)" "$(elapsed "$t")"
    if [[ "$quick" != 1 ]]; then
      # The same demo on this machine's CPU (all its cores), for the wall time beside the GPU's;
      # cut at 90 s (exit 124: the CPU needs longer than that).
      t=$(date +%s)
      s=$(mg_ms)
      timeout 90 "$bin/musegen" train "$jsb" --run-dir "$runs/jsb-cpu" --device cpu --no-tensorboard \
        --log-seconds 30 >"$out/musegen-jsb-cpu.log" 2>&1
      status=$?
      row "JSB demo --device cpu" "150 epochs in $(mg_secs "$s") s (exit $status)" "$(elapsed "$t")"
    fi
  elif [[ -x "$bin/musegen" ]]; then
    row "JSB demo" "no $jsb (made by --pack)" 0
  fi
  if [[ -x "$bin/musegen" && -f "$piano" ]]; then
    devices=(cuda cpu)
    [[ "$quick" == 1 ]] && devices=(cuda)
    for device in "${devices[@]}"; do
      t=$(date +%s)
      timeout 40 "$bin/musegen" train "$piano" --run-dir "$runs/piano-$device" --device "$device" \
        --max-steps 12 --log-seconds 0 --no-tensorboard >"$out/musegen-piano-$device.log" 2>&1
      status=$?
      row "piano events 3x512 --device $device" "$(mg_rate "$runs/piano-$device/metrics.csv") tok/s (exit $status)" "$(elapsed "$t")"
    done
    # The same 12 steps on the GPU with bf16 matrix products (musegen train --precision bf16;
    # docs/libnn.md, "Matrix product precision"): tokens/s beside fp32's above.
    t=$(date +%s)
    timeout 40 "$bin/musegen" train "$piano" --run-dir "$runs/piano-cuda-bf16" --device cuda \
      --precision bf16 --max-steps 12 --log-seconds 0 --no-tensorboard >"$out/musegen-piano-cuda-bf16.log" 2>&1
    status=$?
    row "piano events 3x512 --device cuda --precision bf16" "$(mg_rate "$runs/piano-cuda-bf16/metrics.csv") tok/s (exit $status)" "$(elapsed "$t")"
  fi
  # C-RNN-GAN (issue 15): gan-train's default model on the JSB chorales, 120 steps (40 of them
  # pre-training), notes per second on each device (the median of the metrics rows after two).
  jsb_json=$bundle/data/jsb-chorales-quarter.json
  if [[ -x "$bin/musegen" && -f "$jsb_json" ]]; then
    devices=(cuda cpu)
    [[ "$quick" == 1 ]] && devices=(cuda)
    for device in "${devices[@]}"; do
      t=$(date +%s)
      timeout 60 "$bin/musegen" gan-train "$jsb_json" --run-dir "$runs/crnngan-$device" --device "$device" \
        --max-steps 120 --pretrain-steps 40 --log-seconds 0 --no-tensorboard >"$out/musegen-crnngan-$device.log" 2>&1
      status=$?
      rate=$(python3 - "$runs/crnngan-$device/metrics.csv" <<'PY' 2>/dev/null || echo "?"
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("notes_per_s")]
print(f"{statistics.median(float(r['notes_per_s']) for r in rows[2:] or rows):.0f}")
PY
)
      row "crnngan JSB --device $device" "$rate notes/s, 1024 notes/step (exit $status)" "$(elapsed "$t")"
    done
  fi
  # === end of musegen on the GPU ================================================================
fi

echo
echo "=== gpu-check: $(cat "$out/gpu.txt" 2>/dev/null | head -1) — $(date -u '+%Y-%m-%d') — $(elapsed "$start") s in all"
printf '| %-28s | %-60s | %5s |\n' "step" "result" "s"
for r in "${rows[@]}"; do
  IFS='|' read -r step result seconds <<<"$r"
  printf '| %-28s | %-60s | %5s |\n' "$step" "$result" "$seconds"
done
if [[ -f "$out/lstm-cudnn-torch.log" ]]; then
  echo
  echo "LSTM forward + backward, T = 100 (libnn's algorithms against PyTorch's cuDNN):"
  sed -n '/^| hidden/,$p' "$out/lstm-cudnn-torch.log"
fi
if [[ -f "$out/bench_cuda_ops.json" ]]; then
  python3 - "$out/bench_cuda_ops.json" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
print()
print("| benchmark | GB/s | % of copy | TFLOP/s | time |")
for b in data.get("benchmarks", []):
    if b.get("run_type") == "aggregate":
        continue
    gbs = b.get("bytes_per_second", 0) / 1e9
    pct = b.get("pct_of_copy_bw")
    tflops = b.get("TFLOPs") or b.get("tflops") or b.get("TFLOP/s")
    t = b.get("real_time", 0)
    unit = b.get("time_unit", "")
    print(f"| {b['name']} | {gbs:.0f} | {'' if pct is None else f'{pct:.0f}%'} | "
          f"{'' if tflops is None else f'{tflops:.1f}'} | {t:.3g} {unit} |")
EOF
fi
