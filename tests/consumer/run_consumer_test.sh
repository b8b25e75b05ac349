#!/usr/bin/env bash
# The ctest "install_consumer": installs a musegen build into a fresh prefix, builds the
# project in this folder against that prefix with find_package(libmidi), and runs it.
#
# usage: run_consumer_test.sh CMAKE BUILD_DIR WORK_DIR [CMAKE_CONFIGURE_ARGS...]
#   CMAKE      the cmake executable to use
#   BUILD_DIR  the musegen build tree to install (already built)
#   WORK_DIR   scratch folder; emptied first; gets prefix/ and build/
#   the rest   passed to the consumer's configure step (generator, compiler, flags)
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: run_consumer_test.sh CMAKE BUILD_DIR WORK_DIR [CMAKE_CONFIGURE_ARGS...]" >&2
  exit 64
fi
cmake=$1 build_dir=$2 work_dir=$3
shift 3
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$work_dir/prefix

rm -rf "$work_dir"
mkdir -p "$work_dir"

echo "== install $build_dir into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix"

echo "== configure and build the consumer"
# No package registry: the package must come from this prefix and nowhere else.
"$cmake" -S "$source_dir" -B "$work_dir/build" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  "$@" | tee "$work_dir/configure.log"
if ! grep -q "from $prefix/" "$work_dir/configure.log"; then
  echo "install_consumer: libmidi was not found in $prefix" >&2
  exit 1
fi
"$cmake" --build "$work_dir/build"

echo "== run"
"$work_dir/build/libmidi_consumer"
