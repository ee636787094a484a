"""What one CUDA installation on disk is, and the component table used to describe it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..units import version_text
from ..versions import CudaVersion, VersionSpec

# Library file prefixes that mark a component as present in a lib dir.
COMPONENT_LIBS: tuple[tuple[str, str], ...] = (
    ("cudart", "libcudart.so"),
    ("nvrtc", "libnvrtc.so"),
    ("cublas", "libcublas.so"),
    ("cufft", "libcufft.so"),
    ("curand", "libcurand.so"),
    ("cusolver", "libcusolver.so"),
    ("cusparse", "libcusparse.so"),
    ("nvjitlink", "libnvJitLink.so"),
    ("cupti", "libcupti.so"),
    ("cudnn", "libcudnn.so"),
    ("nccl", "libnccl.so"),
    ("tensorrt", "libnvinfer.so"),
)

# NVIDIA wheel folders (``site-packages/nvidia/<folder>/lib``) and the component each holds.
WHEEL_FOLDERS: dict[str, str] = {
    "cuda_runtime": "cudart",
    "cuda_nvrtc": "nvrtc",
    "cublas": "cublas",
    "cufft": "cufft",
    "curand": "curand",
    "cusolver": "cusolver",
    "cusparse": "cusparse",
    "nvjitlink": "nvjitlink",
    "cuda_cupti": "cupti",
    "cudnn": "cudnn",
    "nccl": "nccl",
    "cuda_nvcc": "ptxas",
    "tensorrt_libs": "tensorrt",
}


# Folders no toolkit may claim as its own, whatever CUDA_HOME says: stripping them from PATH or
# LD_LIBRARY_PATH would take the whole system with them.
SYSTEM_DIRS = frozenset({
    "/", "/usr", "/usr/local", "/usr/bin", "/usr/local/bin", "/bin", "/sbin", "/usr/sbin",
    "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu", "/usr/include", "/opt", "/home", "/root", "/tmp",
})


@dataclass(frozen=True)
class Toolkit:
    """One CUDA installation. ``broken`` holds the reason when it cannot be used."""

    root: str
    version: CudaVersion | None
    layout: str
    found_via: str
    version_source: str = ""
    components: tuple[str, ...] = ()
    bin_dirs: tuple[str, ...] = ()
    lib_dirs: tuple[str, ...] = ()
    include_dirs: tuple[str, ...] = ()
    cudart: str | None = None
    owned: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    broken: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    release: CudaVersion | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None and self.version is not None

    def matches(self, spec: VersionSpec) -> bool:
        """A spec selects a toolkit by its runtime's version (12.4.127) or by the release it was
        installed as (12.4.1): both are printed, so both select."""
        return self.version is not None and (
            spec.matches(self.version) or (self.release is not None
                                           and spec.matches(self.release)))

    @property
    def shown_version(self) -> str:
        """The version as every listing prints it: ``12.4.127 (release 12.4.1)``."""
        return version_text(self.version, self.release) if self.version is not None else "-"

    @property
    def name(self) -> str:
        return f"cuda-{self.version}" if self.version else os.path.basename(self.root) or self.root

    def owns(self, path: str) -> bool:
        """Whether ``path`` (an entry of PATH-like variables) lies in a folder this toolkit owns.

        Compared through real paths, so ``/usr/local/cuda/bin`` belongs to the toolkit that
        ``/usr/local/cuda`` points at.
        """
        p = os.path.realpath(path)
        return any(p == d or p.startswith(d + "/") for d in self.owned_real)

    @property
    def owned_real(self) -> tuple[str, ...]:
        cached = self.extra.get("_owned_real")
        if cached is None:
            cached = tuple(r for r in (os.path.realpath(d).rstrip("/") or "/" for d in self.owned)
                           if r not in SYSTEM_DIRS)
            self.extra["_owned_real"] = cached
        return cached

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": str(self.version) if self.version else None,
            "release": str(self.release) if self.release else None,
            "shown_version": self.shown_version,
            "root": self.root,
            "layout": self.layout,
            "found_via": self.found_via,
            "version_source": self.version_source,
            "components": list(self.components),
            "bin_dirs": list(self.bin_dirs),
            "lib_dirs": list(self.lib_dirs),
            "include_dirs": list(self.include_dirs),
            "cudart": self.cudart,
            "aliases": list(self.aliases),
            "broken": self.broken,
        }


def components_in(lib_dirs: tuple[str, ...], bin_dirs: tuple[str, ...] = ()) -> tuple[str, ...]:
    names: list[str] = []
    files: list[str] = []
    for d in lib_dirs:
        try:
            files.extend(os.listdir(d))
        except OSError:
            continue
    for comp, prefix in COMPONENT_LIBS:
        if any(f.startswith(prefix) for f in files):
            names.append(comp)
    for d in bin_dirs:
        if os.path.isfile(os.path.join(d, "nvcc")):
            names.append("nvcc")
            break
    return tuple(names)
