"""Time CenterFace inference under different CUDA provider options (GPU host only).

Usage: python3 bench/facefuse_cuda_options.py  (with onnxruntime-gpu importable)
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from facefuse.detect import centerface_model


def main() -> None:
    model = centerface_model(640, 640)
    blob = np.random.default_rng(0).uniform(0, 255, (1, 3, 640, 640)).astype(np.float32)
    variants = {
        "DEFAULT": {"cudnn_conv_algo_search": "DEFAULT"},
        "HEURISTIC": {"cudnn_conv_algo_search": "HEURISTIC"},
        "EXHAUSTIVE": {"cudnn_conv_algo_search": "EXHAUSTIVE"},
        "EXHAUSTIVE+nhwc": {"cudnn_conv_algo_search": "EXHAUSTIVE", "prefer_nhwc": "1"},
        "EXHAUSTIVE+maxws": {"cudnn_conv_algo_search": "EXHAUSTIVE",
                              "cudnn_conv_use_max_workspace": "1"},
    }
    options = ort.SessionOptions()
    options.log_severity_level = 3
    for name, provider_options in variants.items():
        session = ort.InferenceSession(model, options, providers=[
            ("CUDAExecutionProvider", provider_options), "CPUExecutionProvider"])
        for _ in range(5):
            session.run(None, {"input.1": blob})
        start = time.perf_counter()
        for _ in range(30):
            session.run(None, {"input.1": blob})
        ms = (time.perf_counter() - start) / 30 * 1000
        print(f"{name:<18} {ms:8.2f} ms  providers={session.get_providers()[0]}")


if __name__ == "__main__":
    main()
