"""``cudaswitch list --json`` with 20 toolkits present, in a fresh process each time, against
``python -c pass`` in the same run.

Usage: uv run python bench/list_bench.py [--rounds N]
The 20 toolkits are folders laid out like /usr/local/cuda-X.Y around real libcudart files
from NVIDIA's wheels (hard links, so they cost no disk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import compile_package, extract_member, interleaved

RUNTIMES = {
    11: ("nvidia-cuda-runtime-cu11==11.8.89", "libcudart.so.11.0"),
    12: ("nvidia-cuda-runtime-cu12==12.4.127", "libcudart.so.12"),
    13: ("nvidia-cuda-runtime==13.0.96", "libcudart.so.13"),
}


def make_toolkits(root: Path, count: int) -> None:
    libs = {m: extract_member(req, "/" + so, root / ".libs" / so) for m, (req, so) in
            RUNTIMES.items()}
    versions = [(11, m) for m in range(0, 9)] + [(12, m) for m in range(0, 10)] + [(13, 0)]
    for major, minor in versions[:count]:
        tk = root / f"cuda-{major}.{minor}"
        (tk / "lib64").mkdir(parents=True)
        (tk / "include").mkdir()
        so = RUNTIMES[major][1]
        os.link(libs[major], tk / "lib64" / so)
        (tk / "version.json").write_text(json.dumps(
            {"cuda": {"name": "CUDA SDK", "version": f"{major}.{minor}.0"}}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="cs-list-"))
    try:
        make_toolkits(work, 20)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUDASWITCH_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(CUDASWITCH_PATH=str(work), CUDASWITCH_CONFIG=os.devnull)
        console = os.path.join(os.path.dirname(sys.executable), "cudaswitch")
        out = subprocess.run([console, "list", "--json"], env=env, capture_output=True,
                             text=True, check=True)
        found = [t for t in json.loads(out.stdout)["toolkits"] if t["root"].startswith(str(work))]
        assert len(found) == 20, len(found)
        res = interleaved({"cudaswitch list --json": [console, "list", "--json"],
                           "python -c pass": [sys.executable, "-c", "pass"]}, env, args.rounds)
        ratio = res["cudaswitch list --json"]["median_ms"] / res["python -c pass"]["median_ms"]
        print(json.dumps({"toolkits": 20 + (len(json.loads(out.stdout)["toolkits"]) - 20),
                          "rounds": args.rounds, "results": res,
                          "ratio_to_python_c_pass": round(ratio, 2)}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
