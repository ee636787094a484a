"""Can toolkit T run on host H? A verdict with its reason, from the shipped data alone.

A verdict is a table lookup, not proof: ``--verify`` is the proof. Kinds:
``native`` (the driver's CUDA is at least T), ``minor-compat`` (same major, driver at or above
the major's floor), ``forward-compat`` (older driver, data-center GPU, ``compat/`` libs present),
``unsupported`` (with the reason and the driver it needs) and ``unknown`` (no driver to check:
image builds and CI, which the override variables can turn into a real check).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ..host import Host
from ..versions import CudaVersion, parse_dotted
from .data import FORWARD_COMPAT_BRANDS, ArchTargets, catalog

VerdictKind = Literal["native", "minor-compat", "forward-compat", "unsupported", "unknown"]
RUNNABLE: frozenset[str] = frozenset({"native", "minor-compat", "forward-compat", "unknown"})


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    reason: str
    needs_driver: str | None = None
    driver_cuda: CudaVersion | None = None

    @property
    def runnable(self) -> bool:
        return self.kind in RUNNABLE

    def as_dict(self) -> dict:
        return {
            "verdict": self.kind,
            "reason": self.reason,
            "needs_driver": self.needs_driver,
            "driver_cuda": str(self.driver_cuda) if self.driver_cuda else None,
        }


def driver_cuda_for(driver: str) -> CudaVersion | None:
    """Newest CUDA release whose Table 3 driver is at or below ``driver``."""
    d = parse_dotted(driver)
    best = None
    for row in catalog().driver_rows:
        if row.min_driver_tuple <= d and (best is None or row.cuda > best):
            best = row.cuda
    return best


def minor_floor(version: CudaVersion) -> str | None:
    best = None
    for f in catalog().minor_floors:
        if (f.major == version.major and f.applies_from.parts <= version.parts
                and (best is None or f.applies_from.parts > best.applies_from.parts)):
            best = f
    return best.min_driver if best else None


def release_driver(version: CudaVersion) -> str | None:
    """The Table 3 driver of the first release of ``major.minor`` (GA), if listed."""
    rows = [r for r in catalog().driver_rows
            if (r.cuda.major, r.cuda.minor) == (version.major, version.minor)]
    return min(rows, key=lambda r: r.min_driver_tuple).min_driver if rows else None


def needed_driver(version: CudaVersion) -> str | None:
    return minor_floor(version) or release_driver(version)


def arch_targets(version: CudaVersion) -> ArchTargets | None:
    """The target list of the nearest listed release of the same major (same minor first)."""
    same_major = [t for t in catalog().arch_targets if t.cuda.major == version.major]
    if not same_major:
        return None
    at_or_below = [t for t in same_major if t.cuda.major_minor == version.major_minor
                   or (t.cuda.major, t.cuda.minor) < (version.major, version.minor)]
    if at_or_below:
        return max(at_or_below, key=lambda t: t.cuda.parts)
    return min(same_major, key=lambda t: t.cuda.parts)


def builds_for(version: CudaVersion, compute_capability: str) -> bool | None:
    """Whether toolkit ``version`` can build for a GPU of that compute capability; None: no data."""
    t = arch_targets(version)
    if t is None:
        return None
    major, _, minor = compute_capability.partition(".")
    sm = f"sm_{major}{minor or '0'}"
    sms = set(t.sms)
    if version.major == 11 and (version.major, version.minor) < (t.cuda.major, t.cuda.minor):
        from .data import added_within_11

        sms -= {s for s, since in added_within_11().items() if version < since}
    return sm in sms


def compat_driver_in(root: str | None, host: Host | None = None) -> str | None:
    """Driver version of the forward-compat ``libcuda`` in a toolkit's ``compat/`` folder that
    NVIDIA's rule (the library's ELF note, else its driver major) would load on ``host``."""
    folder = compat_folder(root, host)
    return folder[1] if folder else None


def compat_folder(root: str | None, host: Host | None = None) -> tuple[str, str] | None:
    """(folder, driver version) of the usable compat ``libcuda`` under ``root``, if any."""
    if not root or not os.path.isdir(os.path.join(root, "compat")):
        return None
    from .forward import find_compat_libs, use_compat

    for lib in find_compat_libs(root, "/compat"):
        if not lib.driver_version:
            continue
        if host is None or not host.driver_version or use_compat(
                lib.header, compat_driver=lib.driver_version, host_driver=host.driver_version):
            return os.path.dirname(lib.host_path), lib.driver_version
    return None


def verdict_for(version: CudaVersion, host: Host, compat_driver: str | None = None) -> Verdict:
    for gpu in host.gpus:
        ok = builds_for(version, gpu.compute_capability)
        if ok is False:
            t = arch_targets(version)
            listed = ", ".join(sorted(t.sms, key=_sm_key)) if t else "?"
            return Verdict(
                "unsupported",
                f"GPU {gpu.index} ({gpu.name}, compute capability {gpu.compute_capability}, "
                f"{gpu.sm}) is not a target of CUDA {version.major_minor} (it builds for {listed})",
                None,
                host.driver_cuda,
            )
    needs = needed_driver(version)
    if not host.has_driver:
        return Verdict(
            "unknown",
            "no NVIDIA driver found on this host; set CUDASWITCH_DRIVER_VERSION to check "
            "against a driver",
            needs,
        )
    assert host.driver_version is not None
    dcuda = host.driver_cuda or driver_cuda_for(host.driver_version)
    mm = CudaVersion(version.major, version.minor)
    if dcuda is not None and dcuda >= mm:
        return Verdict("native", f"driver {host.driver_version} supports CUDA {dcuda}",
                       needs, dcuda)
    floor = minor_floor(version)
    drv = host.driver_tuple
    if floor and drv >= parse_dotted(floor) and (dcuda is None or dcuda.major == version.major):
        return Verdict(
            "minor-compat",
            f"driver {host.driver_version} supports CUDA {dcuda}; CUDA {version.major}.x runs "
            f"on it through minor-version compatibility (driver >= {floor}; no PTX JIT of newer "
            f"PTX)",
            needs, dcuda,
        )
    if compat_driver and parse_dotted(compat_driver)[:1] > drv[:1]:
        brands = [g.brand for g in host.gpus]
        if brands and all(b.lower() in FORWARD_COMPAT_BRANDS for b in brands):
            return Verdict(
                "forward-compat",
                f"driver {host.driver_version} supports CUDA {dcuda}; the toolkit's compat "
                f"libcuda {compat_driver} serves CUDA {version.major_minor} on data-center GPUs",
                needs, dcuda,
            )
    why = (f"driver {host.driver_version} supports CUDA {dcuda or 'unknown'}, "
           f"CUDA {version.major_minor} needs driver >= {needs or 'unknown'}")
    if floor:
        why += f" (the minor-version floor of CUDA {version.major}.x)"
    return Verdict("unsupported", why, needs, dcuda)


def _sm_key(sm: str) -> tuple[int, str]:
    digits = "".join(ch for ch in sm[3:] if ch.isdigit())
    return (int(digits or 0), sm)
