#!/usr/bin/env bash
# The prepared GPU check: run it whenever a GPU is at hand (under 8 minutes on one
# H100/H200-class card). In one go:
#   1. the card, the driver and torch;
#   2. the CUDA tests (tests/test_cuda.py: every algorithm's steps and scoring in each
#      BN mode against the CPU, the ground-truth builder, resume, no host syncs);
#   3. benchmarks/gpu_paper.py: paper-size throughput on synthetic CIFAR-10-layout data
#      (SPOS plain / regularised, channels_last, bf16 autocast, data share, host syncs,
#      FairNAS, GDAS, PC-DARTS, scoring) and the estimated hours of every paper run.
# Output: benchmarks/measured/{gpu_env.txt,gpu_tests.txt,gpu_paper.txt,gpu_paper.json}
# (or under $OUT when set). Commit them with the card named; `lmreg reproduce --scale
# paper --dry-run` then estimates GPU hours from gpu_paper.json.
#
#   bash benchmarks/gpu_check.sh            # from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${OUT:-benchmarks/measured}
mkdir -p "$DEST"
status=0

# The package must import; on a machine without internet install it without dependencies.
python -c "import lmreg" 2>/dev/null || python -m pip install -q --no-deps --no-build-isolation -e . \
    || { echo "gpu_check: cannot install lmreg" >&2; exit 2; }

{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
} | tee "$DEST/gpu_env.txt"

echo "== CUDA tests" | tee "$DEST/gpu_tests.txt"
timeout 240 python -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee -a "$DEST/gpu_tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== paper-size throughput" | tee "$DEST/gpu_paper.txt"
timeout 300 python benchmarks/gpu_paper.py --steps 30 --repeats 3 --json "$DEST/gpu_paper.json" 2>&1 \
    | tee -a "$DEST/gpu_paper.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "gpu_check: exit $status; figures in $DEST"
exit $status
