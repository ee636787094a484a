"""A content-addressed file store: every file of every wheel kept once, linked into slots.

``<home>/store/sha256/ab/abcdef...`` (``.x`` appended for executables, since hard links share
a mode). A wheel unpacked once is remembered in ``<home>/store/wheels/<wheel sha256>.json``
(its members' hashes), so a second slot with that wheel only makes links. Where the filesystem
cannot link (another device, no hard links), files are copied and the slot costs its full size.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CudaswitchError

CHUNK = 1 << 20
_CU_RE = re.compile(r"^nvidia/cu\d+/(.+)$")
_COMP_RE = re.compile(r"^nvidia/[A-Za-z0-9_]+/(.+)$")
_TRT_RE = re.compile(r"^tensorrt_libs/(.+)$")


class StoreError(CudaswitchError):
    pass


@dataclass(frozen=True)
class Member:
    """A file a wheel puts into a slot: its place there and its content."""

    path: str
    sha256: str
    size: int
    executable: bool


def slot_path(member: str) -> str | None:
    """Where a wheel member goes in a toolkit layout; None for what a slot does not keep.

    ``nvidia/cu13/lib/x`` (CUDA 13) and ``nvidia/<component>/lib/x`` (11, 12) -> ``lib/x``;
    ``tensorrt_libs/libnvinfer.so.10`` -> ``lib/libnvinfer.so.10``; Python glue, ``dist-info``
    and anything unexpected are left out.
    """
    if member.endswith("/") or ".dist-info/" in member or "__pycache__" in member:
        return None
    if member.endswith((".py", ".pyc", ".pyi")) or posixpath.basename(member) == "py.typed":
        return None
    norm = posixpath.normpath(member)
    if norm.startswith(("/", "../")) or norm == ".." or "\\" in member:
        raise StoreError(f"wheel member {member!r} points outside the slot")
    m = _CU_RE.match(norm)
    if m:
        return m.group(1)
    m = _TRT_RE.match(norm)
    if m:
        return "lib/" + posixpath.basename(m.group(1))
    m = _COMP_RE.match(norm)
    if m:
        rest = m.group(1)
        return rest if "/" in rest else None
    return None


class Store:
    def __init__(self, home: str):
        self.root = os.path.join(home, "store")
        self.files = os.path.join(self.root, "sha256")
        self.index = os.path.join(self.root, "wheels")

    def path_for(self, sha: str, executable: bool) -> str:
        return os.path.join(self.files, sha[:2], sha + (".x" if executable else ""))

    def _index_file(self, wheel_sha: str) -> str:
        return os.path.join(self.index, f"{wheel_sha}.json")

    def members(self, wheel_path: str, wheel_sha: str,
                progress: Callable[[int, int], None] | None = None) -> list[Member]:
        """The wheel's slot files, each present in the store (unpacked on first use)."""
        try:
            with open(self._index_file(wheel_sha), encoding="utf-8") as f:
                known = [Member(**m) for m in json.load(f)]
            if all(os.path.exists(self.path_for(m.sha256, m.executable)) for m in known):
                return known
        except (OSError, ValueError, TypeError):
            pass
        out: list[Member] = []
        os.makedirs(self.files, exist_ok=True)
        tmpdir = os.path.join(self.root, "tmp")
        os.makedirs(tmpdir, exist_ok=True)
        try:
            zf = zipfile.ZipFile(wheel_path)
        except (OSError, zipfile.BadZipFile) as e:
            raise StoreError(f"{wheel_path}: not a wheel: {e}") from e
        with zf:
            infos = [(i, slot_path(i.filename)) for i in zf.infolist()]
            infos = [(i, p) for i, p in infos if p]
            total = sum(i.file_size for i, _ in infos)
            done = 0
            for info, path in infos:
                executable = bool((info.external_attr >> 16) & 0o111)
                fd, tmp = tempfile.mkstemp(dir=tmpdir)
                h = hashlib.sha256()
                try:
                    with os.fdopen(fd, "wb") as out_f, zf.open(info) as src:
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            out_f.write(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done, total)
                    sha = h.hexdigest()
                    final = self.path_for(sha, executable)
                    if os.path.exists(final):
                        os.unlink(tmp)
                    else:
                        os.makedirs(os.path.dirname(final), exist_ok=True)
                        os.chmod(tmp, 0o555 if executable else 0o444)
                        os.replace(tmp, final)
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
                out.append(Member(path, sha, info.file_size, executable))
        os.makedirs(self.index, exist_ok=True)
        tmp_index = self._index_file(wheel_sha) + f".{os.getpid()}.tmp"
        with open(tmp_index, "w", encoding="utf-8") as f:
            json.dump([m.__dict__ for m in out], f)
        os.replace(tmp_index, self._index_file(wheel_sha))
        return out

    def place(self, member: Member, dest: str) -> str:
        """Hard-link the stored file to ``dest``; copy where links fail. Returns how."""
        src = self.path_for(member.sha256, member.executable)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            os.link(src, dest)
            return "link"
        except OSError:
            shutil.copyfile(src, dest)
            os.chmod(dest, 0o755 if member.executable else 0o644)
            return "copy"

    def collect_garbage(self) -> tuple[int, int]:
        """Remove stored files no slot links to any more; (files, bytes) freed."""
        files = freed = 0
        if not os.path.isdir(self.files):
            return 0, 0
        gone: set[str] = set()
        for d in os.listdir(self.files):
            sub = os.path.join(self.files, d)
            for n in os.listdir(sub):
                p = os.path.join(sub, n)
                st = os.lstat(p)
                if st.st_nlink <= 1:
                    os.unlink(p)
                    files += 1
                    freed += st.st_size
                    gone.add(n.split(".")[0])
            if not os.listdir(sub):
                os.rmdir(sub)
        if gone and os.path.isdir(self.index):
            for n in os.listdir(self.index):
                p = os.path.join(self.index, n)
                try:
                    with open(p, encoding="utf-8") as f:
                        if any(m.get("sha256") in gone for m in json.load(f)):
                            os.unlink(p)
                except (OSError, ValueError):
                    os.unlink(p)
        return files, freed
