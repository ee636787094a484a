"""``cudaswitch.lock``: the exact wheels (name, version, file, URL, sha256) of every slot.

JSON, written next to the manifest. ``sync --locked`` installs exactly these files and fails
when a slot of the manifest changed since the lock was written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .. import fsguard
from ..errors import CudaswitchError, UsageError
from ..slotrecord import RecordError, Wheel, read_json_file
from ..slots import Manifest

LOCK_NAME = "cudaswitch.lock"
FORMAT = 1


class LockDrift(CudaswitchError):
    """The lock no longer describes the manifest (or a slot is missing from it)."""


def lock_path(manifest: Manifest) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(manifest.path)), LOCK_NAME)


def write_lock(manifest: Manifest, wheels: Mapping[str, Sequence[Wheel]]) -> str:
    data = {
        "format": FORMAT,
        "manifest": os.path.basename(manifest.path),
        "manifest_sha256": manifest.sha256,
        "slots": {
            s.name: {"request": s.request(),
                     "wheels": [w.as_dict() for w in wheels[s.name]]}
            for s in manifest.slots
        },
    }
    path = lock_path(manifest)
    fsguard.atomic_write_json(path, data)
    return path


def _table(v: object, where: str) -> Mapping:
    if not isinstance(v, Mapping):
        raise RecordError(f"{where} must be a table, found {type(v).__name__}")
    return v


def read_lock(manifest: Manifest) -> dict[str, list[Wheel]]:
    """The locked wheels per slot; LockDrift when the manifest changed since locking.

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
    parsed: dict[str, tuple[Mapping, list[Wheel]]] = {}
    for name, entry in slots.items():
        where = f"{path}: slot {str(name)[:64]!r}"
        entry = _table(entry, where)
        request = _table(entry.get("request", {}), f"{where}: 'request'")
        wheels = entry.get("wheels", [])
        if not isinstance(wheels, list):
            raise RecordError(f"{where}: 'wheels' must be a list, found {type(wheels).__name__}")
        parsed[name] = (request, [Wheel.from_dict(w, where) for w in wheels])
    digest = data.get("manifest_sha256")
    if digest is not None and not isinstance(digest, str):
        raise RecordError(f"{path}: 'manifest_sha256' must be a string")
    drift = []
    if digest != manifest.sha256:
        for s in manifest.slots:
            locked = parsed.get(s.name)
            if locked is None:
                drift.append(f"slot {s.name} is not in the lock")
            elif locked[0] != s.request():
                drift.append(f"slot {s.name} changed since the lock was written")
        extra = sorted(set(parsed) - set(manifest.names))
        drift += [f"slot {n} is locked but no longer in the manifest" for n in extra]
    if drift:
        raise LockDrift(f"{path} does not match {manifest.path}: " + "; ".join(drift)
                        + "; run cudaswitch lock to update it")
    return {name: wheels for name, (_, wheels) in parsed.items()}
