#!/usr/bin/env bash
# The GPU checks, as one prepared run for a lent GPU machine (the `device` tool runs it in the
# repository root; results go under $OUT, default bench-gpu/). Never needed by the test suite.
#   1. tests/test_gpu.py: each pipeline on torch CUDA and on onnxruntime's CUDA provider
#      (IOBinding; fp32 and fp16 graphs) against the CPU;
#   2. bench/onnx_speed.py on CUDA, fp32 then fp16: onnxruntime vs PyTorch, every pipeline.
# Each step has its own time limit, so one that hangs cannot take the others' time.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-gpu}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
status=0
step() {  # step NAME SECONDS COMMAND...: its output in $OUT/NAME.txt, its exit status kept
  local name=$1 limit=$2
  shift 2
  echo "== $name" >&2
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1 || { echo "$name: FAILED ($?)" >&2; status=1; }
  tail -n 25 "$OUT/$name.txt"
}
step pytest-gpu 240 "$PY" -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider
step onnx-speed-fp32 200 "$PY" bench/onnx_speed.py --device cuda --repeats 3
step onnx-speed-fp16 200 "$PY" bench/onnx_speed.py --device cuda --repeats 3 --fp16
exit $status
