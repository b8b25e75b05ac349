#!/usr/bin/env bash
# Installs the build and test dependencies on Debian/Ubuntu, and only the missing ones.
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
  python3-mido            # tests/libmidi/mido_crosscheck.py
  python3-torch           # reference values for libnn's tests
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

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup.sh: all dependencies present"
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
