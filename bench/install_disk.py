"""Disk use of slots: a runtime slot per CUDA major next to the full toolkit, and two slots of
one major sharing the store.

Part 1 (sizes read, not installed): for each release, pip resolves the slot's wheels
(cudart + cuBLAS + cuDNN, pinned by the release) and the whole release (``cuda-toolkit[all]``);
the uncompressed size of every file comes from each wheel's zip directory, read with HTTP range
requests (a few KB per wheel instead of GBs). Slot size = the files a slot keeps (no Python
glue); full = every file of every wheel of the release.

Part 2 (installed and measured): two real slots of CUDA 12.4 from the same wheels, the second
with one component more, measured with ``stat`` (inodes counted once) against the sum of their
apparent sizes. Part 2b repeats the arithmetic of part 1 for cuDNN/TensorRT-sized components.

Usage: uv run python bench/install_disk.py [--releases 11.8.0,12.4.1,13.0.2]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from cudaswitch.install.pip import IndexOptions, dry_run_report
from cudaswitch.install.resolve import (
    Wheel,
    _wheels_from_report,
    index_for,
    release_pins,
    requirements,
)
from cudaswitch.install.sizes import on_disk, slot_sizes
from cudaswitch.install.store import slot_path
from cudaswitch.slots import make_slot

CLI = [sys.executable, "-m", "cudaswitch.cli.main"]


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file through HTTP range requests."""

    def __init__(self, url: str):
        self.url = url
        self.pos = 0
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
            self.size = int(r.headers["Content-Length"])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, b) -> int:
        if self.pos >= self.size or not len(b):
            return 0
        end = min(self.pos + len(b), self.size) - 1
        req = urllib.request.Request(self.url, headers={"Range": f"bytes={self.pos}-{end}"})
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
            data = r.read()
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)


def wheel_sizes(w: Wheel) -> tuple[int, int, int]:
    """(compressed, all files, files a slot keeps) of one wheel."""
    p = urllib.parse.urlparse(w.url)
    if p.scheme == "file":
        f: io.IOBase = open(urllib.request.url2pathname(p.path), "rb")  # noqa: SIM115
    else:
        f = io.BufferedReader(RangeFile(w.url), buffer_size=1 << 16)
    with f, zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        size = f.seek(0, 2)
        return size, sum(i.file_size for i in infos), \
            sum(i.file_size for i in infos if slot_path(i.filename))


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def part1(releases: list[str], cache: str) -> None:
    print("| CUDA | slot cudart+cuBLAS+cuDNN (wheels) | slot on disk | full release "
          "(cuda-toolkit[all]) on disk | slot / full |")
    print("|---|---|---|---|---|")
    index = IndexOptions()
    for rel in releases:
        slot, _ = make_slot({"name": "s", "cuda": rel,
                             "components": ["cudart", "cublas", "cudnn"]}, "bench", {})
        pins = release_pins(rel, index, cache)
        wheels = _wheels_from_report(dry_run_report(
            requirements(slot, pins), pins.pins, index_for(slot, index)))
        full = _wheels_from_report(dry_run_report([f"cuda-toolkit[all]=={rel}"], pins.pins,
                                                  index))
        sizes = {w.filename: wheel_sizes(w) for w in {*wheels, *full}}
        slot_disk = sum(sizes[w.filename][2] for w in wheels)
        full_disk = sum(sizes[w.filename][1] for w in full)
        cudnn = next((w.version for w in wheels if "cudnn" in w.name), "?")
        print(f"| {rel} | {len(wheels)} wheels, cuDNN {cudnn}, "
              f"{gb(sum(sizes[w.filename][0] for w in wheels))} compressed | {gb(slot_disk)} | "
              f"{gb(full_disk)} ({len(full)} wheels) | {slot_disk / full_disk:.0%} |")


def part2(cuda: str, small: str, extra: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="cs-bench-disk-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDASWITCH_")}
    env.update(CUDASWITCH_HOME=str(work / "home"), CUDASWITCH_CONFIG=os.devnull)
    for name, comps in (("base", small), ("plus", f"{small},{extra}")):
        subprocess.run([*CLI, "install", cuda, "--with", comps, "--name", name], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sizes = {v["name"]: v for v in slot_sizes(env).values()}
    total = on_disk(env)
    apparent = sum(v["apparent"] for v in sizes.values())
    du = subprocess.run(["du", "-sb", "--", str(work / "home" / "toolkits")],
                        capture_output=True, text=True).stdout.split()[0]
    print(f"CUDA {cuda}: slot base = [{small}], slot plus = base + [{extra}]")
    print("| slot | apparent | unique |")
    print("|---|---|---|")
    for n, v in sizes.items():
        print(f"| {n} | {v['apparent'] / 1e6:.1f} MB | {v['unique'] / 1e6:.1f} MB |")
    print(f"sum of apparent sizes {apparent / 1e6:.1f} MB; on disk {total / 1e6:.1f} MB "
          f"(du -sb of both: {int(du) / 1e6:.1f} MB); saved {1 - total / apparent:.0%}")
    shutil.rmtree(work, ignore_errors=True)


def part2b(rel: str, cache: str) -> None:
    """Two slots, cudart+cuBLAS and the same + cuDNN: store arithmetic from zip directories."""
    index = IndexOptions()
    pins = release_pins(rel, index, cache)
    got = {}
    for name, comps in (("runtime", ["cudart", "cublas"]),
                        ("runtime+cudnn", ["cudart", "cublas", "cudnn"])):
        slot, _ = make_slot({"name": "s", "cuda": rel, "components": comps}, "bench", {})
        got[name] = _wheels_from_report(dry_run_report(requirements(slot, pins), pins.pins,
                                                       index))
    sizes = {w.filename: wheel_sizes(w)[2] for ws in got.values() for w in ws}
    apparent = {n: sum(sizes[w.filename] for w in ws) for n, ws in got.items()}
    union = sum(sizes[f] for f in {w.filename for ws in got.values() for w in ws})
    print(f"CUDA {rel}: " + ", ".join(f"{n} {gb(a)}" for n, a in apparent.items())
          + f"; sum of apparent {gb(sum(apparent.values()))}, on disk with the store "
          f"{gb(union)} (saved {1 - union / sum(apparent.values()):.0%})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--releases", default="11.8.0,12.4.1,13.0.2")
    ap.add_argument("--part", choices=["1", "2", "2b", "all"], default="all")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="cs-bench-cache-")
    if args.part in ("1", "all"):
        part1(args.releases.split(","), cache)
    if args.part in ("2", "all"):
        part2("12.4", "cudart,nvrtc,curand", "nvjitlink")
    if args.part in ("2b", "all"):
        part2b("12.4.1", cache)
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
