#!/usr/bin/env bash
# COS-Net one-shot benchmark on ONE GPU (<= 4 min): subtomograms simulated from real structures,
# 3 SNRs x (4 COS-Net variants + supervised CNN) trained with a fixed time budget each, NCC baseline,
# Table 1-3 style output. Needs PyTorch + numpy/scipy (+ scikit-image) and this package via PYTHONPATH=src.
# Templates: the 26 PolNet maps (5.8 MB). Before the run, here:
#     mkdir -p .device && cp -r /work/shared/data/cryoet/templates_10A .device/     (.device/ is git-ignored)
# then run with carry [".device"]:   bash benchmarks/device/cryoet_cosnet.sh
# (or set CRYOET_TEMPLATES=/path/to/templates_10A). Writes $OUT/cryoet_oneshot/{results.json,tables.md,log.txt}.
set -uo pipefail
OUT="${OUT:-/tmp/device_out}"
mkdir -p "$OUT/cryoet_oneshot"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
# tqdm is only needed for (disabled) progress bars; provide a pass-through shim if it is absent
if ! "$PY" -c "import tqdm" 2>/dev/null; then
  mkdir -p /tmp/shim/tqdm
  printf 'def tqdm(it=None, *a, **k):\n    return it\n' > /tmp/shim/tqdm/__init__.py
  cp /tmp/shim/tqdm/__init__.py /tmp/shim/tqdm/auto.py
  export PYTHONPATH="$PYTHONPATH:/tmp/shim"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/cryoet_oneshot/gpu.txt"
# 225 s hard cap; results.json/tables.md are rewritten after every SNR, so a cut run still reports
timeout 225 "$PY" benchmarks/quality/cryoet_cosnet/oneshot.py --device cuda --templates "${CRYOET_TEMPLATES:-.device/templates_10A}" \
  --snrs inf,1000,0.5 --n-per-class 100 --width 32 --embedding-dim 512 --seconds-per-model 8 \
  --train-ways 5 --episodes-per-step 8 --eval-episodes 1000 --support-pool 10 --ncc-rotations 200 \
  --dice-targets-per-class 50 --out "$OUT/cryoet_oneshot" 2>&1 | grep -v -i warning | tee "$OUT/cryoet_oneshot/log.txt"
echo "exit ${PIPESTATUS[0]}"
