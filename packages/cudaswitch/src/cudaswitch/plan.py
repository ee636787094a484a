"""The exact environment and argv a process gets for one target: a pure function.

Every other toolkit's folders leave ``PATH``, ``LD_LIBRARY_PATH``, ``LIBRARY_PATH`` and
``CPATH``; the driver's own folders stay; the target's folders go first. What a previous plan
added is recorded in ``CUDASWITCH_ADDED`` so that planning B over an environment planned for A
gives exactly what planning B over the original gives (Lmod's rule: switching leaves no trace).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .compat.verdict import Verdict
from .toolkits.model import Toolkit

PATH_VARS = ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH")
ADDED_ENV = "CUDASWITCH_ADDED"
ACTIVE_ENV = "CUDASWITCH_ACTIVE"

# Folders the NVIDIA container runtime, device plugins and WSL use for the *driver's* libraries
# (libcuda, libnvidia-ml): never toolkit folders, never stripped.
DRIVER_DIR_RE = re.compile(r"^(/usr/local/nvidia(/lib(64)?|/bin)?|/usr/lib/wsl/lib)/?$")
# Toolkit folders we strip even when no toolkit is installed there any more (stale entries).
STALE_CUDA_RE = re.compile(
    r"^/usr/local/cuda(-\d+(\.\d+)*)?(/|$)|/nvidia/(cu\d+|cuda_runtime|cuda_nvrtc|cublas|cudnn|"
    r"cufft|curand|cusolver|cusparse|nvjitlink|cuda_cupti|cuda_nvcc|nccl|tensorrt_libs)(/|$)"
)


# CUDA's own tools. A folder of stubs with these names comes right after the chosen toolkit's
# bin folders on PATH: a tool the toolkit lacks then answers "not part of this toolkit" (exit
# 127) instead of another toolkit's copy (a pinned wrapper in /usr/local/bin, say). Tools that
# are separate products (nsys, ncu) are not shadowed.
SHADOW_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shadow")
SHADOWED_TOOLS = ("nvcc", "ptxas", "nvlink", "fatbinary", "cudafe++", "cuobjdump", "nvdisasm",
                  "nvprune", "cu++filt", "bin2c", "compute-sanitizer")


@dataclass(frozen=True)
class Target:
    """What a process should run against: a toolkit, plus what a slot adds to it."""

    toolkit: Toolkit
    label: str = ""
    extra_bin_dirs: tuple[str, ...] = ()
    extra_lib_dirs: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()
    why: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.label or self.toolkit.name


@dataclass(frozen=True)
class Finding:
    """One result of a further check of a target (beyond the driver/GPU verdict)."""

    check: str
    message: str
    blocking: bool = True
    exit_code: int = 4


@dataclass(frozen=True)
class Checked:
    """A target with its verdict: the only thing a plan is made from (see ``check.check``)."""

    target: Target
    verdict: Verdict
    forced: bool = False
    findings: tuple[Finding, ...] = ()
    compat_dir: str | None = None
    why: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    target: Target
    removed: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())
    verdict: Verdict | None = None

    def changes(self, base: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
        """Variables set to a new value, and variables unset, relative to ``base``."""
        changed = {k: v for k, v in self.env.items() if base.get(k) != v}
        unset = tuple(k for k in base if k not in self.env)
        return changed, unset


def is_driver_dir(path: str) -> bool:
    return bool(DRIVER_DIR_RE.match(os.path.normpath(path)))


def _additions(target: Target, compat_dir: str | None) -> dict[str, list[str]]:
    tk = target.toolkit
    libs = list(target.extra_lib_dirs) + list(tk.lib_dirs)
    if compat_dir:
        libs.insert(0, compat_dir)
    return {
        "PATH": list(target.extra_bin_dirs) + list(tk.bin_dirs) + [SHADOW_DIR],
        "LD_LIBRARY_PATH": libs,
        "LIBRARY_PATH": list(tk.lib_dirs),
        "CPATH": list(tk.include_dirs),
    }


def _decode_record(value: str | None) -> dict:
    """What an earlier plan changed; anything unreadable counts as nothing."""
    try:
        data = json.loads(value or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def strip_entries(value: str, toolkits: Sequence[Toolkit], previously_added: set[str],
                  keep: set[str]) -> tuple[list[str], list[str]]:
    """Split a PATH-like value into the entries that stay and those that belong to CUDA."""
    kept: list[str] = []
    removed: list[str] = []
    for entry in value.split(":"):
        if not entry:
            continue
        if entry in keep or is_driver_dir(entry):
            kept.append(entry)
        elif (entry in previously_added or STALE_CUDA_RE.search(entry)
              or any(t.owns(entry) for t in toolkits)):
            removed.append(entry)
        else:
            kept.append(entry)
    return kept, removed


def _restore_moved(entries: list[str], moved: Mapping[str, int]) -> list[str]:
    out = [e for e in entries if e not in moved]
    for entry, index in sorted(moved.items(), key=lambda kv: kv[1]):
        if entry in entries and isinstance(index, int):
            out.insert(min(max(index, 0), len(out)), entry)
    return out


def make_plan(checked: Checked, toolkits: Sequence[Toolkit], base_env: Mapping[str, str],
              argv: Sequence[str] = ()) -> Plan:
    """The environment ``argv`` gets under a checked target, from ``base_env`` and what is
    installed. Only a :class:`Checked` is accepted: no plan exists without a verdict."""
    if not isinstance(checked, Checked):
        raise TypeError("make_plan takes the result of check.check(), not a bare target")
    target = checked.target
    record = _decode_record(base_env.get(ADDED_ENV))
    prev_paths = record.get("paths") if isinstance(record.get("paths"), dict) else {}
    prev_set = record.get("set") if isinstance(record.get("set"), dict) else {}
    env = dict(base_env)
    for key, old in prev_set.items():
        if old is None:
            env.pop(key, None)
        else:
            env[key] = str(old)
    additions = _additions(target, checked.compat_dir)
    removed: list[tuple[str, str]] = []
    new_paths: dict[str, dict] = {}
    for var in PATH_VARS:
        prev = prev_paths.get(var) if isinstance(prev_paths.get(var), dict) else {}
        added = {a for a in prev.get("added", []) if isinstance(a, str)}
        moved = prev.get("moved") if isinstance(prev.get("moved"), dict) else {}
        wanted = [d for d in dict.fromkeys(additions[var]) if d]
        kept, gone = strip_entries(base_env.get(var, ""), toolkits, added, keep=set())
        removed.extend((var, g) for g in gone if g not in added)
        kept = _restore_moved(list(dict.fromkeys(kept)), moved)
        ours = [w for w in wanted if w not in kept]
        now_moved = {w: kept.index(w) for w in wanted if w in kept}
        value = wanted + [k for k in kept if k not in wanted]
        if var == "PATH" and not value:
            value = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        if value:
            env[var] = ":".join(value)
        else:
            env.pop(var, None)
        if ours or now_moved:
            new_paths[var] = {"added": ours, "moved": now_moved}
    root = target.toolkit.root
    env["CUDA_HOME"] = root
    env["CUDA_PATH"] = root
    env[ACTIVE_ENV] = f"{target.name}@{root}"
    new_set: dict[str, str | None] = {}
    for k, v in target.extra_env:
        new_set.setdefault(k, env.get(k))
        env[k] = v
    new_record = {"paths": new_paths, "set": new_set}
    env[ADDED_ENV] = json.dumps(new_record, separators=(",", ":"), sort_keys=True)
    return Plan(tuple(argv), env, target, tuple(removed), verdict=checked.verdict)
