# shellcheck shell=bash
# Sourced by benches/serve_load.sh and serve_speed.sh: a JSB run made quickly (preprocess, then
# train --max-steps with the model size given), `musegen serve` started on a free loopback
# port (its address in $url) and stopped on exit.
# Needs: MUSEGEN_DATA_DIR with jsb-chorales/, the release build of musegen, curl, python3.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
musegen=${MUSEGEN:-$repo/build/release/examples/musegen/musegen}
jsb=${MUSEGEN_DATA_DIR:-$repo/../shared/datasets}/jsb-chorales/jsb-chorales-quarter.json
[[ -x "$musegen" ]] || { echo "no $musegen: cmake --build --preset release --target musegen" >&2; exit 1; }
[[ -f "$jsb" ]] || { echo "no $jsb: set MUSEGEN_DATA_DIR (musegen datasets fetch jsb-chorales)" >&2; exit 1; }
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# make_run NAME TRAIN_ARGS...: runs/NAME from the JSB chorales (roll), trained for the steps given.
make_run() {
  local name=$1
  shift
  [[ -f "$work/jsb.mgds" ]] || "$musegen" preprocess --encoding roll --out "$work/jsb.mgds" "$jsb" --quiet
  "$musegen" train "$work/jsb.mgds" --run-dir "$work/runs/$name" --no-tensorboard --sample-steps 0 --quiet "$@"
}

# start_server SERVE_ARGS...: sets url (http://127.0.0.1:PORT/) and server_pid.
start_server() {
  mkfifo "$work/address"
  "$musegen" serve --runs "$work/runs" --out "$work/pieces" --port 0 --quiet "$@" >"$work/address" &
  server_pid=$!
  local line
  read -r line <"$work/address"
  url=$(sed -E 's/.*open (http:[^ ]*).*/\1/' <<<"$line")
  exec 3<"$work/address"  # keep the pipe open: the server's later output must not block
}

# model_id NAME: the id of runs/NAME in GET /api/models.
model_id() {
  curl -sf "${url}api/models" | python3 -c "import json,sys; print(next(m['id'] for m in json.load(sys.stdin)['models'] if m['name']=='$1'))"
}
