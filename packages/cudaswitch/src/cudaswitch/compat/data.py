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
def catalog() -> Catalog:
    with open(DATA_FILE, encoding="utf-8") as f:
        return build_catalog(json.load(f))


def added_within_11() -> dict[str, CudaVersion]:
    return dict(_ADDED_WITHIN_11)
