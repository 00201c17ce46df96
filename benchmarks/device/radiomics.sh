#!/usr/bin/env bash
# Radiomics GPU evidence (issue 10), one GPU, <= 7 minutes. Needs PyTorch + numpy/scipy + SimpleITK +
# PyWavelets (scikit-image optional: without it GLSZM is left out) and this repository's src/ on
# PYTHONPATH; PyRadiomics is NOT needed (the torch path is checked against our numpy path, which the
# CPU tests check against PyRadiomics). Writes everything under "$OUT".
#
#   OUT=/some/folder bash benchmarks/device/radiomics.sh
#
# 1. torch (CUDA) vs numpy on small random volumes: every voxel-based GLCM map equal to relative 1e-9
#    (Imc2 absolute 1e-7), masked and unmasked kernels, radius 1 and 2.
# 2. benchmarks/speed/radiomics.py --voxel --device cuda --no-peer: voxel-based maps of synthetic cases up to
#    ~100,000 ROI voxels, numpy vs GLCM-in-torch on the GPU, values checked, best of 2.
set -u
OUT="${OUT:-$PWD/device_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"
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

timeout 300 "$PY" benchmarks/speed/radiomics.py --voxel --device cuda --no-peer --repeat 2 \
    > "$OUT/voxel_speed.txt" 2> "$OUT/voxel_speed.err"
echo "voxel speed rc=$?" >> "$OUT/status.txt"
