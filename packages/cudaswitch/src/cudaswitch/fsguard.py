"""The one guarded place for every removal and every overwrite cudaswitch makes.

cudaswitch runs as root and users point it at their own folders, so nothing may be removed or
replaced unless cudaswitch made it. Removals happen only inside a :class:`Root`: the data home
(:func:`home_root`) or a folder that carries cudaswitch's marker file (:func:`claim`,
:func:`marked_root`). Containment is decided on real paths, and no walk ever follows a
symbolic link: a link planted inside a root is removed as a link, its target stays.

API (stable):

``MARKER``
    Name of the marker file (``.cudaswitch-owned``) that says "cudaswitch made this folder".
``RefusedError``
    Raised for every refusal; a :class:`~cudaswitch.errors.UsageError` (exit 2).
``Root``
    A folder removals may happen in (``Root.path`` is its real path). Made only by:
``home_root(home) -> Root``
    The data home (``CUDASWITCH_HOME``), created and marked when missing.
``claim(path, what="folder") -> Root``
    Take a folder for cudaswitch's own output: created when absent, marked when empty,
    accepted when it already carries the marker; a non-empty folder without the marker is
    refused (``RefusedError``), as is a symlink, a file, ``/`` or a system folder.
``marked_root(path, markers=(MARKER,)) -> Root``
    A folder that must already carry one of ``markers`` (no creating, no marking).
``sub_root(root, path) -> Root``
    A real folder (not a link) inside ``root``, as a root of its own (a slot in the home).
``ensure_dir(path, root) -> str``
    Create ``path`` and its parents inside ``root``; refuses when any part of it is a
    symbolic link or not a folder (a planted link is never written through).
``discard(root) -> int``
    Remove the whole marked folder ``root`` itself (a leftover build), links not followed.
``is_marked(path) -> bool``
    Whether ``path`` is a real folder holding the marker as a regular file.
``contains(root, path) -> bool``
    Whether ``path`` lies inside ``root``: its parent is resolved, its last part is not (a
    link inside the root is inside, whatever it points at).
``remove(path, root, missing_ok=True) -> int``
    Remove a file, a symlink or a whole folder under ``root`` (never ``root`` itself), without
    following any symlink; returns how many entries went. Refuses anything outside ``root``.
``atomic_write(path, data, mode=None, root=None)``
    Replace ``path`` with ``data`` (bytes or str) so that a reader or a crash sees the old
    content or the new, never a part: a temporary file in the same folder, flushed and
    fsynced, then renamed over ``path`` (the folder is fsynced too). ``mode`` defaults to
    0666 less the umask. With ``root``, ``path`` must lie inside it.
``atomic_write_json(path, obj, mode=None, root=None, indent=1)``
    The same for a JSON document.
``atomic_file(path, binary=True, mode=None, root=None)``
    A context manager giving a file to stream into; renamed over ``path`` only when the block
    ends without an exception, removed otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .errors import UsageError

MARKER = ".cudaswitch-owned"
_MARKER_TEXT = "This folder was made by cudaswitch; cudaswitch may replace what is in it.\n"
# Folders no root may be, whatever the environment says.
_SYSTEM = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
    "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/share", "/var",
    "/var/tmp",
})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class RefusedError(UsageError):
    """cudaswitch would have removed or overwritten something it did not make."""


@dataclass(frozen=True)
class Root:
    """A folder cudaswitch owns; ``path`` is real (no symlinks, absolute)."""

    path: str


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _check_not_system(real: str, given: str) -> None:
    if real in _SYSTEM or real == _real(os.path.expanduser("~")):
        raise RefusedError(f"{given}: {real} is a system or home folder; cudaswitch needs a "
                           "folder of its own (for example a new subfolder)")


def is_marked(path: str) -> bool:
    return _marked_by(path, MARKER)


def _write_marker(real: str) -> None:
    atomic_write(os.path.join(real, MARKER), _MARKER_TEXT)


def home_root(home: str) -> Root:
    real = _real(home)
    _check_not_system(real, home)
    if not os.path.lexists(real):
        os.makedirs(real, exist_ok=True)
        _write_marker(real)
    elif not os.path.isdir(real):
        raise RefusedError(f"{home}: the data home is not a folder")
    return Root(real)


def claim(path: str, what: str = "folder") -> Root:
    given = path
    if os.path.islink(path):
        raise RefusedError(f"{what} {given}: is a symbolic link; name a real folder")
    real = _real(path)
    _check_not_system(real, given)
    if not os.path.lexists(real):
        os.makedirs(real, exist_ok=True)
        _write_marker(real)
        return Root(real)
    st = os.lstat(real)
    if not stat.S_ISDIR(st.st_mode):
        raise RefusedError(f"{what} {given}: exists and is not a folder")
    if is_marked(real):
        return Root(real)
    if os.listdir(real):
        raise RefusedError(f"{what} {given}: the folder is not empty and was not made by "
                           f"cudaswitch (no {MARKER} in it); name an empty or new folder")
    _write_marker(real)
    return Root(real)


def marked_root(path: str, markers: tuple[str, ...] = (MARKER,)) -> Root:
    real = _real(path)
    _check_not_system(real, path)
    if os.path.islink(path) or not any(_marked_by(real, m) for m in markers):
        raise RefusedError(f"{path}: not a folder made by cudaswitch (no {MARKER} in it)")
    return Root(real)


def _marked_by(path: str, marker: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and \
            stat.S_ISREG(os.lstat(os.path.join(path, marker)).st_mode)
    except OSError:
        return False


def sub_root(root: Root, path: str) -> Root:
    if not contains(root, path):
        raise RefusedError(f"{path}: outside {root.path}")
    parent, name = _placed(path)
    full = os.path.join(parent, name)
    if not stat.S_ISDIR(os.lstat(full).st_mode):
        raise RefusedError(f"{path}: not a folder (a symbolic link or a file)")
    return Root(full)


def ensure_dir(path: str, root: Root) -> str:
    full = os.path.abspath(path)
    rel = os.path.relpath(full, root.path)  # as written: a link inside is met on the walk
    if rel == ".." or rel.startswith("../"):  # or the root named through a link above it
        if full != root.path and not contains(root, full):
            raise RefusedError(f"{path}: outside {root.path}")
        rel = os.path.relpath(os.path.join(*_placed(full)), root.path)
    cur = root.path
    for part in [] if rel == "." else rel.split(os.sep):
        cur = os.path.join(cur, part)
        with contextlib.suppress(FileExistsError):
            os.mkdir(cur)
        st = os.lstat(cur)
        if not stat.S_ISDIR(st.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
            raise RefusedError(f"{cur} is {kind}; cudaswitch writes only into real folders "
                               "it made (remove it by hand)")
    return cur


def discard(root: Root) -> int:
    if not is_marked(root.path):
        raise RefusedError(f"{root.path}: not a folder made by cudaswitch; left alone")
    parent, name = _placed(root.path)
    pfd = os.open(parent, _DIR_FLAGS)
    try:
        return _remove_at(pfd, name)
    except FileNotFoundError:
        return 0
    finally:
        os.close(pfd)


def _placed(path: str) -> tuple[str, str]:
    """(real parent folder, last part) of ``path``, the last part not resolved."""
    ab = os.path.abspath(path)
    parent, name = os.path.split(ab.rstrip("/") or "/")
    return _real(parent or "/"), name


def contains(root: Root, path: str) -> bool:
    parent, name = _placed(path)
    if name in ("", ".", ".."):
        return False
    full = os.path.join(parent, name)
    return full != root.path and os.path.commonpath([root.path, full]) == root.path


def _remove_at(dir_fd: int, name: str) -> int:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return 1
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    count = 0
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise RefusedError(f"{name}: replaced while it was being removed; stopped")
        for entry in os.listdir(fd):
            count += _remove_at(fd, entry)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)
    return count + 1


def remove(path: str, root: Root, missing_ok: bool = True) -> int:
    if not isinstance(root, Root):
        raise TypeError("remove() needs a Root from home_root(), claim() or marked_root()")
    if not contains(root, path):
        raise RefusedError(f"{path}: outside {root.path}; cudaswitch removes only what it made")
    parent, name = _placed(path)
    try:
        pfd = os.open(parent, _DIR_FLAGS)
    except FileNotFoundError:
        if missing_ok:
            return 0
        raise
    try:
        return _remove_at(pfd, name)
    except FileNotFoundError:
        if missing_ok:
            return 0
        raise
    finally:
        os.close(pfd)


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def file_target(path: str) -> str:
    """``path`` as a file cudaswitch may write whole; a folder there is refused (the rename
    would fail half-way, after the work, or a caller would write beside it)."""
    folder, name = _placed(path)
    target = os.path.join(folder, name)
    if os.path.isdir(target) and not os.path.islink(target):
        raise RefusedError(f"{path}: is a folder; name the file to write, not the folder")
    return target


def check_replaceable(path: str, marks: tuple[bytes, ...], what: str) -> None:
    """A file cudaswitch writes whole at a path the user names (a launcher, a report) may
    replace only an earlier one of its kind: a file already there whose first bytes hold none
    of ``marks`` (a user's script, a binary, a FIFO) is refused before any work is done. A
    symbolic link is replaced as a link, its target untouched."""
    target = file_target(path)
    if os.path.islink(target):
        return
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as e:
        raise RefusedError(f"{path}: cannot be read to check it is {what} ({e.strerror}); "
                           "remove it or name another path") from e
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        head = os.read(fd, 512) if regular else b""
    finally:
        os.close(fd)
    if not regular or not any(m in head for m in marks):
        raise RefusedError(f"{path}: holds a file cudaswitch did not write (not {what}); "
                           "remove it or name another path")


@contextlib.contextmanager
def atomic_file(path: str, binary: bool = True, mode: int | None = None,
                root: Root | None = None) -> Iterator[IO[Any]]:
    if root is not None and not contains(root, path):
        raise RefusedError(f"{path}: outside {root.path}; cudaswitch writes only where it owns")
    target = file_target(path)
    folder, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) \
                as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), _default_mode() if mode is None else mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(folder, _DIR_FLAGS)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write(path: str, data: bytes | str, mode: int | None = None,
                 root: Root | None = None) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(path, binary=True, mode=mode, root=root) as f:
        f.write(raw)


def atomic_write_json(path: str, obj: Any, mode: int | None = None, root: Root | None = None,
                      indent: int | None = 1) -> None:
    atomic_write(path, json.dumps(obj, indent=indent) + "\n", mode=mode, root=root)


__all__ = ["MARKER", "RefusedError", "Root", "atomic_file", "atomic_write", "atomic_write_json",
           "check_replaceable", "claim", "contains", "discard", "ensure_dir", "file_target",
           "home_root", "is_marked", "marked_root", "remove", "sub_root"]
