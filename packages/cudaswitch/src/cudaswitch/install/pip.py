"""Finding and running pip: argv lists only, never a shell string."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import CudaswitchError, UsageError
from ..slotrecord import Wheel

PIP_ENV = "CUDASWITCH_PIP"
# What may stand in a generated requirements line: a name and a version, nothing pip reads as
# an option (``--index-url``), a URL or a second requirement.
PIN_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?$")
PIN_VERSION_RE = re.compile(r"^[0-9A-Za-z](?:[0-9A-Za-z.+!_-]{0,100})$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class PipError(CudaswitchError):
    """pip could not resolve or fetch what a slot needs; the message carries pip's own words."""


def pip_argv(env: Mapping[str, str] | None = None) -> list[str]:
    """How to run pip: ``$CUDASWITCH_PIP``, this interpreter's pip, else pip3/pip on PATH."""
    env = os.environ if env is None else env
    if env.get(PIP_ENV):
        argv = shlex.split(env[PIP_ENV])
        if not argv or not shutil.which(argv[0], path=env.get("PATH")):
            raise UsageError(f"{PIP_ENV}={env[PIP_ENV]!r}: no such program")
        return argv
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        exe = shutil.which(name, path=env.get("PATH"))
        if exe:
            return [exe]
    raise UsageError("no pip found: install it into this Python (python -m ensurepip) or set "
                     f"{PIP_ENV} to a pip command (e.g. '/usr/bin/python3 -m pip')")


@dataclass(frozen=True)
class IndexOptions:
    """Where pip looks: a wheelhouse means no index at all (offline)."""

    wheelhouse: str | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        if self.wheelhouse:
            return ["--no-index", "--find-links", self.wheelhouse]
        out: list[str] = []
        if self.index_url:
            out += ["--index-url", self.index_url]
        for u in self.extra_index_urls:
            out += ["--extra-index-url", u]
        return out


def run_pip(args: Sequence[str], env: Mapping[str, str] | None = None,
            what: str = "pip", pip: Sequence[str] | None = None) -> subprocess.CompletedProcess:
    """Run pip (``pip``: another one, such as a venv's, instead of :func:`pip_argv`'s)."""
    argv = [*(pip or pip_argv(env)), *args]
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    proc = subprocess.run(argv, capture_output=True, text=True, env=child_env)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines()
                 if ln.strip() and not ln.startswith("WARNING: Location")]
        raise PipError(f"{what} failed (exit {proc.returncode}): "
                       + "\n  ".join(lines[-8:] or ["no output"]))
    return proc


def dry_run_report(requirements: Sequence[str], constraints: Sequence[str],
                   index: IndexOptions, env: Mapping[str, str] | None = None,
                   what: str = "pip resolve", python_version: str | None = None,
                   platform: Sequence[str] = (), no_deps: bool = False) -> dict:
    """``pip install --dry-run --report``: what pip would install, with URLs and hashes
    (for another interpreter's ``X.Y`` when ``python_version`` is given, or the interpreter
    and platform that ``platform``'s pip options name); with ``no_deps``, the requirements
    alone, none of the dependencies they declare."""
    with tempfile.TemporaryDirectory(prefix="cudaswitch-pip-") as tmp:
        # pip before 24 refuses --python-version without --target, even for a dry run (the
        # pip of Debian 12's python3-venv is 23.0.1); with --dry-run nothing lands there
        foreign = [*(["--python-version", python_version] if python_version else []),
                   *platform]
        target = [*foreign, "--target", os.path.join(tmp, "target")] if foreign else []
        cfile = os.path.join(tmp, "constraints.txt")
        report = os.path.join(tmp, "report.json")
        with open(cfile, "w", encoding="utf-8") as f:
            f.write("\n".join(constraints) + "\n")
        run_pip(["install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
                 "--quiet", "--report", report, *target, *(["--no-deps"] if no_deps else []),
                 "-c", cfile, *index.argv(), *requirements],
                env, what)
        with open(report, encoding="utf-8") as f:
            return json.load(f)


def pin_line(wheel: Wheel) -> str:
    """``name==version --hash=sha256:...``; a name or version that is more than that is refused
    before it reaches the requirements file."""
    if not PIN_NAME_RE.match(wheel.name) or not PIN_VERSION_RE.match(wheel.version) \
            or not _SHA_RE.match(wheel.sha256):
        raise UsageError(f"package {wheel.name[:80]!r} version {wheel.version[:40]!r}: not a "
                         "plain name, version and sha256; not written into a requirements file")
    return f"{wheel.name}=={wheel.version} --hash=sha256:{wheel.sha256}"


def install_pinned(pip: Sequence[str], wheels: Sequence[Wheel], folder: str,
                   env: Mapping[str, str] | None = None, what: str = "pip install",
                   extra: Sequence[str] = ()) -> None:
    """Install exactly ``wheels`` from ``folder`` and nothing else: no index, no dependencies
    pulled in, and pip itself checks every file against its sha256 (``--require-hashes``)."""
    with tempfile.TemporaryDirectory(prefix="cudaswitch-pip-") as tmp:
        req = os.path.join(tmp, "requirements.txt")
        with open(req, "w", encoding="utf-8") as f:
            f.write("".join(pin_line(w) + "\n" for w in wheels))
        run_pip(["install", "--quiet", *extra, "--no-deps", "--require-hashes", "--no-index",
                 "--find-links", folder, "-r", req], env, what, pip)
