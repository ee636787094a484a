"""One copy of the working tree per slot, for commands that write into it.

Two slots building into the same ``build/`` folder, or writing the same ``.pytest_cache``, would
race and mix CUDA majors in one output; a copy each removes the race without asking the
command to change. Copies, not hard links: a command that rewrites a file in place would
otherwise rewrite it in the original tree and in every other slot's copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

MARKER = ".cudaswitch-matrix-copy"
# Version control, environments and caches: large, per-machine, and never an input of a test.
SKIP_NAMES = frozenset({".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".mypy_cache",
                        ".ruff_cache", ".pytest_cache", "node_modules", ".tox", ".nox"})


def _ignore(exclude: Iterable[str]):
    excluded = {os.path.realpath(p) for p in exclude}

    def ignore(folder: str, names: list[str]) -> set[str]:
        out = {n for n in names if n in SKIP_NAMES}
        for n in names:
            if os.path.realpath(os.path.join(folder, n)) in excluded:
                out.add(n)
        return out

    return ignore


def make_copy(source: str, base: str, slot: str, exclude: Iterable[str] = ()) -> str:
    """A fresh copy of ``source`` at ``base/slot``, replacing only a copy this module made.

    Raises FileExistsError for anything else at that path: it is the user's, not ours to
    delete. ``exclude`` keeps the copies' own folder (and the log folder) out of the copy
    when they live inside the tree.
    """
    dest = os.path.join(base, slot)
    if os.path.lexists(dest):
        if not os.path.isfile(os.path.join(dest, MARKER)):
            raise FileExistsError(f"{dest} exists and was not made by cudaswitch matrix; "
                                  f"remove it or choose another --isolated-dir")
        shutil.rmtree(dest)
    os.makedirs(base, exist_ok=True)
    shutil.copytree(source, dest, symlinks=True, ignore=_ignore([base, *exclude]))
    with open(os.path.join(dest, MARKER), "w", encoding="utf-8") as f:
        f.write(f"copy of {os.path.realpath(source)} for slot {slot}\n")
    return dest
