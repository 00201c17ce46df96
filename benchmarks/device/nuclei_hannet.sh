#!/usr/bin/env bash
# GPU evidence for nuclei_hannet (issue 3), about 2 x TRAIN_MIN + 1.5 minutes on one H100/H200:
#   1. full-width Han-Net (64..1024 channels, 6x16 dense layers) trained ${TRAIN_MIN:-1.25} min (wall clock) on
#      the training tiles of the split SPLIT (default: "default", the 7 miccai2015 training tiles; "all_sources"
#      adds 19 gbm40 tiles and tests on held-out tiles of both sources) with the improved recipe (class-weighted
#      CE + Dice, one-cycle LR, best checkpoint by validation AJI over the second half of training);
#   2. the peer, MONAI BasicUNetPlusPlus (2.4 M parameters), trained the same way for the same time;
#   3. the classical baseline (colour deconvolution + Otsu + watershed);
#   all scored by the same code on the split's test tiles (default split: Test 1 = miccai2015 test tiles,
#   Test 2 = all 30 gbm40 tiles), the networks with POSTPROCESS (default "distance": seeds split at
#   distance-transform h-maxima; the first one named also picks the checkpoint; "distance morphological"
#   adds the paper's scheme at a few seconds' cost);
#   4. with SPEED=1 also benchmarks/speed/nuclei_hannet.py (tiles/s, peak memory at matched parameter count; +25 s).
# Other knobs: MODELS (default "hannet peer classical"), BASE (Han-Net width, 64), WORKERS (data loaders, 6),
# QUALITY_TIMEOUT (seconds; default 2 x TRAIN_MIN + 75 s).
# Runs kept: benchmarks/results/device/2026-11-27-h200/ (60 s each, old recipe, seeds grown 2 px) and
# benchmarks/results/device/2026-11-27-h100/ (SPLIT=all_sources TRAIN_MIN=3 WORKERS=12, then MODELS=hannet TRAIN_MIN=4).
# Han-Net uses the method's default normalisation: instance norm since the third session of 2026-11-27; both
# kept runs used batch norm. The next run to make (one call, about 9.5 minutes): two seeds at equal time,
#   SPLIT=all_sources TRAIN_MIN=2 WORKERS=12 MODELS="hannet peer" EXTRA="--seeds 0 1" QUALITY_TIMEOUT=560
# then, here: python benchmarks/quality/nuclei_hannet/paired.py <files_at>/quality/quality.json (paired per-tile gap with its
# bootstrap interval; the CPU runs of benchmarks/results/RESULTS-nuclei_hannet.md were judged the same way).
# Needs: PyTorch with CUDA, numpy, scipy, scikit-image, monai; the repo's src/ on PYTHONPATH (set here);
# the shared nuclei data (NUCLEI_DATA, default ../shared/data/nuclei or shared/data/nuclei).
# Run from the repository root:   OUT=/some/dir bash benchmarks/device/nuclei_hannet.sh
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
TRAIN_MIN="${TRAIN_MIN:-1.25}"
QUALITY_TIMEOUT="${QUALITY_TIMEOUT:-$(python3 -c "print(int(2 * 60 * $TRAIN_MIN + 75))")}"
timeout "$QUALITY_TIMEOUT" "$PY" benchmarks/quality/nuclei_hannet/quality.py --data "$DATA" --out "$OUT/quality" --device cuda \
  --runs-dir "$RUNS" --models ${MODELS:-hannet peer classical} --minutes "$TRAIN_MIN" --base-channels "${BASE:-64}" \
  --growth-rate 16 --split "${SPLIT:-default}" \
  --crop-size 208 --batch-size 8 --crops-per-tile 48 --val-every 1 --workers "${WORKERS:-6}" --jobs 8 --threads 4 \
  --lr 1e-3 --lr-schedule onecycle --loss ce_dice --val-from 0.5 --postprocess ${POSTPROCESS:-distance} ${EXTRA:-} 2>&1 \
  | grep -v -E "^\s*$" | tee "$OUT/quality.txt" || echo "quality benchmark failed or timed out" | tee -a "$OUT/quality.txt"
echo "quality: $(( $(date +%s) - start )) s" | tee -a "$OUT/quality.txt"
if [ "${SPEED:-0}" = 1 ]; then
  timeout 25 "$PY" benchmarks/speed/nuclei_hannet.py --device cuda 2>&1 | tee "$OUT/speed.txt" \
    || echo "speed benchmark failed or timed out" | tee -a "$OUT/speed.txt"
fi
echo "total: $(( $(date +%s) - start )) s" | tee -a "$OUT/quality.txt"
