#!/usr/bin/env bash
# On the GPU host: a slot whose venv holds a CUDA 12 onnxruntime-gpu build, installed by
# `cudaswitch install` from a carried wheelhouse, runs a convolution and a matrix product on
# the GPU, and every CUDA library the process maps comes from that slot (the driver's libcuda
# excepted), while the host's own CUDA 13 toolkit, cuDNN and PyTorch wheels stay out.
# The wheelhouse arrives as pieces in /tmp/p (see docs/gpu-results.md). Everything it prints
# also goes to $OUT/slot-proof.log.
set -uo pipefail
out=${OUT:-/tmp/gpu-proofs}
mkdir -p "$out"
exec > >(tee "$out/slot-proof.log") 2>&1
root=$PWD
test -d /tmp/stack/wh || (cd /tmp && cat p/piece* | tar -xf -) || exit 1
export PATH=/tmp/stack/bin:$PATH
cd "$root"
# cudaswitch runs from source there; its one dependency (pyelftools) is carried to /tmp/pyextra
export PYTHONPATH=${CS_SRC:-$root/packages/cudaswitch/src}:/tmp/pyextra CUDASWITCH_HOME=/tmp/cshome
cs() { python3 -m cudaswitch "$@"; }
echo "== host"; python3 -V; nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
ls /tmp/stack/wh
echo "== install the slot from the wheelhouse"
time cs install 12.4 --name ort12 --python python3 --package onnxruntime-gpu==1.20.2 \
  --with cudart,nvrtc,cublas,cufft,curand,cudnn --wheelhouse /tmp/stack/wh; echo "install: exit $?"
cs slot list
echo "== a convolution and a matrix product, made with the host's onnx"
python3 - <<'EOF' || exit 1
import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np
rng = np.random.default_rng(0)
w = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w")
m = numpy_helper.from_array(rng.standard_normal((62, 62)).astype(np.float32), "m")
g = helper.make_graph(
    [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("MatMul", ["c", "m"], ["y"])],
    "proof", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 3, 64, 64])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, m])
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, "/tmp/proof.onnx")
print("model written")
EOF
cat > /tmp/run_proof.py <<'EOF'
import json, os, sys
import numpy as np
import onnxruntime as ort
s = ort.InferenceSession("/tmp/proof.onnx", providers=["CUDAExecutionProvider"])
x = np.random.default_rng(1).standard_normal((8, 3, 64, 64)).astype(np.float32)
y = s.run(None, {"x": x})[0]
libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
               if "/lib" in line and any(k in line.split()[-1].rsplit("/", 1)[-1] for k in
               ("libcu", "libnvrtc", "libnvJitLink", "libnvinfer", "libonnxruntime_providers"))})
import ctypes
cudnn = ctypes.CDLL("libcudnn.so.9").cudnnGetVersion()  # the build this process loaded
print(json.dumps({"python": sys.executable, "ort": ort.__version__, "providers": s.get_providers(),
                  "cudnn": cudnn,
                  "out": list(y.shape), "sum": float(y.sum()), "libs": libs}, indent=1))
EOF
echo "== exec --slot ort12 --verify --provider cuda"
cs exec --slot ort12 --verify --provider cuda -- true; echo "provider check: exit $?"
echo "== exec --slot ort12 -- python /tmp/run_proof.py"
cs exec --slot ort12 -- python /tmp/run_proof.py > "$out/slot-proof.json"; echo "run: exit $?"
cat "$out/slot-proof.json"
echo "== libraries outside $CUDASWITCH_HOME (only the driver's libcuda may be)"
python3 - "$out/slot-proof.json" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
home = os.path.realpath(os.environ["CUDASWITCH_HOME"])
outside = [p for p in d["libs"] if not os.path.realpath(p).startswith(home + "/")
           and not os.path.basename(p).startswith("libcuda.so")]
print("outside:", outside or "none")
print("providers:", d["providers"])
sys.exit(1 if outside or d["providers"][0] != "CUDAExecutionProvider" else 0)
EOF
echo "slot libraries check: exit $?"
