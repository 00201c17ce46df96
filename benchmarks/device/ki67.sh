#!/usr/bin/env bash
# Ki-67 GPU evidence (issue 4), one H100, <= 4 minutes. Needs PyTorch + numpy/scipy + scikit-image
# (+ matplotlib optional) and this repository's src/ on PYTHONPATH; writes everything under "$OUT".
#
#   OUT=/some/folder BIOMEDAI_SHARED_DATA=/path/to/shared/data bash benchmarks/device/ki67.sh
#
# 1. benchmarks/quality/ki67/quality.py: IHC quantifier table + both classifiers (padding-free resnet18_valid and the paper's
#    padded resnet18) trained 20 epochs (Table 3) with the method's defaults (class-weighted loss,
#    dihedral + stain jitter) on the DeepLIIF train cells, 3 seeds each, tested on the 4 test tiles.
# 2. benchmarks/speed/ki67_fcn.py: the paper's 7,556 x 3,864 region, FCN one pass / FCN tiled / naive 64x64 patches,
#    for both networks with the seed-0 weights from step 1 (time, peak GPU memory, max |logit difference|,
#    argmax agreement; the valid network must give the same output).
set -u
OUT="${OUT:-$PWD/device_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
DATA="${BIOMEDAI_SHARED_DATA:-$PWD/shared/data}/ki67/deepliif_sample"
if [ ! -d "$DATA" ]; then DATA="$PWD/../shared/data/ki67/deepliif_sample"; fi
PY="${PYTHON:-python}"
if ! "$PY" -c "import tqdm" 2>/dev/null; then  # the training engine's progress helper imports tqdm
  SHIM="$(mktemp -d)"; mkdir -p "$SHIM/tqdm"; : > "$SHIM/tqdm/__init__.py"
  printf 'def tqdm(iterable=None, *a, **k):\n    return iterable\n' > "$SHIM/tqdm/auto.py"
  export PYTHONPATH="$PYTHONPATH:$SHIM"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" >> "$OUT/gpu.txt" 2>&1
if [ -d "$DATA" ]; then
  timeout 150 "$PY" benchmarks/quality/ki67/quality.py --data "$DATA" --epochs 20 --seeds 0,1,2 --device cuda \
      --out "$OUT/morph_run" --json "$OUT/ki67_quality.json" > "$OUT/ki67_quality.md" 2> "$OUT/ki67_quality.err"
  echo "quality (both networks, 3 seeds) rc=$?" >> "$OUT/status.txt"
else
  echo "no DeepLIIF data at $DATA: quality step skipped" >> "$OUT/status.txt"
fi
W=""
for arch in resnet18_valid resnet18; do
  if [ -f "$OUT/morph_run/${arch}_seed0/weights.pt" ]; then W="$W --weights $OUT/morph_run/${arch}_seed0/weights.pt"; fi
done
timeout 70 "$PY" benchmarks/speed/ki67_fcn.py --device cuda --batch 1024 $W --json "$OUT/ki67_fcn_speed.json" \
    > "$OUT/ki67_fcn_speed.txt" 2> "$OUT/ki67_fcn_speed.err"
echo "speed rc=$?" >> "$OUT/status.txt"
rm -f "$OUT"/morph_run/*/checkpoints/*.pt "$OUT"/morph_run/*/weights.pt  # up to 45 MB each; the .sha256 stays
cat "$OUT/status.txt" "$OUT/ki67_fcn_speed.txt"
