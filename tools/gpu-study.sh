#!/usr/bin/env bash
# On a GPU machine, inside one ~10-minute device call (the script ends itself within
# GPU_STUDY_MINUTES, default 8.5): one slice of the study grid of issue 14 (BN mode x EMA x
# recipe x labels, seeds), run by `mmengine ablate --concurrent`, written back as a results
# bundle that the next call resumes from.
#   source .device/env.sh && bash tools/gpu-study.sh STEPS [mmengine ablate flags naming the cells]
#   e.g. bash tools/gpu-study.sh 2048 --recipes port --labels 250 --ema on,off --seeds 3 --concurrent 8
# STEPS: training steps of every run (the equal budget). The cells: --recipes, --labels, --modes,
# --ema, --precisions, --seeds, --max-seeds, --concurrent, --bundle-best (see `mmengine ablate --help`).
# Defaults added unless given: --eval-every-steps STEPS/8, --max-eval-images 2000, and below 4000
# steps --ema-decay 0.99 --bn-momentum 0.01 (the paper's 0.999 / 0.001 horizons are longer than the run).
# Environment:
#   GPU_STUDY_FROM="dir1 dir2"  bundles of earlier calls to merge first (copy a call's files_at
#                               folder into the repository, untracked and not ignored, so it travels)
#   GPU_STUDY_SWEEP=1,2,4,8,16  first measure aggregate steps/s of N runs at once, as processes and
#                               as streams of one process (`mmengine bench --concurrent-sweep`,
#                               GPU_STUDY_SWEEP_STEPS each, WRN-28-2 at B = 64 unless
#                               GPU_STUDY_SWEEP_FLAGS says otherwise, e.g. --sweep-modes streams);
#                               then pass the winner: --concurrent N [--concurrent-mode streams]
#   GPU_STUDY_PROBE=1           afterwards, `mmengine bn-probe` on every best model of the bundle
#                               (GPU_STUDY_PROBE_IMAGES population images, default 20000, and
#                               GPU_STUDY_PROBE_BATCHES probed steps, default 16), into study.log
#   GPU_STUDY_MINUTES (8.5), GPU_STUDY_DEVICE (cuda), GPU_STUDY_DATASET (cifar10),
#   GPU_STUDY_PRESET (paper): cpu / synthetic / synthetic rehearse the script without a GPU.
# Needs .device/cifar10-jpeg.tar.gz and .device/jpeg_to_cifar_bin.py for CIFAR-10 (converted
# into /tmp/cifar/cifar-10-batches-bin). Writes at most 8 files to $OUT (or /tmp/gpu-study):
# study.log (everything printed, the table last) and the bundle (grid.tar.gz and at most 6
# checkpoints: --bundle-max-files 7). A WRN-28-2 training state (~24 MB) is over the bundle's
# 16 MiB per file: a run interrupted by the limit restarts from step 0 in the next call, so
# choose STEPS and the cells so that every run of a call finishes inside it.
set -uo pipefail
start=$(date +%s)
minutes=${GPU_STUDY_MINUTES:-8.5}
device=${GPU_STUDY_DEVICE:-cuda}
dataset=${GPU_STUDY_DATASET:-cifar10}
preset=${GPU_STUDY_PRESET:-paper}
out=${OUT:-/tmp/gpu-study}
grid=/tmp/gpu-study-grid
mkdir -p "$out"
log=$out/study.log
: >"$log"
say() { echo "$@" | tee -a "$log"; }
elapsed() { echo $(( $(date +%s) - start )); }
if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ || $1 -lt 1 ]]; then
  say "gpu-study: the first argument must be the step budget of every run (a positive integer), got '${1:-}'"
  exit 2
fi
steps=$1
shift
export PYTHONUNBUFFERED=1

say "== gpu-study $(date -u '+%F %T UTC'): $steps steps per run, device $device, dataset $dataset, limit $minutes min =="
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
say "GPU: ${gpu:-none (nvidia-smi found no GPU)}"
find_exe() { for d in ${MMENGINE_BIN:-} .device/bin build/tools build-gpu/tools; do [[ -x $d/$1 ]] && { echo "$d/$1"; return; }; done; }
mm=$(find_exe mmengine)
[[ -n $mm ]] || { say "gpu-study: FAIL: mmengine not found (.device/bin, build/tools, build-gpu/tools)"; exit 1; }
ldd "$mm" 2>/dev/null | grep "not found" | sed "s|^|$mm: |" | tee -a "$log"
say "mmengine: $mm"

data_flags=()
if [[ $dataset == cifar10 ]]; then
  data=/tmp/cifar/cifar-10-batches-bin
  if [[ ! -f $data/test_batch.bin ]]; then
    if [[ ! -f .device/cifar10-jpeg.tar.gz || ! -f .device/jpeg_to_cifar_bin.py ]]; then
      say "gpu-study: FAIL: CIFAR-10 missing: .device/cifar10-jpeg.tar.gz and .device/jpeg_to_cifar_bin.py are needed (../shared/datasets)"
      exit 1
    fi
    python3 .device/jpeg_to_cifar_bin.py .device/cifar10-jpeg.tar.gz "$data" >>"$log" 2>&1 ||
      { say "gpu-study: FAIL: CIFAR-10 conversion failed (see above)"; exit 1; }
  fi
  "$mm" data check "$data" 2>&1 | head -3 | tee -a "$log"
  data_flags=(--data "$data")
fi

if [[ -n ${GPU_STUDY_SWEEP:-} ]]; then
  say "== concurrency sweep ($(elapsed) s) =="
  sweep_data=()
  [[ $dataset == cifar10 ]] && sweep_data=(--sweep-dataset cifar10 --sweep-data "$data")
  timeout 240 "$mm" bench --device "$device" --concurrent-sweep "$GPU_STUDY_SWEEP" \
    --sweep-steps "${GPU_STUDY_SWEEP_STEPS:-100}" "${sweep_data[@]}" ${GPU_STUDY_SWEEP_FLAGS:-} --json /tmp/study-sweep.json 2>&1 | tee -a "$log"
  say "sweep exit ${PIPESTATUS[0]}"
fi

# Defaults for flags the caller did not give.
given() { local f; for f in "${extra[@]}"; do [[ $f == "$1" || $f == "$1="* ]] && return 0; done; return 1; }
extra=("$@")
defaults=()
given --eval-every-steps || defaults+=(--eval-every-steps $(( steps >= 8 && steps % 8 == 0 ? steps / 8 : steps )))
given --max-eval-images || defaults+=(--max-eval-images 2000)
if (( steps < 4000 )); then
  given --ema-decay || defaults+=(--ema-decay 0.99)
  given --bn-momentum || defaults+=(--bn-momentum 0.01)
fi
from=()
for b in ${GPU_STUDY_FROM:-}; do from+=(--from-bundle "$b"); done
# What is left of the limit, less a reserve for the bundle and this script's end.
reserve=0.4
[[ -n ${GPU_STUDY_PROBE:-} ]] && reserve=1.4  # two probes of at most ~30 s each on a GPU
left=$(awk -v m="$minutes" -v e="$(elapsed)" -v r="$reserve" 'BEGIN { l = m - e / 60 - r; if (l < 0.2) l = 0.2; printf "%.2f", l }')
say "== ablate ($(elapsed) s): --time-limit $left min =="
say "$mm ablate --preset $preset --dataset $dataset ${data_flags[*]} --device $device --steps $steps ${defaults[*]} ${extra[*]} ${from[*]} --time-limit $left --out $grid --bundle $out --bundle-max-files 7"
rm -rf "$grid"
hard=$(awk -v l="$left" 'BEGIN { printf "%d", l * 60 + 45 }')
timeout "$hard" "$mm" ablate --preset "$preset" --dataset "$dataset" "${data_flags[@]}" --device "$device" --steps "$steps" \
  "${defaults[@]}" "${extra[@]}" "${from[@]}" --time-limit "$left" --out "$grid" --bundle "$out" --bundle-max-files 7 2>&1 |
  tee -a "$log"
rc=${PIPESTATUS[0]}

# bn-probe on the bundle's best models (GPU_STUDY_PROBE=1): per BN layer, how far each kind of
# batch's statistics are from the population's; the tables go into study.log.
if [[ -n ${GPU_STUDY_PROBE:-} ]]; then
  for ckpt in "$out"/*.best.safetensors; do
    [[ -f $ckpt ]] || continue
    name=$(basename "$ckpt" .best.safetensors)
    run=$grid/${name//__//}
    flags=$(python3 - "$run/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
depth, widen = c["model"].split("-")[1:3]
print(f"--labels {c['labels']} --val-per-class {c['val_per_class']} --seed {c['seed']} --bn-eps {c['bn_eps']} "
      f"--conv-bias {'on' if c['conv_bias'] else 'off'} --depth {depth} --widen {widen} --batch-size {c['batch_size']}")
PY
    ) || { say "bn-probe $name: no config.json in $run"; continue; }
    say "== bn-probe $name ($(elapsed) s) =="
    timeout 90 "$mm" bn-probe --checkpoint "$ckpt" --dataset "$dataset" "${data_flags[@]}" $flags --device "$device" \
      --population-images "${GPU_STUDY_PROBE_IMAGES:-20000}" --batches "${GPU_STUDY_PROBE_BATCHES:-16}" --out "/tmp/gpu-study-probe-$name" 2>&1 | tee -a "$log"
    say "bn-probe exit ${PIPESTATUS[0]}"
  done
fi

files=$(find "$out" -maxdepth 1 -type f | wc -l)
big=$(find "$out" -maxdepth 1 -type f -size +16M | wc -l)
total=$(du -cb "$out"/* 2>/dev/null | tail -1 | cut -f1)
status=$(grep -E '^[0-9]+ runs: ' "$log" | tail -1)
say ""
say "== gpu-study summary (${gpu:-no GPU}, $(date -u +%F), $(elapsed) s) =="
say "ablate exit $rc: ${status:-no table (see above)}"
say "bundle in $out: $files files (limit 8), $(( ${total:-0} / 1048576 )) MiB (limit 64), $big over 16 MiB"
(( files <= 8 && big == 0 && ${total:-0} <= 64 * 1048576 )) || say "gpu-study: FAIL: the bundle is over its limits"
exit $rc
