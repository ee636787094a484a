"""Image figures: size per layer, local storage after the build, and a full build against a
rebuild after an app change; with ``--singles``, the two-slot image against the two
single-CUDA images built beside it.

    uv run python bench/image_build.py [--components cudart,nvrtc] [--src DIR] [--singles]
    uv run python bench/image_build.py --recipe facefuse [--singles] [--keep DIR]

Without ``--singles`` it builds what ``image build`` builds by default: the two-slot image
alone. ``--singles`` adds the single-slot images (``NAME:VERSION-<slot>``, ``NAME:cuda<major>``).

``--recipe facefuse`` builds that recipe as ``image init`` writes it (pins resolved against the
configured index now), on the debootstrap base instead of python:3.11-slim (no registry is
reachable from the build machine), with this checkout's packages/facefuse/src as the app, and
the wheels from the index: they are fetched into cudaswitch's wheel cache before the clock
starts, so the full build times the engine, not the download. ``--keep DIR`` keeps the podman
store (and the project) in DIR for ``podman --root DIR/store image tree`` and ``du``.

``--src DIR`` runs the cudaswitch found in DIR (a ``packages/cudaswitch/src`` of another
revision, e.g. unpacked by ``git archive REV packages/cudaswitch/src | tar -x -C /tmp/old``)
instead of this checkout's, to compare before and after with the same machine and wheels.

Needs podman, and the debootstrap base tarball and the slot wheelhouse the tests leave in
~/.cache/cudaswitch-tests (run `uv run pytest packages/cudaswitch/tests/test_image_build.py`
once). Each run uses a fresh podman store, so the full build starts cold (the base image is
imported first and not timed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE", Path.home() / ".cache/cudaswitch-tests"))
ROOTFS = CACHE / "rootfs" / "bookworm-minbase-python3-v1.tar"
WHEELHOUSE = CACHE / "slot-wheelhouse"
CONF = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "containers.conf"
BASE = "localhost/bench-base:bookworm"


def manifest(components: list[str]) -> str:
    comps = json.dumps(components)
    return f'''default = "cuda12.4"
[image]
name = "localhost/bench"
version = "1"
base = "{BASE}"
command = ["python3", "app/hello.py"]
[image.app]
copy = ["app"]
[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = {comps}
[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = {comps}
'''


def recipe_project(name: str, dest: Path, env: dict) -> Path:
    """``dest`` as a repository root holding the recipe's manifest (pins resolved now, base
    swapped for the local one) and a copy of facefuse's source; returns the manifest."""
    code = ("import sys; from cudaswitch.image.recipes import resolve_recipe; "
            f"sys.stdout.write(resolve_recipe({name!r})[0])")
    text = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, env=env).stdout
    text = text.replace('base = "docker.io/library/python:3.11-slim-bookworm"',
                        f'base = "{BASE}"')
    app = Path(__file__).resolve().parents[1] / "packages" / "facefuse" / "src"
    shutil.copytree(app, dest / "packages" / "facefuse" / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (dest / "cudaswitch.toml").write_text(text)
    return dest / "cudaswitch.toml"


PREFETCH = """
import os, sys, tempfile
from cudaswitch.image import build as b, engine as eng
from cudaswitch.image.context import fill_wheelhouse
from cudaswitch.image.spec import load_image_manifest
im = load_image_manifest(sys.argv[1])
opts = eng.EngineOptions("podman", sys.argv[2], sys.argv[3], "overlay", "chroot", "none")
res = b.resolve(im, b.BuildRequest(sys.argv[4], opts), os.environ, print)
with tempfile.TemporaryDirectory() as tmp:
    fill_wheelhouse(im, tmp, None, res.wheels, os.path.join(b._cache(os.environ),
                    "image-wheels"))
print({n: len(ws) for n, ws in res.wheels.items()})
"""


def du(path: Path) -> int:
    """Bytes on disk under ``path``, each hard-linked file once (``du -s``)."""
    out = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 else -1


def run_json(argv: list[str], env: dict) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"exit {proc.returncode}: {' '.join(argv)}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--components", default="cudart,nvrtc")
    ap.add_argument("--src", metavar="DIR", help="the cudaswitch source tree to run")
    ap.add_argument("--singles", action="store_true",
                    help="also build the single-CUDA images (image build --singles)")
    ap.add_argument("--recipe", choices=["facefuse"],
                    help="build this recipe (wheels from the index) instead of the small image")
    ap.add_argument("--keep", metavar="DIR", help="keep the store and project in DIR")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    # a snapshot of the source: an edit while the bench runs must not change the cudaswitch
    # wheel between the full build and the rebuild
    snap = tempfile.mkdtemp(prefix="image-bench-src-")
    shutil.copytree(Path(args.src or Path(__file__).resolve().parents[1] / "packages" /
                         "cudaswitch" / "src") / "cudaswitch", Path(snap) / "cudaswitch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env["PYTHONPATH"] = snap
    if CONF.is_file():
        env["CONTAINERS_CONF"] = str(CONF)
    with (contextlib.nullcontext(tempfile.mkdtemp(prefix="image-bench-", dir=args.keep))
          if args.keep else tempfile.TemporaryDirectory(prefix="image-bench-")) as tmp:
        t = Path(tmp)
        store = ["--root", str(t / "store"), "--runroot", str(t / "run"),
                 "--storage-driver", "overlay"]
        subprocess.run(["podman", *store, "import", str(ROOTFS), BASE], check=True,
                       capture_output=True, env=env)
        (t / "p").mkdir(parents=True)
        if args.recipe:
            mf = recipe_project(args.recipe, t / "p", env)
            changed = t / "p" / "packages" / "facefuse" / "src" / "facefuse" / "__init__.py"
            source = ["--pull", "never"]
            pre = subprocess.run([sys.executable, "-c", PREFETCH, str(mf), str(t / "store"),
                                  str(t / "run"), str(t / "ctx")], check=True,
                                 capture_output=True, text=True, env=env)
            print(f"wheels fetched before the clock: {pre.stdout.strip().splitlines()[-1]}",
                  flush=True)
        else:
            mf = t / "p" / "cudaswitch.toml"
            mf.write_text(manifest(args.components.split(",")))
            (t / "p" / "app").mkdir()
            changed = t / "p" / "app" / "hello.py"
            changed.write_text("print('v1')\n")
            source = ["--wheelhouse", str(WHEELHOUSE)]
        argv = [sys.executable, "-m", "cudaswitch.cli.main", "image", "build", "--manifest",
                str(mf), *source, "--context", str(t / "ctx"), *store, "--isolation",
                "chroot", "--json", *(["--singles"] if args.singles else [])]
        t0 = time.monotonic()
        full = run_json(argv, env)
        full_s = time.monotonic() - t0
        print(f"full build: {full_s:.1f} s, steps {full['seconds']}", flush=True)
        stored = du(t / "store")
        changed.write_text(changed.read_text() + "# an app-only change\n")
        t0 = time.monotonic()
        again = run_json(argv, env)
        re_s = time.monotonic() - t0
        print(f"app-only rebuild: {re_s:.1f} s, steps {again['seconds']}", flush=True)
        if args.keep:
            (Path(args.keep) / "last").unlink(missing_ok=True)
            (Path(args.keep) / "last").symlink_to(t)
            print(f"kept: {t}", flush=True)
        else:
            subprocess.run(["podman", *store, "system", "reset", "--force"],
                           capture_output=True, env=env)
    shutil.rmtree(snap, ignore_errors=True)
    imgs = {i["ref"]: i for i in full["images"]}
    multi = full["images"][0]
    what = f"recipe {args.recipe}" if args.recipe else f"slots of [{args.components}]"
    print(f"## {what}; engine {full['engine']}\n")
    print("| layer of " + multi["ref"] + " | MB |\n|---|---|")
    for la in multi["layers"]:
        print(f"| `{la['created_by'][:70]}` | {mb(la['size'])} |")
    singles = [i for r, i in imgs.items() if r != multi["ref"]]
    print("\n| image | MB |\n|---|---|")
    for i in full["images"]:
        print(f"| {i['ref']} | {mb(i['layer_bytes'])} |")
    if singles:
        print(f"| the single-CUDA images, summed | "
              f"{mb(sum(i['layer_bytes'] for i in singles))} |")
        print(f"| all {len(full['images'])} stored once (shared layers counted once) | "
              f"{mb(full['stored_once'])} |")
    second = sum(la["size"] for la in multi["layers"]
                 if "slots/cuda12.4.toml" in la["created_by"])
    print(f"| what the second CUDA adds to the two-slot image | {mb(second)} |")
    same = [a == b for a, b in zip([la["digest"] for la in multi["layers"]],
                                   [la["digest"] for la in again["images"][0]["layers"]],
                                   strict=True)]
    print(f"| local storage after the full build (du of the store, base included) | "
          f"{mb(stored)} ({stored / multi['layer_bytes']:.2f}x the two-slot image) |")
    built = f"{len(full['images'])} image{'s' if len(full['images']) > 1 else ''}"
    print(f"\nfull build ({built}, cold store): {full_s:.1f} s; rebuild after an app change: "
          f"{re_s:.1f} s ({100 * re_s / full_s:.0f} % of full); layers reused by the two-slot "
          f"image: {sum(same)} of {len(same)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
