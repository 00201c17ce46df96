#!/usr/bin/env bash
# Fan et al. DBT 3-D Mask R-CNN at the paper's size (3-D ResNet-50-FPN, P2-P5, spec anchors) on one GPU, on the
# SIMULATED DBT cohort, with the baselines (slice-wise 2-D Mask R-CNN, 3-D U-Net + CC) on the CPU cores beside it.
# NOT RUN YET (no device was lent to the session that wrote it); sized for about 12 minutes on an H100/H200.
# Needs PyTorch, torchvision, MONAI, scikit-image, scipy, nibabel, pydicom, highdicom and this repository (PYTHONPATH=src).
# Run from the repository root:  OUT=/some/folder bash benchmarks/device/dbt_maskrcnn.sh
# Writes $OUT/cohort (simulated), $OUT/tables/TABLES.md + tables.json + FROC CSV/PNG, $OUT/run.log, nvidia-smi/env.
set -euo pipefail
OUT="${OUT:-/tmp/dbt_device_out}"
mkdir -p "$OUT"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch, monai, torchvision; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'monai', monai.__version__)" > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
# the simulated cohort: the CPU benchmark's (70 breasts) unless DBT_TRAIN/DBT_TEST ask for more
[ -f "$OUT/cohort/cohort.json" ] || timeout 300 "$PY" benchmarks/quality/dbt_maskrcnn/make_cohort.py "$OUT/cohort" \
  --train "${DBT_TRAIN:-40}" --test "${DBT_TEST:-30}" --seed 0 2>&1 | tail -2
timeout 560 "$PY" benchmarks/quality/dbt_maskrcnn/run_tables.py "$OUT/cohort" "$OUT/tables" --paper-size --device cuda \
  --threads 8 --minutes-3d "${DBT_MIN_3D:-6}" --minutes-2d "${DBT_MIN_2D:-1.5}" --minutes-unet "${DBT_MIN_UNET:-1}" \
  --boot 2000 2>&1 | tee "$OUT/run.log" | grep -v "progress" | tail -80
