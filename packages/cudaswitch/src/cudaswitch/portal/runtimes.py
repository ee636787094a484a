"""What the Runtimes and Host pages show: every slot, how it fits this host, and why.

Slots are the matrix's (manifest, installed, or one per CUDA major found by discovery), and
each one's verdict comes from the same planning call ``cudaswitch exec --slot`` makes, so the
page never says "runs" for a slot that ``exec`` would refuse. Discovery costs tens of
milliseconds, so one answer is kept for a few seconds and shared by every page view.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..compat.verdict import RUNNABLE
from ..doctor import diagnose
from ..flow import gather
from ..host import Host
from ..matrix.jobs import SlotJob, SlotRef, matrix_slots, plan_job
from ..select import verdicts
from .options import PROVIDERS

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ProviderChoice:
    value: str
    label: str
    explain: str
    available: bool
    why_not: str = ""


@dataclass(frozen=True)
class Runtime:
    name: str
    source: str  # manifest | installed | implicit
    cuda: str | None
    verdict: str
    reason: str
    root: str | None
    components: tuple[str, ...]
    layout: str | None
    sizes: Mapping[str, int] | None
    providers: tuple[ProviderChoice, ...]
    venv: str | None = None

    @property
    def runnable(self) -> bool:
        return self.verdict in RUNNABLE

    @property
    def ref(self) -> SlotRef:
        return SlotRef(self.name, self.source, self.cuda)  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "cuda": self.cuda,
                "verdict": self.verdict, "reason": self.reason, "root": self.root,
                "components": list(self.components), "layout": self.layout,
                "sizes": dict(self.sizes) if self.sizes else None, "venv": self.venv,
                "providers": [{"value": p.value, "available": p.available,
                               "why_not": p.why_not} for p in self.providers]}


@dataclass(frozen=True)
class Snapshot:
    host: Host
    runtimes: tuple[Runtime, ...]
    findings: tuple[dict, ...]
    taken_at: float = field(default_factory=time.time)

    def runtime(self, name: str) -> Runtime | None:
        return next((r for r in self.runtimes if r.name == name), None)


def _has_ort_gpu(venv: str | None) -> bool:
    return bool(venv and glob.glob(os.path.join(
        venv, "lib", "python*", "site-packages", "onnxruntime_gpu-*.dist-info")))


def providers_for(components: tuple[str, ...], venv: str | None, host: Host,
                  runnable: bool) -> tuple[ProviderChoice, ...]:
    """The execution providers a slot can run here; the others with the reason why not."""
    out = [ProviderChoice("cpu", PROVIDERS["cpu"].label, PROVIDERS["cpu"].explain, True)]
    gpu_missing = "" if host.gpus else "no GPU on this host"
    for name, needs in (("cuda", ("cudnn", "cublas")), ("tensorrt", ("cudnn", "tensorrt"))):
        missing = [c for c in needs if c not in components]
        why = (gpu_missing or (f"the slot has no {', '.join(missing)}" if missing else "")
               or ("" if _has_ort_gpu(venv) else "the slot's Python has no onnxruntime-gpu")
               or ("" if runnable else "the slot cannot run on this host"))
        choice = PROVIDERS[name]
        out.append(ProviderChoice(name, choice.label, choice.explain, not why, why))
    return tuple(out)


def _runtime(job: SlotJob, toolkits: dict, sizes: Mapping[str, dict], host: Host) -> Runtime:
    tk = toolkits.get(job.toolkit_root or "")
    components = tuple(tk.components) if tk else ()
    venv = (job.env or {}).get("VIRTUAL_ENV") if job.ref.source != "implicit" else None
    size = next((v for k, v in sizes.items() if os.path.realpath(k) == job.toolkit_root), None)
    if size is None and job.toolkit_root:
        size = folder_size(job.toolkit_root)
    return Runtime(job.name, job.ref.source, job.cuda, job.verdict, job.reason,
                   job.toolkit_root, components, tk.layout if tk else None,
                   {k: v for k, v in size.items() if isinstance(v, int)} if size else None,
                   providers_for(components, venv, host, job.runnable), venv)


_FOLDER_SIZES: dict[tuple[str, int], dict[str, int]] = {}


def folder_size(root: str) -> dict[str, int] | None:
    """Bytes and files of a toolkit cudaswitch did not install (found by discovery), each hard
    link counted once; remembered per folder and modification time, so a page does not walk a
    multi-gigabyte toolkit every few seconds."""
    try:
        key = (root, os.stat(root).st_mtime_ns)
    except OSError:
        return None
    if key not in _FOLDER_SIZES:
        from ..install.sizes import inode_table

        table = inode_table(root)
        _FOLDER_SIZES[key] = {"apparent": sum(size for size, _h, _n in table.values()),
                              "files": len(table)}
    return _FOLDER_SIZES[key]


def take_snapshot(env: Mapping[str, str]) -> Snapshot:
    host, toolkits = gather(env)
    by_root = {os.path.realpath(t.root): t for t in toolkits}
    try:
        from ..install.sizes import slot_sizes
        sizes = slot_sizes(env)
    except (ImportError, OSError):
        sizes = {}
    refs = matrix_slots(env)
    runtimes = tuple(_runtime(plan_job(r, ["true"], env), by_root, sizes, host) for r in refs)
    findings = tuple(f.as_dict() for f in diagnose(env, toolkits, verdicts(toolkits, host), host))
    return Snapshot(host, runtimes, findings)


class RuntimeCache:
    """One snapshot at a time, refreshed when older than ``CACHE_SECONDS``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None

    def get(self) -> Snapshot:
        with self._lock:
            if self._snap is None or time.time() - self._snap.taken_at > CACHE_SECONDS:
                self._snap = take_snapshot(self.env)
            return self._snap


def host_dict(host: Host) -> dict:
    return {"driver_version": host.driver_version, "driver_source": host.driver_source,
            "driver_cuda": str(host.driver_cuda) if host.driver_cuda else None,
            "gpus": [{"index": g.index, "name": g.name, "brand": g.brand,
                      "compute_capability": g.compute_capability, "memory_mib": g.memory_mib}
                     for g in host.gpus],
            "gpu_source": host.gpu_source, "notes": list(host.notes)}
