#!/usr/bin/env bash
# Deetal-Perio Table 1 (benchmarks/quality/dental_perio/numbering.py) on one GPU: both Mask R-CNNs trained from scratch on
# the UFBA train split at 512 px, scored on the 75 test films, in about 8 minutes on one H100.
# Needs PyTorch + torchvision, numpy/scipy, scikit-image, tqdm (stubbed when absent) and this repository's
# source (PYTHONPATH=src); the UFBA subset (28 MB) carried as .device/shared/data/teeth/ufba_subset.
#   OUT=/some/folder DENTAL_STEPS=3000 bash benchmarks/device/dental_perio.sh
# Writes $OUT/dental/ (the Table 1 JSON/markdown; model weights are left out) and $OUT/env.txt.
set -euo pipefail
OUT="${OUT:-/tmp/dental_device_out}"; mkdir -p "$OUT/dental"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"; cd "$ROOT"
export PYTHONPATH="$ROOT/src:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import tqdm" 2>/dev/null; then
  STUB="$(mktemp -d)"; mkdir -p "$STUB/tqdm"
  printf 'def tqdm(iterable=None, *a, **k):\n    return iterable\n' > "$STUB/tqdm/auto.py"; touch "$STUB/tqdm/__init__.py"
  export PYTHONPATH="$PYTHONPATH:$STUB"
fi
DATA="${DENTAL_DATA:-$ROOT/.device/shared/data/teeth/ufba_subset}"
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')" | tee "$OUT/env.txt"
timeout "${DENTAL_TIMEOUT:-540}" "$PY" benchmarks/quality/dental_perio/numbering.py --data "$DATA" --output /tmp/dental_run \
  --device cuda --threads 8 --image-size "${DENTAL_SIZE:-512}" --steps "${DENTAL_STEPS:-3000}" \
  --backbone "${DENTAL_BACKBONE:-resnet18}" --no-write 2>&1 | tee "$OUT/dental/run.log"
find /tmp/dental_run -maxdepth 2 \( -name '*.json' -o -name '*.md' -o -name '*.csv' \) -exec cp {} "$OUT/dental/" \;
