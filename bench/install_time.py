"""Install time of a slot from a warm wheel cache vs a bare ``pip install --target``.

Both sides get the same wheel files from the same local wheelhouse, in the same run, each
into a fresh folder (our store starts empty too, so we unpack and hash every file, as pip does).
``cudaswitch install`` resolves with pip first (two dry runs, one cached per release);
``cudaswitch sync --locked`` installs the lock file's wheels without resolving.

Usage: uv run python bench/install_time.py [--rounds 5] [--with cudart,nvrtc,curand]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cudaswitch.install.pip import pip_argv

CLI = [sys.executable, "-m", "cudaswitch.cli.main"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cuda", default="12.4")
    ap.add_argument("--with", dest="with_", default="cudart,nvrtc,curand")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cs-bench-time-"))
    wh = work / "wheelhouse"
    base = {k: v for k, v in os.environ.items() if not k.startswith("CUDASWITCH_")}
    base.update(CUDASWITCH_CACHE=str(work / "cache"), CUDASWITCH_CONFIG=os.devnull)
    env = dict(base, CUDASWITCH_HOME=str(work / "h0"))
    subprocess.run([*CLI, "download", args.cuda, "--with", args.with_, "--wheelhouse", str(wh)],
                   env=env, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wheels = sorted(str(p) for p in wh.glob("*.whl"))
    man = work / "cudaswitch.toml"
    man.write_text(f'[[slot]]\nname = "b"\ncuda = "{args.cuda}"\n'
                   f'components = {json.dumps(args.with_.split(","))}\n')
    lenv = dict(base, CUDASWITCH_HOME=str(work / "hl"), CUDASWITCH_CONFIG=str(man))
    subprocess.run([*CLI, "lock", "--wheelhouse", str(wh)], env=lenv, check=True,
                   stdout=subprocess.DEVNULL)
    pip = pip_argv()
    rows: dict[str, list[float]] = {"pip install --target": [], "cudaswitch install": [],
                                    "cudaswitch sync --locked": []}
    for i in range(args.rounds):  # interleaved, so drift in the machine hits all three
        target = work / f"t{i}"
        rows["pip install --target"].append(timed(
            [*pip, "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
             *wheels], base))
        rows["cudaswitch install"].append(timed(
            [*CLI, "install", args.cuda, "--with", args.with_, "--wheelhouse", str(wh)],
            dict(base, CUDASWITCH_HOME=str(work / f"h{i}"))))
        rows["cudaswitch sync --locked"].append(timed(
            [*CLI, "sync", "--locked", "--wheelhouse", str(wh)],
            dict(lenv, CUDASWITCH_HOME=str(work / f"s{i}"))))
        for p in (target, work / f"h{i}", work / f"s{i}"):
            shutil.rmtree(p, ignore_errors=True)
    size = sum(os.path.getsize(w) for w in wheels)
    ref = statistics.median(rows["pip install --target"])
    print(f"CUDA {args.cuda} [{args.with_}]: {len(wheels)} wheels, {size / 1e6:.1f} MB "
          f"compressed, {args.rounds} rounds, medians:")
    print("| method | median s | ratio to pip --target |")
    print("|---|---|---|")
    for name, ts in rows.items():
        m = statistics.median(ts)
        print(f"| {name} | {m:.2f} | {m / ref:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
