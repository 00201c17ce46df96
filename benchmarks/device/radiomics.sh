#!/usr/bin/env bash
# Radiomics on a GPU machine (issues 10 and 29), one GPU, <= 9 minutes. Needs PyTorch + numpy/scipy +
# SimpleITK + PyWavelets (scikit-image optional: without it GLSZM is left out) and this repository's
# src/ on PYTHONPATH. PyRadiomics is optional: with it (installed, or wheels in the carried folder
# .whl/, see below) steps 2 and 3 also time PyRadiomics on the same cases on this machine's CPU, so
# the ratios name the card; without it they time ours only. Writes everything under "$OUT".
#
#   OUT=/some/folder bash benchmarks/device/radiomics.sh
#
# Wheels for .whl/ (built here, carried with the run; PyRadiomics' C extension must match the device's
# Python, check `python3 -V` there first):
#   /work/main/.venv/bin/pip wheel --no-deps --no-build-isolation -w .whl pyradiomics pykwalify \
#       ruamel.yaml ruamel.yaml.clib python-dateutil docopt six
#
# 1. torch (CUDA) vs numpy on small random volumes: every voxel-based GLCM map equal to relative 1e-9
#    (Imc2 absolute 1e-7), masked and unmasked kernels, radius 1 and 2.
# 2. speed/radiomics_speed.py --voxel --device cuda: voxel-based maps of synthetic cases up to ~100,000 ROI
#    voxels, numpy vs GLCM-in-torch on the GPU (and PyRadiomics on the two small ones), values checked.
# 3. speed/radiomics_speed.py --large: whole cases (segment-based, CPU numpy; no torch path there) over
#    100,000 ROI voxels against PyRadiomics, alternating, with the machine's load; skipped without it.
set -u
OUT="${OUT:-$PWD/device_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
if ls .whl/*.whl >/dev/null 2>&1 && ! "$PY" -c "import radiomics" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
PEER="--no-peer"
"$PY" -c "import radiomics" 2>/dev/null && PEER=""
echo "PyRadiomics: ${PEER:-importable}" >> "$OUT/status.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" >> "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"

timeout 120 "$PY" - > "$OUT/torch_equals_numpy.txt" 2>&1 <<'EOF'
import numpy as np, torch
from scipy import ndimage
from biomedai.radiomics import extract

worst = 0.0
for seed, (masked, radius) in enumerate([(True, 1), (False, 1), (True, 2), (False, 2)]):
    rng = np.random.default_rng(seed)
    shape = (10, 16, 14)
    vol = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.0) * 300 + rng.normal(0, 20, shape)
    roi = (ndimage.gaussian_filter(rng.random(shape), 2) > 0.5).astype(np.uint8)
    params = {"setting": {"binWidth": 40}, "featureClass": {"glcm": None},
              "voxelSetting": {"kernelRadius": radius, "maskedKernel": masked}}
    a = extract(vol, roi, params, voxel_based=True)
    b = extract(vol, roi, params, voxel_based=True, device="cuda")
    for k in a:
        if k.startswith("diagnostics_"):
            continue
        x, y = a[k].array, b[k].array
        atol = 1e-7 if k.endswith("_Imc2") else 1e-9
        ok = np.allclose(y, x, rtol=1e-9, atol=atol, equal_nan=True)
        both = ~np.isnan(x) & ~np.isnan(y)
        err = float(np.max(np.abs(x[both] - y[both]) / np.maximum(np.abs(x[both]), 1e-12))) if both.any() else 0.0
        worst = max(worst, err if not k.endswith("_Imc2") else 0.0)
        print(f"masked={masked} r={radius} {k}: {'ok' if ok else 'DIFFERS'} max rel {err:.2e}")
print(f"worst relative difference (all but Imc2): {worst:.2e}")
EOF
echo "torch vs numpy rc=$?" >> "$OUT/status.txt"

timeout 240 "$PY" benchmarks/speed/radiomics_speed.py --voxel --device cuda $PEER --repeat 2 \
    > "$OUT/voxel_speed.txt" 2> "$OUT/voxel_speed.err"
echo "voxel speed rc=$?" >> "$OUT/status.txt"

if [ -z "$PEER" ]; then
  timeout 150 "$PY" benchmarks/speed/radiomics_speed.py --large --repeat 1 \
      --cases synthetic-large-1,synthetic-large-2 > "$OUT/whole_case_speed.txt" 2>&1
  echo "whole-case speed rc=$?" >> "$OUT/status.txt"
fi
