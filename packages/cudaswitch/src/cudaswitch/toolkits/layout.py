"""A toolkit laid out like NVIDIA's installers do: ``bin/``, ``lib64/`` or ``lib/``, ``include/``.

This serves ``/usr/local/cuda-X.Y``, ``CUDA_HOME``, conda prefixes and the managed slots
(which write a ``version.json`` of NVIDIA's shape). The version comes from ``version.json``,
else ``version.txt``, else the wheels' ``dist-info`` a wheel-assembled toolkit keeps, else
``nvcc --version``, else the ``libcudart.so.X.Y.Z`` file name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

from ..versions import CudaVersion, SpecError
from .model import Toolkit, components_in

LIB_SUBDIRS = ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib")
_CUDART_RE = re.compile(r"^libcudart\.so\.([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?$")
_DIST_RE = re.compile(
    r"^nvidia_cuda_(nvcc|runtime)(?:_cu[0-9]+)?-([0-9]+\.[0-9]+(?:\.[0-9]+)?)\.dist-info$")


def looks_like_toolkit(path: str) -> bool:
    """Cheap test used when a root may be a toolkit or a folder of toolkits."""
    return any(os.path.exists(os.path.join(path, m))
               for m in ("version.json", "version.txt", "bin/nvcc", "include/cuda_runtime_api.h",
                         "lib64", "targets"))


def _version_json(root: str) -> tuple[CudaVersion, str] | None:
    try:
        with open(os.path.join(root, "version.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        sdk = CudaVersion.parse(str(data["cuda"]["version"]))
    except (KeyError, TypeError, SpecError):
        return None
    for key in ("cuda_nvcc", "cuda_cudart"):
        try:
            v = CudaVersion.parse(str(data[key]["version"]))
        except (KeyError, TypeError, SpecError):
            continue
        if (v.major, v.minor) == (sdk.major, sdk.minor):
            return v, "version.json"
    return CudaVersion(sdk.major, sdk.minor), "version.json"


def _version_txt(root: str) -> tuple[CudaVersion, str] | None:
    try:
        with open(os.path.join(root, "version.txt"), encoding="utf-8") as f:
            m = re.search(r"CUDA Version\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", f.read(4096))
    except (OSError, UnicodeDecodeError):
        return None
    return (CudaVersion.parse(m.group(1)), "version.txt") if m else None


def _dist_info(root: str) -> tuple[CudaVersion, str] | None:
    try:
        names = os.listdir(os.path.join(root, "dist-info"))
    except OSError:
        return None
    found = {}
    for n in names:
        m = _DIST_RE.match(n)
        if m:
            found[m.group(1)] = CudaVersion.parse(m.group(2))
    for key in ("nvcc", "runtime"):
        if key in found:
            return found[key], "dist-info"
    return None


def parse_nvcc_version(text: str) -> CudaVersion | None:
    m = re.search(r"release [0-9]+\.[0-9]+, V([0-9]+\.[0-9]+\.[0-9]+)", text) or re.search(
        r"release ([0-9]+\.[0-9]+)", text)
    return CudaVersion.parse(m.group(1)) if m else None


def _nvcc(root: str) -> tuple[CudaVersion, str] | None:
    exe = os.path.join(root, "bin", "nvcc")
    if not os.access(exe, os.X_OK):
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    v = parse_nvcc_version(out)
    return (v, "nvcc --version") if v else None


def cudart_in(lib_dirs: tuple[str, ...]) -> tuple[str | None, CudaVersion | None]:
    """The runtime's soname file, and the full version its real file name carries."""
    best: tuple[tuple[int, ...], str] | None = None
    full: CudaVersion | None = None
    for d in lib_dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = _CUDART_RE.match(n)
            if not m:
                continue
            parts = tuple(int(p) for p in m.groups() if p is not None)
            path = os.path.join(d, n)
            if not os.path.exists(path):
                continue
            if len(parts) == 3:
                full = CudaVersion(*parts)
            key = (-len(parts), *parts)
            if best is None or key > best[0]:
                best = (key, path)
        if best:
            break
    if best and full is None:
        real = os.path.basename(os.path.realpath(best[1]))
        m = _CUDART_RE.match(real)
        if m and m.group(3) is not None:
            full = CudaVersion(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return (best[1] if best else None), full


def probe_toolkit(root: str, found_via: str, layout: str = "toolkit") -> Toolkit | None:
    """A Toolkit for ``root``, a broken one with the reason, or None if it is no toolkit."""
    if os.path.islink(root) and not os.path.exists(root):
        return Toolkit(root, None, layout, found_via,
                       broken=f"dangling symlink to {os.readlink(root)}")
    if not os.path.isdir(root):
        return None
    if not os.access(root, os.R_OK | os.X_OK):
        return Toolkit(root, None, layout, found_via, broken="not readable")
    lib_dirs: list[str] = []
    seen: set[str] = set()
    for sub in LIB_SUBDIRS:
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            real = os.path.realpath(d)
            if real not in seen:
                seen.add(real)
                lib_dirs.append(d)
    bin_dirs = tuple(d for d in (os.path.join(root, "bin"),) if os.path.isdir(d))
    inc = tuple(d for d in (os.path.join(root, "include"),) if os.path.isdir(d))
    cudart, full = cudart_in(tuple(lib_dirs))
    version = None
    source = ""
    for step in (_version_json, _version_txt, _dist_info, _nvcc):
        got = step(root)
        if got:
            version, source = got
            break
    if version is None and full is not None:
        version, source = full, "libcudart file name"
    broken = None
    if cudart is None:
        broken = "no libcudart in " + ", ".join(LIB_SUBDIRS)
    elif version is None:
        broken = "no version.json, version.txt, nvcc or versioned libcudart to tell its version"
    elif not os.access(cudart, os.R_OK):
        broken = f"{cudart} is not readable"
    comps = components_in(tuple(lib_dirs), bin_dirs)
    compat = os.path.join(root, "compat")
    if layout == "conda":
        owned: tuple[str, ...] = (*lib_dirs, *inc)
        bin_dirs = bin_dirs if "nvcc" in components_in((), bin_dirs) else ()
    else:
        owned = (root, *bin_dirs, *lib_dirs, *inc, *([compat] if os.path.isdir(compat) else []))
    return Toolkit(root, version, layout, found_via, source, comps, bin_dirs, tuple(lib_dirs),
                   inc, cudart, owned, broken=broken)
