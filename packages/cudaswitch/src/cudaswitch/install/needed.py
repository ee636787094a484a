"""After a slot's venv is installed: can the slot run its own packages' native code?

Every ELF shared library in the venv (onnxruntime's CUDA provider, a PyTorch extension) and in
the slot's toolkit names the libraries it needs (``DT_NEEDED``). Each CUDA, cuDNN or TensorRT
library among them must be in the slot (or in the venv itself); one that is not fails ``sync``
with the library and the component that brings it, instead of a run that falls back to the CPU
or stops with ``libnvrtc.so.12: cannot open shared object file``.

A library that needs TensorRT is an optional provider (onnxruntime's TensorRT one): it is
checked only when the slot asks for the ``tensorrt`` component. ELF is read with pyelftools.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import CudaswitchError

# Library base names (the soname before ``.so``) and the slot component that supplies them.
# Sources: the file lists of NVIDIA's component wheels (nvidia-*-cu11/-cu12 and the unsuffixed
# CUDA 13 ones), nvidia-cudnn-cu*, tensorrt-cu*-libs.
SONAME_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("libcudart", "cudart"),
    ("libcublas", "cublas"), ("libcublasLt", "cublas"),
    ("libcufft", "cufft"), ("libcufftw", "cufft"),
    ("libcurand", "curand"),
    ("libcusolver", "cusolver"), ("libcusolverMg", "cusolver"),
    ("libcusparse", "cusparse"),
    ("libnvrtc", "nvrtc"), ("libnvrtc-builtins", "nvrtc"),
    ("libnvJitLink", "nvjitlink"),
    ("libcupti", "cupti"),
    ("libnvToolsExt", "nvtx"),
    ("libcufile", "cufile"),
    ("libnvjpeg", "nvjpeg"),
)
_PREFIX_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("libcudnn", "cudnn"), ("libnvinfer", "tensorrt"), ("libnvonnxparser", "tensorrt"),
    ("libnvparsers", "tensorrt"), ("libnpp", "npp"),
)
_BY_BASE = dict(SONAME_COMPONENTS)
_BASE_RE = re.compile(r"^(lib[^/]*?)\.so(\.|$)")
_ELF_MAGIC = b"\x7fELF"


class MissingLibraryError(CudaswitchError):
    """A slot's packages need a CUDA library the slot does not have (exit 1: a check failed)."""


@dataclass(frozen=True)
class Missing:
    library: str
    component: str
    needed_by: str
    others: tuple[str, ...] = ()  # the same library in another version, which the slot has

    def describe(self) -> str:
        if self.others:
            return (f"{self.library} (needed by {self.needed_by}): the slot has "
                    f"{', '.join(self.others)}, another CUDA major; install the package's build "
                    f"for this slot's CUDA")
        return (f"{self.library} (needed by {self.needed_by}): add \"{self.component}\" to the "
                f"slot's components")


def base_name(soname: str) -> str | None:
    m = _BASE_RE.match(soname)
    return m.group(1) if m else None


def component_of(soname: str) -> str | None:
    """The component that supplies ``soname``; None for anything that is not CUDA's."""
    base = base_name(soname)
    if base is None:
        return None
    if base in _BY_BASE:
        return _BY_BASE[base]
    return next((c for prefix, c in _PREFIX_COMPONENTS if base.startswith(prefix)), None)


def needed_libraries(path: str) -> tuple[str, ...] | None:
    """``DT_NEEDED`` of one ELF file; None for anything that is not a readable ELF object."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as f:
            if f.read(4) != _ELF_MAGIC:
                return None
            f.seek(0)
            elf = ELFFile(f)
            for segment in elf.iter_segments():
                if segment.header.p_type == "PT_DYNAMIC":
                    return tuple(str(t.needed) for t in segment.iter_tags()
                                 if t.entry.d_tag == "DT_NEEDED")
            return ()
    except (OSError, ELFError, ValueError, KeyError, AttributeError, UnicodeDecodeError):
        return None


def _files(root: str) -> Iterator[tuple[str, str]]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in names:
            yield folder, name


def missing_libraries(venv: str | None, slot_root: str,
                      components: Sequence[str]) -> list[Missing]:
    """What the venv's (if the slot has one) and the slot's native libraries need from CUDA
    that neither has."""
    provided: set[str] = set()
    native: list[str] = []
    for root in (slot_root,) if venv is None else (slot_root, venv):
        for folder, name in _files(root):
            provided.add(name)
            path = os.path.join(folder, name)
            if ".so" in name and not os.path.islink(path) and os.path.isfile(path):
                native.append(path)
    bases: dict[str, list[str]] = {}
    for name in provided:
        base = base_name(name)
        if base:
            bases.setdefault(base, []).append(name)
    out: dict[str, Missing] = {}
    for path in sorted(native):
        needs = [(n, component_of(n)) for n in needed_libraries(path) or ()]
        cuda = [(n, c) for n, c in needs if c]
        if "tensorrt" not in components and any(c == "tensorrt" for _, c in cuda):
            continue
        for lib, comp in cuda:
            if lib in provided or lib in out:
                continue
            in_venv = venv is not None and path.startswith(venv + os.sep)
            where = os.path.relpath(path, venv if in_venv else slot_root)
            others = tuple(sorted(n for n in bases.get(base_name(lib) or "", [])
                                  if n.count(".so.") == 1 and n != lib))
            out[lib] = Missing(lib, comp or "", where, others)
    return list(out.values())


def check_slot(name: str, venv: str, slot_root: str, components: Sequence[str]) -> None:
    """Raises MissingLibraryError naming every missing library and how to supply it."""
    missing = missing_libraries(venv, slot_root, components)
    if missing:
        raise MissingLibraryError(
            f"slot {name}: its Python packages need libraries the slot does not have; "
            f"nothing was installed:\n" + "\n".join(f"  {m.describe()}" for m in missing))
