#!/usr/bin/env bash
# On the GPU host: which cuDNN sub-libraries does an ONNX Runtime session need? For a CUDA 11.8
# slot (onnxruntime-gpu 1.18.1, cuDNN 8.9) and a CUDA 12.4 slot (onnxruntime-gpu $ORT12,
# default 1.20.2, cuDNN 9.5), each installed by `cudaswitch install` from a carried wheelhouse,
# a model with the layers a face swapper uses (Conv, BatchNormalization, Relu, MaxPool,
# ConvTranspose, Resize, Softmax, MatMul) runs on CUDAExecutionProvider with every
# sub-library, then again with sub-libraries taken out of the slot; each run's output is
# compared with the CPU provider's and the cuDNN libraries the process mapped are listed.
# With LEAN12=1 the 12.4 slot is also installed with `--leave-out libcudnn_adv.so.9` and
# checked with `exec --verify --provider cuda`, and a model with an LSTM (cuDNN's RNN, which
# lives in libcudnn_adv) shows what such a slot does when a model needs what it left out.
# Wheelhouses arrive as pieces: /tmp/p118 (CUDA 11.8 stack) and /tmp/p (CUDA 12.4 stack), see
# docs/gpu-results.md; a stack whose pieces are absent is skipped. Everything printed also
# goes to $OUT/cudnn-parts.log.
set -uo pipefail
out=${OUT:-/tmp/gpu-proofs}
mkdir -p "$out"
exec > >(tee "$out/cudnn-parts.log") 2>&1
root=$PWD
ORT12=${ORT12:-1.20.2}
test -d /tmp/s118/wh || ! ls /tmp/p118/piece* >/dev/null 2>&1 \
  || (mkdir -p /tmp/s118 && cd /tmp/s118 && cat /tmp/p118/piece* | tar -xf -) || exit 1
test -d /tmp/stack/wh || ! ls /tmp/p/piece* >/dev/null 2>&1 || (cd /tmp && cat p/piece* | tar -xf -) || exit 1
export PATH=/tmp/s118/bin:$PATH
export PATH=/tmp/stack/bin:$PATH
export PYTHONPATH=${CS_SRC:-$root/packages/cudaswitch/src}:/tmp/pyextra CUDASWITCH_HOME=/tmp/cshome
cs() { python3 -m cudaswitch "$@"; }
echo "== host"; python3 -V; nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
python3 - <<'EOF' || exit 1
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.default_rng(0)
def t(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
inits = [t("w1", 16, 3, 3, 3), t("g", 16), t("b", 16), t("mu", 16),
         numpy_helper.from_array(np.abs(rng.standard_normal(16)).astype(np.float32) + 1, "var"),
         t("wt", 16, 8, 2, 2), t("m", 64, 64),
         numpy_helper.from_array(np.array([1, 1, 1, 1], np.float32), "scales")]
nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["n"]),
         helper.make_node("Relu", ["n"], ["r"]),
         helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("ConvTranspose", ["p", "wt"], ["u"], strides=[2, 2]),
         helper.make_node("Resize", ["u", "", "scales"], ["z"], mode="linear"),
         helper.make_node("Softmax", ["z"], ["s"], axis=-1),
         helper.make_node("MatMul", ["s", "m"], ["y"])]
g = helper.make_graph(nodes, "layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                      [4, 3, 64, 64])], [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                      None)], inits)
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, "/tmp/layers.onnx")
hidden, feat = 32, 16
lstm = helper.make_graph(
    [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=hidden)], "rnn",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10, 4, feat])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    [t("W", 1, 4 * hidden, feat), t("R", 1, 4 * hidden, hidden)])
model = helper.make_model(lstm, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, "/tmp/lstm.onnx")
print("models written")
EOF
cat > /tmp/run_layers.py <<'EOF'
import ctypes, json, sys
import numpy as np
import onnxruntime as ort
name = sys.argv[1] if len(sys.argv) > 1 else "layers"
shape = {"layers": (4, 3, 64, 64), "lstm": (10, 4, 16)}[name]
path = f"/tmp/{name}.onnx"
x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
try:
    s = ort.InferenceSession(path, providers=["CUDAExecutionProvider"])
    y = s.run(None, {"x": x})[0]
    providers = s.get_providers()
except Exception as e:
    mapped = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libcudnn" in line})
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {str(e)[:400]}",
                      "cudnn_mapped": mapped}))
    sys.exit(1)
ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
    None, {"x": x})[0]
maps = [line.split()[-1] for line in open("/proc/self/maps") if "/lib" in line]
cudnn = sorted({p for p in maps if "libcudnn" in p})
main = next(p for p in maps if p.rsplit("/", 1)[-1].startswith("libcudnn.so"))
print(json.dumps({"model": name, "ok": providers[0] == "CUDAExecutionProvider"
                  and bool(np.allclose(y, ref, rtol=1e-2, atol=1e-2)),
                  "ort": ort.__version__, "providers": providers,
                  "cudnn": ctypes.CDLL(main).cudnnGetVersion(),
                  "max_abs_diff_to_cpu": float(np.abs(y - ref).max()),
                  "cudnn_mapped": cudnn}))
EOF
try() {  # [--model NAME] slot, then the sub-libraries to take out of it before the run
  local model=layers
  if [ "$1" = --model ]; then model=$2; shift 2; fi
  local slot=$1; shift
  local dir; dir=$(dirname "$(find "$CUDASWITCH_HOME" -name 'libcudnn.so.[89]' -path "*/$slot/*" | head -1)")
  mkdir -p "/tmp/out-$slot"
  for lib in "$@"; do mv "$dir/$lib" "/tmp/out-$slot/" || return 1; done
  echo "-- $slot without: ${*:-nothing}"
  cs exec --slot "$slot" -- python /tmp/run_layers.py "$model"; echo "   exit $?"
  for lib in "$@"; do mv "/tmp/out-$slot/$lib" "$dir/"; done
}
libs=cudart,nvrtc,cublas,cufft,curand,cudnn
if test -d /tmp/s118/wh; then
echo "== install the CUDA 11.8 slot"
cs install 11.8 --name ort11 --python python3 --package onnxruntime-gpu==1.18.1 \
  --with $libs --wheelhouse /tmp/s118/wh >/dev/null; echo "install: exit $?"
fi
if test -d /tmp/stack/wh; then
echo "== install the CUDA 12.4 slot (onnxruntime-gpu $ORT12)"
cs install 12.4 --name ort12 --python python3 --package "onnxruntime-gpu==$ORT12" \
  --with $libs --wheelhouse /tmp/stack/wh >/dev/null; echo "install: exit $?"
fi
cs slot list
if test -d /tmp/s118/wh; then
echo "== cuDNN 8.9 (CUDA 11.8)"
try ort11
try ort11 libcudnn_ops_train.so.8 libcudnn_cnn_train.so.8 libcudnn_adv_train.so.8
try ort11 libcudnn_ops_train.so.8 libcudnn_cnn_train.so.8 libcudnn_adv_train.so.8 libcudnn_adv_infer.so.8
fi
if test -d /tmp/stack/wh; then
echo "== cuDNN 9.5 (CUDA 12.4, onnxruntime-gpu $ORT12)"
try ort12
try ort12 libcudnn_adv.so.9
try ort12 libcudnn_engines_runtime_compiled.so.9
fi
if test -d /tmp/stack/wh && [ "${LEAN12:-0}" = 1 ]; then
echo "== the CUDA 12.4 slot installed with --leave-out libcudnn_adv.so.9"
cs install 12.4 --name ort12lean --python python3 --package "onnxruntime-gpu==$ORT12" \
  --with $libs --leave-out libcudnn_adv.so.9 --wheelhouse /tmp/stack/wh; echo "install: exit $?"
cs slot list
cs exec --slot ort12lean --verify --provider cuda -- true; echo "verify: exit $?"
try ort12lean
lean=$(dirname "$(find "$CUDASWITCH_HOME" -name 'libcudnn.so.9' -path '*/ort12lean/*' | head -1)")
echo "-- what the lean slot keeps under the left-out name:"
ls -l "$lean"/libcudnn_adv*; head -c 300 "$lean/libcudnn_adv.so.9"; echo
echo "-- a model with an LSTM (cuDNN's RNN lives in libcudnn_adv): whole, then lean, then"
echo "   the whole slot with libcudnn_adv moved out by hand (no placeholder)"
try --model lstm ort12
try --model lstm ort12lean
try --model lstm ort12 libcudnn_adv.so.9
fi
