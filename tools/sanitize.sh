#!/usr/bin/env bash
# CI's sanitizer stage: the CPU kernels built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any undefined behaviour stops the process), then
# the error-input tests, the absurd-arguments battery and the seeded
# differential check against torch run on that build. Argument: the python
# that has torch. The sanitized package is built beside the source tree, in
# build-sanitize/ (the in-place build is left alone), and put first on
# PYTHONPATH; the sanitizer runtimes are preloaded into the (uninstrumented)
# Python.
set -euo pipefail
PY="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build-sanitize"
cd "$ROOT"

mkdir -p "$OUT/pooling_ext"
cp pooling_ext/*.py "$OUT/pooling_ext/"
POOLING_EXT_SANITIZE="$OUT" MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PY" setup.py -q build_ext \
  --build-lib "$OUT" --build-temp "$OUT/temp" >"$ROOT/build-sanitize.log" 2>&1 || {
  tail -50 "$ROOT/build-sanitize.log"; echo "sanitizer build failed: see build-sanitize.log" >&2; exit 1; }

CXX="${CXX:-g++}"
LIBASAN="$("$CXX" -print-file-name=libasan.so)"
LIBUBSAN="$("$CXX" -print-file-name=libubsan.so)"
export LD_PRELOAD="$LIBASAN $LIBUBSAN"
# Leaks: Python and torch keep allocations for the life of the process.
# Allocations too large to make fail as without ASan (the absurd-arguments
# battery expects torch's allocation error).
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$OUT${PYTHONPATH:+:$PYTHONPATH}"
# (-P: the current folder, the source tree, does not go on sys.path before PYTHONPATH's build)
"$PY" -P -c "import pooling_ext, sys; sys.exit(0 if pooling_ext.__file__.startswith('$OUT') else 'not the sanitized build')"
exec "$PY" -P -m pytest -q -ra -p no:cacheprovider tests/test_errors.py tests/test_absurd_arguments.py \
  tests/test_differential.py
