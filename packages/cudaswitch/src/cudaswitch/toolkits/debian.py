"""Debian's and Ubuntu's ``nvidia-cuda-toolkit``: nvcc under ``/usr/lib/nvidia-cuda-toolkit``,
libraries in the system library folder, headers in ``/usr/include``.

Its libraries sit on the loader's default path, so no environment can hide them: ``doctor``
says so when another major is chosen.
"""

from __future__ import annotations

import os

from .layout import cudart_in
from .model import Toolkit, components_in

MULTIARCH = ("x86_64-linux-gnu", "aarch64-linux-gnu")


def probe_debian(prefix: str = "/") -> Toolkit | None:
    tk_root = os.path.join(prefix, "usr/lib/nvidia-cuda-toolkit")
    lib_dirs = tuple(d for d in (os.path.join(prefix, "usr/lib", m) for m in MULTIARCH)
                     if os.path.isdir(d))
    if not os.path.isdir(tk_root):
        return None
    cudart, full = cudart_in(lib_dirs)
    bin_dirs = tuple(d for d in (os.path.join(tk_root, "bin"),) if os.path.isdir(d))
    broken = None
    if cudart is None:
        broken = "nvidia-cuda-toolkit folder present but no libcudart in the system library folder"
    elif full is None:
        broken = f"cannot tell the version of {cudart}"
    return Toolkit(
        tk_root, full, "debian", "nvidia-cuda-toolkit package",
        "libcudart file name" if full else "",
        components_in(lib_dirs, bin_dirs), bin_dirs, (), (os.path.join(prefix, "usr/include"),),
        cudart, (tk_root,), broken=broken,
        extra={"system_libs": True},
    )
