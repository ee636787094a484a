"""Build engines (podman, buildah, docker): detection, exact argv lists, layers and sizes.

Every command is an argv list run without a shell; ``--dry-run`` shows them shell-quoted for
reading only. No network during a build: docker gets ``--network none``; podman and buildah
with chroot isolation cannot take that flag (their RUN steps share the builder's network), so
the builder itself runs in a fresh network namespace (``unshare --net``), which holds only a
loopback device that is down.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import CudaswitchError, UsageError

ENGINES = ("podman", "buildah", "docker")


class EngineError(CudaswitchError):
    """The container engine failed; the message carries its last lines."""


@dataclass(frozen=True)
class EngineOptions:
    engine: str
    root: str | None = None  # podman/buildah storage (--root)
    runroot: str | None = None
    storage_driver: str | None = None
    isolation: str | None = None  # podman/buildah: oci, chroot, rootless
    network: str = "none"  # none: no network for RUN steps; host: the builder's
    extra: tuple[str, ...] = field(default=())

    @property
    def exe(self) -> str:
        return self.engine

    def global_args(self) -> list[str]:
        if self.engine == "docker":
            return []
        out = []
        if self.root:
            out += ["--root", self.root]
        if self.runroot:
            out += ["--runroot", self.runroot]
        if self.storage_driver:
            out += ["--storage-driver", self.storage_driver]
        return out

    def base(self) -> list[str]:
        return [self.exe, *self.global_args()]

    def inspector(self) -> EngineOptions:
        """buildah has no ``history``: its storage is podman's, so podman reads it."""
        if self.engine == "buildah" and shutil.which("podman"):
            return EngineOptions("podman", self.root, self.runroot, self.storage_driver)
        return self


def detect(engine: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if engine:
        if engine not in ENGINES:
            raise UsageError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")
        if not shutil.which(engine, path=env.get("PATH")):
            raise UsageError(f"--engine {engine}: not installed (apt-get install {engine})")
        return engine
    for name in ENGINES:
        if shutil.which(name, path=env.get("PATH")):
            return name
    raise UsageError("no container engine found: install podman, buildah or docker "
                     "(Debian: apt-get install podman buildah)")


def source_date_epoch() -> str:
    """Every layer's file times and the image's own: ``SOURCE_DATE_EPOCH``, else 0.

    Fixed times make a slot's layer byte-identical whichever image it is built into, so the
    single-slot tags share it with the all-slots image instead of storing it again.
    """
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    return value if value.isdigit() and len(value) <= 12 else "0"


def build_argv(opts: EngineOptions, containerfile: str, context: str, target: str | None,
               tags: Sequence[str]) -> list[str]:
    tag_args = [a for t in tags for a in ("--tag", t)]
    if target:
        tag_args = ["--target", target, *tag_args]
    if opts.engine == "docker":
        return ["docker", "build", "--file", containerfile, *tag_args,
                "--network", opts.network, *opts.extra, context]
    sub = ["build"] if opts.engine == "podman" else ["build", "--layers"]
    argv = [*opts.base(), *sub, "--file", containerfile, *tag_args,
            "--pull=never", "--timestamp", source_date_epoch()]
    if opts.isolation:
        argv += ["--isolation", opts.isolation]
    wrap: list[str] = []
    if opts.network == "none":
        if opts.isolation == "chroot":
            wrap = ["unshare", "--net", "--"]
        else:
            argv += ["--network", "none"]
    elif opts.network != "host":
        argv += ["--network", opts.network]
    return [*wrap, *argv, *opts.extra, context]


def run(argv: Sequence[str], env: Mapping[str, str] | None = None,
        capture: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(argv), capture_output=capture, text=True,
                              env=dict(os.environ if env is None else env))
    except FileNotFoundError as e:
        raise UsageError(f"{argv[0]}: not installed") from e
    if proc.returncode != 0:
        tail = ((proc.stderr or "") + (proc.stdout or "")).strip().splitlines()[-15:]
        raise EngineError(f"{argv[0]} failed (exit {proc.returncode}): "
                          + "\n  ".join(tail or ["no output"]))
    return proc


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    created_by: str


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    size: int
    layers: tuple[Layer, ...]
    labels: dict

    def as_dict(self) -> dict:
        return {"ref": self.ref, "id": self.id, "size": self.size, "labels": self.labels,
                "layers": [{"digest": la.digest, "size": la.size, "created_by": la.created_by}
                           for la in self.layers]}


def inspect(opts: EngineOptions, ref: str) -> ImageInfo:
    """Layer digests (diff IDs), their sizes and the steps that made them."""
    eng = opts.inspector()
    data = json.loads(run([*eng.base(), "image", "inspect", ref]).stdout)[0]
    hist_argv = [*eng.base(), "history", "--no-trunc", "--format"]
    if eng.engine == "podman":
        hist = json.loads(run([*hist_argv, "json", ref]).stdout or "[]")
    else:
        out = run([*hist_argv, "{{json .}}", ref]).stdout
        hist = [json.loads(line) for line in out.splitlines() if line.strip()]
    diff_ids = list((data.get("RootFS") or {}).get("Layers") or [])
    oci_hist = data.get("History") or []
    # history is newest first; the OCI history is oldest first and marks empty layers
    sizes = [_size(h) for h in reversed(hist)]
    steps = [str(h.get("CreatedBy") or h.get("created_by") or "") for h in reversed(hist)]
    layers = []
    if len(oci_hist) == len(sizes):
        non_empty = [(s, c) for h, s, c in zip(oci_hist, sizes, steps, strict=True)
                     if not h.get("empty_layer")]
    else:
        non_empty = [(s, c) for s, c in zip(sizes, steps, strict=True) if s > 0]
    if len(non_empty) != len(diff_ids):
        non_empty = [(0, "")] * (len(diff_ids) - len(non_empty)) + non_empty[-len(diff_ids):]
    for d, (s, c) in zip(diff_ids, non_empty, strict=False):
        layers.append(Layer(d, s, " ".join(c.split())))
    labels = (data.get("Config") or {}).get("Labels") or data.get("Labels") or {}
    return ImageInfo(ref, str(data.get("Id") or data.get("ID") or ""),
                     int(data.get("Size") or sum(la.size for la in layers)), tuple(layers),
                     dict(labels))


def _size(h: Mapping) -> int:
    v = h.get("size", h.get("Size", 0))
    if isinstance(v, int):
        return v
    return _parse_size(str(v))


def _parse_size(text: str) -> int:
    units = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
    t = text.strip()
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u):
            try:
                return int(float(t[: -len(u)]) * units[u])
            except ValueError:
                return 0
    try:
        return int(t)
    except ValueError:
        return 0


def size_report(images: Sequence[ImageInfo]) -> dict:
    """Per layer and per image, and what the images share (each layer stored once)."""
    seen: dict[str, int] = {}
    for img in images:
        for la in img.layers:
            seen[la.digest] = la.size
    counts: dict[str, int] = {}
    for img in images:
        for d in {la.digest for la in img.layers}:
            counts[d] = counts.get(d, 0) + 1
    return {
        "images": [{**img.as_dict(),
                    "layer_bytes": sum(la.size for la in img.layers),
                    "shared_bytes": sum(la.size for la in img.layers if counts[la.digest] > 1)}
                   for img in images],
        "sum_of_images": sum(sum(la.size for la in img.layers) for img in images),
        "stored_once": sum(seen.values()),
    }
