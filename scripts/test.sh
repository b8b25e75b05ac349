#!/usr/bin/env bash
# Builds and tests everything: the release preset (all tests), then the asan preset
# (AddressSanitizer + UndefinedBehaviorSanitizer) running the unit tests of libmidi, libnn
# and the musegen command line (labels "midi", "nn" and "musegen").
# Ends with one summary line; exits non-zero if any step failed.
#
# usage: scripts/test.sh
# env:   MUSEGEN_DATA_DIR  test data (default: ../shared/datasets beside the repository,
#                          when it exists); tests that need absent data are skipped
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # repo root, setup.sh, MUSEGEN_DATA_DIR
echo "test.sh: MUSEGEN_DATA_DIR=${MUSEGEN_DATA_DIR:-<unset: tests that need data will be skipped>}"

jobs=$(nproc)
results=()
failed=0

# step NAME COMMAND...: runs one step, records "NAME ok" or "NAME FAILED", keeps going.
step() {
  local name=$1
  shift
  echo
  echo "=== test.sh: $name: $*"
  if "$@"; then
    results+=("$name ok")
    return 0
  fi
  results+=("$name FAILED")
  failed=1
  return 1
}

# Without a GPU the CUDA code only has to compile and link (its tests skip), so it is built
# for one architecture (sm_90) instead of two: about 3 minutes less on 2 cores. With a GPU,
# or when CMAKE_CUDA_ARCHITECTURES is already chosen, nothing is changed.
release_flags=()
if ! ls /dev/nvidia0 >/dev/null 2>&1 && [[ -z "${CMAKE_CUDA_ARCHITECTURES:-}" ]] &&
   ! grep -qs '^CMAKE_CUDA_ARCHITECTURES:' build/release/CMakeCache.txt; then
  echo "test.sh: no GPU here: CUDA code is compiled for sm_90 only (it must compile; its tests skip)"
  release_flags=(-DCMAKE_CUDA_ARCHITECTURES=90)
fi

# A failed configure or build skips that preset's tests; the other preset still runs.
if step "release build" bash -c "cmake --preset release ${release_flags[*]} && cmake --build --preset release --parallel $jobs"; then
  rm -f build/release/Testing/Temporary/LastTestsFailed.log
  step "release tests" ctest --preset release --parallel "$jobs" || true
fi
if step "asan build" bash -c "cmake --preset asan && cmake --build --preset asan --parallel $jobs"; then
  rm -f build/asan/Testing/Temporary/LastTestsFailed.log
  step "asan midi+nn+musegen tests" ctest --preset asan --label-regex '^(midi|nn|musegen)$' --parallel "$jobs" || true
fi

# The failed tests again, last: CI shows only the end of a long log.
for preset in release asan; do
  failed_log=build/$preset/Testing/Temporary/LastTestsFailed.log
  if [[ -s $failed_log ]]; then
    echo
    echo "test.sh: $preset tests that failed (ctest --preset $preset -R NAME --output-on-failure reruns one):"
    sed 's/^/  /' "$failed_log"
  fi
done

echo
summary=$(IFS=','; echo "${results[*]}")
if [[ $failed -eq 0 ]]; then
  echo "test.sh: PASS (${summary//,/, })"
else
  echo "test.sh: FAIL (${summary//,/, })"
fi
exit $failed
