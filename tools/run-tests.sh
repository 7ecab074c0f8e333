#!/usr/bin/env bash
# Runs every test: the main build (CUDA kernels compiled when nvcc exists, OpenBLAS), then a
# CPU-only build with AddressSanitizer + UBSan and without OpenBLAS (the fallback GEMM).
# CUDA tests report SKIPPED on machines without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
arch=${CMAKE_CUDA_ARCHITECTURES:-90}

echo "== main build (build/) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMENGINE_CUDA=AUTO -DMMENGINE_BLAS=AUTO -DCMAKE_CUDA_ARCHITECTURES="$arch"
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900
./build/tools/mmengine-gradcheck --device all

echo "== sanitizer build, CPU only, no OpenBLAS (build-asan/) =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMENGINE_CUDA=OFF -DMMENGINE_BLAS=OFF -DMMENGINE_SANITIZE=ON
cmake --build build-asan -j "$jobs"
OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 1800
echo "all tests passed"
