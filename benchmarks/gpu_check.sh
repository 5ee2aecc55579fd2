#!/usr/bin/env bash
# The GPU check, in one go (under 8 minutes on a GPU machine; runs on a CPU too):
#   1. an injected NaN is found under XLA, at its step and layer, with the
#      weights of a healthy XLA run unchanged by nantrace (tests/test_always_on.py);
#   2. what nantrace costs with XLA off and on, side by side, interleaved
#      (benchmarks/overhead.py), as one table;
#   3. the floor: what the least guard of each form costs there, no tool
#      around it, beside Keras's own train function and the recorded one
#      (benchmarks/guard_cost.py).
#
#   bash benchmarks/gpu_check.sh            # 3 repeats of 200 steps
#   REPEATS=5 STEPS=300 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
REPEATS="${REPEATS:-3}"
STEPS="${STEPS:-200}"
OUT="${OUT:-$(mktemp -d)}"

echo "== devices"
python -c "import tensorflow as tf; print('TensorFlow', tf.__version__, '| GPUs:', tf.config.list_physical_devices('GPU') or 'none')"

echo "== 1. a NaN under XLA is found; XLA stays on and changes nothing"
python -m pytest -q -p no:cacheprovider tests/test_always_on.py -k "xla or jit_compiled" 2>&1 | tail -3

echo "== 2. overhead, XLA off and on (${REPEATS} interleaved repeats of ${STEPS} steps)"
python benchmarks/overhead.py --variants none_prebuilt,nantrace,none_xla,nantrace_xla \
    --repeats "$REPEATS" --steps "$STEPS" --json "$OUT/gpu_check.json" > "$OUT/overhead.log"
# The own-cost table (nantrace vs the same run without it) and the phases table.
sed -n '/^| variant | vs |/,/^$/p' "$OUT/overhead.log"
sed -n '/^| variant | first step s |/,/^$/p' "$OUT/overhead.log"
echo "raw numbers: $OUT/gpu_check.json, log: $OUT/overhead.log"

echo "== 3. the floor: the least guard, without nantrace, and the recorded step (guard_cost.py, mlp_bn)"
python benchmarks/guard_cost.py --config mlp_bn --rounds 20 --steps 20 2> "$OUT/guard_cost.err" \
    | sed -n '/^| form |/,$p'
