"""What NVIDIA publishes on PyPI for a pip-assembled CUDA slot: releases and component wheels.

Data only, no I/O. Sources: ``pip index versions cuda-toolkit`` (PyPI, 2026-11-25) for the
release list; the ``cuda-toolkit`` metapackage's extras (its ``Requires-Dist`` lines) for the
component names; the shipped ``compat/nvidia.json`` (``cudnn``, ``tensorrt``, ``pip_wheels``) and
the field notes for cuDNN, TensorRT and what the ``nvcc`` wheels hold.
"""

from __future__ import annotations

# Every ``cuda-toolkit`` metapackage release on PyPI, oldest first. A release NVIDIA adds later
# can be installed by its exact number with ``CUDASWITCH_EXTRA_RELEASES=13.6.0``.
CUDA_TOOLKIT_RELEASES: tuple[str, ...] = (
    "11.8.0",
    "12.0.0", "12.0.1", "12.1.0", "12.1.1", "12.2.0", "12.2.1", "12.2.2",
    "12.3.0", "12.3.1", "12.3.2", "12.4.0", "12.4.1", "12.5.0", "12.5.1",
    "12.6.0", "12.6.1", "12.6.2", "12.6.3", "12.8.0", "12.8.1", "12.8.2.0",
    "12.9.0", "12.9.1", "12.9.2.0",
    "13.0.0", "13.0.1", "13.0.2", "13.0.3.0", "13.1.0", "13.1.1", "13.1.2.0",
    "13.2.0", "13.2.1", "13.2.2", "13.3.0", "13.3.1", "13.4.1.0", "13.4.2", "13.4.3",
    "13.5.0",
)

# Components a slot can name: the metapackage's extras (``cuda-toolkit[cudart,nvrtc]``), plus
# ``cudnn`` and ``tensorrt`` (separate wheels) and ``ptxas`` (the 11/12 nvcc wheel, which holds
# only ptxas, NVVM and libdevice). ``crt``, ``nvvm``, ``nvptxcompiler`` and ``nvfatbin`` are
# not extras of every release; the resolver says so when a release lacks one.
TOOLKIT_EXTRAS: frozenset[str] = frozenset({
    "cccl", "crt", "cublas", "cudart", "cufft", "cufile", "culibos", "cupti", "curand",
    "cusolver", "cusparse", "cuxxfilt", "npp", "nvcc", "nvfatbin", "nvjitlink", "nvjpeg",
    "nvml", "nvptxcompiler", "nvrtc", "nvtx", "nvvm", "opencl", "profiler", "sanitizer",
})
EXTRA_LIBRARIES: frozenset[str] = frozenset({"cudnn", "tensorrt"})
COMPONENTS: frozenset[str] = TOOLKIT_EXTRAS | EXTRA_LIBRARIES | {"ptxas"}
DEFAULT_COMPONENTS: tuple[str, ...] = ("cudart",)

# cuDNN and TensorRT wheels per CUDA major (nvidia.json cudnn.pypi_observations and
# tensorrt.pypi_observations). TensorRT's PyPI ``tensorrt-cuXX-libs`` entries are source
# archives that fetch the real wheel from NVIDIA's own index, so its wheels are resolved there.
CUDNN_PACKAGE = {11: "nvidia-cudnn-cu11", 12: "nvidia-cudnn-cu12", 13: "nvidia-cudnn-cu13"}
TENSORRT_PACKAGE = {11: "tensorrt-cu11-libs", 12: "tensorrt-cu12-libs", 13: "tensorrt-cu13-libs"}
NVIDIA_INDEX = "https://pypi.nvidia.com"
LAST_CUDNN_FOR = {11: "9.10.2.21"}
FIRST_CUDNN_FOR = {13: "9.12.0.46"}
LAST_TENSORRT_FOR = {11: "10.13.0.35"}
FIRST_TENSORRT_FOR = {13: "10.13.2.6"}

NVCC_ON_PIP_HELP = (
    "NVIDIA's pip wheels for CUDA {major}.x (nvidia-cuda-nvcc-cu{major}) hold only ptxas, NVVM "
    "and libdevice for JIT users, not the nvcc compiler driver, so a slot made from them is a "
    "runtime slot. For a devel {major}.x toolkit install NVIDIA's runfile "
    "(https://developer.nvidia.com/cuda-toolkit-archive) or its apt/dnf repository "
    "(cuda-toolkit-{major}-{minor}) into /usr/local/cuda-{major}.{minor}, where cudaswitch finds "
    "it. Use --with ptxas for the JIT pieces, or a CUDA 13.x slot, whose nvcc wheel is the full "
    "compiler."
)
