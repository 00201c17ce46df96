#!/usr/bin/env bash
# One device session for several GPU checks in a fixed wall budget (default 480 s), run in order;
# results of each step are packed into $OUT/<step>.tgz as soon as the step ends, so a cut run still
# returns what finished. Data and wheels come from the carried folders .device/ and .whl/.
#   OUT=/some/dir BUDGET_S=480 bash benchmarks/device/session.sh
set -u
OUT="${OUT:-/tmp/device_session}"; mkdir -p "$OUT"
BUDGET_S="${BUDGET_S:-480}"
start=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - start) )); }
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHON=python3 PYTHONUNBUFFERED=1
export NUCLEI_DATA="$PWD/.device/shared/data/nuclei" CRYOET_TEMPLATES="$PWD/.device/templates_10A"
export BIOMEDAI_SHARED_DATA="$PWD/.device/shared/data"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
pack() { tar -czf "$OUT/$1.tgz" --exclude='*.pt' --exclude='*.pth' -C /tmp/dev "$1" 2>/dev/null; }

mkdir -p /tmp/dev/nuclei
OUT=/tmp/dev/nuclei timeout $(( $(left) - 10 )) bash benchmarks/device/nuclei_hannet.sh > /tmp/dev/nuclei/run.log 2>&1
echo "nuclei rc=$? at $(( $(date +%s) - start )) s" | tee -a "$OUT/steps.txt"; pack nuclei

mkdir -p /tmp/dev/ki67
t=$(( $(left) - 240 )); [ "$t" -gt 75 ] && t=75
if [ "$t" -gt 20 ]; then
  timeout "$t" python3 benchmarks/speed/ki67_fcn.py --device cuda --batch 1024 --json /tmp/dev/ki67/ki67_fcn_speed.json \
    > /tmp/dev/ki67/ki67_fcn_speed.txt 2>&1
  echo "ki67 speed rc=$? at $(( $(date +%s) - start )) s" | tee -a "$OUT/steps.txt"; pack ki67
fi

mkdir -p /tmp/dev/cryoet
t=$(( $(left) - 10 ))
if [ "$t" -gt 60 ]; then
  OUT=/tmp/dev/cryoet timeout "$t" bash benchmarks/device/cryoet_cosnet.sh > /tmp/dev/cryoet/run.log 2>&1
  echo "cryoet rc=$? at $(( $(date +%s) - start )) s" | tee -a "$OUT/steps.txt"
fi
pack cryoet
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/steps.txt"
