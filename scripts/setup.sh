#!/usr/bin/env bash
# Installs the build and test dependencies on Debian/Ubuntu, and only the missing ones: the
# Debian packages below, then TensorBoard (the reader the event-file tests check against) and
# schemathesis (the API fuzzer of musegen serve's test), neither packaged by Debian, into a
# virtual environment that also sees Debian's Python packages.
# Idempotent: when everything is present it says so and returns at once (no apt-get run).
#
# usage: scripts/setup.sh
set -euo pipefail

# Each entry: "package" or "alternative|alternative" (present if any one is installed; the
# first one apt knows is installed when none is).
required=(
  g++
  cmake
  ninja-build
  pkg-config
  libgtest-dev            # GoogleTest (tests)
  libbenchmark-dev        # Google Benchmark (benches)
  libopenblas-dev         # the GEMM benchmark's yardstick only; never linked into libnn
  libfmt-dev
  zlib1g-dev              # musegen: PNG's deflate (docs/architecture.md, "The app's libraries")
  libssl-dev              # musegen: SHA-256 of downloaded datasets (libcrypto)
  nlohmann-json3-dev      # musegen: JSON (the JSB chorales reader, eval --json)
  libcpp-httplib-dev      # musegen serve: HTTP server, and the client of its tests (docs/architecture.md)
  python3-mido            # tests/libmidi/mido_crosscheck.py
  python3-torch           # reference values for libnn's tests
  python3-numpy           # tests/musegen/synth_check.py (spectra of rendered audio)
  python3-pil             # tests/musegen/plot_check.py (decodes our PNG files)
  python3-venv            # the TensorBoard venv below
  libfluidsynth-dev       # optional: musegen render --soundfont (docs/architecture.md)
  fluid-soundfont-gm      # the General MIDI SoundFont the FluidSynth tests play (and serve's default)
  chromium                # tests/musegen/browser_check.py: musegen serve's page in a real browser
  chromium-driver         #   ... driven headless through WebDriver
  python3-selenium        #   ... from Python
  wrk                     # benches/serve_load.sh: musegen serve under load (not a test)
  clang                   # scripts/fuzz.sh
  "libclang-rt-dev|libclang-rt-14-dev"  # libFuzzer runtime
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: not a Debian-based system (no dpkg-query); install by hand:" >&2
  printf "  %s\n" "${required[@]}" >&2
  exit 1
fi

installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

missing=()
for entry in "${required[@]}"; do
  IFS='|' read -r -a alternatives <<<"$entry"
  present=false
  for package in "${alternatives[@]}"; do
    if installed "$package"; then present=true; break; fi
  done
  $present || missing+=("$entry")
done

# TensorBoard for the tests that read our event files back (tests/CMakeLists.txt looks for
# this venv). Pinned, so the oracle does not change under us. Without network access the
# tests that need it skip and say why; that does not fail the set-up.
venv=${MUSEGEN_VENV:-$HOME/.cache/musegen/venv}
tensorboard_version=2.21.0
# schemathesis, in the same venv, fuzzes musegen serve's API against its OpenAPI document
# (tests/musegen/schemathesis_check.py); pinned for the same reason.
schemathesis_version=4.32.5
tensorboard_ok() {
  "$venv/bin/python3" -c "import tensorboard.backend.event_processing.event_accumulator" >/dev/null 2>&1 &&
    [[ "$("$venv/bin/st" --version 2>/dev/null)" == *"$schemathesis_version"* ]]
}
ensure_tensorboard() {
  tensorboard_ok && return 0
  echo "setup.sh: installing tensorboard $tensorboard_version and schemathesis $schemathesis_version into $venv"
  if /usr/bin/python3 -m venv --system-site-packages "$venv" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check "tensorboard==$tensorboard_version" \
      "schemathesis==$schemathesis_version" &&
    tensorboard_ok; then
    echo "setup.sh: tensorboard and schemathesis installed in $venv"
  else
    echo "setup.sh: warning: could not install tensorboard and schemathesis into $venv (no network?);" \
      "the TensorBoard event-file tests and the schemathesis check will skip" >&2
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  if tensorboard_ok; then
    echo "setup.sh: all dependencies present"
  else
    ensure_tensorboard
  fi
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup.sh: missing ${missing[*]}, and neither root nor sudo is available to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -q

packages=()
for entry in "${missing[@]}"; do
  IFS='|' read -r -a alternatives <<<"$entry"
  chosen=""
  for package in "${alternatives[@]}"; do
    if apt-cache show "$package" >/dev/null 2>&1; then chosen=$package; break; fi
  done
  if [[ -z "$chosen" ]]; then
    echo "setup.sh: no package available for ${entry}" >&2
    exit 1
  fi
  packages+=("$chosen")
done

"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
echo "setup.sh: installed ${packages[*]}"
ensure_tensorboard
