"""A content-addressed file store: every file of every wheel kept once, linked into slots.

``<home>/store/sha256/ab/abcdef...`` (``.x`` appended for executables, since hard links share
a mode). A wheel unpacked once is remembered in ``<home>/store/wheels/<wheel sha256>.json``
(its members' hashes), so a second slot with that wheel only makes links. Where the filesystem
cannot link (another device, no hard links), files are copied and the slot costs its full size.
Every member of a wheel is checked against the wheel's own ``RECORD`` when it is unpacked, and
nothing in the store is written or removed through a symbolic link (``fsguard``).
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from .. import fsguard
from ..errors import CudaswitchError
from ..slotrecord import RecordError, check_relpath, read_json_file

CHUNK = 1 << 20
_CU_RE = re.compile(r"^nvidia/cu\d+/(.+)$")
_COMP_RE = re.compile(r"^nvidia/[A-Za-z0-9_]+/(.+)$")
_TRT_RE = re.compile(r"^tensorrt_libs/(.+)$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


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


class IntegrityError(CudaswitchError):
    """A wheel's content does not match its own RECORD: tampered or damaged; nothing used."""


_RECORD_SKIP = (".dist-info/RECORD", ".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")


def _record_hashes(zf: zipfile.ZipFile, wheel_path: str) -> dict[str, tuple[str, int | None]]:
    """``path -> (sha256 hex, size)`` from the wheel's ``*.dist-info/RECORD``."""
    names = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
    if len(names) != 1:
        raise IntegrityError(f"{wheel_path}: a wheel has exactly one .dist-info/RECORD; "
                             f"found {len(names)}")
    try:
        text = zf.read(names[0]).decode("utf-8")
    except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as e:
        raise IntegrityError(f"{wheel_path}: cannot read {names[0]}: {e}") from e
    out: dict[str, tuple[str, int | None]] = {}
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if len(row) != 3:
            raise IntegrityError(f"{wheel_path}: bad RECORD line {','.join(row)[:120]!r}")
        path, digest, size = row
        if not digest:
            continue
        algo, _, b64 = digest.partition("=")
        if algo != "sha256":
            raise IntegrityError(f"{wheel_path}: RECORD uses {algo!r} for {path}; want sha256")
        try:
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (ValueError, TypeError) as e:
            raise IntegrityError(f"{wheel_path}: bad RECORD hash for {path}") from e
        out[path] = (raw.hex(), int(size) if size.isdigit() else None)
    return out


def _check_member(wheel_path: str, name: str, sha: str, size: int,
                  record: Mapping[str, tuple[str, int | None]]) -> None:
    want = record.get(name)
    if want is None:
        raise IntegrityError(f"{wheel_path}: {name} is not listed in the wheel's RECORD; "
                             "the wheel was altered after it was built")
    if want[0] != sha or (want[1] is not None and want[1] != size):
        raise IntegrityError(f"{wheel_path}: {name} does not match the sha256 in the wheel's "
                             "RECORD; the wheel was altered after it was built")


def check_wheel_record(path: str) -> None:
    """Every member of the wheel at ``path`` against the wheel's own ``RECORD``, as
    :meth:`Store.members` checks NVIDIA's wheels on unpack, without unpacking: for the wheels
    of a slot's environment, which pip installs without looking at them."""
    try:
        with zipfile.ZipFile(path) as zf:
            record = _record_hashes(zf, path)
            for info in zf.infolist():
                if info.is_dir() or info.filename.endswith(_RECORD_SKIP):
                    continue
                h = hashlib.sha256()
                size = 0
                with zf.open(info) as src:
                    while chunk := src.read(CHUNK):
                        h.update(chunk)
                        size += len(chunk)
                _check_member(path, info.filename, h.hexdigest(), size, record)
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise IntegrityError(f"{path}: not a readable wheel: {e}") from e


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _index_members(data: object) -> list[Member] | None:
    if not isinstance(data, list):
        return None
    out = []
    for m in data:
        if not isinstance(m, dict) or not isinstance(m.get("path"), str) \
                or not isinstance(m.get("sha256"), str) or not _SHA_RE.match(m["sha256"]) \
                or not isinstance(m.get("size"), int) or not isinstance(m.get("executable"), bool):
            return None
        try:
            check_relpath(m["path"], "store index")
        except RecordError:
            return None
        out.append(Member(m["path"], m["sha256"], m["size"], m["executable"]))
    return out


class Store:
    def __init__(self, home: str):
        self.guard = fsguard.home_root(home)
        self.root = os.path.join(self.guard.path, "store")
        self.files = os.path.join(self.root, "sha256")
        self.index = os.path.join(self.root, "wheels")
        self.tmp = os.path.join(self.root, "tmp")

    def path_for(self, sha: str, executable: bool) -> str:
        return os.path.join(self.files, sha[:2], sha + (".x" if executable else ""))

    def _index_file(self, wheel_sha: str) -> str:
        return os.path.join(self.index, f"{wheel_sha}.json")

    def clean_tmp(self) -> int:
        """Remove what killed unpacks left in ``store/tmp`` (callers hold the install lock)."""
        if not os.path.lexists(self.tmp):
            return 0
        if not stat.S_ISDIR(os.lstat(self.tmp).st_mode):
            return fsguard.remove(self.tmp, self.guard)
        return sum(fsguard.remove(os.path.join(self.tmp, n), self.guard)
                   for n in os.listdir(self.tmp))

    def members(self, wheel_path: str, wheel_sha: str,
                progress: Callable[[int, int], None] | None = None) -> list[Member]:
        """The wheel's slot files, each present in the store (unpacked on first use).

        On first use every member of the wheel is hashed and checked against the wheel's own
        RECORD, so a wheel altered after it was built is refused before anything is linked.
        """
        if _SHA_RE.match(wheel_sha) and os.path.isdir(self.index):
            try:
                known = _index_members(read_json_file(self._index_file(wheel_sha),
                                                      "store index"))
            except (RecordError, OSError):
                known = None
            if known is not None and all(_regular(self.path_for(m.sha256, m.executable))
                                         for m in known):
                return known
        out: list[Member] = []
        fsguard.ensure_dir(self.files, self.guard)
        fsguard.ensure_dir(self.tmp, self.guard)
        try:
            zf = zipfile.ZipFile(wheel_path)
        except (OSError, zipfile.BadZipFile) as e:
            raise StoreError(f"{wheel_path}: not a wheel: {e}") from e
        with zf:
            record = _record_hashes(zf, wheel_path)
            infos = [(i, slot_path(i.filename)) for i in zf.infolist() if not i.is_dir()]
            total = sum(i.file_size for i, _ in infos)
            done = 0
            for info, path in infos:
                if info.filename.endswith(_RECORD_SKIP):
                    continue
                executable = bool((info.external_attr >> 16) & 0o111)
                fd, tmp = tempfile.mkstemp(dir=self.tmp)
                h = hashlib.sha256()
                size = 0
                try:
                    with os.fdopen(fd, "wb") as out_f, zf.open(info) as src:
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            size += len(chunk)
                            if path:
                                out_f.write(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done, total)
                    sha = h.hexdigest()
                    _check_member(wheel_path, info.filename, sha, size, record)
                    if not path:
                        os.unlink(tmp)
                        continue
                    final = self.path_for(sha, executable)
                    if _regular(final):
                        os.unlink(tmp)
                    else:
                        fsguard.ensure_dir(os.path.dirname(final), self.guard)
                        os.chmod(tmp, 0o555 if executable else 0o444)
                        os.replace(tmp, final)  # over a planted link: the link goes, not its target
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
                out.append(Member(path, sha, size, executable))
        fsguard.ensure_dir(self.index, self.guard)
        fsguard.atomic_write_json(self._index_file(wheel_sha), [asdict(m) for m in out],
                                  root=self.guard, indent=None)
        return out

    def place(self, member: Member, dest: str) -> str:
        """Hard-link the stored file to ``dest``; copy where links fail. Returns how."""
        src = self.path_for(member.sha256, member.executable)
        if not _regular(src):
            raise StoreError(f"{src}: missing from the store or not a regular file")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            os.link(src, dest, follow_symlinks=False)
            return "link"
        except OSError:
            shutil.copyfile(src, dest, follow_symlinks=False)
            os.chmod(dest, 0o755 if member.executable else 0o644)
            return "copy"

    def collect_garbage(self) -> tuple[int, int]:
        """Remove stored files no slot links to any more; (files, bytes) freed.

        Only real files and folders of the store count: a symbolic link found there was not
        made by cudaswitch, is not followed and is left alone.
        """
        files = freed = 0
        if not os.path.isdir(self.files) or os.path.islink(self.files) \
                or os.path.islink(self.root):
            return 0, 0
        gone: set[str] = set()
        for d in os.listdir(self.files):
            sub = os.path.join(self.files, d)
            if not stat.S_ISDIR(os.lstat(sub).st_mode):
                continue
            for n in os.listdir(sub):
                p = os.path.join(sub, n)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:
                    fsguard.remove(p, self.guard)
                    files += 1
                    freed += st.st_size
                    gone.add(n.split(".")[0])
            with contextlib.suppress(OSError):
                os.rmdir(sub)
        if gone and os.path.isdir(self.index) and not os.path.islink(self.index):
            for n in os.listdir(self.index):
                p = os.path.join(self.index, n)
                if not _regular(p):
                    continue
                try:
                    known = _index_members(read_json_file(p, "store index"))
                except (RecordError, OSError):
                    known = None
                if known is None or any(m.sha256 in gone for m in known):
                    fsguard.remove(p, self.guard)
        return files, freed
