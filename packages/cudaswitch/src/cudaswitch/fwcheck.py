"""``--provider torch|jax|cupy``: a tiny GPU operation of the framework in the planned
environment, and what the process mapped while doing it.

A framework that finds two builds of cuDNN, or CUDA libraries of two majors, may abort deep
inside a library (``Invalid handle. Cannot load symbol cublasLtGetVersion``) or fail only at
the first convolution; this runs that convolution first and names the libraries. The loader's
own log (``LD_DEBUG=files``) records every library it initialised, so a child that dies by a
signal still says what it had loaded.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Sequence

from .errors import VerifyError
from .launch import ORT_CHECK_FILE, slot_python
from .libsets import Mix, mixed
from .plan import Plan
from .toolkits.model import Toolkit

FRAMEWORKS = ("torch", "jax", "cupy")
_INIT_RE = re.compile(r"calling init: (/\S+)")
_CHILD_ENV = {"jax": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}


def _loaded_by_loader(folder: str) -> list[str]:
    out: list[str] = []
    for path in sorted(glob.glob(os.path.join(folder, "ld.*"))):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                out += _INIT_RE.findall(f.read())
        except OSError:
            continue
    return out


def _reports(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            out.append(data)
    return out


def describe_mixes(mixes: Sequence[Mix]) -> str:
    return "; ".join(m.describe() for m in mixes)


def verify_framework(plan: Plan, name: str, toolkits: Sequence[Toolkit] = ()) -> dict:
    """Run the framework's check under ``plan``'s environment; a CPU-only result, a failed
    operation, a crash or a mixed set of CUDA libraries is a ``VerifyError`` (exit 5)."""
    python = slot_python(plan)
    if python is None:
        raise VerifyError(f"no python3 on the planned PATH to check {name} with")
    with tempfile.TemporaryDirectory(prefix="cudaswitch-ld.") as logs:
        env = dict(plan.env, **_CHILD_ENV.get(name, {}), LD_DEBUG="files",
                   LD_DEBUG_OUTPUT=os.path.join(logs, "ld"))
        try:
            out = subprocess.run([python, ORT_CHECK_FILE, name], env=env, capture_output=True,
                                 text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise VerifyError(f"the {name} check did not run with {python}: {e}") from e
        loaded = _loaded_by_loader(logs)
    reports = _reports(out.stdout)
    last = reports[-1] if reports else {}
    maps = list(dict.fromkeys([*last.get("maps", []), *loaded]))
    real = {p: os.path.realpath(p) for p in maps}
    mixes = mixed(maps, real)
    label = f"{name} {last.get('version', '')}".strip()
    mapped = f"; it mapped {describe_mixes(mixes)}" if mixes else ""
    if out.returncode != 0 or not last or last.get("step") != "op":
        how = (f"killed by {signal.Signals(-out.returncode).name}" if out.returncode < 0
               else f"exit {out.returncode}")
        tail = " ".join(ln.strip() for ln in out.stderr.strip().splitlines()[-3:])[-400:]
        raise VerifyError(f"the {label} check died ({how}) after "
                          f"{last.get('step', 'start')}: {tail or 'no message'}{mapped}")
    if last.get("import_error"):
        raise VerifyError(last["import_error"])
    if last.get("no_gpu"):
        raise VerifyError(last["no_gpu"])
    if last.get("error"):
        raise VerifyError(f"{label} failed its GPU operation: {last['error']}{mapped}")
    if mixes:
        raise VerifyError(f"{label} ran, but the process mapped {describe_mixes(mixes)}: one "
                          "build of each CUDA library per process")
    last["maps"] = maps
    return last
