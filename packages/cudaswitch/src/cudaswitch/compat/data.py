"""NVIDIA's compatibility facts as frozen records, built once from the shipped ``nvidia.json``.

The JSON keeps every fact with its sources (see its ``sources`` list); this module only reads
it and derives the indexes the verdicts need. No I/O beyond reading that one file, no logic
about hosts: that lives in ``verdict.py``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from ..versions import CudaVersion, parse_dotted

DATA_FILE = os.path.join(os.path.dirname(__file__), "nvidia.json")

# Brands NVIDIA lists as able to use forward compatibility (NVML brand enum values 1, 2, 7-14
# in the ELF note of the compat libcuda; GeForce and Titan are absent). Source:
# reference nvidia-require-cases.md section E2 and nvidia.json forward_compatibility.
FORWARD_COMPAT_BRANDS = frozenset(
    b.lower() for b in (
        "Quadro", "Tesla", "NVIDIA vApps", "NVIDIA VPC", "NVIDIA VCS", "NVIDIA VWS",
        "NVIDIA Cloud Gaming", "Quadro RTX", "NVIDIA RTX", "NVIDIA",
    )
)

# Architectures that appeared inside the 11.x series before the first per-toolkit list we
# have (11.7): nvidia.json gpu_architectures.changes ("sm_86 ... added" in 11.1, "sm_87" in 11.4).
_ADDED_WITHIN_11 = {"sm_86": CudaVersion(11, 1), "sm_87": CudaVersion(11, 4)}


@dataclass(frozen=True)
class DriverRow:
    """One row of the release notes' Table 3: a toolkit release and the driver it shipped with."""

    cuda: CudaVersion
    release: str
    min_driver: str
    confidence: str

    @property
    def min_driver_tuple(self) -> tuple[int, ...]:
        return parse_dotted(self.min_driver)


@dataclass(frozen=True)
class MinorFloor:
    """Oldest driver that runs every toolkit of a major through minor-version compatibility."""

    major: int
    applies_from: CudaVersion
    min_driver: str

    @property
    def min_driver_tuple(self) -> tuple[int, ...]:
        return parse_dotted(self.min_driver)


@dataclass(frozen=True)
class ArchTargets:
    """The ``sm_XY`` values one toolkit release can build for (ptxas / nvcc lists)."""

    cuda: CudaVersion
    sms: frozenset[str]
    artifact: str


@dataclass(frozen=True)
class Catalog:
    driver_rows: tuple[DriverRow, ...]
    minor_floors: tuple[MinorFloor, ...]
    arch_targets: tuple[ArchTargets, ...]
    arch_names: dict[str, str]
    ort_cuda: tuple[tuple[str, str, str], ...]
    compiled: str


def _first_version(text: str) -> CudaVersion | None:
    m = re.search(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?", text)
    return CudaVersion.parse(m.group(0)) if m else None


def _driver_number(text: str) -> str | None:
    m = re.search(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?", text or "")
    return m.group(0) if m else None


def build_catalog(raw: dict) -> Catalog:
    rows = []
    for r in raw["toolkit_driver_versions"]["rows"]:
        drv = _driver_number(r.get("linux_x86_64_min_driver", ""))
        v = _first_version(str(r["cuda"]))
        if drv and v:
            rows.append(DriverRow(v, str(r.get("release", "")), drv, str(r.get("confidence", ""))))
    rows.sort(key=lambda r: (r.cuda.parts, r.min_driver_tuple))

    floors = []
    for f in raw["minor_version_compatibility"]["exact_floors"]:
        label = str(f["cuda"])
        drv = _driver_number(str(f["linux"]))
        if not drv:
            continue
        if "x" in label.split()[0]:
            major = int(label.split(".")[0])
            start = _first_version(label[label.find("(") :]) if "(" in label else None
            floors.append(MinorFloor(major, start or CudaVersion(major, 0), drv))
        else:
            v = _first_version(label)
            if v:
                floors.append(MinorFloor(v.major, v, drv))

    targets = []
    for t in raw["gpu_architectures"]["per_toolkit_targets"]["toolkits"]:
        sms = set(t.get("sm") or [])
        for key in ("nvcc_list_gpu_code",):
            if key in t:
                sms.update(s for s in str(t[key]).split() if s.startswith("sm_"))
        targets.append(ArchTargets(CudaVersion.parse(t["nvcc_version"]), frozenset(sms),
                                   str(t.get("artifact", ""))))
    targets.sort(key=lambda t: t.cuda.parts)

    ort = []
    for table in ("docs_table_cuda12", "docs_table_cuda11"):
        for row in raw["onnxruntime_gpu"].get(table, []):
            ort.append((str(row["ort"]), str(row["cuda"]), str(row["cudnn"])))

    return Catalog(
        driver_rows=tuple(rows),
        minor_floors=tuple(floors),
        arch_targets=tuple(targets),
        arch_names=dict(raw["gpu_architectures"]["compute_capability_to_arch"]),
        ort_cuda=tuple(ort),
        compiled=str(raw.get("compiled", "")),
    )


@lru_cache(maxsize=1)
def raw() -> dict:
    """``nvidia.json`` as parsed, read once per process for every reader of it (treat as
    read-only)."""
    with open(DATA_FILE, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return build_catalog(raw())


def added_within_11() -> dict[str, CudaVersion]:
    return dict(_ADDED_WITHIN_11)


@dataclass(frozen=True)
class CudnnBuild:
    """One build of a cuDNN release: the CUDA releases it is built for, the lowest compute
    capability it serves (None: not stated)."""

    cuda_major: int
    low: CudaVersion
    high: CudaVersion
    cc_low: tuple[int, int] | None


@dataclass(frozen=True)
class CudnnRelease:
    """A row of cuDNN's support matrix (``cudnn.per_release``)."""

    series: tuple[int, int]
    builds: tuple[CudnnBuild, ...]

    def build_for(self, cuda_major: int) -> CudnnBuild | None:
        return next((b for b in self.builds if b.cuda_major == cuda_major), None)


_RANGE = re.compile(r"(\d+\.\d+)(?:-(\d+\.\d+))?")
_CC_IN_TEXT = re.compile(r"CC (\d+)\.(\d+)-\d+\.\d+")
_CC_FIELD = re.compile(r"\s*(\d+)\.(\d+)-\d+\.\d+")


def _cudnn_build(major: int, text: str, row_cc: str) -> CudnnBuild | None:
    """The first range in the text is the build's (a row naming two builds lists the narrower
    CUDA range first); a CC range in the text wins over the row's."""
    m = _RANGE.search(text)
    if not m:
        return None
    low = CudaVersion.parse(m.group(1))
    high = CudaVersion.parse(m.group(2) or m.group(1))
    if low.major != major:
        return None
    cc = _CC_IN_TEXT.search(text) or _CC_FIELD.match(row_cc)
    return CudnnBuild(major, low, high, (int(cc.group(1)), int(cc.group(2))) if cc else None)


@lru_cache(maxsize=1)
def cudnn_releases() -> tuple[CudnnRelease, ...]:
    out = []
    for row in raw()["cudnn"]["per_release"]:
        first = re.match(r"\s*(\d+)\.(\d+)", str(row.get("cudnn", "")))
        if not first:
            continue
        builds = []
        for key, text in row.items():
            km = re.fullmatch(r"cuda_(\d+)_build", key)
            if km:
                b = _cudnn_build(int(km.group(1)), str(text), str(row.get("cc", "")))
                if b:
                    builds.append(b)
        out.append(CudnnRelease((int(first.group(1)), int(first.group(2))), tuple(builds)))
    return tuple(sorted(out, key=lambda r: r.series))
