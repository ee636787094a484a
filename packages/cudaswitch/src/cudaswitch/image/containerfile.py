"""The Containerfile, as text, from plain data (no I/O): one stage per slot, the app last.

Stages::

    system              base image (pinned by digest) + system packages; the only step that may
                        use the network (absent when there are no system packages)
    common              + the image's user + cudaswitch (from a wheel) + the entrypoint script
    slot<i>-<name>      the stage before it + ``cudaswitch sync`` of that slot alone (toolkit,
                        then its venv), its wheels bind-mounted from the context, never copied
                        into a layer: slot1 on common, slot2 on slot1, ...; a later slot's
                        venv files identical to an earlier slot's become links (dedup.py).
                        Slots of one CUDA release in a row (a TensorRT slot after its CUDA
                        slot) share one stage and one step: the store they are installed from
                        hard-links the library files their toolkits hold alike, once
    image               the last slot stage + the baked entrypoint + the app: tag NAME:VERSION
    only<i>-<name>      with --singles only: one slot + the app, tag NAME:VERSION-<name> (the
                        first on slot1 itself, the others on common with that slot's folders
                        copied in, links to earlier slots' files copied as the files)

The all-slots image is the chain of slot stages itself, so local storage holds each slot's
layer once (a copy into a separate final stage would store it twice, and so does a later
slot's single image, which is why singles are opt-in); a change to one slot
rebuilds it and the slots after it, never those before. The app's files come after every slot,
and after the baked entrypoint, which reads the slots, the manifest and the variables but not
the app (unless the app may hold a ``cudaswitch.toml`` or a path the variables name: see
``bake_before_app``), so an app change does not redo it.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..compat.verdict import driver_cuda_for, minor_floor, needed_driver
from ..errors import UsageError
from ..registry import VARIABLES
from ..slots import Slot
from ..versions import CudaVersion
from .spec import ImageSpec

HOME = "/opt/cudaswitch"
VENV = f"{HOME}/venv"
ENTRYPOINT = "/usr/local/bin/cudaswitch-entrypoint"
PROBE = f"{HOME}/probe.py"  # the stdlib libcudart probe: python3 -I -S /opt/cudaswitch/probe.py
MANIFEST_IN_IMAGE = "/etc/cudaswitch/cudaswitch.toml"
LABEL_PREFIX = "io.cudaswitch"
SYSTEM_STAGE = "system"
USER_ID = 10001
# Components that make a toolkit a compiler toolkit; runtime images leave them out.
DEVEL_COMPONENTS = frozenset({"nvcc", "ptxas", "nvvm", "crt", "cccl", "cuxxfilt",
                              "nvptxcompiler", "profiler", "sanitizer"})


@dataclass(frozen=True)
class SlotInputs:
    """A slot as the image gets it, and a digest of what its install reads."""

    slot: Slot
    stage: str
    digest: str  # sha256 of the slot's manifest text and its wheels' contents
    dropped: tuple[str, ...] = ()  # devel components a runtime image leaves out
    resolved: tuple[tuple[str, str], ...] = ()  # label key -> version the wheels hold


@dataclass(frozen=True)
class Target:
    """One image the build tags: all slots, or one."""

    stage: str
    slots: tuple[SlotInputs, ...]
    manifest_file: str  # in the context
    default: str


@dataclass(frozen=True)
class Recipe:
    """Everything the Containerfile says, decided beforehand."""

    image: ImageSpec
    source: str  # the manifest's path, for the header
    source_sha256: str
    cudaswitch_wheel: str  # file name in dist/
    cudaswitch_sha256: str
    slots: tuple[SlotInputs, ...]
    targets: tuple[Target, ...]
    devel: bool = False
    app_files: bool = False  # context has app/
    notes: tuple[str, ...] = field(default=())
    base_ref: str = ""  # the base pinned by digest (repo@sha256:...), else the manifest's
    revision: str = ""  # the app's source revision (git commit, or the archive's sha256)


def stage_name(prefix: str, index: int, name: str) -> str:
    return f"{prefix}{index}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def runtime_slot(slot: Slot, devel: bool) -> tuple[Slot, tuple[str, ...]]:
    """The slot an image installs: without compiler components unless ``devel``."""
    if devel:
        return slot, ()
    dropped = tuple(c for c in slot.components if c in DEVEL_COMPONENTS)
    if not dropped:
        return slot, ()
    import dataclasses

    kept = tuple(c for c in slot.components if c not in DEVEL_COMPONENTS) or ("cudart",)
    return dataclasses.replace(slot, components=kept), dropped


def require_cuda(slots: Sequence[Slot]) -> str:
    """``NVIDIA_REQUIRE_CUDA`` for an image holding ``slots``: what the oldest slot needs.

    A slot of CUDA X.Y runs on any driver at or above its major's minor-compatibility floor
    (450.80.02 for 11.x, 525.60.13 for 12.x, 580.65.06 for 13.x), which is a CUDA X.0 driver;
    so the requirement is ``cuda>=X.0`` of the oldest major. Asking for the newest slot's
    version instead would lock out every driver that only the older slots can serve.
    """
    oldest = min(slots, key=lambda s: s.version.parts)
    floor = minor_floor(oldest.version)
    cuda = driver_cuda_for(floor) if floor else None
    mm = f"{cuda.major}.{cuda.minor}" if cuda else f"{oldest.version.major}.0"
    return f"cuda>={mm}"


def _floor(version: CudaVersion) -> str:
    return needed_driver(version) or "unknown"


def slot_labels(slots: Sequence[SlotInputs], default: str) -> list[tuple[str, str]]:
    out = [(f"{LABEL_PREFIX}.slots", ",".join(s.slot.name for s in slots)),
           (f"{LABEL_PREFIX}.default", default)]
    for s in slots:
        key = f"{LABEL_PREFIX}.slot.{re.sub(r'[^a-z0-9.-]+', '-', s.slot.name.lower())}"
        out += [(f"{key}.cuda", s.slot.release), (f"{key}.driver-floor", _floor(s.slot.version)),
                (f"{key}.components", ",".join(s.slot.components))]
        if s.slot.packages:
            out.append((f"{key}.packages", ",".join(s.slot.packages)))
        if s.slot.no_deps:
            out.append((f"{key}.no-deps", ",".join(s.slot.no_deps)))
        if s.slot.leave_out:  # what a model that needs it (an RNN, say) will not find
            out.append((f"{key}.leave-out", ",".join(s.slot.leave_out)))
        out += [(f"{key}.{k}", v) for k, v in s.resolved]
    return out


def quote_word(value: str) -> str:
    """A Containerfile double-quoted word (LABEL, ENV values) that the engine reads back as
    ``value`` exactly: ``\\``, ``"`` and ``$`` are escaped, so nothing is expanded at build
    time; a line break cannot be written at all."""
    if any(ord(c) < 32 and c != "\t" for c in value) or "\x7f" in value:
        raise UsageError(f"{value!r}: control characters cannot go into a Containerfile")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


_q = quote_word


def _run(lines: Sequence[str], mounts: Sequence[str] = ()) -> str:
    head = "RUN " + "".join(f"--mount={m} \\\n    " for m in mounts)
    return head + " \\\n    && ".join(lines)


def _install_cudaswitch(r: Recipe) -> list[str]:
    py = shlex.quote(r.image.python)
    url = f"file:///tmp/cudaswitch-dist/{r.cudaswitch_wheel}#sha256={r.cudaswitch_sha256}"
    return [
        "# cudaswitch itself, from a wheel of this very version (checked by its sha256); the",
        "# ENTRYPOINT script it writes starts Python with -I -S, faster than a console script;",
        f"# {PROBE} loads libcudart as an app would and reports what got mapped. Compiled",
        "# here, once: the image's user cannot write .pyc files there, and no later step should.",
        "# Checked by the source's hash, not its time: --timestamp gives every file of a layer",
        "# the image's time, which would make time-stamped .pyc stale in every later step and",
        "# at every start.",
        _run([f"{py} -m venv {VENV}",
              f"{VENV}/bin/python -m pip install --no-index --no-cache-dir "
              f"{shlex.quote('cudaswitch @ ' + url)}",
              f"ln -s {VENV}/bin/cudaswitch /usr/local/bin/cudaswitch",
              f"ln -s \"$({VENV}/bin/python -c 'import cudaswitch.probe as p; print(p.__file__)')\""
              f" {PROBE}",
              f"{VENV}/bin/cudaswitch launcher {ENTRYPOINT}",
              f"{VENV}/bin/python -m compileall -q -f --invalidation-mode checked-hash "
              f"{VENV}"],
             ["type=bind,source=dist,target=/tmp/cudaswitch-dist"]),
    ]


def _system_packages(image: ImageSpec) -> list[str]:
    if not image.system_packages:
        return []
    pkgs = " ".join(shlex.quote(p) for p in image.system_packages)
    return ["# System packages: the one step built with the network (cudaswitch image build",
            "# builds this stage first with it, every later step without). Neither apt's lists",
            "# nor its downloaded packages stay in the layer.",
            _run(["apt-get update",
                  f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                  f"{pkgs}",
                  "apt-get clean",
                  "rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb"])]


def _user(image: ImageSpec) -> list[str]:
    """The image's own unprivileged user, and the folders it must write (workdir volumes)."""
    if image.user == "root":
        return []
    u = image.user
    uid = USER_ID
    home = f"/home/{u}"
    writable = " ".join(shlex.quote(v) for v in (home, *image.volumes))
    return [f"# The image runs as {u} (uid {uid}), not root; [image] user = \"root\" opts out.",
            _run([f"if command -v useradd >/dev/null; then useradd --uid {uid} --user-group "
                  f"--no-create-home --home-dir {home} --shell /bin/sh {u}; else "
                  f"echo '{u}:x:{uid}:{uid}::{home}:/bin/sh' >> /etc/passwd && "
                  f"echo '{u}:x:{uid}:' >> /etc/group; fi",
                  f"mkdir -p {writable}",
                  f"chown {uid}:{uid} {writable}"])]


def _dedup(s: SlotInputs, earlier: Sequence[SlotInputs]) -> list[str]:
    """The step that links this slot's venv files that an earlier slot's venv holds byte for
    byte (see dedup.py); nothing when no earlier slot has a venv."""
    if not s.slot.packages:
        return []
    others = [f"{HOME}/venvs/{e.slot.name}" for e in earlier if e.slot.packages]
    if not others:
        return []
    return [f"{VENV}/bin/python -I -m cudaswitch.image.dedup link {HOME}/venvs/{s.slot.name} "
            + " ".join(others)]


def _compile(s: SlotInputs) -> list[str]:
    """The slot venv's .pyc, checked by their source's hash. pip writes them checked by time,
    and --timestamp gives every file of the layer the image's time, so they would be stale at
    every start and recompiled in memory, since the image's user cannot write them. A file
    that does not compile (a template, a test for another Python) is left to its importer, as
    pip leaves it: compileall's exit 1, which says some file did not compile, passes; any
    other exit (no interpreter, arguments it refuses, a crash) fails the step. ``-s`` records
    each source path relative to the venv, so a package both slots install compiles to the
    same bytes in each and ``dedup`` stores its .pyc once; the import system puts the real
    path back into the code it loads, so tracebacks still name the file."""
    if not s.slot.packages:
        return []
    venv = f"{HOME}/venvs/{s.slot.name}"
    return [f"{{ {venv}/bin/python -m compileall -q -f --invalidation-mode checked-hash "
            f"-s {venv} {venv} >/dev/null || [ $? -eq 1 ]; }}"]


def _slot_stage(group: Sequence[SlotInputs], parent: str,
                earlier: Sequence[SlotInputs] = ()) -> list[str]:
    """One stage: a slot, or slots of one CUDA release installed by one step (see ``plan``)."""
    lines: list[str] = []
    for s in group:
        slot = s.slot
        what = f"CUDA {slot.release} [{', '.join(slot.components)}]"
        if slot.packages:
            what += f" + a venv with {', '.join(slot.packages)}"
        if slot.no_deps:
            what += f" (without the dependencies they declare: {', '.join(slot.no_deps)})"
        if slot.leave_out:
            what += f", leaving out {', '.join(slot.leave_out)}"
        lines.append(f"# Slot {slot.name}: {what}, from NVIDIA's wheels, installed by the")
        lines.append("# same `cudaswitch sync` users run.")
    lines += ["# Wheels are bind-mounted from the context (never a layer); their content digest",
              "# is part of the step, so a changed wheel rebuilds this layer and the ones after."]
    if len(group) > 1:
        lines.append("# One step for these slots of one CUDA release: the library files their "
                     "toolkits hold alike")
        lines.append("# are hard links to one copy in this layer.")
    steps: list[str] = []
    mounts: list[str] = []
    for j, s in enumerate(group):
        wh = "/tmp/wheelhouse" if len(group) == 1 else f"/tmp/wheelhouse-{j + 1}"
        mounts.append(f"type=bind,source=wheelhouse/{s.slot.name},target={wh}")
        link = _dedup(s, [*earlier, *group[:j]])
        if link:
            lines.append(f"# {s.slot.name}: files identical to an earlier slot's venv become "
                         "links to them, so the layer does not hold them twice.")
        steps += [f"CUDASWITCH_INPUTS=sha256:{s.digest} PYTHONDONTWRITEBYTECODE=1 "
                  f"cudaswitch sync --manifest /tmp/cudaswitch-slots/{s.slot.name}.toml "
                  f"--wheelhouse {wh}", *_compile(s), *link]
    mounts.append("type=bind,source=slots,target=/tmp/cudaswitch-slots")
    dropped = sorted({c for s in group for c in s.dropped})
    if dropped:
        lines.append(f"# Left out of this runtime image: {', '.join(dropped)} "
                     "(cudaswitch image build --devel keeps them).")
    lines += [f"FROM {parent} AS {group[0].stage}",
              _run([*steps, f"rm -rf {HOME}/store {HOME}/cache {HOME}/.install.lock /root/.cache"],
                   mounts)]
    return lines


def _chain_stage(slots: Sequence[SlotInputs], wanted: Sequence[SlotInputs]) -> str | None:
    """The slot stage whose chain holds exactly ``wanted`` (all slots, or the first ones up to
    a stage's end), else None: a stage holds every slot installed in it and before it, so the
    first slot's single image cannot start from a stage it shares with the next slot."""
    for k, s in enumerate(slots):
        last = k + 1 == len(slots) or slots[k + 1].stage != s.stage
        if last and tuple(slots[:k + 1]) == tuple(wanted):
            return s.stage
    return None


def _final_stage(r: Recipe, t: Target) -> list[str]:
    img = r.image
    lines = [f"# Image {t.stage}: slots {', '.join(s.slot.name for s in t.slots)}; "
             f"default {t.default}."]
    chain = _chain_stage(r.slots, t.slots)
    if chain:
        lines.append(f"FROM {chain} AS {t.stage}")
    else:
        lines.append(f"FROM common AS {t.stage}")
        for s in t.slots:
            lines.append(f"COPY --from={s.stage} {HOME}/toolkits/{s.slot.name} "
                         f"{HOME}/toolkits/{s.slot.name}")
            if s.slot.packages and s is not r.slots[0]:
                # its venv links files of earlier slots' venvs: copied with those files
                lines.append(_run([f"{VENV}/bin/python -I -m cudaswitch.image.dedup copy "
                                   f"/tmp/cudaswitch-slot/venvs/{s.slot.name} "
                                   f"{HOME}/venvs/{s.slot.name} /tmp/cudaswitch-slot"],
                                  [f"type=bind,from={s.stage},source={HOME},"
                                   "target=/tmp/cudaswitch-slot"]))
            elif s.slot.packages:
                lines.append(f"COPY --from={s.stage} {HOME}/venvs/{s.slot.name} "
                             f"{HOME}/venvs/{s.slot.name}")
    lines.append(f"COPY {t.manifest_file} {MANIFEST_IN_IMAGE}")
    lines.append(f"WORKDIR {img.workdir}")
    env = list(img.env)
    if img.app.pythonpath:
        env.append(("PYTHONPATH", ":".join(f"{img.workdir.rstrip('/')}/{p.rstrip('/')}"
                                           for p in img.app.pythonpath)))
    if env:
        lines.append("ENV " + " \\\n    ".join(f"{k}={_q(v)}" for k, v in env))
    slots = [s.slot for s in t.slots]
    if t.stage == r.targets[0].stage:
        lines += [
            "# NVIDIA_REQUIRE_CUDA is what the OLDEST slot needs: the NVIDIA Container Toolkit",
            "# then starts this image on every driver that slot can serve (minor-version",
            "# compatibility within its major), and the entrypoint refuses, with a message, a",
            "# newer slot the driver cannot run. Asking for the newest slot's version would lock",
            "# those drivers out even of the slots they can run.",
        ]
    else:
        lines.append("# NVIDIA_REQUIRE_CUDA: what this image's oldest slot needs (see above).")
    lines.append(f"ENV NVIDIA_REQUIRE_CUDA={_q(require_cuda(slots))}")
    home = "/root" if img.user == "root" else f"/home/{img.user}"
    bake = ["# The entrypoint gets this image's decisions baked in (every selector it can",
            "# foresee x every driver range): a fresh container's start runs no interpreter.",
            _run([f"HOME={home} {VENV}/bin/cudaswitch launcher --bake {ENTRYPOINT}"])]
    early = bake_before_app(img)
    if early:
        lines += bake
    if r.app_files:
        lines += ["# The app comes last: a change to it rebuilds this layer only.",
                  f"COPY app/ {img.workdir.rstrip('/')}/"]
    labels = [("org.opencontainers.image.title", img.name),
              ("org.opencontainers.image.version", img.version),
              ("org.opencontainers.image.base.name", img.base),
              (f"{LABEL_PREFIX}.manifest.sha256", r.source_sha256),
              (f"{LABEL_PREFIX}.nvidia-require-cuda", require_cuda(slots)),
              (f"{LABEL_PREFIX}.devel", "true" if r.devel else "false"),
              *((("org.opencontainers.image.revision", r.revision),) if r.revision else ()),
              *(((f"{LABEL_PREFIX}.base.digest", r.base_ref.split("@", 1)[1]),)
                if "@" in r.base_ref else ()),
              *slot_labels(t.slots, t.default), *img.labels]
    lines.append("LABEL " + " \\\n      ".join(f"{k}={_q(v)}" for k, v in labels))
    if img.volumes:
        lines.append(f"VOLUME {json.dumps(list(img.volumes))}")
    if img.ports:
        lines.append("EXPOSE " + " ".join(str(p) for p in img.ports))
    if not early:
        lines += ["# After the app, which may hold what the flow reads (see bake_before_app).",
                  *bake]
    if img.user != "root":
        lines.append(f"USER {USER_ID}:{USER_ID}")
    lines.append(f"ENTRYPOINT {json.dumps([ENTRYPOINT])}")
    if img.command:
        lines.append(f"CMD {json.dumps(list(img.command))}")
    return lines


def bake_before_app(img: ImageSpec) -> bool:
    """Whether the entrypoint can be baked before the app's layer, so that an app change does
    not redo it: the bake reads the slots, the manifests and the variables, and the app is
    none of them unless it may bring a manifest into the working folder (a fetched archive, a
    copied ``cudaswitch.toml``) or a variable the flow reads names a path in it (toolkits
    shipped with the app). A bake before such an app would still be right (the script sees
    the change and hands over), only slow."""
    app = img.app
    if app.fetch or any(c.rstrip("/") == "cudaswitch.toml" for c in app.copy):
        return False
    read = {n for n, group, _ in VARIABLES if group != "run"}
    work = img.workdir.rstrip("/") + "/"
    return not any(k in read and (work in v + "/") for k, v in img.env)


def render(r: Recipe) -> str:
    img = r.image
    base = r.base_ref or img.base
    out = [
        f"# Generated by `cudaswitch image generate` from {json.dumps(r.source)} "
        f"(sha256 {r.source_sha256[:16]}); edit the manifest, not this file.",
        "# Layers: base system, common (Python, cudaswitch), one per slot, the app last.",
        "# Build: cudaswitch image build (it assembles the context this file expects: dist/,",
        "# wheelhouse/<slot>/, slots/, manifests/, app/).",
        "",
    ]
    if img.system_packages:
        out += [f"FROM {base} AS {SYSTEM_STAGE}", *_system_packages(img), "",
                f"FROM {SYSTEM_STAGE} AS common"]
    else:
        out.append(f"FROM {base} AS common")
    out.append("ENV CUDASWITCH_HOME=" + HOME + " \\\n    PIP_NO_CACHE_DIR=1 \\\n"
               "    PIP_DISABLE_PIP_VERSION_CHECK=1")
    if img.nvidia_base:
        out += ["# This base image sets CUDA_VERSION to its own toolkit: with no -e CUDA_VERSION",
                "# the entrypoint picks that toolkit; -e CUDA_VERSION=... or CUDASWITCH_CUDA picks",
                "# a slot."]
    out += _user(img)
    out += _install_cudaswitch(r)
    parent = "common"
    done = 0
    for stage, members in itertools.groupby(r.slots, key=lambda s: s.stage):
        group = list(members)
        out.append("")
        out += _slot_stage(group, parent, r.slots[:done])
        parent = stage
        done += len(group)
    for t in r.targets:
        out.append("")
        out += _final_stage(r, t)
    return "\n".join(out) + "\n"
