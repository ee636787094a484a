"""The exact environment and argv a process gets for one target: a pure function.

Every other toolkit's folders leave ``PATH``, ``LD_LIBRARY_PATH``, ``LIBRARY_PATH`` and
``CPATH``; the driver's own folders stay; the target's folders go first. What a previous plan
added is recorded in ``CUDASWITCH_ADDED`` so that planning B over an environment planned for A
gives exactly what planning B over the original gives (Lmod's rule: switching leaves no trace).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .toolkits.model import Toolkit

PATH_VARS = ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH")
ADDED_ENV = "CUDASWITCH_ADDED"
ACTIVE_ENV = "CUDASWITCH_ACTIVE"
SET_ENV = "CUDASWITCH_SET"

# Folders the NVIDIA container runtime, device plugins and WSL use for the *driver's* libraries
# (libcuda, libnvidia-ml): never toolkit folders, never stripped.
DRIVER_DIR_RE = re.compile(r"^(/usr/local/nvidia(/lib(64)?|/bin)?|/usr/lib/wsl/lib)/?$")
# Toolkit folders we strip even when no toolkit is installed there any more (stale entries).
STALE_CUDA_RE = re.compile(
    r"^/usr/local/cuda(-\d+(\.\d+)*)?(/|$)|/nvidia/(cu\d+|cuda_runtime|cuda_nvrtc|cublas|cudnn|"
    r"cufft|curand|cusolver|cusparse|nvjitlink|cuda_cupti|cuda_nvcc|nccl|tensorrt_libs)(/|$)"
)


@dataclass(frozen=True)
class Target:
    """What a process should run against: a toolkit, plus what a slot adds to it."""

    toolkit: Toolkit
    label: str = ""
    extra_bin_dirs: tuple[str, ...] = ()
    extra_lib_dirs: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()
    compat_dir: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.toolkit.name


@dataclass(frozen=True)
class Plan:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    target: Target
    removed: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def changes(self, base: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
        """Variables set to a new value, and variables unset, relative to ``base``."""
        changed = {k: v for k, v in self.env.items() if base.get(k) != v}
        unset = tuple(k for k in base if k not in self.env)
        return changed, unset


def is_driver_dir(path: str) -> bool:
    return bool(DRIVER_DIR_RE.match(os.path.normpath(path)))


def _additions(target: Target) -> dict[str, list[str]]:
    tk = target.toolkit
    libs = list(target.extra_lib_dirs) + list(tk.lib_dirs)
    if target.compat_dir:
        libs.insert(0, target.compat_dir)
    return {
        "PATH": list(target.extra_bin_dirs) + list(tk.bin_dirs),
        "LD_LIBRARY_PATH": libs,
        "LIBRARY_PATH": list(tk.lib_dirs),
        "CPATH": list(tk.include_dirs),
    }


def _decode_added(value: str | None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in (value or "").split(";"):
        var, _, dirs = part.partition("=")
        if var in PATH_VARS:
            out[var] = {d for d in dirs.split(":") if d}
    return out


def _encode_added(added: Mapping[str, Sequence[str]]) -> str:
    return ";".join(f"{k}={':'.join(v)}" for k, v in added.items() if v)


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


def make_plan(target: Target, toolkits: Sequence[Toolkit], base_env: Mapping[str, str],
              argv: Sequence[str] = ()) -> Plan:
    """The environment ``argv`` gets under ``target``, from ``base_env`` and what is installed."""
    previous = _decode_added(base_env.get(ADDED_ENV))
    previously_set = [k for k in (base_env.get(SET_ENV) or "").split(":") if k]
    env = {k: v for k, v in base_env.items() if k not in previously_set}
    additions = _additions(target)
    removed: list[tuple[str, str]] = []
    added_record: dict[str, list[str]] = {}
    for var in PATH_VARS:
        wanted = [d for d in dict.fromkeys(additions[var]) if d]
        kept, gone = strip_entries(base_env.get(var, ""), toolkits, previous.get(var, set()),
                                   keep=set())
        removed.extend((var, g) for g in gone)
        kept = [k for k in dict.fromkeys(kept) if k not in wanted]
        value = wanted + kept
        if var == "PATH" and not value:
            value = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        if value:
            env[var] = ":".join(value)
        else:
            env.pop(var, None)
        if wanted:
            added_record[var] = wanted
    root = target.toolkit.root
    env["CUDA_HOME"] = root
    env["CUDA_PATH"] = root
    env[ACTIVE_ENV] = f"{target.name}@{root}"
    extra_keys = []
    for k, v in target.extra_env:
        env[k] = v
        extra_keys.append(k)
    if extra_keys:
        env[SET_ENV] = ":".join(extra_keys)
    else:
        env.pop(SET_ENV, None)
    record = _encode_added(added_record)
    if record:
        env[ADDED_ENV] = record
    else:
        env.pop(ADDED_ENV, None)
    return Plan(tuple(argv), env, target, tuple(removed))
