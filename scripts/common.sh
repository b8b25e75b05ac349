# shellcheck shell=bash
# Sourced (not run) by scripts/test.sh, demo.sh and fuzz.sh: goes to the repository root,
# installs what is missing (setup.sh), and defaults MUSEGEN_DATA_DIR to ../shared/datasets
# beside the repository when that folder exists, exported so that tests see it.
# Sets: repo (the repository root).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit

"$repo/scripts/setup.sh"

if [[ -z "${MUSEGEN_DATA_DIR:-}" && -d "$repo/../shared/datasets" ]]; then
  MUSEGEN_DATA_DIR=$(cd "$repo/../shared/datasets" && pwd)
fi
if [[ -n "${MUSEGEN_DATA_DIR:-}" ]]; then
  export MUSEGEN_DATA_DIR
fi
