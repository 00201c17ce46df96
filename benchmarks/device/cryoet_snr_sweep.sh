#!/usr/bin/env bash
# The full cryo-ET SNR sweep on ONE GPU (about 9 min): SIMULATED subtomograms from the 26 PolNet structures,
# SNR (projection-band definition) inf, 1, 0.5, 0.1, 0.05, 0.01, realistic boxes (neighbours, membranes,
# fiducials, dose weighting); COS-Net and the supervised CNN at full width with 40 s of training each, plain
# and wedge-aware template matching over 200 rotations, 1000 episodes per n-way, FSC calibration per SNR.
# Needs PyTorch + numpy/scipy/scikit-image (+ mrcfile) and this package via PYTHONPATH=src. Before the run, here:
#     mkdir -p .device && cp -r /work/shared/data/cryoet/templates_10A .device/     (.device/ is git-ignored)
# then run with carry [".device"]:   bash benchmarks/device/cryoet_snr_sweep.sh
# Writes $OUT/cryoet_sweep/{results.json,tables.md,log.txt}; results are rewritten after every SNR.
set -uo pipefail
OUT="${OUT:-/tmp/device_out}"
mkdir -p "$OUT/cryoet_sweep"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/cryoet_sweep/gpu.txt"
timeout 540 "$PY" benchmarks/quality/cryoet_cosnet/snr_sweep.py --device cuda --threads 0 \
  --templates "${CRYOET_TEMPLATES:-.device/templates_10A}" --snrs inf,1,0.5,0.1,0.05,0.01 --n-per-class 100 --test-per-class 100 \
  --width 64 --embedding-dim 512 --binning 1 --seconds-per-model 40 --eval-episodes 1000 --rotations 200 \
  --dice-targets-per-class 30 --out "$OUT/cryoet_sweep" 2>&1 | grep -v -i warning | tee "$OUT/cryoet_sweep/log.txt"
echo "exit ${PIPESTATUS[0]}"
