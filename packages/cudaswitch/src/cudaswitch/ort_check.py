"""Open a tiny ONNX Runtime session on one provider and report which providers are active.

ONNX Runtime does not fail when the CUDA or TensorRT provider cannot load its libraries: it
logs "Falling back to ['CPUExecutionProvider']" and runs on the CPU. This script, run as a
plain file by the slot's own interpreter under the planned environment, turns that into data:
the providers the build has, the ones the session really uses, and what ONNX Runtime logged
(the missing library's name is in there). Prints one JSON object.

``torch``, ``jax`` and ``cupy`` run a tiny GPU operation of that framework instead (a
convolution, which loads cuDNN, and a matrix product, which loads cuBLAS), printing one JSON
line after the import and one after the operation, so that a process that aborts inside a
library still leaves what it had mapped by then.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

PROVIDERS = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

# A one-node model (Identity on a float[1]), opset 11, IR version 6: every ONNX Runtime release
# from 1.5 on opens it.
MODEL = bytes.fromhex(
    "0806120a637564617377697463683a470a100a017812017922084964656e746974791211637564617377"
    "697463682d7665726966795a0f0a0178120a0a08080112040a020801620f0a0179120a0a08080112040a"
    "02080142040a00100b"
)


def check(provider: str) -> dict:
    wanted = PROVIDERS[provider]
    report: dict = {"provider": wanted, "python": sys.executable}
    try:
        import onnxruntime as ort
    except ImportError as e:
        report["error"] = f"onnxruntime is not importable by {sys.executable}: {e}"
        return report
    report["version"] = getattr(ort, "__version__", "?")
    report["module"] = getattr(ort, "__file__", "?")
    report["available"] = list(ort.get_available_providers())
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            session = ort.InferenceSession(MODEL, providers=[wanted, "CPUExecutionProvider"])
            report["active"] = list(session.get_providers())
        except Exception as e:  # any failure to build the session is the finding itself
            report["active"] = []
            report["error"] = f"{type(e).__name__}: {e}"
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        report["log"] = log.read()[-4000:].decode("utf-8", "replace")
    from probe import mapped_cuda_libs  # beside this file, which runs as a script

    report["maps"] = mapped_cuda_libs()
    return report


FRAMEWORKS = ("torch", "jax", "cupy")


def _line(report: dict) -> None:
    from probe import mapped_cuda_libs  # beside this file, which runs as a script

    report["maps"] = mapped_cuda_libs()
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


def _torch(report: dict) -> None:
    import torch

    report.update(version=torch.__version__, module=torch.__file__,
                  cuda_build=torch.version.cuda)
    if not torch.cuda.is_available():
        report["no_gpu"] = (f"torch {torch.__version__} sees no CUDA device ("
                            + (f"built for CUDA {torch.version.cuda})" if torch.version.cuda
                               else "a CPU build)"))
        return
    _line(dict(report, step="import"))
    x = torch.randn(1, 3, 32, 32, device="cuda")
    w = torch.randn(8, 3, 3, 3, device="cuda")
    y = torch.nn.functional.conv2d(x, w).flatten(1)
    report["result"] = float((y @ y.T).sum())
    torch.cuda.synchronize()
    report.update(device=torch.cuda.get_device_name(0), cudnn=torch.backends.cudnn.version())


def _jax(report: dict) -> None:
    import jax
    import jax.numpy as jnp

    report.update(version=jax.__version__, module=jax.__file__)
    devices = jax.devices()
    if not any(d.platform == "gpu" for d in devices):
        report["no_gpu"] = (f"jax {jax.__version__} has no GPU device, only "
                            f"{', '.join(sorted({d.platform for d in devices}))}: its CUDA "
                            "plugin is missing or could not load")
        return
    _line(dict(report, step="import"))
    x = jnp.ones((1, 3, 32, 32))
    w = jnp.ones((8, 3, 3, 3))
    y = jax.lax.conv(x, w, (1, 1), "VALID").reshape(1, -1)
    report["result"] = float((y @ y.T).block_until_ready()[0, 0])
    report["device"] = str(devices[0])


def _cupy(report: dict) -> None:
    import cupy

    report.update(version=cupy.__version__, module=cupy.__file__)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        report["no_gpu"] = f"cupy {cupy.__version__} sees no CUDA device: {e}"
        return
    report["cuda_build"] = cupy.cuda.runtime.runtimeGetVersion()
    _line(dict(report, step="import", device_count=count))
    a = cupy.arange(1024, dtype=cupy.float32).reshape(32, 32)
    report["result"] = float((a @ a).sum())
    cupy.cuda.Device(0).synchronize()


def check_framework(name: str) -> dict:
    report: dict = {"framework": name, "python": sys.executable, "step": "op"}
    try:
        {"torch": _torch, "jax": _jax, "cupy": _cupy}[name](report)
    except ImportError as e:
        report["import_error"] = f"{name} is not importable by {sys.executable}: {e}"
    except Exception as e:  # the framework's own error is the finding
        report["error"] = f"{type(e).__name__}: {str(e)[-1500:]}"
    return report


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in (*PROVIDERS, *FRAMEWORKS):
        sys.stderr.write(f"usage: ort_check.py {'|'.join((*PROVIDERS, *FRAMEWORKS))}\n")
        return 2
    if sys.argv[1] in FRAMEWORKS:
        _line(check_framework(sys.argv[1]))
        return 0
    json.dump(check(sys.argv[1]), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
