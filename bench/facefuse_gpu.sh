#!/usr/bin/env bash
# facefuse benchmark on a GPU host with onnxruntime-gpu carried as wheel pieces in /tmp
# (see docs/gpu-results.md, section facefuse). Usage: bash bench/facefuse_gpu.sh [FRAMES]
set -euo pipefail
frames=${1:-120}
out=${OUT:-/tmp/facefuse-out}
mkdir -p "$out"
cd /tmp
[ -f onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl ] ||
  cat ortp.* > onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/*.whl
cd - >/dev/null
export PYTHONPATH=/tmp/site:$PWD/packages/facefuse/src
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
for providers in cuda cpu; do
  python3 -m facefuse benchmark --execution-providers "$providers" --resolution 720p \
    --frames "$frames" --no-progress | tee "$out/bench-$providers.txt"
done
