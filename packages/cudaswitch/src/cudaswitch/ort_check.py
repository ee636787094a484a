"""Open a tiny ONNX Runtime session on one provider and report which providers are active.

ONNX Runtime does not fail when the CUDA or TensorRT provider cannot load its libraries: it
logs "Falling back to ['CPUExecutionProvider']" and runs on the CPU. This script, run as a
plain file by the slot's own interpreter under the planned environment, turns that into data:
the providers the build has, the ones the session really uses, and what ONNX Runtime logged
(the missing library's name is in there). Prints one JSON object.
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


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in PROVIDERS:
        sys.stderr.write(f"usage: ort_check.py {'|'.join(PROVIDERS)}\n")
        return 2
    json.dump(check(sys.argv[1]), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
