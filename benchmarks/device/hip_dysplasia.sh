#!/usr/bin/env bash
# Hip landmark detector (biomedai hip_dysplasia) on SIMULATED pelvis radiographs, on one GPU, in under 4 minutes.
# Needs only PyTorch, numpy/scipy, MONAI, scikit-image and this repository's source (PYTHONPATH=src).
# Run from the repository root:  OUT=/some/folder bash benchmarks/device/hip_dysplasia.sh
# Writes $OUT/hip256/hip_detector_result.json (MAE, ICC, Bland-Altman vs true landmarks and the
# mean-position baseline), $OUT/hip256.log, $OUT/nvidia-smi.txt and $OUT/env.txt.
set -euo pipefail
OUT="${OUT:-/tmp/hip_device_out}"
mkdir -p "$OUT"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
# biomedai's progress helper imports tqdm even when the bar is off; stub it when the wheel is absent
if ! "$PY" -c "import tqdm" 2>/dev/null; then
  STUB="$(mktemp -d)"; mkdir -p "$STUB/tqdm"
  printf 'def tqdm(iterable=None, *a, **k):\n    return iterable\n' > "$STUB/tqdm/auto.py"
  touch "$STUB/tqdm/__init__.py"
  export PYTHONPATH="$PYTHONPATH:$STUB"
fi
(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch, monai, skimage, scipy, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'monai', monai.__version__, 'skimage', skimage.__version__)" \
  > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
WORKERS=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
# HIP_* variables only shrink the run for a smoke test on a CPU; leave them unset on the GPU
timeout 225 "$PY" benchmarks/quality/hip_dysplasia/landmark_detector.py --train "${HIP_TRAIN:-1024}" --val 64 --test "${HIP_TEST:-256}" \
  --size "${HIP_SIZE:-256}" --epochs "${HIP_EPOCHS:-30}" --batch 16 --features 16,32,64,128 --threads 4 --workers "$WORKERS" --out "$OUT/hip256" 2>&1 | tee "$OUT/hip256.log"
