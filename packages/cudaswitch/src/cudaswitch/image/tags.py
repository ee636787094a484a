"""Tags for the images of one manifest, and the same list as a ``docker-bake.hcl``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .containerfile import Target
from .spec import check_tag


def tags_for(name: str, version: str, targets: Sequence[Target]) -> dict[str, list[str]]:
    """stage -> tags: ``NAME:VERSION`` for all slots, ``NAME:VERSION-<slot>`` for one, and the
    moving ``NAME:cuda<major>`` on the newest single-slot image of each major (so a build
    without single-slot targets, the default, has no moving tags)."""
    out: dict[str, list[str]] = {}
    singles = [t for t in targets if len(t.slots) == 1]
    newest: dict[int, Target] = {}
    for t in singles:
        s = t.slots[0].slot
        best = newest.get(s.major)
        if best is None or s.version.parts > best.slots[0].slot.version.parts:
            newest[s.major] = t
    for t in targets:
        if t.stage == "image":
            out[t.stage] = [f"{name}:{check_tag(version)}"]
        else:
            slot = t.slots[0].slot
            tags = [f"{name}:{check_tag(f'{version}-{slot.name}')}"]
            if newest.get(slot.major) is t:
                tags.append(f"{name}:cuda{slot.major}")
            out[t.stage] = tags
    return out


def bake_hcl(tags: dict[str, list[str]], containerfile: str = "Containerfile") -> str:
    """A ``docker buildx bake`` file building every image of the manifest, with no network."""
    lines = ["# docker buildx bake -f docker-bake.hcl  (written by cudaswitch image build)",
             "group \"default\" {",
             f"  targets = {json.dumps(list(tags))}",
             "}"]
    for stage, ts in tags.items():
        lines += ["", f"target {json.dumps(stage)} {{",
                  "  context = \".\"",
                  f"  dockerfile = {json.dumps(containerfile)}",
                  f"  target = {json.dumps(stage)}",
                  f"  tags = {json.dumps(ts)}",
                  "  network = \"none\"",
                  "}"]
    return "\n".join(lines) + "\n"
