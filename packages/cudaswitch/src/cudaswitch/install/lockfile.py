"""``cudaswitch.lock``: the exact wheels (name, version, file, URL, sha256) of every slot.

JSON, written next to the manifest. ``sync --locked`` installs exactly these files and fails
when a slot of the manifest changed since the lock was written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from ..errors import CudaswitchError, UsageError
from ..slots import Manifest
from .resolve import Wheel

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
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_lock(manifest: Manifest) -> dict[str, list[Wheel]]:
    """The locked wheels per slot; LockDrift when the manifest changed since locking."""
    path = lock_path(manifest)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise UsageError(f"no lock file at {path}: run cudaswitch lock first") from e
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path}: not a cudaswitch lock of format {FORMAT}")
    slots = data.get("slots") or {}
    drift = []
    if data.get("manifest_sha256") != manifest.sha256:
        for s in manifest.slots:
            locked = slots.get(s.name)
            if locked is None:
                drift.append(f"slot {s.name} is not in the lock")
            elif locked.get("request") != s.request():
                drift.append(f"slot {s.name} changed since the lock was written")
        extra = sorted(set(slots) - set(manifest.names))
        drift += [f"slot {n} is locked but no longer in the manifest" for n in extra]
    if drift:
        raise LockDrift(f"{path} does not match {manifest.path}: " + "; ".join(drift)
                        + "; run cudaswitch lock to update it")
    return {name: [Wheel.from_dict(w) for w in entry.get("wheels", [])]
            for name, entry in slots.items()}
