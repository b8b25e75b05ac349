#!/usr/bin/env bash
# Runs a test command that needs data from $MUSEGEN_DATA_DIR, or skips it with a message.
#
# usage: run_with_data.sh SUBDIR COMMAND [ARGS...]
#
# SUBDIR (relative to $MUSEGEN_DATA_DIR, "." for the folder itself) must exist, otherwise
# the script prints why and exits 77, which ctest reports as "skipped" (SKIP_RETURN_CODE).
# In ARGS, "{data}" is replaced by the value of $MUSEGEN_DATA_DIR. The variable is read
# when the test runs, not when CMake configures, so one build serves any data folder.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: run_with_data.sh SUBDIR COMMAND [ARGS...]" >&2
  exit 64
fi
subdir=$1
shift

data=${MUSEGEN_DATA_DIR:-}
if [[ -z "$data" ]]; then
  echo "skipped: MUSEGEN_DATA_DIR is not set (point it at the datasets folder, e.g. ../shared/datasets)"
  exit 77
fi
if [[ ! -d "$data/$subdir" ]]; then
  echo "skipped: $data/$subdir does not exist (MUSEGEN_DATA_DIR=$data)"
  exit 77
fi

args=()
for arg in "$@"; do
  args+=("${arg//\{data\}/"$data"}")  # quoted: bash 5.2 would expand "&"
done
exec "${args[@]}"
