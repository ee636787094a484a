"""The manifests shown in the docs are real: each TOML block with slots parses, and a slot that
runs onnxruntime-gpu carries every component `slot suggest` names for its CUDA provider (the
docs' `cuda12` example once lacked nvrtc and failed only at `exec --verify`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cudaswitch.slots import parse_manifest, suggest

DOCS = Path(__file__).resolve().parents[3] / "docs"
BLOCK = re.compile(r"^```toml\n(.*?)^```", re.M | re.S)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for md in sorted([*DOCS.glob("*.md"), DOCS.parent / "README.md"]):
        for i, m in enumerate(BLOCK.finditer(md.read_text(encoding="utf-8"))):
            if "[[slot]]" in m.group(1):
                found.append((f"{md.name}#{i}", m.group(1)))
    return found


BLOCKS = _blocks()


def test_the_docs_show_manifests():
    assert any(name.startswith("slots.md") for name, _ in BLOCKS)


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_a_docs_manifest_parses_and_its_ort_slots_are_complete(where, text):
    manifest = parse_manifest(text, where)
    for slot in manifest.slots:
        if not any(p.startswith("onnxruntime-gpu") for p in slot.packages):
            continue
        needed = set(suggest(slot.cuda)["slot"]["components"])
        missing = needed - set(slot.components)
        assert not missing, f"{where}: slot {slot.name} lacks {sorted(missing)}"
