"""``podman run --rm IMAGE true``: an image whose ENTRYPOINT is the baked cudaswitch script
against the same image whose ENTRYPOINT is the founding article's plain bash script (pick
``CUDA_HOME`` from ``CUDA_VERSION``, export ``PATH`` and ``LD_LIBRARY_PATH``, exec), each start
a fresh container, taking turns in one run; plus the same image started with no entrypoint
(``true`` alone: podman's own cost) and with the Python entrypoint (what a fresh container
paid before the bake: its decision cache is always empty).

The image is small and built here, offline: the debootstrap base the image tests use, two
toolkit folders around real libcudart files from NVIDIA's wheels (CUDA 11.8 and 12.4), and
cudaswitch's source, baked by ``cudaswitch launcher --bake`` in the build as image builds do.
Every start gets ``-e CUDA_VERSION=12.4``; the baked one also ``CUDASWITCH_BAKED=only``
(exit 125 rather than hand over), so its time is never the Python fallback's.

Usage: uv run python bench/podman_start_bench.py [--rounds N]
Needs podman and the image tests' base tarball (made by their first run), and the
containers.conf these machines need (CUDASWITCH_CONTAINERS_CONF or CONTAINERS_CONF; found in
../shared/reference/ otherwise).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import extract_member, interleaved

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages" / "cudaswitch" / "tests"))
from image_helpers import ROOTFS, Podman  # noqa: E402

import cudaswitch  # noqa: E402

BASE = "localhost/cs-bench-base:bookworm"
IMAGE = "localhost/cs-podman-start"
ENTRY = "/usr/local/bin/cudaswitch-entrypoint"
BASH_ENTRY = "/usr/local/bin/bash-entrypoint"
RUNTIMES = {"11.8": ("nvidia-cuda-runtime-cu11==11.8.89", "libcudart.so.11.0", "11.8.0"),
            "12.4": ("nvidia-cuda-runtime-cu12==12.4.127", "libcudart.so.12", "12.4.1")}
BASH = """#!/bin/bash
set -e
case "${CUDA_VERSION}" in
  11.8) CUDA_HOME=/usr/local/cuda-11.8 ;;
  12.4) CUDA_HOME=/usr/local/cuda-12.4 ;;
  *) echo "unsupported CUDA_VERSION: ${CUDA_VERSION}" >&2; exit 1 ;;
esac
export CUDA_HOME
export PATH="${CUDA_HOME}/bin:${PATH}"
export LD_LIBRARY_PATH="${CUDA_HOME}/lib64:${LD_LIBRARY_PATH}"
exec "$@"
"""
BAKE = ("import sys; sys.path.insert(0, '/opt/cudaswitch/src'); "
        "from cudaswitch.cli.main import main; "
        f"sys.exit(main(['launcher', '{ENTRY}', '--bake']))")
CONTAINERFILE = f"""FROM {BASE}
COPY toolkits/ /usr/local/
COPY src/ /opt/cudaswitch/src/
COPY bash-entrypoint {BASH_ENTRY}
RUN python3 -m compileall -q /opt/cudaswitch/src && python3 -I -c {json.dumps(BAKE)}
ENTRYPOINT ["{ENTRY}"]
"""


def context(ctx: Path) -> None:
    for mm, (req, so, release) in RUNTIMES.items():
        tk = ctx / "toolkits" / f"cuda-{mm}"
        extract_member(req, "/" + so, tk / "lib64" / so)
        (tk / "include").mkdir()
        (tk / "version.json").write_text(json.dumps(
            {"cuda": {"name": "CUDA SDK", "version": release}}))
    src = Path(cudaswitch.__file__).parent
    shutil.copytree(src, ctx / "src" / "cudaswitch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (ctx / "bash-entrypoint").write_text(BASH)
    (ctx / "bash-entrypoint").chmod(0o755)
    (ctx / "Containerfile").write_text(CONTAINERFILE)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    if not shutil.which("podman") or not ROOTFS.is_file():
        print(f"needs podman and {ROOTFS} (run the image tests once)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cs-podman-"))
    pm = Podman(work)
    try:
        pm("import", str(ROOTFS), BASE)
        ctx = work / "ctx"
        context(ctx)
        pm("build", "--pull=never", "--isolation", "chroot",
           "-t", f"{IMAGE}:baked", str(ctx), timeout=900)
        (ctx / "Containerfile.bash").write_text(
            f'FROM {IMAGE}:baked\nENTRYPOINT ["{BASH_ENTRY}"]\n')
        pm("build", "--pull=never", "--isolation", "chroot",
           "-f", str(ctx / "Containerfile.bash"), "-t", f"{IMAGE}:bash", str(ctx))
        flags = ["-e", "CUDA_VERSION=12.4", "-e", "CUDASWITCH_BAKED=only"]
        starts = {
            "bash entrypoint (the article's)": [f"{IMAGE}:bash"],
            "baked sh entrypoint": [f"{IMAGE}:baked"],
            "no entrypoint (true alone)": ["--entrypoint", "/bin/true", f"{IMAGE}:baked"],
            "Python entrypoint (full flow, empty cache)":
                ["--entrypoint", f"{ENTRY}-python", f"{IMAGE}:baked"],
        }
        # each start is what it claims: the same environment, the baked one decided by sh
        want = "/usr/local/cuda-12.4/lib64"
        for name, tail in starts.items():
            if "true alone" in name:
                continue
            out = pm("run", "--rm", "--pull=never", *flags, *tail, "env")
            got = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
            assert got.get("LD_LIBRARY_PATH", "").split(":")[0] == want, (name, got)
            pm("run", "--rm", "--pull=never", *flags, *tail, "true")  # exit 0, not 125
        cmds = {name: ["podman", *pm.store, "run", "--rm", "--pull=never", *flags, *tail, "true"]
                for name, tail in starts.items()}
        res = interleaved(cmds, pm.env, args.rounds)
    finally:
        pm.reset()
        shutil.rmtree(work, ignore_errors=True)
    bash = res["bash entrypoint (the article's)"]["median_ms"]
    for v in res.values():
        v["ratio_to_bash"] = round(v["median_ms"] / bash, 3)
    print(json.dumps({"rounds": args.rounds, "podman": shutil.which("podman"), "results": res},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
