"""Which installed Python distributions carry CUDA, for which major, and which libraries.

Read from ``*.dist-info`` folders only (their names, the ``METADATA`` headers, ``RECORD``):
nothing is imported or executed, so a broken or foreign environment costs a few reads. Which
name, version label, file or requirement says which major is data (``compat/cudalibs.json``).
Standard library only: the entrypoint's full flow reads it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .compat.cudalibs import CudaLibs, cudalibs

_MAX_READ = 1 << 20
_PIN_RE = re.compile(r"===?\s*([0-9]+)")
_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LIB_FILE_RE = re.compile(r"^(?:lib)?[A-Za-z0-9_+-]+(?:\.[A-Za-z]+)?\.so(?:\.[0-9]+)*$")

# onnxruntime-gpu's metadata does not name its CUDA; the caller looks its version up.
OrtLookup = Callable[[str], "tuple[int, str] | None"]


@dataclass(frozen=True)
class PyDist:
    """One installed distribution that carries CUDA code or CUDA libraries."""

    name: str
    version: str
    site: str
    cuda_major: int | None
    evidence: str
    libraries: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def as_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "site": self.site,
                "cuda_major": self.cuda_major, "evidence": self.evidence,
                "libraries": list(self.libraries)}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_head(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_READ)
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _record_paths(dist_info: str) -> list[str]:
    text = _read_head(os.path.join(dist_info, "RECORD"))
    return [row[0] for row in csv.reader(text.splitlines()) if row]


def _requirements(dist_info: str) -> list[str]:
    """``Requires-Dist`` lines that always apply (not behind an ``extra``)."""
    head = _read_head(os.path.join(dist_info, "METADATA")).split("\n\n", 1)[0]
    out = []
    for line in head.splitlines():
        if line.startswith("Requires-Dist:"):
            req = line.split(":", 1)[1].strip()
            if "extra ==" not in req.replace("extra==", "extra =="):
                out.append(req)
    return out


def _from_requirements(reqs: Iterable[str], data: CudaLibs) -> tuple[int, str] | None:
    for req in reqs:
        m = _REQ_NAME_RE.match(req)
        if not m:
            continue
        name = normalize(m.group(1))
        for rule in data.requirement_rules:
            if not rule.pattern.search(name):
                continue
            major = rule.major(name)
            if rule.from_pin:
                pin = _PIN_RE.search(req.split(";", 1)[0])
                major = int(pin.group(1)) if pin else None
            if major:
                return major, f"requires {req.split(';', 1)[0].strip()}"
    return None


def _libraries(site: str, paths: Sequence[str]) -> tuple[str, ...]:
    out = []
    for p in paths:
        base = p.rsplit("/", 1)[-1]
        if ".cpython-" in base or ".abi3." in base or not _LIB_FILE_RE.match(base):
            continue
        out.append(os.path.normpath(os.path.join(site, p)))
    return tuple(out)


def read_dist(site: str, entry: str, data: CudaLibs,
              ort_lookup: OrtLookup | None = None) -> PyDist | None:
    """The CUDA facts of one ``NAME-VERSION.dist-info`` folder, or None when it carries none."""
    stem = entry[: -len(".dist-info")]
    raw_name, _, version = stem.partition("-")
    name = normalize(raw_name)
    dist_info = os.path.join(site, entry)
    public, _, local = version.partition("+")
    found: tuple[int, str] | None = None
    if local:
        if local.lower() in data.cpu_local_versions:
            return None
        for rule in data.local_version_rules:
            major = rule.major(local.lower())
            if major:
                found = (major, f"version label +{local}")
                break
    if found is None:
        for rule in data.name_rules:
            major = rule.major(name)
            if major:
                found = (major, f"the name {name}")
                break
    if found is None and name in data.onnxruntime_names and ort_lookup is not None:
        found = ort_lookup(public)
    libraries: tuple[str, ...] = ()
    if name.startswith(data.library_name_prefixes):
        paths = _record_paths(dist_info)
        libraries = _libraries(site, paths)
        if found is None:
            for p in paths:
                hit = next((r for r in data.file_rules if r.major(p)), None)
                if hit is not None:
                    where = hit.pattern.search(p)
                    found = (hit.major(p) or 0, f"its files under {where.group(0) if where else p}")
                    break
    if found is None and name in data.metadata_names:
        found = _from_requirements(_requirements(dist_info), data)
    if found is None and not libraries:
        return None
    return PyDist(name, version, site, found[0] if found else None,
                  found[1] if found else "no CUDA major in its metadata", libraries)


def read_dists(site_dirs: Sequence[str], ort_lookup: OrtLookup | None = None,
               data: CudaLibs | None = None) -> tuple[PyDist, ...]:
    """Every CUDA-carrying distribution the folders hold, in ``sys.path`` order: a name found
    in an earlier folder hides the same name later, as it does for ``import``."""
    data = data or cudalibs()
    seen: set[str] = set()
    out: list[PyDist] = []
    for site in site_dirs:
        try:
            entries = sorted(os.listdir(site))
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith(".dist-info"):
                continue
            name = normalize(entry.partition("-")[0])
            if name in seen:
                continue
            seen.add(name)
            dist = read_dist(site, entry, data, ort_lookup)
            if dist is not None:
                out.append(dist)
    return tuple(out)


def majors(dists: Iterable[PyDist]) -> dict[int, list[PyDist]]:
    out: dict[int, list[PyDist]] = {}
    for d in dists:
        if d.cuda_major:
            out.setdefault(d.cuda_major, []).append(d)
    return dict(sorted(out.items()))
