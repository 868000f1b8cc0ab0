#!/usr/bin/env bash
# The project's GPU check, in stages that each fit one device command:
#   tools/gpu_check.sh build       compile for the local GPU (torch and nvcc preinstalled there),
#                                  and the test-only emulation extension
#   tools/gpu_check.sh tests       the whole test suite, CUDA tests included
#   tools/gpu_check.sh sanitizer   compute-sanitizer memcheck, racecheck and synccheck over a
#                                  workload that runs every family's kernels
#   tools/gpu_check.sh bench       the CUDA benchmark (JSON + chart)
#   tools/gpu_check.sh all         every stage in turn
# Logs and results go to $OUT (default gpu_out/), written as each stage goes.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu_out}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
cd "$ROOT"

build() {
  # The image's default compiler (/opt/gcc) links libstdc++ statically into
  # the extension, whose copy of the number formatting then crashes on the
  # first error message with an integer in it: build with the system's.
  if [ -x /usr/bin/g++ ]; then export CC=/usr/bin/gcc CXX=/usr/bin/g++; fi
  local arch
  arch="$("$PY" -c 'import torch; p = torch.cuda.get_device_capability(); print(f"{p[0]}.{p[1]}")')"
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } | tee "$OUT/build.log"
  TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="$(nproc)" "$PY" setup.py build_ext --inplace >>"$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; return 1; }
  "$PY" -c 'import json, pooling_ext; print(json.dumps(pooling_ext.info()))' | tee -a "$OUT/build.log"
  (cd tests/emulation && MAX_JOBS="$(nproc)" "$PY" setup.py build_ext --inplace >>"$OUT/build.log" 2>&1) \
    || { tail -40 "$OUT/build.log"; return 1; }
}

tests() {
  "$PY" -m pytest -q -ra tests -p no:cacheprovider "$@" 2>&1 | tee "$OUT/tests.log" | tail -40
  return "${PIPESTATUS[0]}"
}

sanitizer() {
  local status=0
  for tool in memcheck racecheck synccheck; do
    echo "== compute-sanitizer --tool $tool" | tee -a "$OUT/sanitizer.log"
    timeout "${SANITIZER_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --error-exitcode 3 "$PY" tools/sanitizer_workload.py >>"$OUT/sanitizer.log" 2>&1 || status=$?
    tail -4 "$OUT/sanitizer.log"
  done
  return $status
}

bench() {
  "$PY" benchmarks/bench.py --device cuda --preset "${BENCH_PRESET:-short}" --out "$OUT" 2>&1 | tee "$OUT/bench.log" | grep -v '^\s*\[' | tail -60
}

stage="${1:-all}"
shift || true
case "$stage" in
  build|tests|sanitizer|bench) "$stage" "$@" ;;
  all) build && tests && sanitizer && bench ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
