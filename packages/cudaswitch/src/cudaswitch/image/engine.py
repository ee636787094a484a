"""Build engines (podman, buildah, docker): detection, exact argv lists, layers and sizes.

Every command is an argv list run without a shell; ``--dry-run`` shows them shell-quoted for
reading only. No network during a build: docker gets ``--network none``; podman and buildah
with chroot isolation cannot take that flag (their RUN steps share the builder's network), so
the builder itself runs in a fresh network namespace (``unshare --net``), which holds only a
loopback device that is down.
"""

from __future__ import annotations

import collections
import json
import os
import re
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


PULL_POLICIES = ("missing", "always", "newer", "never")


def build_argv(opts: EngineOptions, containerfile: str, context: str, target: str | None,
               tags: Sequence[str], created: str | None = None,
               network: str | None = None) -> list[str]:
    """The build command; ``network`` overrides the options' for one stage (the system
    packages' stage gets the network, the rest none). The base is already local (see
    :func:`ensure_base`), so the engine never pulls during a build."""
    network = network or opts.network
    tag_args = [a for t in tags for a in ("--tag", t)]
    if target:
        tag_args = ["--target", target, *tag_args]
    if opts.engine == "docker":
        return ["docker", "build", "--file", containerfile, *tag_args,
                "--network", "default" if network == "host" else network, *opts.extra, context]
    sub = ["build"] if opts.engine == "podman" else ["build", "--layers"]
    argv = [*opts.base(), *sub, "--file", containerfile, *tag_args, "--pull=never"]
    if created is not None:
        argv += ["--timestamp", created]
    if opts.isolation:
        argv += ["--isolation", opts.isolation]
    wrap: list[str] = []
    if network == "none":
        if opts.isolation == "chroot":
            wrap = ["unshare", "--net", "--"]
        else:
            argv += ["--network", "none"]
    elif network != "host" or opts.isolation != "chroot":
        argv += ["--network", network]  # chroot isolation runs steps in the builder's own
    return [*wrap, *argv, *opts.extra, context]


def _engine_name(argv: Sequence[str]) -> str:
    return next((a for a in argv if a in ENGINES), argv[0])


def failure_lines(out: str | None, err: str | None) -> list[str]:
    """What a failed engine call shows: the end of its log, then the end of its errors.

    A failed build step writes its command's own complaint (a cudaswitch message, a pip
    error, a traceback) to stderr, followed by the engine's "Error: building at STEP"; the
    step log on stdout comes before both. Errors last, and more of them, so that the cause
    is never cut off by the log.
    """
    def tail(text: str | None, n: int) -> list[str]:
        return [ln for ln in (text or "").splitlines() if ln.strip()][-n:]

    return tail(out, 8) + tail(err, 30)


def run(argv: Sequence[str], env: Mapping[str, str] | None = None,
        capture: bool = True, echo=None) -> subprocess.CompletedProcess:
    """Run an engine command. Its output is kept (the last lines go into the error) and, with
    ``echo``, passed on line by line as it comes, so long steps show progress."""
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                                if echo else subprocess.PIPE, text=True, errors="replace",
                                env=dict(os.environ if env is None else env))
    except FileNotFoundError as e:
        raise UsageError(f"{argv[0]}: not installed") from e
    if echo:
        tail: collections.deque[str] = collections.deque(maxlen=40)
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            echo(line.rstrip("\n"))
        proc.wait()
        out, err = "\n".join(tail), ""
    else:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise EngineError(f"{_engine_name(argv)} failed (exit {proc.returncode}): "
                          + "\n  ".join(failure_lines(out, err) or [
                              f"it printed nothing; run it by hand to see why: "
                              f"{' '.join(argv)}"]))
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def image_digest(opts: EngineOptions, ref: str) -> str | None:
    """The local image's manifest digest (``sha256:...``), or None when it is not local."""
    eng = opts.inspector()
    try:
        proc = subprocess.run([*eng.base(), "image", "inspect", ref], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)[0]
    except (ValueError, IndexError, TypeError):
        return None
    digest = data.get("Digest") or ""
    if not digest:
        for rd in data.get("RepoDigests") or []:
            if "@sha256:" in rd:
                digest = rd.split("@", 1)[1]
                break
    return digest if re.fullmatch(r"sha256:[0-9a-f]{64}", digest or "") else None


def _repo(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return ref.rsplit(":", 1)[0] if ":" in last else ref


def ensure_base(opts: EngineOptions, base: str, policy: str, locked: str | None = None,
                echo=None) -> tuple[str, str]:
    """Make the base local as ``--pull`` says (podman's policies) and pin it: returns
    (``repo@sha256:...``, digest). A digest from the lock wins over the tag."""
    if policy not in PULL_POLICIES:
        raise UsageError(f"--pull {policy!r}: choose one of {', '.join(PULL_POLICIES)}")
    ref = f"{_repo(base)}@{locked}" if locked else base
    digest = image_digest(opts, ref)
    if policy == "always" or (policy == "newer" and not locked) or digest is None:
        if policy == "never" and digest is None:
            raise UsageError(f"base {ref} is not in local storage and --pull=never; pull it "
                             f"({opts.engine} pull {ref}) or build with --pull=missing")
        puller = opts.inspector() if opts.engine == "buildah" else opts
        run([*puller.base(), "pull", ref], echo=echo)
        digest = image_digest(opts, ref)
        if digest is None:
            raise UsageError(f"base {ref}: pulled, but {opts.engine} reports no digest for it")
    return f"{_repo(base)}@{digest}", digest


def probe_platform(opts: EngineOptions, ref: str, python: str):
    """Ask the base's own Python what it is (version, glibc, machine), with no network."""
    from .resolve import PROBE, parse_probe

    eng = opts.inspector()
    if eng.engine == "buildah":
        raise UsageError("reading the base's Python needs podman or docker beside buildah")
    proc = run([*eng.base(), "run", "--rm", "--pull=never", "--network", "none",
                "--entrypoint", python, ref, "-I", "-c", PROBE]
               if eng.engine == "podman" else
               [*eng.base(), "run", "--rm", "--network", "none", "--entrypoint", python, ref,
                "-I", "-c", PROBE])
    return parse_probe(proc.stdout, f"asked {python} in {ref}")


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


def _du(path: str) -> int:
    """Bytes a folder really takes on disk, each hard-linked file once (like ``du -s``)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def storage_report(opts: EngineOptions) -> dict:
    """What local storage holds after the build: the store folder on disk when it is known
    (``--root``), else the engine's own accounting (``system df``)."""
    if opts.root and os.path.isdir(opts.root):
        return {"how": f"disk use of {opts.root}", "bytes": _du(opts.root)}
    eng = opts.inspector()
    try:
        proc = subprocess.run([*eng.base(), "system", "df", "--format", "json"],
                              capture_output=True, text=True, timeout=120)
        rows = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        rows = []
    if isinstance(rows, dict):
        rows = [rows]
    images = next((r for r in rows if str(r.get("Type", "")).lower() == "images"), None)
    if not images:
        return {"how": "unknown (the engine's system df gave nothing)", "bytes": None}
    return {"how": f"{eng.engine} system df (images)", "bytes": _parse_size(str(
        images.get("Size") or images.get("size") or 0))}


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
