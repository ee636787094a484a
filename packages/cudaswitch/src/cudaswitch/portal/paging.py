"""Which page of the jobs list a request asks for, checked before any query runs.

Keyset paging (``before``/``after`` a job id) rather than an offset: a page stays put while new
jobs arrive at the top, and every page is one range scan of the primary key however far back
it is. Bad values are refused (a 400 naming the parameter and the allowed range), never
clamped, so a script learns of its mistake instead of silently getting another page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from ..errors import UsageError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2**63 - 1  # the largest id either database can hold (a signed 64-bit integer)


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    before: int | None = None  # jobs with a smaller id, newest first
    after: int | None = None  # jobs with a larger id (the page just newer than ``after``)

    def query(self) -> str:
        """The query string that asks for this page again."""
        pairs = [(k, v) for k, v in (("before", self.before), ("after", self.after))
                 if v is not None]
        if self.limit != DEFAULT_LIMIT:
            pairs.append(("limit", self.limit))
        return urlencode(pairs)


@dataclass(frozen=True)
class PageLinks:
    """Cursors of the neighbouring pages; None where there is nothing more that way."""

    newer: PageRequest | None
    older: PageRequest | None


def _whole(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and low <= int(text) <= high):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise UsageError(f"{name}: {shown!r} is not a whole number from {low} to {high}")
    return int(text)


def parse_page(params: Mapping[str, str]) -> PageRequest:
    """The page asked for by ``limit``, ``before`` and ``after``; UsageError for a bad one."""
    limit = _whole(params, "limit", 1, MAX_LIMIT)
    before = _whole(params, "before", 1, MAX_ID)
    after = _whole(params, "after", 0, MAX_ID)
    if before is not None and after is not None:
        raise UsageError("before and after: give one of them, not both (before=ID for older "
                         "jobs, after=ID for newer ones)")
    return PageRequest(DEFAULT_LIMIT if limit is None else limit, before, after)


def links(request: PageRequest, ids: list[int], newer_exists: bool,
          older_exists: bool) -> PageLinks:
    """The newer/older cursors around a page showing ``ids`` (newest first); on an empty
    page past either end, the link leads back to where the jobs are."""
    limit = request.limit
    if ids:
        return PageLinks(PageRequest(limit, after=ids[0]) if newer_exists else None,
                         PageRequest(limit, before=ids[-1]) if older_exists else None)
    newer = older = None
    if request.before is not None and newer_exists:
        newer = PageRequest(limit, after=request.before - 1)
    if request.after is not None and older_exists:
        older = PageRequest(limit, before=min(request.after + 1, MAX_ID))
    return PageLinks(newer, older)
