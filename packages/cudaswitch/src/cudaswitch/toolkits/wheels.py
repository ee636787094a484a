"""NVIDIA's pip wheels in a site-packages or ``pip install --target`` folder.

CUDA 11 and 12 runtimes live in ``nvidia/cuda_runtime/lib`` (``libcudart.so.11.0`` /
``libcudart.so.12``), CUDA 13 in ``nvidia/cu13/lib``. One folder can hold one of each, so a
folder may give two toolkits. The version comes from the wheel's ``dist-info`` name.
"""

from __future__ import annotations

import os
import re

from ..versions import CudaVersion
from .model import WHEEL_FOLDERS, Toolkit, components_in

_DIST_RE = re.compile(
    r"^nvidia_cuda_(runtime|nvcc)(?:_cu([0-9]+))?-([0-9]+\.[0-9]+(?:\.[0-9]+)?)(?:\.post[0-9]+)?\.dist-info$")


def _dist_versions(site: str) -> dict[tuple[str, int], CudaVersion]:
    out: dict[tuple[str, int], CudaVersion] = {}
    try:
        names = os.listdir(site)
    except OSError:
        return out
    for n in names:
        m = _DIST_RE.match(n)
        if m:
            v = CudaVersion.parse(m.group(3))
            out[(m.group(1), v.major)] = v
    return out


def _cudart_file(lib: str, major: int) -> str | None:
    name = "libcudart.so.11.0" if major == 11 else f"libcudart.so.{major}"
    path = os.path.join(lib, name)
    return path if os.path.exists(path) else None


def probe_wheels(site: str, found_via: str) -> list[Toolkit]:
    nvidia = os.path.join(site, "nvidia")
    if not os.path.isdir(nvidia):
        return []
    dists = _dist_versions(site)
    try:
        folders = sorted(os.listdir(nvidia))
    except OSError as e:
        return [Toolkit(nvidia, None, "pip-wheels", found_via, broken=f"not readable: {e}")]
    out: list[Toolkit] = []
    majors_here: list[tuple[str, int | None]] = []
    rt_lib = os.path.join(nvidia, "cuda_runtime", "lib")
    if os.path.isdir(rt_lib):
        major = 12 if os.path.exists(os.path.join(rt_lib, "libcudart.so.12")) else (
            11 if os.path.exists(os.path.join(rt_lib, "libcudart.so.11.0")) else None)
        majors_here.append(("cuda_runtime", major))
    if os.path.isdir(os.path.join(nvidia, "cu13")):
        majors_here.append(("cu13", 13))
    for folder, major in majors_here:
        root = os.path.join(nvidia, folder)
        lib_dirs: list[str] = []
        bin_dirs: list[str] = []
        inc_dirs: list[str] = []
        own: list[str] = []
        if folder == "cu13":
            sources = ["cu13", *(f for f in folders if f in WHEEL_FOLDERS and
                                 not any(m == "cuda_runtime" for m, _ in majors_here))]
        else:
            sources = [f for f in folders if f in WHEEL_FOLDERS]
        for f in sources:
            base = os.path.join(nvidia, f)
            for sub, bucket in (("lib", lib_dirs), ("bin", bin_dirs), ("include", inc_dirs)):
                d = os.path.join(base, sub)
                if os.path.isdir(d) and d not in bucket:
                    bucket.append(d)
            own.append(base)
        if f"{root}/lib" in lib_dirs:
            lib_dirs.remove(f"{root}/lib")
            lib_dirs.insert(0, f"{root}/lib")
        version = dists.get(("runtime", major)) if major else None
        source = "dist-info (runtime wheel)"
        cudart = _cudart_file(os.path.join(root, "lib"), major) if major else None
        broken = None
        if major is None or cudart is None:
            broken = f"no libcudart in {root}/lib"
        elif version is None:
            broken = f"libcudart.so.{major} present but no nvidia_cuda_runtime dist-info in {site}"
        out.append(Toolkit(
            root, version, "pip-wheels", found_via, source if version else "",
            components_in(tuple(lib_dirs), tuple(bin_dirs)), tuple(bin_dirs), tuple(lib_dirs),
            tuple(inc_dirs), cudart, tuple(own), broken=broken,
            extra={"site": site},
        ))
    return out
