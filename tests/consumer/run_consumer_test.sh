#!/usr/bin/env bash
# The ctest "install_consumer": installs a musegen build into a fresh prefix, then builds
# two outside projects against that prefix alone and runs them:
#   1. the project in this folder, with find_package(libmidi);
#   2. examples/mlp, with find_package(libnn): it trains a small MLP and exits non-zero
#      when the test accuracy misses its target (run with few epochs to stay fast).
#
# usage: run_consumer_test.sh CMAKE BUILD_DIR WORK_DIR [CMAKE_CONFIGURE_ARGS...]
#   CMAKE      the cmake executable to use
#   BUILD_DIR  the musegen build tree to install (already built)
#   WORK_DIR   scratch folder; emptied first; gets prefix/, build/ and build-mlp/
#   the rest   passed to both configure steps (generator, compiler, flags)
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: run_consumer_test.sh CMAKE BUILD_DIR WORK_DIR [CMAKE_CONFIGURE_ARGS...]" >&2
  exit 64
fi
cmake=$1 build_dir=$2 work_dir=$3
shift 3
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$work_dir/prefix
mlp_source_dir=$(cd "$source_dir/../../examples/mlp" && pwd)
# The epochs the MLP trains for here: enough to pass its accuracy target (95%) with a margin
# on every seed tried (10 epochs already gives 97-99.8% test accuracy), in about a second.
mlp_epochs=15

rm -rf "$work_dir"
mkdir -p "$work_dir"

echo "== install $build_dir into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix"

# configure_and_build NAME SOURCE_DIR PACKAGE [CMAKE_CONFIGURE_ARGS...]
# Configures SOURCE_DIR into $work_dir/NAME with only $prefix to find packages in, checks that
# PACKAGE came from there (each project prints "<package> <version> from <dir>"), builds it.
configure_and_build() {
  local name=$1 project_dir=$2 package=$3
  shift 3
  echo "== configure and build $name ($project_dir)"
  # No package registry: the package must come from this prefix and nowhere else.
  "$cmake" -S "$project_dir" -B "$work_dir/$name" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    "$@" | tee "$work_dir/$name-configure.log"
  if ! grep -q "$package .* from $prefix/" "$work_dir/$name-configure.log"; then
    echo "install_consumer: $package was not found in $prefix" >&2
    exit 1
  fi
  "$cmake" --build "$work_dir/$name"
}

configure_and_build build "$source_dir" libmidi "$@"
echo "== run libmidi_consumer"
"$work_dir/build/libmidi_consumer"

configure_and_build build-mlp "$mlp_source_dir" libnn "$@"
echo "== run mlp --epochs $mlp_epochs"
"$work_dir/build-mlp/mlp" --epochs "$mlp_epochs"
