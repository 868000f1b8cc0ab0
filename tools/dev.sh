#!/usr/bin/env bash
# One entry point for a fresh or warm machine. Idempotent: creates the virtual
# environment and installs what is missing, rebuilds the extension only when
# sources changed (CUDA kernels included wherever nvcc and a CUDA torch are
# present), then runs the requested job.
#   tools/dev.sh bench [bench.py args]   the benchmark/verification run vs torch
#   tools/dev.sh test  [pytest args]     the test suite (builds the test-only emulation extension first)
#   tools/dev.sh build                   set-up and build only
#   tools/dev.sh cpp-test                libtorch build of the C++ library + ctest
#   tools/dev.sh sanitize                the sanitizer stage: a CPU build with ASan + UBSan, its tests
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${POOLING_EXT_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
cd "$ROOT"

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
if ! "$PY" -c "import torch, torchvision, numpy, pytest, ninja, matplotlib, expecttest" 2>/dev/null; then
  # --no-cache-dir: where the wheels are downloaded (several GB for a CUDA torch),
  # no second copy goes to ~/.cache/pip (a CI run once ran out of disk installing).
  "$PY" -m pip install -q --disable-pip-version-check --no-cache-dir "torch==2.14.1" "torchvision==0.29.1" numpy pytest ninja matplotlib expecttest cmake
fi
# The source tree is the package: put it on the venv's path once.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$ROOT" > "$SITE/pooling_ext_source_tree.pth"
# Incremental: ninja recompiles only what changed.
MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PY" setup.py -q build_ext --inplace >"$ROOT/build.log" 2>&1 || {
  tail -50 "$ROOT/build.log"; echo "build failed: see build.log" >&2; exit 1; }
"$PY" -c "import pooling_ext, json; print('pooling_ext', json.dumps(pooling_ext.info()))"

job="${1:-build}"
shift || true
case "$job" in
  build) ;;
  bench) exec "$PY" benchmarks/bench.py "$@" ;;
  test)
    # The CPU emulation of the CUDA kernels: a test-only extension, never installed.
    (cd tests/emulation && MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PY" setup.py -q build_ext --inplace \
      >"$ROOT/build-emulation.log" 2>&1) || {
      tail -50 "$ROOT/build-emulation.log"; echo "emulation build failed: see build-emulation.log" >&2; exit 1; }
    exec "$PY" -m pytest -q -ra tests "$@" ;;
  sanitize) exec bash tools/sanitize.sh "$PY" ;;
  cpp-test) exec bash tools/cpp_test.sh "$PY" ;;
  *) echo "unknown job: $job (bench | test | build | cpp-test | sanitize)" >&2; exit 2 ;;
esac
