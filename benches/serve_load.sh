#!/usr/bin/env bash
# musegen serve under load, on loopback (issue 16's evidence; not a test: run it by hand).
#   1. wrk: the page (GET /), the models (GET /api/models) and a job's status
#      (GET /api/jobs/ID), each for $SECONDS_EACH s with 50 connections on 2 threads;
#      every answer must be a 2xx, with no socket errors.
#   2. 20 generation requests at once (POST /api/generate, with curl in parallel) against a
#      queue of 8 and one worker: every one answered 202 or 429, and every 202's job finished
#      (state done): none lost.
# The model is a small JSB run (roll, 1 x 64) trained for 20 steps: the load, not the music.
#
# usage: benches/serve_load.sh        env: MUSEGEN_DATA_DIR, MUSEGEN (the binary), SECONDS_EACH (5)
# shellcheck source=benches/serve_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_common.sh"
command -v wrk >/dev/null || { echo "no wrk: apt-get install wrk (scripts/setup.sh installs it)" >&2; exit 1; }
seconds=${SECONDS_EACH:-5}

make_run jsb --embed 32 --hidden 64 --layers 1 --max-steps 20
start_server --queue 8 --workers 1 --soundfont none
model=$(model_id jsb)
job=$(curl -sf -X POST -H 'Content-Type: application/json' -d "{\"model\":\"$model\",\"steps\":16}" "${url}api/generate" |
  python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
echo "serve_load: $url, model $model, job $job; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"

failed=0
for path in "" "api/models" "api/jobs/$job"; do
  echo
  echo "=== wrk -t2 -c50 -d${seconds}s ${url}${path}"
  out=$(wrk -t2 -c50 -d"${seconds}s" --latency "${url}${path}")
  echo "$out"
  if grep -q "Non-2xx or 3xx responses" <<<"$out" || grep -q "Socket errors" <<<"$out"; then
    echo "serve_load: FAILED: errors under load on /${path}"
    failed=1
  fi
done

echo
echo "=== 20 generation requests at once (queue 8, one worker)"
mkdir -p "$work/burst"
for i in $(seq 1 20); do
  curl -s -o "$work/burst/$i.json" -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d "{\"model\":\"$model\",\"steps\":64,\"seed\":$i}" "${url}api/generate" >"$work/burst/$i.code" &
done
wait $(jobs -p | grep -v "^$server_pid$") 2>/dev/null || true
python3 - "$work/burst" "$url" <<'PY' || failed=1
import json, os, sys, time, urllib.request
folder, url = sys.argv[1], sys.argv[2]
codes = {i: open(f"{folder}/{i}.code").read().strip() for i in range(1, 21)}
accepted = [json.load(open(f"{folder}/{i}.json"))["id"] for i, c in codes.items() if c == "202"]
refused = [i for i, c in codes.items() if c == "429"]
other = {i: c for i, c in codes.items() if c not in ("202", "429")}
print(f"answers: {len(accepted)} x 202, {len(refused)} x 429, others {other}")
deadline = time.time() + 120
states = {}
for job in accepted:
    while True:
        with urllib.request.urlopen(f"{url}api/jobs/{job}") as r:
            state = json.load(r)["state"]
        if state not in ("queued", "running") or time.time() > deadline:
            break
        time.sleep(0.1)
    states[job] = state
done = sum(1 for s in states.values() if s == "done")
print(f"accepted jobs finished: {done} of {len(accepted)} done ({states if done != len(accepted) else 'all'})")
ok = not other and len(accepted) + len(refused) == 20 and done == len(accepted)
print("burst: " + ("ok: every request answered, none lost" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
echo
[[ $failed -eq 0 ]] && echo "serve_load: passed" || { echo "serve_load: FAILED"; exit 1; }
