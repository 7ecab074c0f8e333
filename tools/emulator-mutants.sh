#!/usr/bin/env bash
# Plants kernel bugs the CUDA emulator must catch, one at a time, in copies of the real kernels
# with shared-memory block reductions (kernels/cuda/launch.cuh's block_sum, batchnorm.cu,
# reduce.cu, elementwise.cu) and the multi-tensor optimizer kernels (optim.cu), builds emulator/mutants/driver.cpp around each copy with
# AddressSanitizer + UBSan, and runs it under the ascending, descending and a seeded random
# schedule. A mutant is killed when any run fails (a mismatch with the CPU twin, an emulator
# abort on divergence, an ASan report). Fails if the unmutated kernels fail or any mutant
# survives. Usage: tools/emulator-mutants.sh [emulated build dir, default build-emu]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-emu}
rewrite="$build/emulator/mmemu-rewrite"
[ -x "$rewrite" ] || { echo "emulator-mutants: $rewrite missing: configure and build $build with -DMMENGINE_CUDA=EMULATED first" >&2; exit 2; }
cxx=${CXX:-c++}
work=$(mktemp -d "${TMPDIR:-/tmp}/mm-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
# -O0: what kills a mutant (the emulator's checks, ASan, the comparison with the CPU twins) does
# not depend on optimization, and the compiles are most of this script's time (-O1: 126 s, -O0:
# 82 s on 2 cores, every mutant killed either way).
flags=(-std=c++17 -O0 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
       -DMMENGINE_WITH_CUDA -DMMENGINE_CUDA_EMULATED)
schedules=(ascending descending random:11)
kernels=(elementwise reduce batchnorm optim)

# The parts no mutant touches, compiled once.
mkdir -p "$work/common"
common=()
pids=()
# wait_all: waits for the background compiles; any failure stops the script.
wait_all() {
  local p
  for p in "${pids[@]}"; do wait "$p" || { echo "emulator-mutants: a compile failed" >&2; exit 1; }; done
  pids=()
}
for src in emulator/runtime.cpp emulator/scheduler.cpp emulator/graph.cpp kernels/error.cpp kernels/cpu/elementwise.cpp \
           kernels/cpu/reduce.cpp kernels/cpu/batchnorm.cpp kernels/cpu/optim.cpp emulator/mutants/driver.cpp; do
  obj="$work/common/$(echo "$src" | tr / _).o"
  "$cxx" "${flags[@]}" -I. -Iemulator/include -c "$src" -o "$obj" &
  pids+=($!)
  common+=("$obj")
done
wait_all

# build_and_run NAME FILE OLD NEW: copies the kernels, replaces the one occurrence of OLD in FILE
# (kernels/cuda/...) by NEW (no replacement when FILE is empty), builds, runs every schedule.
# Prints "killed" or "survived" as its last word.
build_and_run() {
  local name=$1 file=$2 old=$3 new=$4 dir="$work/$1"
  mkdir -p "$dir/kernels/cuda" "$dir/gen"
  cp kernels/cuda/launch.cuh "$dir/kernels/cuda/"
  for k in "${kernels[@]}"; do cp "kernels/cuda/$k.cu" "$dir/kernels/cuda/"; done
  if [ -n "$file" ]; then
    OLD="$old" NEW="$new" python3 - "$dir/$file" <<'PY'
import os, sys
path, old, new = sys.argv[1], os.environ["OLD"], os.environ["NEW"]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"emulator-mutants: the text to mutate occurs {text.count(old)} times in {path}, not once: {old!r}")
open(path, "w").write(text.replace(old, new))
PY
  fi
  local objs=()
  for k in "${kernels[@]}"; do
    # Only the kernels the mutation reaches are compiled again (every one for launch.cuh, which
    # they all include); the others are the unmutated run's objects.
    if [ -n "$file" ] && [ "$file" != kernels/cuda/launch.cuh ] && [ "$file" != "kernels/cuda/$k.cu" ]; then
      objs+=("$work/unmutated/gen/$k.o")
      continue
    fi
    "$rewrite" "$dir/kernels/cuda/$k.cu" "$dir/gen/$k.cu.cpp"
    # The mutated copy of launch.cuh comes first on the include path.
    "$cxx" "${flags[@]}" -I"$dir" -I. -Iemulator/include -c "$dir/gen/$k.cu.cpp" -o "$dir/gen/$k.o" &
    pids+=($!)
    objs+=("$dir/gen/$k.o")
  done
  wait_all
  "$cxx" "${flags[@]}" "${objs[@]}" "${common[@]}" -o "$dir/driver"
  local killed_by=""
  for s in "${schedules[@]}"; do
    # (the subshell keeps bash's "Aborted" job notice out of the report)
    if ! (MMENGINE_EMU_SCHEDULE=$s ASAN_OPTIONS=detect_leaks=0 timeout 120 "$dir/driver" > "$dir/$s.log" 2>&1) 2>/dev/null; then
      killed_by+="$s "
    fi
  done
  if [ -n "$killed_by" ]; then
    local why
    why=$(grep -m1 -E "emulator:|ERROR: AddressSanitizer|runtime error|differ|CPU twin" "$dir/${killed_by%% *}.log" | cut -c1-220 || true)
    printf '%-34s killed by %-40s %s\n' "$name" "$killed_by" "$why"
    echo killed > "$dir/verdict"
  else
    printf '%-34s SURVIVED every schedule\n' "$name"
    echo survived > "$dir/verdict"
  fi
}

start=$SECONDS
build_and_run unmutated "" "" ""
if [ "$(cat "$work/unmutated/verdict")" != survived ]; then
  echo "emulator-mutants: the real kernels fail in the emulator:" >&2
  cat "$work"/unmutated/*.log >&2
  exit 1
fi

# mutant NAME FILE OLD NEW: build_and_run in the background, at most JOBS (default: the core
# count) at once; a single-file mutant compiles one file, so two at a time keep both cores busy.
jobs_max=${JOBS:-$(nproc)}
launched=0
mutant() {
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  build_and_run "$@" &
  launched=$((launched + 1))
}

mutant missing-barrier-before-read kernels/cuda/launch.cuh \
  '  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();' \
  '  if (lane == 0) warp_sums[warp] = v;'
mutant missing-barrier-after-write kernels/cuda/batchnorm.cu \
  '  if (threadIdx.x == 0) mu_shared = s / count;
  __syncthreads();' \
  '  if (threadIdx.x == 0) mu_shared = s / count;'
mutant divergent-barrier kernels/cuda/launch.cuh \
  '  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();' \
  '  if (lane == 0) {
    warp_sums[warp] = v;
    __syncthreads();
  }'
mutant divergent-shuffle kernels/cuda/launch.cuh \
  'for (int off = 16; off > 0; off >>= 1) total += __shfl_down_sync(0xffffffffu, total, off);' \
  'for (int off = 16; off > 0; off >>= 1)
      if (lane < 16) total += __shfl_down_sync(0xffffffffu, total, off);'
mutant wrong-index-bn-batch-stride kernels/cuda/batchnorm.cu \
  'return ((k / HW) * C + c) * HW + k % HW;' \
  'return c * HW + k;'
mutant missing-barrier-shared-reuse kernels/cuda/batchnorm.cu \
  '  const double v = total;
  __syncthreads();  // `total` may be reused by the next call' \
  '  const double v = total;'
mutant wrong-index-bn-split-partial kernels/cuda/batchnorm.cu \
  'for (int64_t j = 0; j < S; ++j) t += partial[c * S + j];' \
  'for (int64_t j = 0; j < S; ++j) t += partial[c + j];'
mutant bn-group-ignored kernels/cuda/batchnorm.cu \
  'for_block_values(b, S, N, C, HW, [&](int64_t idx) { acc += f(idx); });' \
  'for_block_values(b, S, N, C, HW, [&](int64_t idx) { acc += f(idx - b.g * N * C * HW); });'
mutant bn-running-update-group-order kernels/cuda/batchnorm.cu \
  'for (int64_t h = 0; h < e.groups; ++h)' \
  'for (int64_t h = e.groups - 1; h >= 0; --h)'
mutant bn-param-grad-first-group-only kernels/cuda/batchnorm.cu \
  't1 += partial_total(part, h * C + b.c, S);' \
  't1 += partial_total(part, b.c, S);'
mutant multi-tensor-tile-overrun kernels/cuda/optim.cu \
  'for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) adam_element(' \
  'for (int64_t i = begin + threadIdx.x; i <= end; i += blockDim.x) adam_element('
mutant multi-tensor-tile-offset kernels/cuda/optim.cu \
  'for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) ema_chunk_element(c, i);' \
  'for (int64_t i = threadIdx.x; i < end - begin; i += blockDim.x) ema_chunk_element(c, i);'
mutant wrong-index-reduce-row kernels/cuda/reduce.cu \
  'for (int64_t l = threadIdx.x; l < len; l += blockDim.x) acc += x[(o * len + l) * inner + i];' \
  'for (int64_t l = threadIdx.x + 1; l < len; l += blockDim.x) acc += x[(o * len + l) * inner + i];'
mutant out-of-bounds-write kernels/cuda/elementwise.cu \
  'MM_GRID_STRIDE(i, n) out[i] = binary_value<compute_t<T>>(op, a[i], b[i]);' \
  'MM_GRID_STRIDE(i, n + 1) out[i] = binary_value<compute_t<T>>(op, a[i % n], b[i % n]);'
mutant shared-result-read-by-all kernels/cuda/elementwise.cu \
  '  double total = block_sum(acc);
  if (threadIdx.x == 0) gch[c] = static_cast<T>(total);' \
  '  double total = block_sum(acc);
  if (threadIdx.x == 1) gch[c] = static_cast<T>(total);'

wait
built=$(ls "$work"/*/verdict | grep -vc /unmutated/ || true)
[ "$built" -eq "$launched" ] || { echo "emulator-mutants: $((launched - built)) of $launched mutants did not build or run" >&2; exit 1; }
survivors=$(grep -l survived "$work"/*/verdict | grep -v /unmutated/ || true)
echo "emulator-mutants: $(ls "$work"/*/verdict | grep -vc /unmutated/) mutants, $(echo -n "$survivors" | grep -c . || true) survived, $((SECONDS - start)) s"
[ -z "$survivors" ]
