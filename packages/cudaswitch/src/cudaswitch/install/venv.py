"""A slot's own Python environment: planned (resolved, or taken from the lock), every wheel
fetched and checked before anything is built, then made with the slot's interpreter and filled
with exactly the planned wheels.

The slot install (``engine``) calls :func:`venv_plan` before it assembles the slot and
:func:`build_venv` inside it, so that a refused wheel leaves neither slot nor environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .. import fsguard
from ..errors import UsageError
from ..slotrecord import RecordError, read_json_file
from ..slots import Slot
from . import fetch as fetching
from .lockfile import LockDrift, LockedSlot, LockedVenv, missing_packages
from .options import InstallOptions, home_guard
from .pip import IndexOptions, PipError, install_pinned
from .resolve import Wheel, normalize, resolve_venv
from .store import check_wheel_record

VENV_MARK = ".cudaswitch-venv.json"


def _request(slot: Slot, wheels: Sequence[Wheel] | None = None) -> dict:
    want: dict = {"python": slot.python, "packages": list(slot.packages)}
    if slot.no_deps:
        want["no_deps"] = list(slot.no_deps)
    if wheels is not None:
        want["wheels"] = sorted(w.sha256 for w in wheels)
    return want


def venv_ok(venv: str, slot: Slot, wheels: Sequence[Wheel] | None = None) -> bool:
    """The venv holds what is asked: the request, and exactly ``wheels`` when locked."""
    try:
        have = read_json_file(os.path.join(venv, VENV_MARK), "environment record")
    except (RecordError, OSError):
        return False
    return isinstance(have, Mapping) and all(
        have.get(k) == v for k, v in _request(slot, wheels).items())


def interpreter(python: str, env: Mapping[str, str]) -> str:
    """The slot's interpreter as a path (a bare name is looked up on ``env``'s PATH); one
    that is not there is bad input, found before anything is resolved or built."""
    exe = python if "/" in python else shutil.which(python, path=env.get("PATH"))
    if not exe or not os.access(exe, os.X_OK):
        raise UsageError(f"the slot's interpreter {python!r} is not on this machine")
    return exe


def python_version(exe: str) -> str:
    """``X.Y`` of an interpreter: what the slot's packages are resolved and locked for."""
    proc = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True)
    ver = proc.stdout.strip()
    if proc.returncode != 0 or not re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", ver):
        raise UsageError(f"the slot's interpreter {exe} did not say its version "
                         f"(exit {proc.returncode}): {proc.stderr.strip()[-200:]}")
    return ver


def resolve_environment(slot: Slot, opts: InstallOptions) -> LockedVenv | None:
    """What ``lock`` pins for the slot's environment: every wheel pip chooses for its
    interpreter's ``X.Y``; None for a slot without packages. Nothing is fetched or built, so
    ``install --dry-run`` shows the same list."""
    if not slot.packages:
        return None
    ver = python_version(interpreter(slot.python or "python3", opts.env))
    opts.reporter.line(f"{slot.name}: resolving {', '.join(slot.packages)} for Python {ver}")
    return LockedVenv(ver, tuple(resolve_venv(slot, ver, opts.index, opts.env)))


def locked_venv(slot: Slot, entry: LockedSlot | None) -> LockedVenv | None:
    """The slot's locked environment; a slot with packages and none locked is drift."""
    if not slot.packages:
        return None
    if entry is None or entry.venv is None:
        raise LockDrift(f"slot {slot.name}: its Python packages ({', '.join(slot.packages)}) "
                        "are not in the lock; run cudaswitch lock to update it")
    return entry.venv


@dataclass(frozen=True)
class VenvPlan:
    """What the slot's environment will hold: verified wheels, staged in one folder."""

    python: str
    version: str
    wheels: tuple[Wheel, ...]
    folder: str


_NEED_RE = re.compile(r"satisfies the requirement (\S+)(?: \(from ([^)]+)\))?")


def _check_complete(slot: Slot, plan: VenvPlan, opts: InstallOptions) -> None:
    """The locked wheels alone satisfy the slot's packages, and pip picks exactly them: a
    lock that lost a dependency (or holds a stray wheel) installs nothing."""
    try:
        got = resolve_venv(slot, plan.version, IndexOptions(wheelhouse=plan.folder), opts.env,
                           f"checking the locked environment of slot {slot.name}")
    except PipError as e:
        m = _NEED_RE.search(str(e))
        need = (f"{m.group(1)}" + (f" (needed by {m.group(2)})" if m.group(2) else "")
                if m else str(e))
        raise LockDrift(f"slot {slot.name}: the locked environment is incomplete: {need} is "
                        "not in the lock; run cudaswitch lock to update it") from e
    want = {(normalize(w.name), w.version, w.sha256) for w in plan.wheels}
    have = {(w.name, w.version, w.sha256) for w in got}
    if want != have:
        extra = sorted(f"{n} {v}" for n, v, _ in want - have)
        raise LockDrift(f"slot {slot.name}: the lock holds wheels its packages do not need "
                        f"({', '.join(extra)}); run cudaswitch lock to update it")


@contextlib.contextmanager
def venv_plan(slot: Slot, opts: InstallOptions,
              locked: LockedVenv | None = None) -> Iterator[VenvPlan]:
    """Resolve (or take from the lock), fetch, and check every wheel of the slot's
    environment before anything is built: each file against its sha256 and its own RECORD."""
    py = interpreter(slot.python or "python3", opts.env)
    ver = python_version(py)
    if locked is not None:
        if locked.python != ver:
            raise LockDrift(f"slot {slot.name}: the lock's environment is for Python "
                            f"{locked.python}, the slot's interpreter {py} is {ver}; run "
                            "cudaswitch lock to update it")
        missing = missing_packages(slot.packages, locked)
        if missing:
            raise LockDrift(f"slot {slot.name}: package {', '.join(missing)} is not in the "
                            "lock's environment; run cudaswitch lock to update it")
        wheels = list(locked.wheels)
    else:
        opts.reporter.line(f"{slot.name}: resolving {', '.join(slot.packages)} for "
                           f"Python {ver}")
        wheels = resolve_venv(slot, ver, opts.index, opts.env)
    paths = fetching.fetch_all(wheels, opts.cache, opts.index.wheelhouse, opts.reporter)
    os.makedirs(opts.cache, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="venv-", dir=opts.cache) as folder:
        for w, path in zip(wheels, paths, strict=True):
            check_wheel_record(path)
            fetching.copy_to(path, w, folder)
        plan = VenvPlan(py, ver, tuple(wheels), folder)
        if locked is not None:
            _check_complete(slot, plan, opts)
        yield plan


def build_venv(slot: Slot, venv: str, opts: InstallOptions, plan: VenvPlan) -> dict:
    """The slot's own environment: made with its interpreter, then exactly the plan's wheels
    (pip with ``--require-hashes --no-deps``, from the checked folder only)."""
    want = _request(slot, plan.wheels)
    if venv_ok(venv, slot, plan.wheels):
        return {"venv": venv, "status": "unchanged"}
    rep = opts.reporter
    py = plan.python
    home = home_guard(opts.home)
    fsguard.remove(venv, home)
    fsguard.ensure_dir(os.path.dirname(venv), home)
    rep.line(f"{slot.name}: creating a Python environment with {py}")
    proc = subprocess.run([py, "-m", "venv", venv], capture_output=True, text=True)
    uv = shutil.which("uv", path=opts.env.get("PATH"))
    if proc.returncode != 0:
        if not uv:
            raise PipError(f"{py} -m venv failed: {proc.stderr.strip()[-400:]}")
        fsguard.remove(venv, home)
        subprocess.run([uv, "venv", "--quiet", "--python", py, venv], check=True)
    vpy = os.path.join(venv, "bin", "python")
    rep.line(f"{slot.name}: installing {len(plan.wheels)} wheels for {', '.join(slot.packages)}")
    has_pip = subprocess.run([vpy, "-c", "import pip"], capture_output=True).returncode == 0
    what = f"installing {', '.join(slot.packages)} into {venv}"
    if has_pip:
        install_pinned([vpy, "-m", "pip"], plan.wheels, plan.folder, opts.env, what,
                       ["--disable-pip-version-check"])
    elif uv:
        install_pinned([uv, "pip"], plan.wheels, plan.folder, opts.env, what,
                       ["--python", vpy])
    else:
        raise PipError(f"the environment at {venv} has no pip and uv is not installed")
    fsguard.atomic_write_json(os.path.join(venv, VENV_MARK), want)
    return {"venv": venv, "status": "installed"}
