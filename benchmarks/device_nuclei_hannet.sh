#!/usr/bin/env bash
# GPU evidence for nuclei_hannet (issue 3), <= 4 minutes on one H100:
#   1. full-width Han-Net (64..1024 channels, 6x16 dense layers) trained 60 s on the 7 miccai2015 training
#      tiles of the fixed split, best checkpoint by validation AJI (image04);
#   2. the peer, MONAI BasicUNetPlusPlus (2.4 M parameters), trained the same way for the same 60 s;
#   3. the classical baseline (colour deconvolution + Otsu + watershed);
#   all scored by the same code on Test 1 (miccai2015 test tiles) and Test 2 (all 30 gbm40 tiles);
#   4. nuclei_speed.py: tiles/s and peak memory at matched parameter count, post-processing time.
# Needs: PyTorch with CUDA, numpy, scipy, scikit-image, monai; the repo's src/ on PYTHONPATH (set here);
# the shared nuclei data (NUCLEI_DATA, default ../shared/data/nuclei or shared/data/nuclei).
# Run from the repository root:   OUT=/some/dir bash benchmarks/device_nuclei_hannet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-device-output}"
mkdir -p "$OUT"
DATA="${NUCLEI_DATA:-}"
for candidate in "$DATA" ../shared/data/nuclei shared/data/nuclei /work/shared/data/nuclei; do
  if [ -n "$candidate" ] && [ -d "$candidate/miccai2015" ]; then DATA="$candidate"; break; fi
done
if [ ! -d "$DATA/miccai2015" ]; then
  echo "nuclei data not found: set NUCLEI_DATA to the folder holding miccai2015/ and gbm40/" >&2
  exit 2
fi
PY="${PYTHON:-python}"
if ! "$PY" -c "import tqdm" 2>/dev/null; then  # biomedai's progress helper needs tqdm; a pass-through stand-in
  SHIM="$(mktemp -d)"; mkdir -p "$SHIM/tqdm"; : > "$SHIM/tqdm/__init__.py"
  printf 'def tqdm(iterable=None, *args, **kwargs):\n    return iterable\n' > "$SHIM/tqdm/auto.py"
  export PYTHONPATH="$PYTHONPATH:$SHIM"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
"$PY" - <<'EOF' | tee "$OUT/versions.txt"
import torch, monai, numpy, scipy, skimage
print("torch", torch.__version__, "cuda", torch.version.cuda, "monai", monai.__version__, "numpy", numpy.__version__,
      "scipy", scipy.__version__, "skimage", skimage.__version__)
EOF
RUNS="$(mktemp -d)"  # checkpoints (hundreds of MB at full width) stay off $OUT
export PYTHONUNBUFFERED=1
start=$(date +%s)
timeout 205 "$PY" benchmarks/nuclei_quality.py --data "$DATA" --out "$OUT/quality" --device cuda \
  --runs-dir "$RUNS" --models hannet peer classical --minutes 1.0 --base-channels 64 --growth-rate 16 --crop-size 208 \
  --batch-size 8 --crops-per-tile 48 --val-every 1 --workers 6 --jobs 8 --threads 4 2>&1 \
  | grep -v -E "^\s*$" | tee "$OUT/quality.txt" || echo "quality benchmark failed or timed out" | tee -a "$OUT/quality.txt"
echo "quality: $(( $(date +%s) - start )) s" | tee -a "$OUT/quality.txt"
timeout 25 "$PY" benchmarks/nuclei_speed.py --device cuda 2>&1 | tee "$OUT/speed.txt" || echo "speed benchmark failed or timed out" | tee -a "$OUT/speed.txt"
echo "total: $(( $(date +%s) - start )) s" | tee -a "$OUT/speed.txt"
