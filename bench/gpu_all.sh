#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md's GPU section, in one run, on a CUDA host after
# `make install FACEGATE_TORCH=cuda` (or with PYTHON pointing at a python whose torch sees the
# GPU). Prints as it goes and keeps the whole log in bench/out/gpu-<date>.log.
#
#   bench/gpu_all.sh [LFW_PACK]     # LFW_PACK: from `python -m bench.gpu_parity pack`
#
# Order: CUDA parity tests, LFW View 1 decisions CPU vs GPU (fp32 and fp16), the embedders
# alone, the pipeline's stages, then the service (portrait 640x480 and 1080p 10-face group)
# with several worker and gateway processes, and its latency at half of its best rate.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PACK=${1:-}
mkdir -p bench/out
LOG=bench/out/gpu-$(date +%Y-%m-%d-%H%M).log
step() { echo "=== $(date '+%F %T') $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | grep -v RuntimeDirWarning | tee -a "$LOG"; }

step "machine"
run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
run "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
torch.cuda.get_device_name(0))"
step "CUDA parity tests"
run "$PY" -m pytest -m cuda tests/cuda -v -p no:cacheprovider
if [ -n "$PACK" ]; then
  step "LFW View 1, CPU pack vs this GPU"
  run "$PY" -m bench.gpu_parity check --pack "$PACK"
fi
step "embedders alone"
run "$PY" -m bench.embedder --device cuda --batches 64,128,256,512,1024
run "$PY" -m bench.embedder --device cuda --embedder arcface --batches 64,128,256,512,1024
step "pipeline stages"
run "$PY" -m bench.stages --device cuda --batch 64
run "$PY" -m bench.stages --device cuda --image group --batch 16
step "service, portrait 640x480"
for workers in 1 2 4; do
  FACEGATE_BATCH_MAX=${FACEGATE_BATCH_MAX:-64} run "$PY" -m bench.throughput --device cuda \
    --workers "$workers" --gateways 4 --clients 16,64,256,512 --callers 16,64,256 \
    --seconds 15 --batch 64
done
step "service, 1080p group photo, 10 faces"
FACEGATE_BATCH_MAX=${FACEGATE_BATCH_MAX:-64} run "$PY" -m bench.throughput --device cuda \
  --image group --workers 2 --gateways 2 --clients 8,32,128 --callers 8,32 --seconds 15 \
  --batch 16
step "done; log in $LOG"
