#!/usr/bin/env bash
# How long musegen serve takes to make 30 seconds of music, from the request to the last file:
# POST /api/generate {"seconds": 30}, poll the job every 10 ms until done, then GET its MIDI,
# WAV and piano roll (SVG). The model has the demo's size for the JSB chorales (roll, 128 ->
# 1 x 256 LSTM, the defaults of musegen train for roll data; scripts/demo.sh), trained for
# $TRAIN_STEPS steps (300): enough for chorale-like textures (a model after one step turns
# on half the keyboard in every frame, and its hundreds of notes at once would time the
# synthesizer on noise, not on music). Five pieces (seeds 1..5) per
# synthesizer, each timed; the median is the figure (issue 16: under 1.5 s on 2 cores).
#
# usage: benches/serve_speed.sh        env: MUSEGEN_DATA_DIR, MUSEGEN (the binary)
# shellcheck source=benches/serve_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_common.sh"
make_run jsb --max-steps "${TRAIN_STEPS:-300}"
echo "serve_speed: $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for synth in none auto; do
  start_server --soundfont "$synth"
  model=$(model_id jsb)
  python3 - "$url" "$model" "$synth" <<'PY'
import json, statistics, sys, time, urllib.request
url, model, synth = sys.argv[1], sys.argv[2], sys.argv[3]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read()
times, rows = [], []
for seed in range(1, 6):
    start = time.perf_counter()
    job = json.loads(call("POST", "api/generate", {"model": model, "seconds": 30, "seed": seed, "primer": {"steps": 8}}))
    while job["state"] in ("queued", "running"):
        time.sleep(0.01)
        job = json.loads(call("GET", "api/jobs/" + job["id"]))
    assert job["state"] == "done", job
    sizes = [len(call("GET", f"api/pieces/{job['piece']}/files/{kind}")) for kind in ("midi", "wav", "svg")]
    elapsed = time.perf_counter() - start
    piece = json.loads(call("GET", "api/pieces/" + job["piece"]))
    m = piece["metrics"]
    times.append(elapsed)
    print(f"  seed {seed}: {elapsed:.3f} s from request to the last file (generate {m['generate_seconds']:.3f} s, "
          f"render {m['render_seconds']:.3f} s; {m['seconds']:.1f} s of music, {m['note_count']:.0f} notes, "
          f"polyphony {m['polyphony']:.1f}; MIDI {sizes[0]} B, WAV {sizes[1]} B, SVG {sizes[2]} B)")
print(f"serve_speed: {piece['synthesizer']}: median {statistics.median(times):.3f} s, "
      f"min {min(times):.3f} s, max {max(times):.3f} s over {len(times)} pieces of 30 s")
PY
  kill -INT "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  exec 3<&-
  rm -f "$work/address"
done
