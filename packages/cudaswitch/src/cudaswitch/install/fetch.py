"""Downloading resolved wheels into the cache: hash-checked, resumable, with progress."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence

from .. import fsguard
from ..errors import CudaswitchError
from .progress import Reporter
from .resolve import Wheel

CHUNK = 1 << 20


class FetchError(CudaswitchError):
    pass


def _sha256_file(path: str, on_chunk: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if on_chunk:
                on_chunk(len(chunk))
    return h.hexdigest()


def _local_path(url: str) -> str | None:
    p = urllib.parse.urlparse(url)
    if p.scheme == "file":
        return urllib.request.url2pathname(p.path)
    if p.scheme == "" and url.startswith("/"):
        return url
    return None


def cached_path(wheel: Wheel, cache: str) -> str:
    return os.path.join(cache, "wheels", wheel.filename)


def _verified_marker(path: str) -> str:
    return path + ".sha256"


def is_cached(wheel: Wheel, cache: str) -> bool:
    path = cached_path(wheel, cache)
    try:
        with open(_verified_marker(path), encoding="ascii") as f:
            return f.read().strip() == wheel.sha256 and os.path.isfile(path)
    except OSError:
        return False


def fetch(wheel: Wheel, cache: str, wheelhouse: str | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> str:
    """A local, verified file for ``wheel``: the wheelhouse's, the cache's, or downloaded."""
    def tick(done: int, total: int) -> None:
        if progress:
            progress(wheel.filename, done, total)

    candidates = []
    local = _local_path(wheel.url)
    if local:
        candidates.append(local)
    if wheelhouse:
        candidates.append(os.path.join(wheelhouse, wheel.filename))
    if is_cached(wheel, cache):
        return cached_path(wheel, cache)
    for path in candidates:
        if os.path.isfile(path):
            size = os.path.getsize(path)
            done = [0]

            def on_chunk(n: int, size: int = size, done: list = done) -> None:
                done[0] += n
                tick(done[0], size)
            got = _sha256_file(path, on_chunk)
            if got == wheel.sha256:
                return path
            raise FetchError(
                f"{path}: sha256 {got} differs from {wheel.sha256}, the one locked or resolved "
                f"for {wheel.name} {wheel.version}; the file was changed or replaced: get the "
                "wheel again (cudaswitch download), or run cudaswitch lock if the new file is "
                "the one wanted")
    if local or wheelhouse:
        raise FetchError(f"{wheel.filename} is not in {wheelhouse or local}")
    return _download(wheel, cache, tick)


def fetch_all(wheels: Sequence[Wheel], cache: str, wheelhouse: str | None,
              reporter: Reporter) -> list[str]:
    """A local, verified file for each wheel, in order, each download with its progress."""
    return [fetch(w, cache, wheelhouse, lambda label, d, t: reporter.bar(f"get {label}", d, t))
            for w in wheels]


@contextlib.contextmanager
def _wheel_lock(dest: str) -> Iterator[None]:
    """One process downloads a given wheel into a cache at a time; the others wait and then
    find it there (an install and a ``download`` may share one cache)."""
    fd = os.open(dest + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _download(wheel: Wheel, cache: str, tick: Callable[[int, int], None]) -> str:
    dest = cached_path(wheel, cache)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with _wheel_lock(dest):
        if is_cached(wheel, cache):
            return dest
        return _download_locked(wheel, dest, tick)


def _download_locked(wheel: Wheel, dest: str, tick: Callable[[int, int], None]) -> str:
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(wheel.url, headers={"User-Agent": "cudaswitch"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except OSError as e:
        raise FetchError(f"downloading {wheel.url}: {e}") from e
    with resp:
        resumed = have and resp.status == 206
        total = int(resp.headers.get("Content-Length") or 0) + (have if resumed else 0)
        mode = "ab" if resumed else "wb"
        done = have if resumed else 0
        with open(part, mode) as f:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                tick(done, total)
    if _sha256_file(part) != wheel.sha256:
        os.unlink(part)
        raise FetchError(f"{wheel.filename}: downloaded file does not match sha256 "
                         f"{wheel.sha256}; removed, run again")
    os.replace(part, dest)
    fsguard.atomic_write(_verified_marker(dest), wheel.sha256)
    return dest


def _kept_already(dest: str, wheel: Wheel) -> bool:
    """True when ``dest`` is this very wheel; a different file of its name is refused."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(st.st_mode) and _sha256_file(dest) == wheel.sha256:
        return True
    what = "a different file" if stat.S_ISREG(st.st_mode) else "something that is no file"
    raise fsguard.RefusedError(
        f"{dest}: {what} of that name is already there (not {wheel.name} {wheel.version}, "
        f"sha256 {wheel.sha256}); cudaswitch never replaces it: move it away or name another "
        "--wheelhouse")


def copy_to(path: str, wheel: Wheel, folder: str) -> str:
    """Put a verified wheel into a wheelhouse folder (hard link where possible); a file of
    the same name with other content stays and is refused, never overwritten."""
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, wheel.filename)
    if os.path.abspath(path) == os.path.abspath(dest) or _kept_already(dest, wheel):
        return dest
    try:
        os.link(path, dest)
        return dest
    except FileExistsError:
        _kept_already(dest, wheel)  # another process put it there meanwhile
        return dest
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, dest)  # never over an existing name, unlike a rename
        except FileExistsError:
            _kept_already(dest, wheel)
        except OSError:  # a filesystem without hard links
            if not _kept_already(dest, wheel):
                os.rename(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return dest
