#!/usr/bin/env bash
# Runs a Python or Node test under `bazel test` as tests/CMakeLists.txt's
# add_test runs it under ctest (see mxgate_script_test in mxgate.bzl).
#
# Usage: script_test.sh BIN_DIR PYTHON_STUBS_DIR INTERPRETER SCRIPT [ARG...]
#
# The scripts expect a source tree with the build inside it: the README's
# examples call build/bin/mxgate-cli and node_modules/.bin/buf, the Python
# example finds its stubs in build/python, the Node test sets NODE_PATH to
# SOURCE_DIR/node_modules. So this builds one in $TEST_TMPDIR/source: every
# top-level entry of the runfiles (the files the test declared), build/bin
# and build/python from BIN_DIR and PYTHON_STUBS_DIR (Bazel's own outputs,
# relative to the runfiles), and node_modules, which Bazel does not know:
# it is the one of the checkout the runfiles come from (found through the
# runfiles' link to package.json; package-lock.json is declared, so an npm
# change re-runs the tests), and a test that needs it fails without it. In
# each ARG, @SOURCE_DIR@, @BIN_DIR@ and
# @PYTHON_STUBS_DIR@ become that tree's paths.
set -euo pipefail

bin_dir=$1 stubs_dir=$2 interpreter=$3 script=$4
shift 4
runfiles=$PWD  # bazel test starts here, at the workspace's runfiles root

source_dir=${TEST_TMPDIR:?bazel test sets TEST_TMPDIR}/source
rm -rf "$source_dir"
mkdir -p "$source_dir/build"
for entry in "$runfiles"/*; do
  ln -s "$entry" "$source_dir/"
done
ln -s "$runfiles/$bin_dir" "$source_dir/build/bin"
ln -s "$runfiles/$stubs_dir" "$source_dir/build/python"

checkout=$(dirname "$(readlink -f "$runfiles/package.json")")
if [ -d "$checkout/node_modules" ]; then
  ln -s "$checkout/node_modules" "$source_dir/node_modules"
else
  echo "script_test.sh: no $checkout/node_modules (npm ci, or ./scripts/test, installs it)" >&2
fi

args=()
for arg in "$@"; do
  arg=${arg//@SOURCE_DIR@/$source_dir}
  arg=${arg//@BIN_DIR@/$source_dir/build/bin}
  arg=${arg//@PYTHON_STUBS_DIR@/$source_dir/build/python}
  args+=("$arg")
done
exec "$interpreter" "$runfiles/$script" "${args[@]}"
