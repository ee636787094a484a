"""How Python distributions name the CUDA major they carry, and how CUDA libraries group into
families, as frozen records built once from the shipped ``cudalibs.json``.

The JSON holds the facts with their sources; this module compiles its patterns and nothing
else. Standard library only: the full flow of the container entrypoint reads it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache

DATA_FILE = os.path.join(os.path.dirname(__file__), "cudalibs.json")
_SONAME_RE = re.compile(r"^(.+?\.so)\.([0-9]+)")


@dataclass(frozen=True)
class MajorRule:
    """A pattern whose ``major`` group is a CUDA major; ``what`` says where it applies."""

    pattern: re.Pattern[str]
    what: str
    from_pin: bool = False

    def major(self, text: str) -> int | None:
        """The major the pattern captures; rules that take it from a version pin capture none."""
        m = self.pattern.search(text)
        if not m or "major" not in self.pattern.groupindex:
            return None
        return int(m.group("major"))


@dataclass(frozen=True)
class Family:
    """Libraries that load one another and must come from one build (cuDNN's sub-libraries).

    ``major_in_soname``: the soname carries the CUDA major (``libcudart.so.12``), so two majors
    of it in one process are two CUDA majors; the others keep one soname in every major.
    """

    name: str
    pattern: re.Pattern[str]
    major_in_soname: bool


@dataclass(frozen=True)
class CudaLibs:
    name_rules: tuple[MajorRule, ...]
    local_version_rules: tuple[MajorRule, ...]
    cpu_local_versions: frozenset[str]
    file_rules: tuple[MajorRule, ...]
    requirement_rules: tuple[MajorRule, ...]
    metadata_names: frozenset[str]
    onnxruntime_names: frozenset[str]
    library_name_prefixes: tuple[str, ...]
    families: tuple[Family, ...]

    def family_of(self, filename: str) -> Family | None:
        return next((f for f in self.families if f.pattern.search(filename)), None)


def _rules(rows: list[dict]) -> tuple[MajorRule, ...]:
    return tuple(MajorRule(re.compile(r["pattern"]), str(r.get("what", "")),
                           r.get("major_from") == "pin") for r in rows)


def build(raw: dict) -> CudaLibs:
    return CudaLibs(
        name_rules=_rules(raw["name_rules"]),
        local_version_rules=_rules(raw["local_version_rules"]),
        cpu_local_versions=frozenset(raw.get("cpu_local_versions", ())),
        file_rules=_rules(raw["file_rules"]),
        requirement_rules=_rules(raw["requirement_rules"]),
        metadata_names=frozenset(raw.get("metadata_names", ())),
        onnxruntime_names=frozenset(raw.get("onnxruntime_names", ())),
        library_name_prefixes=tuple(raw.get("library_name_prefixes", ())),
        families=tuple(Family(f["name"], re.compile(f["pattern"]), bool(f["major_in_soname"]))
                       for f in raw["families"]),
    )


@lru_cache(maxsize=1)
def cudalibs() -> CudaLibs:
    with open(DATA_FILE, encoding="utf-8") as f:
        return build(json.load(f))


def soname_of(filename: str) -> str | None:
    """``libcudnn.so.9.1.0`` -> ``libcudnn.so.9``: the name the loader matches on. A bare
    ``libfoo.so`` is a link for the linker, never loaded by a program, so it has none."""
    m = _SONAME_RE.match(filename)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def soname_major(filename: str) -> int | None:
    m = _SONAME_RE.match(filename)
    return int(m.group(2)) if m else None
