"""``cudaswitch.lock``: the exact wheels (name, version, file, URL, sha256) of every slot.

JSON, written next to the manifest. Per slot: NVIDIA's wheels (``wheels``) and, for a slot with
``packages``, its whole Python environment (``venv``: the interpreter's ``X.Y`` it was resolved
for and every wheel, dependencies included). ``sync --locked`` installs exactly these files and
fails when a slot of the manifest changed since the lock was written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import fsguard
from ..errors import CudaswitchError, UsageError
from ..slotrecord import RecordError, Wheel, read_json_file
from ..slots import REQUIREMENT_RE, Manifest, Slot
from .pip import PIN_NAME_RE, PIN_VERSION_RE
from .resolve import normalize

LOCK_NAME = "cudaswitch.lock"
FORMAT = 1
_PY_VERSION_RE = re.compile(r"^[0-9]{1,3}\.[0-9]{1,3}$")


class LockDrift(CudaswitchError):
    """The lock no longer describes the manifest (or a slot is missing from it)."""


@dataclass(frozen=True)
class LockedVenv:
    """A slot's Python environment as locked: every wheel pip chose for that interpreter."""

    python: str
    wheels: tuple[Wheel, ...]

    def as_dict(self) -> dict:
        return {"python": self.python, "wheels": [w.as_dict() for w in self.wheels]}


@dataclass(frozen=True)
class LockedSlot:
    request: Mapping
    wheels: tuple[Wheel, ...]
    venv: LockedVenv | None = None


def lock_path(manifest: Manifest) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(manifest.path)), LOCK_NAME)


def write_lock(manifest: Manifest, wheels: Mapping[str, Sequence[Wheel]],
               venvs: Mapping[str, LockedVenv] | None = None) -> str:
    venvs = venvs or {}
    slots: dict[str, dict] = {}
    for s in manifest.slots:
        entry: dict = {"request": s.request(), "wheels": [w.as_dict() for w in wheels[s.name]]}
        if s.name in venvs:
            entry["venv"] = venvs[s.name].as_dict()
        slots[s.name] = entry
    data = {
        "format": FORMAT,
        "manifest": os.path.basename(manifest.path),
        "manifest_sha256": manifest.sha256,
        "slots": slots,
    }
    path = lock_path(manifest)
    fsguard.atomic_write_json(path, data)
    return path


def _table(v: object, where: str) -> Mapping:
    if not isinstance(v, Mapping):
        raise RecordError(f"{where} must be a table, found {type(v).__name__}")
    return v


def _wheels(v: object, where: str) -> tuple[Wheel, ...]:
    if not isinstance(v, list):
        raise RecordError(f"{where}: 'wheels' must be a list, found {type(v).__name__}")
    return tuple(Wheel.from_dict(w, where) for w in v)


def _venv(v: object, where: str) -> LockedVenv | None:
    if v is None:
        return None
    where = f"{where}: 'venv'"
    v = _table(v, where)
    python = v.get("python")
    if not isinstance(python, str) or not _PY_VERSION_RE.match(python):
        raise RecordError(f"{where}: 'python' must be an interpreter version X.Y, "
                          f"found {str(python)[:40]!r}")
    wheels = _wheels(v.get("wheels"), where)
    for w in wheels:
        if not PIN_NAME_RE.match(w.name) or not PIN_VERSION_RE.match(w.version):
            raise RecordError(f"{where}: {w.name[:80]!r} {w.version[:40]!r} is not a plain "
                              "package name and version")
    names = [normalize(w.name) for w in wheels]
    if len(set(names)) != len(names):
        raise RecordError(f"{where}: a package is listed twice")
    return LockedVenv(python, wheels)


def _slot_drift(slot: Slot, locked: Mapping) -> list[str]:
    """What changed in a slot since the lock: each package named, other fields by key."""
    want = slot.request()
    had = locked.get("packages")
    out = []
    if isinstance(had, list) and list(slot.packages) != had:
        out += [f"slot {slot.name}: package {p} is in the manifest but not in the lock"
                for p in slot.packages if p not in had]
        out += [f"slot {slot.name}: package {str(p)[:80]} is locked but no longer in the "
                "manifest" for p in had if p not in slot.packages]
    keys = sorted(k for k in want if k != "packages" and want[k] != locked.get(k))
    if keys or not out:
        out.append(f"slot {slot.name} changed since the lock was written"
                   + (f" ({', '.join(keys)})" if keys else ""))
    return out


def read_locked(manifest: Manifest) -> dict[str, LockedSlot]:
    """Every slot of the lock, environments included; LockDrift when the manifest changed.

    Every field is checked for type and shape before anything is trusted: a damaged or edited
    lock is a :class:`RecordError` (exit 2) naming the file, never a half-read one."""
    path = lock_path(manifest)
    try:
        data = read_json_file(path, "lock file")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from e
    if data is None:
        raise UsageError(f"no lock file at {path}: run cudaswitch lock first")
    if not isinstance(data, Mapping) or data.get("format") != FORMAT \
            or isinstance(data.get("format"), bool):
        raise RecordError(f"{path}: not a cudaswitch lock of format {FORMAT}")
    slots = _table(data.get("slots", {}), f"{path}: 'slots'")
    parsed: dict[str, LockedSlot] = {}
    for name, entry in slots.items():
        where = f"{path}: slot {str(name)[:64]!r}"
        entry = _table(entry, where)
        request = _table(entry.get("request", {}), f"{where}: 'request'")
        parsed[name] = LockedSlot(request, _wheels(entry.get("wheels", []), where),
                                  _venv(entry.get("venv"), where))
    digest = data.get("manifest_sha256")
    if digest is not None and not isinstance(digest, str):
        raise RecordError(f"{path}: 'manifest_sha256' must be a string")
    drift = []
    if digest != manifest.sha256:
        for s in manifest.slots:
            locked = parsed.get(s.name)
            if locked is None:
                drift.append(f"slot {s.name} is not in the lock")
            elif locked.request != s.request():
                drift += _slot_drift(s, locked.request)
        extra = sorted(set(parsed) - set(manifest.names))
        drift += [f"slot {n} is locked but no longer in the manifest" for n in extra]
    if drift:
        raise LockDrift(f"{path} does not match {manifest.path}: " + "; ".join(drift)
                        + "; run cudaswitch lock to update it")
    return parsed


def read_lock(manifest: Manifest) -> dict[str, list[Wheel]]:
    """NVIDIA's locked wheels per slot (see :func:`read_locked` for the environments)."""
    return {name: list(s.wheels) for name, s in read_locked(manifest).items()}


def missing_packages(packages: Sequence[str], venv: LockedVenv) -> list[str]:
    """The slot's requested packages whose name no locked wheel has."""
    names = {normalize(w.name) for w in venv.wheels}
    out = []
    for p in packages:
        m = REQUIREMENT_RE.match(p)
        if m and normalize(m.group("name")) not in names:
            out.append(p)
    return out
