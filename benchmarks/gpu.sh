#!/usr/bin/env bash
# GPU benchmark (GUIDE §9): images/s and seconds per 1,000 images on one GPU, fp32 vs bf16, compile
# on the two small cases; each case in its own process under its own timeout, printed as it ends,
# the whole run within 5 minutes. For a bare GPU machine with its own Python 3.12 and CUDA torch,
# no network and none of gankit's other dependencies: gankit runs from this source tree
# (PYTHONPATH=.) and missing dependencies come from wheels fetched beforehand.
#
#   bash benchmarks/gpu.sh --fetch-wheels      # on a machine with PyPI: wheels -> benchmarks/wheels/
#   bash benchmarks/gpu.sh                     # on the GPU machine (carry benchmarks/wheels along)
#   bash benchmarks/gpu.sh --tests             # first the GPU checks of tests/gpu (own 150-s limit), then the cases
#   DEVICE=cpu bash benchmarks/gpu.sh --dry-run   # tiny models on CPU: checks this script's logic
#
# Environment: PYTHON (default python3), DEVICE (default cuda), BUDGET_S (default 290), WHEELS, CASES (a
# regular expression: run only the cases whose names match, e.g. CASES='sg3t|fp16');
# for --dry-run DRY_LIMIT_SCALE (time limits x10 by default) and BUDGET_S_DRY (default 3000).
# Cases: DCGAN 64 px (the PyTorch DCGAN example's widths, batch 128); StyleGAN2 256 px in the
# FFHQ-U-256 ablation configuration (ADA 'paper256': batch 64, channel base 16384, minibatch-stddev
# group 8, 8 mapping layers, gamma 1; accumulated in rounds of 32); SG3-T 128 px (batch 32; also with
# G.checkpoint_layers=true). The StyleGAN cases report "skipped: preset not present" where this tree has no such preset.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BUDGET_S=${BUDGET_S:-290}
WHEELS=${WHEELS:-benchmarks/wheels}
# gankit's run-time dependencies for training (import name = pinned wheel).
DEPS="numpy=numpy==2.4.6 omegaconf=omegaconf==2.4.0 yaml=PyYAML==6.0.4 safetensors=safetensors==0.8.0 \
tqdm=tqdm==4.70.1 PIL=pillow==13.0.0"

if [ "${1:-}" = "--fetch-wheels" ]; then
    mkdir -p "$WHEELS"
    for dep in $DEPS; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
            --platform any -d "$WHEELS" "${dep#*=}" || exit 1
    done
    echo "wheels in $WHEELS:"; ls "$WHEELS"; exit 0
fi

TINY=()
SECONDS_PER_CASE=6
LIMIT_SCALE=1
if [ "${1:-}" = "--dry-run" ]; then  # tiny models, 1 s windows; a slow CPU gets 10x the time limits
    TINY=(--tiny); SECONDS_PER_CASE=1; LIMIT_SCALE=${DRY_LIMIT_SCALE:-10}; BUDGET_S=${BUDGET_S_DRY:-3000}
fi

# Missing dependencies: install the carried wheels into a private folder (no index, no network).
missing=""
for dep in $DEPS; do
    "$PY" -c "import ${dep%%=*}" 2>/dev/null || missing="$missing ${dep#*=}"
done
SITE=""
if [ -n "$missing" ]; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "missing:$missing; no wheels in $WHEELS (run 'bash benchmarks/gpu.sh --fetch-wheels' where PyPI is reachable)"
        exit 1
    fi
    SITE=$(mktemp -d)
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl || exit 1
fi
export PYTHONPATH=".${SITE:+:$SITE}"
for dep in $DEPS; do
    "$PY" -c "import ${dep%%=*}" || { echo "cannot import ${dep%%=*} after installing the wheels"; exit 1; }
done
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))" \
    || { echo "this Python has no torch"; exit 1; }

if [ "${1:-}" = "--tests" ]; then  # pytest's summary lines and failures only (the image's pytest)
    if "$PY" -c "import pytest" 2>/dev/null; then
        timeout --kill-after=5 "${TESTS_LIMIT_S:-150}" "$PY" -m pytest -q -rf -p no:cacheprovider tests/gpu 2>&1 \
            | grep -E "passed|failed|skipped|error|^FAILED|^E " | grep -v DEBUG | head -n 40
    else
        echo "tests/gpu: skipped (this Python has no pytest)"
    fi
fi

START=$(date +%s)
# case name | timeout s | gpu_bench.py arguments
run_case() {
    local name=$1 limit=$(( $2 * LIMIT_SCALE )); shift 2
    [[ -n "${CASES:-}" && ! $name =~ $CASES ]] && return
    local used=$(( $(date +%s) - START ))
    if (( used + limit > BUDGET_S )); then
        echo "{\"case\": \"$name\", \"status\": \"skipped: not enough of the ${BUDGET_S} s budget left (${used} s used)\"}"
        return
    fi
    local out rc err
    err=$(mktemp)
    out=$(timeout --kill-after=5 "$limit" "$PY" benchmarks/gpu_bench.py --case "$name" --device "$DEVICE" \
        --seconds "$SECONDS_PER_CASE" "${TINY[@]}" "$@" 2>"$err")
    rc=$?
    if (( rc == 124 || rc == 137 )); then
        echo "{\"case\": \"$name\", \"status\": \"timeout after ${limit} s\"}"
    elif [ -n "$out" ]; then
        echo "$out" | tail -n 1
    else
        echo "{\"case\": \"$name\", \"status\": \"failed (exit $rc): $(tail -n 1 "$err" | tr -d '"\\')\"}"
    fi
    rm -f "$err"
}

DCGAN64=(--preset dcgan --resolution 64 --batch 128 --set G.base_channels=64 --set G.max_channels=512
         --set D.base_channels=64 --set D.max_channels=512)
SG2_256=(--preset stylegan2-paper --resolution 256 --batch 64 --set batch_gpu=32 --set G.channel_base=16384
         --set D.channel_base=16384 --set D.mbstd_group_size=8 --set reg.r1.gamma=1.0 --set ema.kimg=20)
SG3T_128=(--preset stylegan3-t-paper --resolution 128 --batch 32)

run_case dcgan64-fp32          25 "${DCGAN64[@]}" --precision fp32
run_case dcgan64-bf16          25 "${DCGAN64[@]}" --precision bf16
run_case dcgan64-bf16-compile  90 "${DCGAN64[@]}" --precision bf16 --compile
run_case sg2-256-fp32          45 "${SG2_256[@]}" --precision fp32
run_case sg2-256-bf16          45 "${SG2_256[@]}" --precision bf16
run_case sg2-256-fp16          45 "${SG2_256[@]}" --precision fp16  # the official runs' precision
run_case sg3t-128-fp32         35 "${SG3T_128[@]}" --precision fp32
run_case sg3t-128-bf16         35 "${SG3T_128[@]}" --precision bf16
run_case sg3t-128-bf16-ckpt    35 "${SG3T_128[@]}" --precision bf16 --set G.checkpoint_layers=true
run_case sg3t-128-bf16-compile 120 "${SG3T_128[@]}" --precision bf16 --compile
echo "total $(( $(date +%s) - START )) s"
