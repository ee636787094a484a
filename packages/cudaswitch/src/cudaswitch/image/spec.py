"""What an image is made of: the manifest's slots plus its ``[image]`` table, validated.

The ``[image]`` table sits beside the slots in ``cudaswitch.toml``::

    default = "cuda12.4"

    [image]
    name = "facefusion"                 # tags are NAME:VERSION, NAME:VERSION-cuda11.8, NAME:cuda12
    version = "3.1.1"
    base = "docker.io/library/debian:bookworm-slim"   # or nvidia/cuda:12.4.1-base-ubuntu22.04
    system_packages = ["python3", "python3-venv", "ca-certificates"]  # apt-get, needs network
    workdir = "/app"
    command = ["python", "facefusion.py", "headless-run"]
    volumes = ["/app/.assets"]
    ports = [7860]
    env = { GRADIO_SERVER_NAME = "0.0.0.0" }

    [image.app]
    copy = ["app"]                      # folders beside the manifest, copied into workdir
    fetch = "https://github.com/OWNER/REPO/archive/refs/tags/V.tar.gz"  # unpacked into workdir
    sha256 = "..."                      # of the fetched archive (optional, checked when given)
    pythonpath = ["src"]                # relative to workdir

Everything that reaches a path, a tag or a Containerfile line is checked here first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import UsageError
from ..slots import ENV_KEY_RE, Manifest, Slot, parse_manifest, read_manifest_text
from ..tomltext import parse_toml

IMAGE_KEYS = frozenset({"name", "version", "base", "python", "system_packages", "workdir",
                        "command", "volumes", "ports", "env", "app", "labels", "user"})
APP_KEYS = frozenset({"copy", "fetch", "sha256", "pythonpath", "strip"})
# An image reference: [registry[:port]/]path[:tag][@sha256:hex] (the distribution grammar, less
# the rarely used parts); no spaces, quotes or shell characters can pass.
BASE_RE = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*"
                     r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
REPO_RE = re.compile(r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DEB_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,100}(?:=[A-Za-z0-9.+:~-]{1,100})?$")
# Every pattern here is matched whole (fullmatch) and is linear: each repeated group starts
# with a character the one before cannot take, so a hostile value cannot make it backtrack.
ABS_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9._@+-]+/)*[A-Za-z0-9._@+-]*$")
REL_PATH_RE = re.compile(r"^(?:[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)(?:/[A-Za-z0-9._@+-]+)*/?$")
URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d+)?/[A-Za-z0-9._~/%+-]+$")
LABEL_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class AppSpec:
    copy: tuple[str, ...] = ()
    fetch: str | None = None
    sha256: str | None = None
    pythonpath: tuple[str, ...] = ()
    strip: int = 1


@dataclass(frozen=True)
class ImageSpec:
    name: str = "cudaswitch-app"
    version: str = "latest"
    base: str = "docker.io/library/debian:bookworm-slim"
    python: str = "python3"
    system_packages: tuple[str, ...] = ()
    workdir: str = "/app"
    command: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    app: AppSpec = field(default_factory=AppSpec)
    user: str = "app"  # the unprivileged user the image runs as; "root" to run as root

    @property
    def nvidia_base(self) -> bool:
        return "nvidia/cuda" in self.base

    @property
    def devel_base(self) -> bool:
        tag = self.base.rsplit(":", 1)[-1] if ":" in self.base.rsplit("/", 1)[-1] else ""
        return "devel" in tag.split("-")


@dataclass(frozen=True)
class ImageManifest:
    """The slots (as the slots code parses them) and the image settings, from one file."""

    manifest: Manifest
    image: ImageSpec
    folder: str

    @property
    def slots(self) -> tuple[Slot, ...]:
        return self.manifest.slots


def check_repo(name: str) -> str:
    if not isinstance(name, str) or not REPO_RE.fullmatch(name) or len(name) > 200:
        raise UsageError(f"bad image name {name!r}: lower-case letters, digits, '.', '_', '-' "
                         "and '/' (e.g. facefusion or registry.example.com/team/facefusion)")
    return name


def check_tag(tag: str, what: str = "tag") -> str:
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise UsageError(f"bad image {what} {tag!r}: letters, digits, '_', '.', '-', "
                         "at most 128, not starting with '.' or '-'")
    return tag


def split_ref(ref: str) -> tuple[str, str]:
    """``NAME:VERSION`` -> (name, version), both checked; no version means ``latest``."""
    last = ref.rsplit("/", 1)[-1]
    name, version = (ref.rsplit(":", 1) if ":" in last else (ref, "latest"))
    return check_repo(name), check_tag(version, "version")


def _strings(value: object, where: str, pattern: re.Pattern | None = None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: expected a list of strings")
    for v in value:
        if pattern is not None and not pattern.fullmatch(v):
            raise UsageError(f"{where}: {v!r} is not allowed here")
        if "\n" in v or "\0" in v:
            raise UsageError(f"{where}: {v!r} holds a line break")
    return tuple(value)


def _app(data: object, where: str) -> AppSpec:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: [image.app] must be a table")
    unknown = sorted(set(data) - APP_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)} in [image.app]; "
                         f"known: {', '.join(sorted(APP_KEYS))}")
    copy = _strings(data.get("copy", []), f"{where}: app.copy", REL_PATH_RE)
    if any(".." in p.split("/") for p in copy):
        raise UsageError(f"{where}: app.copy entries stay inside the manifest's folder")
    fetch = data.get("fetch")
    if fetch is not None and (not isinstance(fetch, str) or not URL_RE.fullmatch(fetch)):
        raise UsageError(f"{where}: app.fetch must be an https URL of a .tar.gz archive")
    sha = data.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise UsageError(f"{where}: app.sha256 must be 64 lower-case hex digits")
    pythonpath = _strings(data.get("pythonpath", []), f"{where}: app.pythonpath", REL_PATH_RE)
    strip = data.get("strip", 1)
    if not isinstance(strip, int) or not 0 <= strip <= 5:
        raise UsageError(f"{where}: app.strip must be 0 to 5")
    return AppSpec(copy, fetch, sha, pythonpath, strip)


def make_image(data: Mapping[str, object], where: str) -> ImageSpec:
    unknown = sorted(set(data) - IMAGE_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)} in [image]; "
                         f"known: {', '.join(sorted(IMAGE_KEYS))}")
    d = ImageSpec()
    name = check_repo(data.get("name", d.name))  # type: ignore[arg-type]
    version = check_tag(data.get("version", d.version), "version")  # type: ignore[arg-type]
    base = data.get("base", d.base)
    if not isinstance(base, str) or not BASE_RE.fullmatch(base):
        raise UsageError(f"{where}: base = {base!r} is not an image reference "
                         "(e.g. docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04)")
    python = data.get("python", d.python)
    if not isinstance(python, str) or not re.fullmatch(r"[A-Za-z0-9_./+-]{1,100}", python) \
            or python.startswith("-"):
        raise UsageError(f"{where}: python = {python!r} is not an interpreter name or path")
    workdir = data.get("workdir", d.workdir)
    if not isinstance(workdir, str) or not ABS_PATH_RE.fullmatch(workdir) \
            or ".." in workdir.split("/"):
        raise UsageError(f"{where}: workdir = {workdir!r} must be an absolute path")
    command = _strings(data.get("command", []), f"{where}: command")
    volumes = tuple(v if v.startswith("/") else f"{workdir.rstrip('/')}/{v}"
                    for v in _strings(data.get("volumes", []), f"{where}: volumes"))
    for v in volumes:
        if not ABS_PATH_RE.fullmatch(v) or ".." in v.split("/"):
            raise UsageError(f"{where}: volume {v!r} is not a plain path")
    ports = data.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536
                                              for p in ports):
        raise UsageError(f"{where}: ports must be a list of port numbers")
    env_pairs, labels = [], []
    for key, table, pattern in (("env", env_pairs, ENV_KEY_RE), ("labels", labels, LABEL_KEY_RE)):
        raw = data.get(key, {})
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: {key} must be a table of strings")
        for k, v in raw.items():
            if not pattern.fullmatch(k) or not isinstance(v, str) \
                    or any(ord(c) < 32 and c != "\t" for c in v):
                raise UsageError(f"{where}: {key} {k!r} must be NAME = \"one line\"")
            if key == "env" and (k.startswith("CUDASWITCH_") or k.startswith("NVIDIA_REQUIRE")
                                 or k in ("CUDA_VERSION", "LD_LIBRARY_PATH", "PATH")):
                raise UsageError(f"{where}: env {k} is the image builder's or the entrypoint's "
                                 "to set")
            table.append((k, v))
    system = _strings(data.get("system_packages", []), f"{where}: system_packages", DEB_RE)
    app = _app(data.get("app", {}), where)
    user = data.get("user", d.user)
    if not isinstance(user, str) or not USER_RE.fullmatch(user):
        raise UsageError(f"{where}: user = {user!r} must be a user name (e.g. \"app\", or "
                         "\"root\" to run as root)")
    return ImageSpec(name, version, base, python, system, workdir, command, volumes,
                     tuple(ports), tuple(env_pairs), tuple(labels), app, user)


def parse_image_manifest(text: str, path: str, folder: str,
                         env: Mapping[str, str] | None = None) -> ImageManifest:
    """Split the ``[image]`` table off and hand the rest to the slots' own parser."""
    raw = parse_toml(text, path)
    image_table = raw.pop("image", {})
    if not isinstance(image_table, dict):
        raise UsageError(f"{path}: [image] must be a table")
    manifest = parse_manifest(slots_toml(raw), path, env)
    if not manifest.slots:
        raise UsageError(f"{path}: an image needs at least one [[slot]]")
    image = make_image(image_table, path)
    return ImageManifest(manifest, image, folder)


def slots_toml(raw: Mapping[str, object]) -> str:
    """The manifest without ``[image]``: what goes into the image for the entrypoint."""
    from ..slots import slot_toml

    head = ""
    if "default" in raw:
        head = f"default = {_quote(raw['default'])}\n"
    rest = {k: v for k, v in raw.items() if k not in ("default", "slot")}
    if rest:  # unknown keys: let the slots parser name them
        head += "".join(f"{k} = {_quote(v)}\n" for k, v in rest.items())
    tables = raw.get("slot", [])
    if not isinstance(tables, list):
        return head + "slot = 1\n"
    return head + "".join("\n" + slot_toml(t) for t in tables if isinstance(t, dict))


def manifest_for(slots: tuple[Slot, ...], default: str | None) -> str:
    """A manifest holding ``slots`` (the ones an image carries) and a default among them."""
    from ..slots import slot_toml

    names = [s.name for s in slots]
    head = "# the slots this image holds (written by cudaswitch image)\n"
    if default is not None:
        head += f"default = {_quote(default)}\n"
    return head + "".join("\n" + slot_toml(_table(s)) for s in slots if s.name in names)


def _table(slot: Slot) -> dict:
    t: dict = {"name": slot.name, "cuda": slot.cuda, "components": list(slot.components)}
    if slot.cudnn:
        t["cudnn"] = slot.cudnn
    if slot.tensorrt:
        t["tensorrt"] = slot.tensorrt
    if slot.python:
        t["python"] = slot.python
    if slot.packages:
        t["packages"] = list(slot.packages)
    if slot.no_deps:
        t["no_deps"] = list(slot.no_deps)
    if slot.leave_out:
        t["leave_out"] = list(slot.leave_out)
    if slot.env:
        t["env"] = dict(slot.env)
    if slot.lib_dirs:
        t["lib_dirs"] = list(slot.lib_dirs)
    return t


def _quote(v: object) -> str:
    import json

    if isinstance(v, (str, int, float, bool)):
        return json.dumps(v)
    raise UsageError(f"cannot carry {v!r} into the image's manifest")


def slot_table(slot: Slot) -> dict:
    return _table(slot)


def load_image_manifest(path: str, env: Mapping[str, str] | None = None) -> ImageManifest:
    import os

    text = read_manifest_text(path, " (write one: cudaswitch image init)")
    return parse_image_manifest(text, path, os.path.dirname(os.path.abspath(path)), env)
