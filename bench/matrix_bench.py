"""Wall time of a 4-slot ``cudaswitch matrix`` of a 2-second command, 4 at a time vs 1 at a time,
and what the matrix adds per slot over running the command directly.

Four installed slots (CUDA 11.8 and 12.4, two of each, cudart + nvrtc from NVIDIA's wheels) in
a temporary data home, installed from the tests' wheelhouse (``cudaswitch download`` fills it
from the index on the first run). The rounds alternate between the three ways so that a busy
machine slows all of them alike.

    uv run python bench/matrix_bench.py [--rounds 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE", Path.home() / ".cache" / "cudaswitch-tests"))
WHEELHOUSE = CACHE / "slot-wheelhouse"
SLOTS = (("11.8", "cuda11.8"), ("12.4", "cuda12.4"), ("11.8", "cuda11.8-b"),
         ("12.4", "cuda12.4-b"))


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", *args], env=env,
                          capture_output=True, text=True, check=True)


def make_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CUDASWITCH_") and k not in ("CUDA_VERSION", "CUDA_HOME")}
    env.update(CUDASWITCH_HOME=str(home), CUDASWITCH_CONFIG=os.devnull,
               CUDASWITCH_CACHE=str(CACHE / "slot-cache"))
    return env


def install(env: dict[str, str]) -> None:
    for version, _name in SLOTS[:2]:
        cli("download", version, "--with", "cudart,nvrtc", "--wheelhouse", str(WHEELHOUSE),
            env=env)
    for version, name in SLOTS:
        cli("install", version, "--with", "cudart,nvrtc", "--name", name, "--wheelhouse",
            str(WHEELHOUSE), env=env)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, dict | None]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return wall, (json.loads(out.stdout) if "--json" in cmd else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    command = ["sleep", f"{args.seconds:g}"]
    with tempfile.TemporaryDirectory(prefix="matrix-bench-") as tmp:
        env = make_env(Path(tmp) / "home")
        install(env)
        base = [sys.executable, "-m", "cudaswitch.cli.main", "matrix", "--json", "--log-dir",
                str(Path(tmp) / "logs")]
        walls: dict[str, list[float]] = {"direct": [], "parallel 4": [], "parallel 1": []}
        slot_times: list[float] = []
        for _ in range(args.rounds):
            walls["direct"].append(timed(command, env)[0])
            for n in (4, 1):
                wall, data = timed([*base, "--parallel", str(n), "--", *command], env)
                assert data and [s["status"] for s in data["slots"]] == ["pass"] * 4, data
                walls[f"parallel {n}"].append(wall)
                slot_times += [s["duration_s"] for s in data["slots"]]
    med = {k: statistics.median(v) for k, v in walls.items()}
    direct = med["direct"]
    print(f"command: {' '.join(command)}; 4 slots ({', '.join(n for _, n in SLOTS)}); "
          f"{args.rounds} rounds, medians\n")
    print("| way | wall s | vs 4 x direct |")
    print("|---|---|---|")
    print(f"| command run directly, once | {direct:.3f} | |")
    for k in ("parallel 4", "parallel 1"):
        print(f"| `cudaswitch matrix --{k}` | {med[k]:.3f} | "
              f"{med[k] / (4 * direct):.3f} |")
    print()
    print("speed-up of --parallel 4 over --parallel 1: "
          f"{med['parallel 1'] / med['parallel 4']:.2f}x")
    print(f"overhead per slot, --parallel 1: ({med['parallel 1']:.3f} - 4 x {direct:.3f}) / 4 = "
          f"{(med['parallel 1'] - 4 * direct) / 4 * 1000:.1f} ms")
    print(f"overhead of the whole run, --parallel 4: {med['parallel 4']:.3f} - {direct:.3f} = "
          f"{(med['parallel 4'] - direct) * 1000:.1f} ms")
    print(f"a slot's own measured duration, median: {statistics.median(slot_times):.3f} s "
          f"(the command alone: {direct:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
