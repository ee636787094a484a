"""Node affinity as algebra: terms of per-label constraints, AND-ed and OR-ed exactly.

A term maps a label to a constraint: a whole-number range, a set of whole numbers, or absence
(``DoesNotExist``). The two kinds of number constraint are read differently by the scheduler,
and the algebra keeps them apart:

- ``IntRange`` renders as ``Gt``/``Lt``, which parse the label with Go's
  ``strconv.ParseInt(v, 10, 64)``: ``"013"`` and ``"+13"`` are 13, ``"13a"`` matches nothing.
- ``IntSet`` renders as ``In``, which compares strings: ``"013"`` is not ``"13"``.

So a label is given ranges or sets, never both, and ``gfd`` reads each label the way its
constraint will be matched. Intersecting two terms intersects their constraints label by label
and drops the term when one becomes empty; a term that admits a subset of another's nodes is
dropped too, so AND-ing conditions written as OR-ed pieces does not grow the output with
impossible or redundant terms. Rendering is canonical (sorted), which is what lets a second
admission compare its result with what is already there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IntRange:
    """``lo <= value <= hi`` for a label read as an integer; None is unbounded."""

    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True)
class IntSet:
    """The label is one of these numbers, written as GFD writes them (no sign, no zero pad)."""

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


def _within(a: Constraint, b: Constraint) -> bool:
    """Every label value ``a`` admits, ``b`` admits too. A range is never within a set: a
    range admits ``"08"``, which ``In ["8"]`` does not."""
    if isinstance(a, Absent) or isinstance(b, Absent):
        return isinstance(a, Absent) and isinstance(b, Absent)
    if isinstance(a, IntSet):
        if isinstance(b, IntSet):
            return a.values <= b.values
        return all(_in_range(v, b) for v in a.values)
    if isinstance(b, IntSet):
        return False
    return ((b.lo is None or (a.lo is not None and a.lo >= b.lo))
            and (b.hi is None or (a.hi is not None and a.hi <= b.hi)))


def implies(a: Term, b: Term) -> bool:
    """Every node term ``a`` admits, term ``b`` admits (``b`` is no stricter on any label)."""
    return all(key in a and _within(a[key], c) for key, c in b.items())


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
    """AND of conditions, each an OR of terms: the distributed OR of every consistent meet,
    without terms another term already covers."""
    result: list[dict[str, Constraint]] = [{}]
    for condition in conditions:
        terms = list(condition)
        result = simplify([m for r in result for t in terms if (m := meet(r, t)) is not None])
    return result


def simplify(terms: list[dict[str, Constraint]]) -> list[dict[str, Constraint]]:
    """The same OR with duplicates and covered terms left out (the first of equals is kept)."""
    out: list[dict[str, Constraint]] = []
    for i, t in enumerate(terms):
        if any(implies(t, u) and (not implies(u, t) or j < i)
               for j, u in enumerate(terms) if j != i):
            continue
        out.append(t)
    return out


def at_least(keys: tuple[str, ...], floor: tuple[int, ...]) -> list[dict[str, Constraint]]:
    """"(labels of ``keys``) >= ``floor``" compared as tuples, as OR-ed lower bounds only:
    (a > A) or (a >= A and b > B) or (a >= A and b >= B and c >= C). Labels past the floor's
    length are not looked at, as a tuple ``(580, 95)`` is at least ``(580,)``."""
    terms: list[dict[str, Constraint]] = []
    for i, bound in enumerate(floor):
        last = i == len(floor) - 1
        term: dict[str, Constraint] = {keys[j]: IntRange(floor[j]) for j in range(i)}
        term[keys[i]] = IntRange(bound if last else bound + 1)
        terms.append(term)
    return terms


def requirement(key: str, c: Constraint) -> list[dict]:
    """One constraint as Kubernetes ``matchExpressions`` (a range becomes up to two)."""
    if isinstance(c, Absent):
        return [{"key": key, "operator": "DoesNotExist"}]
    if isinstance(c, IntSet):
        return [{"key": key, "operator": "In", "values": [str(v) for v in sorted(c.values)]}]
    out = []
    if c.lo is not None:
        out.append({"key": key, "operator": "Gt", "values": [str(c.lo - 1)]})
    if c.hi is not None:
        out.append({"key": key, "operator": "Lt", "values": [str(c.hi + 1)]})
    return out or [{"key": key, "operator": "Exists"}]


def node_selector_terms(terms: Iterable[Term]) -> list[dict]:
    return [{"matchExpressions": [e for key in sorted(t) for e in requirement(key, t[key])]}
            for t in terms]
