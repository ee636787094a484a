"""Node affinity as algebra: terms of per-label constraints, AND-ed and OR-ed exactly.

A term maps a label to a constraint: a whole-number range (rendered as ``Gt``/``Lt``, or
``In`` when it is one number), a set of whole numbers (``In``) or absence (``DoesNotExist``).
Intersecting two terms intersects their constraints label by label and drops the term when one
becomes empty, so a condition written as OR-ed pieces can be AND-ed with another without the
output growing with impossible terms. Rendering is canonical (sorted), which is what lets a
second admission compare its result with what is already there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IntRange:
    """``lo <= value <= hi`` for a label that is a whole number; None is unbounded."""

    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True)
class IntSet:
    values: frozenset[int]


@dataclass(frozen=True)
class Absent:
    pass


Constraint = IntRange | IntSet | Absent
Term = Mapping[str, Constraint]
ABSENT = Absent()


def _meet(a: Constraint, b: Constraint) -> Constraint | None:
    if isinstance(a, Absent) or isinstance(b, Absent):
        return a if isinstance(a, Absent) and isinstance(b, Absent) else None
    if isinstance(a, IntSet) or isinstance(b, IntSet):
        s, other = (a, b) if isinstance(a, IntSet) else (b, a)
        assert isinstance(s, IntSet)
        if isinstance(other, IntSet):
            values = s.values & other.values
        else:
            values = frozenset(v for v in s.values if _in_range(v, other))
        return IntSet(values) if values else None
    lo = a.lo if b.lo is None else b.lo if a.lo is None else max(a.lo, b.lo)
    hi = a.hi if b.hi is None else b.hi if a.hi is None else min(a.hi, b.hi)
    if lo is not None and hi is not None and lo > hi:
        return None
    return IntRange(lo, hi)


def _in_range(v: int, r: IntRange) -> bool:
    return (r.lo is None or v >= r.lo) and (r.hi is None or v <= r.hi)


def meet(a: Term, b: Term) -> dict[str, Constraint] | None:
    """Both terms at once, or None when no node could satisfy both."""
    out = dict(a)
    for key, c in b.items():
        if key in out:
            both = _meet(out[key], c)
            if both is None:
                return None
            out[key] = both
        else:
            out[key] = c
    return out


def conjoin(*conditions: Iterable[Term]) -> list[dict[str, Constraint]]:
    """AND of conditions, each an OR of terms: the distributed OR of every consistent meet."""
    result: list[dict[str, Constraint]] = [{}]
    for condition in conditions:
        terms = list(condition)
        result = [m for r in result for t in terms if (m := meet(r, t)) is not None]
    return _unique(result)


def _unique(terms: list[dict[str, Constraint]]) -> list[dict[str, Constraint]]:
    seen, out = set(), []
    for t in terms:
        key = tuple(sorted(t.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def requirement(key: str, c: Constraint) -> list[dict]:
    """One constraint as Kubernetes ``matchExpressions`` (a range becomes up to two)."""
    if isinstance(c, Absent):
        return [{"key": key, "operator": "DoesNotExist"}]
    if isinstance(c, IntSet):
        return [{"key": key, "operator": "In", "values": [str(v) for v in sorted(c.values)]}]
    if c.lo is not None and c.lo == c.hi:
        return [{"key": key, "operator": "In", "values": [str(c.lo)]}]
    out = []
    if c.lo is not None:
        out.append({"key": key, "operator": "Gt", "values": [str(c.lo - 1)]})
    if c.hi is not None:
        out.append({"key": key, "operator": "Lt", "values": [str(c.hi + 1)]})
    return out or [{"key": key, "operator": "Exists"}]


def node_selector_terms(terms: Iterable[Term]) -> list[dict]:
    return [{"matchExpressions": [e for key in sorted(t) for e in requirement(key, t[key])]}
            for t in terms]
