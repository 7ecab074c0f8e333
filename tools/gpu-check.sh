#!/usr/bin/env bash
# On a GPU machine: every CUDA test, the gradient check on CUDA, the PyTorch parity check of
# the WideResNet (when torch is importable), the benchmark and a short CUDA training run (when
# those commands exist in this build). Prints a summary table last. Runs the carried
# executables directly (CTest files hold absolute paths of the build machine).
#   source .device/env.sh && bash tools/gpu-check.sh
set -uo pipefail
bin=${MMENGINE_BIN:-}
if [[ -z $bin ]]; then
  for d in .device/bin build/tests build; do [[ -x $d/mmengine_tests ]] && bin=$d && break; done
fi
find_exe() { for d in "$bin" .device/bin build/tools build/tests; do [[ -x $d/$1 ]] && { echo "$d/$1"; return; }; done; }
out=${OUT:-/tmp}/gpu-check
mkdir -p "$out"
declare -a rows
row() { rows+=("$(printf '%-34s %-6s %s' "$1" "$2" "$3")"); }
start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 | tee "$out/gpu.txt"

tests=$(find_exe mmengine_tests)
if [[ -n $tests ]]; then
  # Every test (CPU ones too: they are the oracle), but CUDA ones must run, not skip.
  timeout 300 "$tests" --gtest_brief=1 >"$out/tests.log" 2>&1
  rc=$?
  passed=$(grep -oE 'PASSED  \] [0-9]+' "$out/tests.log" | grep -oE '[0-9]+$')
  skipped=$(grep -oE 'SKIPPED \] [0-9]+' "$out/tests.log" | grep -oE '[0-9]+$')
  failed=$(grep -cE '^\[  FAILED  \] .*\(' "$out/tests.log")
  # On a GPU machine exactly one test may skip: the one that checks the no-device error.
  ok=$([[ $rc == 0 && ${skipped:-0} -le 1 ]] && echo PASS || echo FAIL)
  row "unit + kernel tests" "$ok" "passed ${passed:-0}, skipped ${skipped:-0}, failed ${failed:-0}"
  grep -B1 -E '^CUDA test skipped|Skipped$' "$out/tests.log" | grep -E '^\[ +SKIPPED|test_' | head -5
  grep -E '^\[  FAILED  \]' "$out/tests.log" | head -20
else
  row "unit + kernel tests" "MISS" "mmengine_tests not found"
fi

gc=$(find_exe mmengine-gradcheck)
if [[ -n $gc ]]; then
  timeout 120 "$gc" --device cuda >"$out/gradcheck.log" 2>&1
  rc=$?
  row "gradcheck --device cuda" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)" "$(tail -1 "$out/gradcheck.log")"
  grep FAIL "$out/gradcheck.log" | head -10
fi

mm=$(find_exe mmengine)
if [[ -n $mm ]] && python3 -c 'import torch' 2>/dev/null; then
  for dt in f64 f32; do
    "$mm" reference-dump --out "$out/ref-$dt" --device cuda --dtype $dt >"$out/ref-$dt.log" 2>&1 &&
      python3 tools/reference/wrn_reference.py "$out/ref-$dt" >>"$out/ref-$dt.log" 2>&1
    rc=$?
    row "PyTorch WRN-28-2 parity ($dt)" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)" "$(grep -E '^grad ' "$out/ref-$dt.log" | tr -s ' ')"
  done
fi

if [[ -n $mm ]] && "$mm" bench --help >/dev/null 2>&1; then
  timeout 240 "$mm" bench --device cuda --json "$out/bench.json" >"$out/bench.log" 2>&1
  rc=$?
  engine_ms=$(awk '/^MixMatch step \(interleave\)/ {print $4}' "$out/bench.log")
  row "mmengine bench" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)" "interleaved step ${engine_ms:-?} ms (median)"
  if python3 -c 'import torch' 2>/dev/null; then
    timeout 240 python3 tools/reference/bench_pytorch.py >"$out/bench_pytorch.log" 2>&1
    rc=$?
    while IFS= read -r line; do
      name=$(echo "$line" | sed -E 's/ +[0-9.]+ ms\/step.*//')
      ms=$(echo "$line" | grep -oE '[0-9.]+ ms/step' | grep -oE '^[0-9.]+')
      ratio=$(awk -v e="${engine_ms:-0}" -v t="$ms" 'BEGIN { if (t > 0) printf "%.2f", e / t; else print "?" }')
      row "PyTorch: $name" "$([[ $rc == 0 ]] && echo INFO || echo FAIL)" "$ms ms/step; engine/PyTorch = $ratio"
    done < <(grep -E 'ms/step' "$out/bench_pytorch.log")
  fi
fi

if [[ -n $mm ]] && "$mm" train --help >/dev/null 2>&1; then
  data_flag=()
  if [[ -f .device/cifar10-jpeg.tar.gz && -f .device/jpeg_to_cifar_bin.py ]]; then
    python3 .device/jpeg_to_cifar_bin.py .device/cifar10-jpeg.tar.gz /tmp/cifar >"$out/convert.log" 2>&1 &&
      data_flag=(--dataset cifar10 --data /tmp/cifar/cifar-10-batches-bin)
  fi
  if [[ ${#data_flag[@]} -eq 0 ]]; then data_flag=(--preset synthetic); fi
  # 300 steps of WRN-28-2: short EMA and BN horizons so the teacher is meaningful this early.
  timeout 240 "$mm" train "${data_flag[@]}" --device cuda --epochs 2 --steps-per-epoch 150 --eval-every 1 \
    --ema-decay 0.99 --bn-momentum 0.01 --max-eval-images 2000 --out "$out/train" >"$out/train.log" 2>&1
  rc=$?
  acc=$(grep -oE 'best val [0-9.]+% -> test [0-9.]+' "$out/train.log" | grep -oE '[0-9.]+$' | tail -1)
  beats=$(awk -v a="${acc:-0}" 'BEGIN { print (a > 30) ? 1 : 0 }')  # chance is 10%
  row "short CUDA training run" "$([[ $rc == 0 && $beats == 1 ]] && echo PASS || echo FAIL)" "$(grep -E '^final' "$out/train.log" | tail -1 | cut -c1-110)"
fi

echo
echo "== gpu-check summary ($(cat "$out/gpu.txt" 2>/dev/null), $(date -u +%F), $(( $(date +%s) - start )) s) =="
printf '%-34s %-6s %s\n' "check" "result" "details"
for r in "${rows[@]}"; do echo "$r"; done
