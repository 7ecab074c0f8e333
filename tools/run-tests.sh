#!/usr/bin/env bash
# Runs every test: the main build (CUDA kernels compiled when nvcc exists, OpenBLAS); the
# emulated-CUDA build (docs/emulator.md), in which every CUDA test and the CUDA gradient check
# run on the CPU under the ascending and descending schedules and planted kernel bugs must all
# be caught; and one sanitizer build (AddressSanitizer + UBSan, emulated CUDA, the engine's own
# GEMM loop instead of OpenBLAS) that runs every test, CPU and emulated CUDA, under a seeded
# random schedule. In the main build, CUDA tests report SKIPPED on machines without a GPU; it
# needs MPI (OpenMPI) for the data-parallel tests on 2 ranks.
# Each part prints its wall and CPU time.
# Usage: tools/run-tests.sh [all|cpu|emulated]: everything (CI), or only the main build, or
# only the emulated and sanitizer builds.
set -euo pipefail
what=${1:-all}
case $what in all|cpu|emulated) ;; *) echo "usage: $0 [all|cpu|emulated]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
arch=${CMAKE_CUDA_ARCHITECTURES:-90}
# The tests that need a device: the emulated build runs exactly these, except the GradCheck
# cases on CUDA, which are the same checks mmengine-gradcheck --device cuda runs there (one
# run instead of two of the slowest tests).
cuda_tests='Cuda|cuda|CUDA|Cudnn'
gradcheck_tests='^AllCases/GradCheck[.]'
# Left out of the sanitizer build only (each runs in the main build, the CUDA ones in the two
# emulated schedules too), to keep CI under 40 minutes: a 120-step learning-quality check
# (accuracy, not memory safety; ~30 min under ASan without OpenBLAS: the same trainer code runs
# there in Trainer.ResumeIsBitIdentical, Trainer.EveryBnModeRuns and the Reliability tests);
# four grid-orchestration tests of 40-70 s each under ASan (child processes, bundles, the
# emulated device trained on two threads: Ablate.TinyGridCompletesWritesTheTableAndReusesFinishedRuns
# and Ablate.StreamsModeRunsOnThreadsAndMatchesSequentialRuns keep that code under ASan); and
# the TF32 training run (its kernels run under ASan in the ConvIgemmCuda tests); and the graph
# tests rerun with MMENGINE_SYNC_LAUNCH=1 (a launch-check switch, not memory handling: ~4 min
# under ASan with its bf16 training runs; the CudaGraph tests run there once without it).
sanitizer_skips='^(Trainer[.]LearnsTheSyntheticTaskFarAboveChance|Ablate[.]ConcurrentChildrenBundleAndResumeMatchInProcessRuns|Ablate[.]SeedExtensionFollowsTheRule|Ablate[.]CudaStreamsModeRunsOnThreadsAndMatchesSequentialRuns|Cli[.]AblateConcurrentAndBenchSweep|PrecisionCuda[.].*|CudaGraph[.]UnderSyncLaunch)$'
# Run in the first emulated schedule only, to keep CI under 40 minutes: whole-run tests whose
# kernels the kernel-level CUDA tests already run in every schedule, and whose subject is not the
# order of a block's threads: host-thread concurrency (runs trained on two threads, ~35 s), the
# graph tests rerun under MMENGINE_SYNC_LAUNCH=1 (a launch-check switch, ~60 s), and bf16
# training on the device with and without graphs (~35 s).
first_schedule_only='^(Ablate[.]CudaStreamsModeRunsOnThreadsAndMatchesSequentialRuns|CudaGraph[.]UnderSyncLaunch|PrecisionCuda[.]Bf16RunsOnTheDeviceWithAndWithoutGraphs)$'
# The only ones the emulated device may skip: it has no cuDNN, and it is a device.
allowed_skips='^(Conv\.CudnnMatchesOwnKernels|Tensor\.CudaTensorWithoutDeviceIsAClearError)$'
schedules=(ascending descending)  # and random:7 in the sanitizer build

log=$(mktemp)
grad_pid=""
trap '[ -z "$grad_pid" ] || kill "$grad_pid" 2>/dev/null || true; rm -f "$log" "$log.times" "$log.grad"' EXIT
# The gradient check runs beside each ctest run (one process on one core), not after it: alone
# it left the second core idle for ~3 minutes in all.
# start_gradcheck CMD...: starts it (output in $log.grad; at most 30 minutes, as each test);
# finish_gradcheck LABEL: waits for it, prints its last line, or its whole output and stops.
start_gradcheck() {
  timeout 1800 "$@" > "$log.grad" 2>&1 &
  grad_pid=$!
}
finish_gradcheck() {
  local rc=0
  wait "$grad_pid" || rc=$?
  grad_pid=""
  if [ "$rc" -ne 0 ]; then
    cat "$log.grad" >&2
    echo "run-tests: $1 failed (exit $rc)" >&2
    exit 1
  fi
  echo "$1: $(tail -n 1 "$log.grad")"
}
# cpu_seconds: user + system time of every command this script has run so far (the `times`
# builtin; it must run in this shell, not in a command substitution, to see the children).
cpu_seconds() { awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$log.times"; }
t0=$SECONDS
part() {  # part NAME: ends the running part (prints its wall and CPU time), starts the next
  times > "$log.times"
  if [ -n "${part_name:-}" ]; then
    local wall=$((SECONDS - part_start)) cpu=$(($(cpu_seconds) - part_cpu))
    echo "-- $part_name took $((wall / 60)) min $((wall % 60)) s ($((cpu / 60)) min $((cpu % 60)) s of CPU)"
  fi
  part_name=$1
  part_start=$SECONDS
  part_cpu=$(cpu_seconds)
  [ -n "$part_name" ] && echo "== $part_name =="
  return 0
}
# skipped LOG: the names ctest reports as skipped.
skipped() { sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$1"; }

if [ "$what" != emulated ]; then
part "main build (build/)"
# MPI is required here (MMENGINE_MPI=ON): the data-parallel tests (Dist.TwoRanks, mpirun -np 2,
# and DistCli.*) must run, never silently drop out of a build that lacks OpenMPI.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMMENGINE_CUDA=AUTO -DMMENGINE_BLAS=AUTO -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DMMENGINE_MPI=ON
cmake --build build -j "$jobs"
part "main build: tests"
start_gradcheck env OMP_NUM_THREADS=1 ./build/tools/mmengine-gradcheck --device all
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900 | tee "$log"
finish_gradcheck "mmengine-gradcheck --device all"
# Every test that skips here (no GPU) must be one the emulated build runs.
if unmatched=$(skipped "$log" | grep -Ev "$cuda_tests"); then
  echo "run-tests: these tests skip without a GPU but their names miss /$cuda_tests/, so the emulated build would not run them:" >&2
  echo "$unmatched" >&2
  exit 1
fi
fi

# emulated_cuda_tests BUILD [EXCLUDE]: the CUDA tests (less those matching EXCLUDE) and the CUDA
# gradient check of an emulated build, under the schedule in MMENGINE_EMU_SCHEDULE; fails on any
# skip but the allowed ones.
emulated_cuda_tests() {
  echo "-- schedule ${MMENGINE_EMU_SCHEDULE}"
  start_gradcheck "./$1/tools/mmengine-gradcheck" --device cuda
  ctest --test-dir "$1" -R "$cuda_tests" -E "$gradcheck_tests${2:+|$2}" --output-on-failure -j "$jobs" --timeout 1800 | tee "$log"
  if bad=$(skipped "$log" | grep -Ev "$allowed_skips"); then
    echo "run-tests: the emulated device skipped tests it must run: $bad" >&2
    exit 1
  fi
  finish_gradcheck "mmengine-gradcheck --device cuda"
}

if [ "$what" != cpu ]; then
part "emulated-CUDA build (build-emu/)"
cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DMMENGINE_CUDA=EMULATED -DMMENGINE_BLAS=AUTO
cmake --build build-emu -j "$jobs"
for s in "${schedules[@]}"; do
  part "emulated CUDA tests and gradcheck, schedule $s"
  once=""
  [ "$s" = "${schedules[0]}" ] || once=$first_schedule_only
  MMENGINE_EMU_SCHEDULE=$s emulated_cuda_tests build-emu "$once"
done
part "emulator mutants (planted kernel bugs)"
tools/emulator-mutants.sh build-emu

# One sanitizer build serves both halves: every test (the CPU ones, and the CUDA ones on the
# emulated device under the seeded random schedule) with AddressSanitizer + UBSan and the
# engine's own GEMM loop instead of OpenBLAS.
part "sanitizer build: emulated CUDA, no OpenBLAS, ASan + UBSan (build-asan/)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g1 -DNDEBUG" \
  -DMMENGINE_CUDA=EMULATED -DMMENGINE_BLAS=OFF -DMMENGINE_SANITIZE=ON -DMMENGINE_MPI=OFF  # OpenMPI's own allocations would be reported as leaks
cmake --build build-asan -j "$jobs"
part "sanitizer build: every test and mmengine-gradcheck --device all, schedule random:7"
start_gradcheck env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  MMENGINE_EMU_SCHEDULE=random:7 ./build-asan/tools/mmengine-gradcheck --device all
OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 MMENGINE_EMU_SCHEDULE=random:7 \
  ctest --test-dir build-asan -E "$gradcheck_tests|$sanitizer_skips" --output-on-failure -j "$jobs" --timeout 1800 | tee "$log"
if bad=$(skipped "$log" | grep -Ev "$allowed_skips"); then
  echo "run-tests: the sanitizer build skipped tests it must run: $bad" >&2
  exit 1
fi
finish_gradcheck "mmengine-gradcheck --device all (sanitizers)"
fi
part ""
echo "all tests passed in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"
