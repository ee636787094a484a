"""Disk use of installed slots: apparent (what ``du --apparent-size`` of one slot says) and
unique (what removing only that slot would free, counting hard links shared with other slots).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from ..slots import installed_slots, read_record
from ..toolkits.layout import probe_toolkit
from ..toolkits.search import data_home


def _walk_files(root: str) -> Iterator[os.stat_result]:
    for d, _dirs, files in os.walk(root):
        for f in files:
            try:
                st = os.lstat(os.path.join(d, f))
            except OSError:
                continue
            if not os.path.islink(os.path.join(d, f)):
                yield st


def inode_table(root: str) -> dict[tuple[int, int], tuple[int, int, int]]:
    """(device, inode) -> (size, links inside ``root``, total link count)."""
    table: dict[tuple[int, int], tuple[int, int, int]] = {}
    for st in _walk_files(root):
        key = (st.st_dev, st.st_ino)
        _size, here, _n = table.get(key, (st.st_size, 0, st.st_nlink))
        table[key] = (st.st_size, here + 1, st.st_nlink)
    return table


def installed_version(root: str) -> str | None:
    """The runtime version of the toolkit at ``root`` as discovery reads it (``12.4.127``);
    None for a slot that is no working toolkit. Read, not taken from the record, so that a
    listing names the slot as ``list`` and ``which`` name the same folder."""
    tk = probe_toolkit(root, "managed", "managed")
    return str(tk.version) if tk is not None and tk.version is not None else None


def slot_sizes(env: Mapping[str, str] | None = None) -> dict[str, dict]:
    """Per installed slot, keyed by its root: ``name``, ``release`` (what it was installed
    as), ``version`` (its runtime's, see :func:`installed_version`), in bytes
    ``apparent``, ``unique``, ``shared`` and ``venv`` (its Python environment), and
    ``files``, the number of files.

    A file is unique to a slot when nothing but the slot itself and the store's one copy link
    to it; a file that was copied (no link possible) is unique as well.
    """
    env = os.environ if env is None else env
    store = os.path.join(data_home(env), "store", "sha256")
    store_dev = os.stat(store).st_dev if os.path.isdir(store) else None
    out: dict[str, dict] = {}
    for name, root in installed_slots(env).items():
        apparent = unique = files = 0
        for (dev, _ino), (size, here, nlink) in inode_table(root).items():
            files += here
            apparent += size * here
            others = nlink - here - (1 if dev == store_dev and nlink > here else 0)
            if others <= 0:
                unique += size
        rec = read_record(root) or {}
        venv = rec.get("venv")
        venv_bytes = sum(st.st_size for st in _walk_files(venv)) \
            if isinstance(venv, str) and os.path.isdir(venv) else 0
        out[root] = {"name": name, "release": rec.get("release"),
                     "version": installed_version(root), "apparent": apparent,
                     "unique": unique, "shared": apparent - unique, "files": files,
                     "venv": venv_bytes}
    return out


def on_disk(env: Mapping[str, str] | None = None) -> int:
    """Bytes all installed slots take together (each inode once)."""
    env = os.environ if env is None else env
    seen: dict[tuple[int, int], int] = {}
    for root in installed_slots(env).values():
        for key, (size, _h, _n) in inode_table(root).items():
            seen[key] = size
    return sum(seen.values())
