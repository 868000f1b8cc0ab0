#!/usr/bin/env bash
# Builds the C++ library against the pip wheel's libtorch with CMake and runs
# the C++ test with ctest. Argument: the python that has torch.
set -euo pipefail
PY="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/cmake-build"
TORCH_PREFIX="$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
NV_LIB="$("$PY" -c 'import os, nvidia; p = os.path.join(list(nvidia.__path__)[0], "cu13", "lib"); print(p if os.path.isdir(p) else "")' 2>/dev/null || true)"
CMAKE="$(dirname "$PY")/cmake"
[ -x "$CMAKE" ] || CMAKE=cmake
args=(-S "$ROOT" -B "$BUILD" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DCMAKE_BUILD_TYPE=Release)
# torch's CMake config wants the CUDA toolkit when torch is a CUDA build.
CUDA_ROOT="${CUDA_HOME:-/usr/local/cuda}"
if [ -d "$CUDA_ROOT" ]; then
  args+=(-DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCUDAToolkit_ROOT="$CUDA_ROOT")
fi
if [ -n "$NV_LIB" ] && [ -f "$NV_LIB/libnvrtc.so.13" ]; then
  args+=(-DCUDA_nvrtc_LIBRARY="$NV_LIB/libnvrtc.so.13")
  export LD_LIBRARY_PATH="$NV_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# No GPU to detect here: name the archs so torch's CMake config does not try.
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;9.0}"
"$CMAKE" "${args[@]}" >"$BUILD.log" 2>&1 || { tail -40 "$BUILD.log"; exit 1; }
"$CMAKE" --build "$BUILD" -j "$(nproc)" >>"$BUILD.log" 2>&1 || { tail -40 "$BUILD.log"; exit 1; }
CTEST="$(cd "$(dirname "$PY")" && pwd)/ctest"
[ -x "$CTEST" ] || CTEST=ctest
cd "$BUILD" && "$CTEST" --output-on-failure
