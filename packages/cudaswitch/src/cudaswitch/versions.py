"""CUDA versions and the specs users write to ask for one.

Versions are tuples of integers so that ``12.9 < 12.10``; specs are parsed once, validated
strictly (they end up in paths and environment variables), and never evaluated as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_SPEC_LENGTH = 64

_VERSION_RE = re.compile(r"^v?([0-9]{1,4})(?:\.([0-9]{1,6}))?(?:\.([0-9]{1,10}))?$")
_CLAUSE_RE = re.compile(r"^(>=|<=|==|!=|>|<|=)?\s*([0-9]{1,4}(?:\.[0-9]{1,6}){0,2})$")

SPEC_HELP = (
    "a CUDA version spec is one of: a version ('12', '12.4', '12.4.127'), "
    "a range of comma-separated clauses ('>=12.1,<13'), 'auto' (newest this host can run) "
    "or 'latest' (newest installed)"
)


class SpecError(ValueError):
    """A version or spec string that cannot be understood; the message says what would be."""


@dataclass(frozen=True)
class CudaVersion:
    """``major.minor[.patch]``; a missing part compares as zero but is remembered as missing."""

    major: int
    minor: int = 0
    patch: int | None = None

    @classmethod
    def parse(cls, text: str) -> CudaVersion:
        m = _VERSION_RE.match(text.strip()) if isinstance(text, str) else None
        if not m or len(text) > MAX_SPEC_LENGTH:
            raise SpecError(
                f"not a CUDA version: {_show(text)} (expected e.g. '12.4' or '12.4.127')")
        major, minor, patch = m.groups()
        return cls(int(major), int(minor or 0), int(patch) if patch is not None else None)

    @property
    def parts(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch or 0)

    @property
    def major_minor(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.major_minor if self.patch is None else f"{self.major_minor}.{self.patch}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CudaVersion):
            return NotImplemented
        return self.parts < other.parts

    def __le__(self, other: object) -> bool:
        if not isinstance(other, CudaVersion):
            return NotImplemented
        return self.parts <= other.parts

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, CudaVersion):
            return NotImplemented
        return self.parts > other.parts

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, CudaVersion):
            return NotImplemented
        return self.parts >= other.parts


def parse_dotted(text: str) -> tuple[int, ...]:
    """Driver versions (``580.159.04``, ``570.26``) as integer tuples; empty tuple when not one."""
    if not text or len(text) > 32 or not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text.strip()):
        return ()
    return tuple(int(p) for p in text.strip().split("."))


@dataclass(frozen=True)
class Clause:
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    version: CudaVersion

    def holds(self, v: CudaVersion) -> bool:
        a, b = v.parts, self.version.parts
        return {
            ">=": a >= b,
            "<=": a <= b,
            ">": a > b,
            "<": a < b,
            "==": a == b,
            "!=": a != b,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


@dataclass(frozen=True)
class VersionSpec:
    """What a user asked for. ``kind`` decides how ``matches`` and the resolver read it."""

    kind: Literal["prefix", "range", "auto", "latest"]
    text: str
    prefix: CudaVersion | None = None
    clauses: tuple[Clause, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionSpec:
        if not isinstance(text, str):
            raise SpecError(f"empty CUDA spec; {SPEC_HELP}")
        raw = text.strip()
        if not raw:
            raise SpecError(f"empty CUDA spec; {SPEC_HELP}")
        if len(raw) > MAX_SPEC_LENGTH:
            raise SpecError(f"CUDA spec too long ({len(raw)} characters); {SPEC_HELP}")
        if not raw.isascii() or not raw.isprintable():
            raise SpecError(f"CUDA spec {_show(raw)} has characters a spec never has; {SPEC_HELP}")
        low = raw.lower()
        if low in ("auto", "latest"):
            return cls(kind=low, text=low)  # type: ignore[arg-type]
        if _VERSION_RE.match(raw):
            return cls(kind="prefix", text=raw.lstrip("v"), prefix=CudaVersion.parse(raw))
        clauses = []
        for piece in raw.split(","):
            m = _CLAUSE_RE.match(piece.strip())
            if not m:
                raise SpecError(f"not a CUDA spec: {_show(raw)}; {SPEC_HELP}")
            op = m.group(1) or "=="
            clauses.append(Clause("==" if op == "=" else op, CudaVersion.parse(m.group(2))))  # type: ignore[arg-type]
        return cls(kind="range", text=",".join(str(c) for c in clauses), clauses=tuple(clauses))

    def matches(self, v: CudaVersion) -> bool:
        if self.kind in ("auto", "latest"):
            return True
        if self.kind == "prefix":
            p = self.prefix
            assert p is not None
            if v.major != p.major:
                return False
            if self.text.count(".") >= 1 and v.minor != p.minor:
                return False
            return not (self.text.count(".") >= 2 and (v.patch or 0) != (p.patch or 0))
        return all(c.holds(v) for c in self.clauses)

    def __str__(self) -> str:
        return self.text


def is_plain_version(text: str | None) -> bool:
    """True for ``11.8`` / ``12.4.1``: the only ``CUDA_VERSION`` values we act on."""
    return bool(text) and bool(_VERSION_RE.match(text.strip())) and len(text) <= MAX_SPEC_LENGTH


def _show(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 40 else s[:37] + "...'"
