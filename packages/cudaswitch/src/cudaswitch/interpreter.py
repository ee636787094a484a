"""Whether a command is run by a Python interpreter, and which folders its ``import`` reads.

Learned from the file system alone: the command's name or its ``#!`` line, the ``pyvenv.cfg``
beside a virtual environment's ``bin``, the layout of the interpreter's prefix. Nothing is
executed (starting the interpreter to ask ``sys.path`` would cost more than the whole
decision). Standard library only: the entrypoint's full flow reads it.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PY_NAME_RE = re.compile(r"^python(?:3(?:\.[0-9]+)?)?$")
_VERSION_IN_NAME_RE = re.compile(r"^python(3\.[0-9]+)$")
# pip's launcher for interpreter paths too long for a #! line: a shell script that execs it.
_SH_LAUNCHER_RE = re.compile(rb"^'''exec' '?\"?([^\"' ]+)", re.MULTILINE)


@dataclass(frozen=True)
class Interpreter:
    """A Python that will run the command, and the folders its distributions live in."""

    python: str
    venv: str | None
    version: str | None
    site_dirs: tuple[str, ...]
    watch: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"python": self.python, "venv": self.venv, "version": self.version,
                "site_dirs": list(self.site_dirs)}


def _shebang(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(512)
    except OSError:
        return b""


def command_python(argv: Sequence[str], path: str) -> str | None:
    """The interpreter that will run ``argv`` with ``PATH=path``: the command itself when it
    is a ``python``, else the one its ``#!`` line names (``env python3`` searched on ``path``)."""
    if not argv:
        return None
    cmd = argv[0]
    exe = cmd if "/" in cmd else shutil.which(cmd, path=path)
    if exe is None:
        return None
    if _PY_NAME_RE.match(os.path.basename(cmd)):
        return exe
    head = _shebang(exe)
    if not head.startswith(b"#!"):
        return None
    first = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if first and os.path.basename(first[0]) == "env":
        names = [w for w in first[1:] if not w.startswith("-") and "=" not in w]
        if names and _PY_NAME_RE.match(names[0]):
            return shutil.which(names[0], path=path)
        return None
    if first and first[0] == "/bin/sh":
        m = _SH_LAUNCHER_RE.search(head)
        return m.group(1).decode("utf-8", "replace") if m else None
    if first and _PY_NAME_RE.match(os.path.basename(first[0])):
        return first[0]
    return None


def _read_cfg(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f.read(65536).splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    out[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return out


def _version_of(python: str, cfg: Mapping[str, str]) -> str | None:
    for name in (os.path.basename(python), os.path.basename(os.path.realpath(python))):
        m = _VERSION_IN_NAME_RE.match(name)
        if m:
            return m.group(1)
    v = cfg.get("version_info") or cfg.get("version") or ""
    m = re.match(r"(3\.[0-9]+)", v)
    return m.group(1) if m else None


def _prefix_sites(prefix: str, version: str | None) -> list[str]:
    versions = [version] if version else sorted(
        os.path.basename(p)[len("python"):] for p in glob.glob(os.path.join(prefix, "lib",
                                                                          "python3.*")))
    out = []
    for v in versions:
        out += [os.path.join(prefix, "lib", f"python{v}", "site-packages"),
                os.path.join(prefix, "local", "lib", f"python{v}", "dist-packages"),
                os.path.join(prefix, "lib", f"python{v}", "dist-packages")]
    out.append(os.path.join(prefix, "lib", "python3", "dist-packages"))
    return out


def inspect(python: str, env: Mapping[str, str]) -> Interpreter:
    """The folders ``python`` imports distributions from under the environment ``env``:
    ``PYTHONPATH`` first, then the venv's (or prefix's) site-packages, then the user's."""
    bindir = os.path.dirname(os.path.abspath(python))
    root = os.path.dirname(bindir)
    cfg_path = os.path.join(root, "pyvenv.cfg")
    cfg = _read_cfg(cfg_path)
    venv = root if cfg else None
    version = _version_of(python, cfg)
    sites: list[str] = [p for p in env.get("PYTHONPATH", "").split(":") if p]
    if venv:
        if version:
            sites.append(os.path.join(venv, "lib", f"python{version}", "site-packages"))
        else:
            sites += sorted(glob.glob(os.path.join(venv, "lib", "python3.*", "site-packages")))
        if cfg.get("include-system-site-packages", "").lower() == "true" and cfg.get("home"):
            base = os.path.join(cfg["home"], os.path.basename(python))
            sites += _prefix_sites(os.path.dirname(os.path.dirname(os.path.realpath(base))),
                                   version)
    else:
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        if env.get("PYTHONNOUSERSITE", "") == "" and env.get("HOME") and version:
            sites.append(os.path.join(env["HOME"], ".local", "lib", f"python{version}",
                                      "site-packages"))
        sites += _prefix_sites(prefix, version)
    found = [s for s in dict.fromkeys(sites) if os.path.isdir(s)]
    watch = (python, cfg_path, *found, *[s for s in sites if s not in found])
    return Interpreter(python, venv, version, tuple(found), tuple(dict.fromkeys(watch)))
