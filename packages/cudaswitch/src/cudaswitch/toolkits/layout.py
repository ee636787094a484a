"""A toolkit laid out like NVIDIA's installers do: ``bin/``, ``lib64/`` or ``lib/``, ``include/``.

This serves ``/usr/local/cuda-X.Y``, ``CUDA_HOME``, conda prefixes and the managed slots
(which write a ``version.json`` of NVIDIA's shape). The version comes from ``version.json``,
else ``version.txt``, else the wheels' ``dist-info`` a wheel-assembled toolkit keeps, else
the ``libcudart.so.X.Y.Z`` file name, else ``cuda_runtime_api.h``. Nothing is executed to learn
a version, and every file is read boundedly: a FIFO, a huge or a deeply nested version file
makes the toolkit broken, with the reason, never a hang.
"""

from __future__ import annotations

import json
import os
import re
import stat

from ..versions import CudaVersion, SpecError
from .model import Toolkit, components_in

LIB_SUBDIRS = ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib")
_CUDART_RE = re.compile(r"^libcudart\.so\.([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?$")
VERSION_FILE_LIMIT = 256 * 1024
HEADER_LIMIT = 1 << 20
_DIST_RE = re.compile(
    r"^nvidia_cuda_(nvcc|runtime)(?:_cu[0-9]+)?-([0-9]+\.[0-9]+(?:\.[0-9]+)?)\.dist-info$")


def looks_like_toolkit(path: str) -> bool:
    """Cheap test used when a root may be a toolkit or a folder of toolkits."""
    return any(os.path.exists(os.path.join(path, m))
               for m in ("version.json", "version.txt", "bin/nvcc", "include/cuda_runtime_api.h",
                         "lib64", "targets"))


class BadFile(Exception):
    """A version file that exists but cannot be read as one: its message says why."""


def read_small(path: str, limit: int) -> str | None:
    """The text of a small regular file; None when absent. Never blocks, never reads more
    than ``limit`` bytes: a FIFO, a device or a huge file raises BadFile."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise BadFile(f"{os.path.basename(path)} cannot be opened ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadFile(f"{os.path.basename(path)} is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise BadFile(f"{os.path.basename(path)} is {st.st_size} bytes, more than a version "
                          f"file ever holds ({limit})")
        data = os.read(fd, limit + 1)
    except OSError as e:
        raise BadFile(f"{os.path.basename(path)} cannot be read ({e.strerror})") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise BadFile(f"{os.path.basename(path)} is more than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadFile(f"{os.path.basename(path)} is not UTF-8 text") from e


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "a special file"


def _version_json(root: str) -> tuple[CudaVersion, str, CudaVersion | None] | None:
    text = read_small(os.path.join(root, "version.json"), VERSION_FILE_LIMIT)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except RecursionError as e:
        raise BadFile("version.json is nested too deeply to be NVIDIA's version file") from e
    except ValueError as e:
        raise BadFile(f"version.json is not JSON ({e})") from e
    if not isinstance(data, dict):
        raise BadFile("version.json is not a JSON object")
    try:
        sdk = CudaVersion.parse(str(data["cuda"]["version"]))
    except (KeyError, TypeError, SpecError) as e:
        raise BadFile("version.json has no cuda.version") from e
    release = sdk if sdk.patch is not None and sdk.patch < 1000 else None
    for key in ("cuda_nvcc", "cuda_cudart"):
        try:
            v = CudaVersion.parse(str(data[key]["version"]))
        except (KeyError, TypeError, SpecError):
            continue
        if (v.major, v.minor) == (sdk.major, sdk.minor):
            return v, "version.json", release
    return CudaVersion(sdk.major, sdk.minor), "version.json", release


def _version_txt(root: str) -> tuple[CudaVersion, str, None] | None:
    text = read_small(os.path.join(root, "version.txt"), VERSION_FILE_LIMIT)
    m = re.search(r"CUDA Version\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text or "")
    return (CudaVersion.parse(m.group(1)), "version.txt", None) if m else None


def _dist_info(root: str) -> tuple[CudaVersion, str, None] | None:
    try:
        names = os.listdir(os.path.join(root, "dist-info"))
    except OSError:
        return None
    found = {}
    for n in names:
        m = _DIST_RE.match(n)
        if m:
            found[m.group(1)] = CudaVersion.parse(m.group(2))
    for key in ("nvcc", "runtime"):
        if key in found:
            return found[key], "dist-info", None
    return None


def _header(root: str) -> tuple[CudaVersion, str, None] | None:
    """``#define CUDART_VERSION 12040`` in the runtime's header: major and minor only."""
    text = read_small(os.path.join(root, "include", "cuda_runtime_api.h"), HEADER_LIMIT)
    m = re.search(r"^#define\s+CUDART_VERSION\s+([0-9]{4,6})\s*$", text or "", re.M)
    if not m:
        return None
    n = int(m.group(1))
    return CudaVersion(n // 1000, (n % 1000) // 10), "cuda_runtime_api.h", None


def cudart_in(lib_dirs: tuple[str, ...]) -> tuple[str | None, CudaVersion | None]:
    """The runtime's soname file, and the full version its real file name carries."""
    best: tuple[tuple[int, ...], str] | None = None
    full: CudaVersion | None = None
    for d in lib_dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = _CUDART_RE.match(n)
            if not m:
                continue
            parts = tuple(int(p) for p in m.groups() if p is not None)
            path = os.path.join(d, n)
            if not os.path.exists(path):
                continue
            if len(parts) == 3:
                full = CudaVersion(*parts)
            key = (-len(parts), *parts)
            if best is None or key > best[0]:
                best = (key, path)
        if best:
            break
    if best and full is None:
        real = os.path.basename(os.path.realpath(best[1]))
        m = _CUDART_RE.match(real)
        if m and m.group(3) is not None:
            full = CudaVersion(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return (best[1] if best else None), full


def probe_toolkit(root: str, found_via: str, layout: str = "toolkit") -> Toolkit | None:
    """A Toolkit for ``root``, a broken one with the reason, or None if it is no toolkit."""
    if os.path.islink(root) and not os.path.exists(root):
        return Toolkit(root, None, layout, found_via,
                       broken=f"dangling symlink to {os.readlink(root)}")
    if not os.path.isdir(root):
        return None
    if not os.access(root, os.R_OK | os.X_OK):
        return Toolkit(root, None, layout, found_via, broken="not readable")
    lib_dirs: list[str] = []
    seen: set[str] = set()
    for sub in LIB_SUBDIRS:
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            real = os.path.realpath(d)
            if real not in seen:
                seen.add(real)
                lib_dirs.append(d)
    bin_dirs = tuple(d for d in (os.path.join(root, "bin"),) if os.path.isdir(d))
    inc = tuple(d for d in (os.path.join(root, "include"),) if os.path.isdir(d))
    cudart, full = cudart_in(tuple(lib_dirs))
    version: CudaVersion | None = None
    release: CudaVersion | None = None
    source = ""
    bad: str | None = None
    for step in (_version_json, _version_txt, _dist_info):
        try:
            got = step(root)
        except BadFile as e:
            bad = str(e)
            break
        if got:
            version, source, release = got
            break
    if version is None and bad is None and full is not None:
        version, source = full, "libcudart file name"
    if version is None and bad is None:
        try:
            got = _header(root)
        except BadFile as e:
            bad = str(e)
            got = None
        if got:
            version, source, release = got
    broken = None
    if bad is not None:
        version = None
        broken = bad
    elif cudart is None:
        broken = "no libcudart in " + ", ".join(LIB_SUBDIRS)
    elif version is None:
        broken = ("no version.json, version.txt, dist-info, versioned libcudart or "
                  "cuda_runtime_api.h to tell its version")
    elif not os.access(cudart, os.R_OK):
        broken = f"{cudart} is not readable"
    comps = components_in(tuple(lib_dirs), bin_dirs)
    compat = os.path.join(root, "compat")
    if layout == "conda":
        owned: tuple[str, ...] = (*lib_dirs, *inc)
        bin_dirs = bin_dirs if "nvcc" in components_in((), bin_dirs) else ()
    else:
        owned = (root, *bin_dirs, *lib_dirs, *inc, *([compat] if os.path.isdir(compat) else []))
    return Toolkit(root, version, layout, found_via, source, comps, bin_dirs, tuple(lib_dirs),
                   inc, cudart, owned, broken=broken, release=release)
