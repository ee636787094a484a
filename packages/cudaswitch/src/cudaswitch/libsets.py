"""One build of each CUDA library per process: which folders supply a library family, and
what a process's mapped libraries say about builds and majors. Pure functions over names.

cuDNN, NCCL, cuSPARSELt, cuFile, cuRAND ... keep one soname (``libcudnn.so.9``) in every
CUDA major, so a toolkit's folder on ``LD_LIBRARY_PATH`` can hand the wrong build to a library
that a Python package has already loaded from its own wheel (through its RPATH, or by absolute
path). The loader then builds one cuDNN out of two. The package's build is the one that is
already in the process, so it wins, for every sub-library of its family: its folder goes
first, and a toolkit folder that holds only that family goes away.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .compat.cudalibs import CudaLibs, cudalibs, soname_major, soname_of


@dataclass(frozen=True)
class Shadow:
    """A family both the package and the target supply: the package's folder wins."""

    family: str
    owner: str
    winner: str
    losers: tuple[str, ...]
    sonames: tuple[str, ...]

    def describe(self) -> str:
        return (f"{self.family} ({', '.join(self.sonames[:3])}) comes from {self.owner} in "
                f"{self.winner}, not from {', '.join(self.losers)}: the package loads its own "
                "build first, so every part of it must come from there")


@dataclass(frozen=True)
class LibChoice:
    first: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    shadows: tuple[Shadow, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.first or self.dropped)


@dataclass(frozen=True)
class Mix:
    """Libraries a process mapped from two builds of one family, or of two CUDA majors."""

    kind: str  # "two-builds" or "two-majors"
    family: str
    where: tuple[tuple[str, tuple[str, ...]], ...]

    def describe(self) -> str:
        parts = "; ".join(f"{place}: {', '.join(names)}" for place, names in self.where)
        if self.kind == "two-majors":
            return f"CUDA libraries of two majors ({parts})"
        return f"{self.family} from two builds ({parts})"


def _families(names: Iterable[str], data: CudaLibs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for n in names:
        fam = data.family_of(n)
        soname = soname_of(n)
        if fam is not None and soname is not None:
            out.setdefault(fam.name, set()).add(soname)
    return out


def choose_builds(target_dirs: Sequence[tuple[str, Iterable[str]]],
                  package_dirs: Sequence[tuple[str, str, Iterable[str]]],
                  data: CudaLibs | None = None) -> LibChoice:
    """Which folders go first, and which leave, so that each family has one build.

    ``target_dirs``: (folder, file names) the plan puts on ``LD_LIBRARY_PATH``, in order.
    ``package_dirs``: (owner, folder, library file names) from the interpreter's distributions.
    Folders are compared as given: pass real paths. A family only the package or only the
    target has needs nothing; one supplied by the same folder on both sides neither.
    """
    data = data or cudalibs()
    target = [(d, _families(names, data)) for d, names in target_dirs]
    packages = [(owner, d, _families(names, data)) for owner, d, names in package_dirs]
    first: list[str] = []
    shadows: list[Shadow] = []
    won: set[str] = set()
    for owner, pdir, pfams in packages:
        for fam, sonames in sorted(pfams.items()):
            losers = tuple(d for d, tfams in target
                           if d != pdir and sonames & tfams.get(fam, set()))
            if not losers or fam in won:
                continue
            won.add(fam)
            if pdir not in first:
                first.append(pdir)
            shadows.append(Shadow(fam, owner, pdir, losers, tuple(sorted(sonames))))
    dropped = tuple(d for d, tfams in target
                    if d not in first and tfams and set(tfams) <= won
                    and any(d in s.losers for s in shadows))
    return LibChoice(tuple(first), dropped, tuple(shadows))


def mixed(maps: Sequence[str], real: Mapping[str, str] | None = None,
          data: CudaLibs | None = None) -> list[Mix]:
    """Families mapped from more than one folder, and major-carrying sonames of two majors.

    ``maps``: paths of the libraries a process mapped (``/proc/PID/maps``); ``real`` maps a
    path to its real path where the caller resolved links. The driver's own libraries
    (``libcuda``, ``libnvidia-*``) belong to no family and never count.
    """
    data = data or cudalibs()
    real = real or {}
    by_family: dict[str, dict[str, list[str]]] = {}
    by_major: dict[int, dict[str, list[str]]] = {}
    for path in dict.fromkeys(maps):
        name = os.path.basename(path)
        fam = data.family_of(name)
        if fam is None:
            continue
        folder = os.path.dirname(real.get(path, path))
        by_family.setdefault(fam.name, {}).setdefault(folder, []).append(name)
        major = soname_major(name) if fam.major_in_soname else None
        if major is not None:
            by_major.setdefault(major, {}).setdefault(folder, []).append(name)
    out: list[Mix] = []
    if len(by_major) > 1:
        where = tuple((f"CUDA {m} in {folder}", tuple(names))
                      for m, folders in sorted(by_major.items())
                      for folder, names in folders.items())
        out.append(Mix("two-majors", "CUDA", where))
    for fam, folders in sorted(by_family.items()):
        if len(folders) > 1:
            out.append(Mix("two-builds", fam, tuple((f, tuple(n)) for f, n in folders.items())))
    return out
