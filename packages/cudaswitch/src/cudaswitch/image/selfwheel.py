"""A wheel of the cudaswitch that is running, made from its own files: images install the
very code that built them, with no build backend and no network.

The archive is reproducible: fixed timestamps and sorted members, so equal code gives an equal
sha256 and the image's common layer stays cached.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

import cudaswitch

DATE = (2020, 1, 1, 0, 0, 0)
SCRIPTS = {"cudaswitch": "cudaswitch.cli.main:main",
           "cudaswitch-entrypoint": "cudaswitch.entrypoint:main"}


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _files(pkg_dir: str) -> list[tuple[str, str]]:
    out = []
    for root, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for f in sorted(files):
            if f.endswith((".pyc", ".pyo")) or f.startswith("."):
                continue
            full = os.path.join(root, f)
            rel = os.path.relpath(full, os.path.dirname(pkg_dir)).replace(os.sep, "/")
            out.append((rel, full))
    return out


# Pure-Python packages cudaswitch imports at run time (pyelftools reads a slot's libraries
# during ``cudaswitch sync``): carried in the same wheel from this interpreter's copy, since the
# image installs it with --no-index and no other wheel is at hand.
BUNDLED = ("elftools",)


def _bundled() -> list[tuple[str, str]]:
    import importlib

    out = []
    for name in BUNDLED:
        mod = importlib.import_module(name)
        out += _files(os.path.dirname(os.path.abspath(mod.__file__ or "")))
    return out


def build_wheel(dest: str) -> tuple[str, str]:
    """Write ``cudaswitch-<version>-py3-none-any.whl`` into ``dest``; (path, sha256)."""
    version = cudaswitch.__version__
    pkg_dir = os.path.dirname(os.path.abspath(cudaswitch.__file__))
    dist_info = f"cudaswitch-{version}.dist-info"
    meta = {
        "METADATA": (f"Metadata-Version: 2.1\nName: cudaswitch\nVersion: {version}\n"
                     "Requires-Python: >=3.10\n"
                     "Requires-Dist: tomli>=2.0; python_version < \"3.11\"\n"),
        "WHEEL": ("Wheel-Version: 1.0\nGenerator: cudaswitch-image\nRoot-Is-Purelib: true\n"
                  "Tag: py3-none-any\n"),
        "entry_points.txt": "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in SCRIPTS.items()),
    }
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, f"cudaswitch-{version}-py3-none-any.whl")
    tmp = path + f".{os.getpid()}.tmp"
    record = []
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            record.append(f"{name},{_record_hash(data)},{len(data)}")
        for rel, full in _files(pkg_dir) + _bundled():
            with open(full, "rb") as f:
                add(rel, f.read())
        for name, text in meta.items():
            add(f"{dist_info}/{name}", text.encode())
        rec_name = f"{dist_info}/RECORD"
        record.append(f"{rec_name},,")
        info = zipfile.ZipInfo(rec_name, DATE)
        info.external_attr = 0o644 << 16
        zf.writestr(info, "\n".join(record) + "\n")
    os.replace(tmp, path)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return path, sha
