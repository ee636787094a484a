"""``cudaswitch-image.lock``: what an image build resolved, so the next build is the same.

JSON beside the manifest: the base pinned by digest, the base's Python and platform, every
slot's wheels (name, version, file, URL, sha256) and the fetched app archive's sha256. A build
reuses each part while the manifest's request for it is unchanged; ``--refresh`` resolves again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .. import fsguard
from ..errors import UsageError
from ..install.resolve import Wheel
from .resolve import Platform
from .spec import ImageManifest

LOCK_NAME = "cudaswitch-image.lock"
FORMAT = 1


@dataclass(frozen=True)
class ImageLock:
    base: str = ""  # the manifest's base reference the digest belongs to
    digest: str = ""  # sha256:...
    platform: Platform | None = None
    slots: Mapping[str, tuple[dict, tuple[Wheel, ...]]] = field(default_factory=dict)
    app_url: str = ""
    app_sha256: str = ""

    def base_digest(self, base: str) -> str | None:
        return self.digest if self.digest and self.base == base else None

    def wheels_for(self, name: str, request: dict) -> tuple[Wheel, ...] | None:
        got = self.slots.get(name)
        return got[1] if got and got[0] == request else None

    def app_for(self, url: str | None) -> str | None:
        return self.app_sha256 if url and url == self.app_url and self.app_sha256 else None


def lock_path(im: ImageManifest) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(im.manifest.path)), LOCK_NAME)


def read_lock(im: ImageManifest) -> ImageLock:
    path = lock_path(im)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return ImageLock()
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable lock ({e}); remove it or build with "
                         "--refresh") from e
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("unknown format")
        base = data.get("base") or {}
        digest = str(base.get("digest", ""))
        if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ValueError(f"bad digest {digest!r:.80}")
        plat = Platform.from_dict(data["platform"]) if data.get("platform") else None
        slots = {}
        for name, entry in (data.get("slots") or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
                raise ValueError(f"slot {name!r:.40}")
            slots[str(name)] = (entry["request"], tuple(Wheel.from_dict(w)
                                                        for w in entry.get("wheels", [])))
        app = data.get("app") or {}
        sha = str(app.get("sha256", ""))
        if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ValueError("bad app sha256")
        return ImageLock(str(base.get("ref", "")), digest, plat, slots, str(app.get("url", "")),
                         sha)
    except (ValueError, TypeError, KeyError, AttributeError, UsageError) as e:
        raise UsageError(f"{path}: bad lock ({e}); remove it or build with --refresh") from e


def write_lock(im: ImageManifest, base: str, digest: str, platform: Platform | None,
               slots: Mapping[str, Sequence[Wheel]], app_sha256: str | None) -> str:
    path = lock_path(im)
    by_name = {s.name: s for s in im.slots}
    data = {
        "format": FORMAT,
        "manifest": os.path.basename(im.manifest.path),
        "base": {"ref": base, "digest": digest},
        "platform": platform.as_dict() if platform else None,
        "slots": {name: {"request": by_name[name].request(),
                         "wheels": [w.as_dict() for w in wheels]}
                  for name, wheels in slots.items() if name in by_name},
        "app": {"url": im.image.app.fetch, "sha256": app_sha256} if im.image.app.fetch else {},
    }
    fsguard.atomic_write(path, json.dumps(data, indent=1) + "\n")
    return path
