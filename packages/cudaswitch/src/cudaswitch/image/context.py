"""Assemble a build context: the Containerfile and everything it copies or mounts.

    Containerfile
    dist/cudaswitch-<version>-py3-none-any.whl
    wheelhouse/<slot>/*.whl        every wheel the slot's install reads
    slots/<slot>.toml              a manifest of that slot alone (what `cudaswitch sync` installs)
    manifests/image.toml           what the all-slots image holds (-> /etc/cudaswitch)
    manifests/<slot>.toml          what each single-slot image holds
    app/                           the app's files (copied from the manifest's folder, or fetched)
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence

from ..errors import UsageError
from .containerfile import Recipe, SlotInputs, Target, render, runtime_slot, stage_name
from .selfwheel import build_wheel
from .spec import ImageManifest, manifest_for


def wheel_names(folder: str | None) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if n.endswith(".whl")) if folder else []
    except OSError:
        return []


def slot_wheel_dir(wheelhouse: str | None, slot: str) -> str | None:
    """``<wheelhouse>/<slot>/`` where that exists, else the wheelhouse itself."""
    if not wheelhouse:
        return None
    sub = os.path.join(wheelhouse, slot)
    return sub if os.path.isdir(sub) else wheelhouse


def plan(im: ImageManifest, devel: bool, cudaswitch_wheel: str, cudaswitch_sha256: str,
         wheels: Mapping[str, Sequence[str]], singles: bool = True) -> Recipe:
    """The recipe (pure): which slots, stages, targets and digests."""
    if im.image.devel_base and not devel:
        raise UsageError(f"base {im.image.base} is a -devel image, which carries a compiler; "
                         "use a -base- or -runtime- image, or pass --devel")
    inputs = []
    for i, slot in enumerate(im.slots, 1):
        rslot, dropped = runtime_slot(slot, devel)
        text = manifest_for((rslot,), None)
        h = hashlib.sha256(text.encode())
        for n in wheels.get(slot.name, ()):
            h.update(b"\0" + n.encode())
        inputs.append(SlotInputs(rslot, stage_name("slot", i, slot.name), h.hexdigest(),
                                 dropped))
    names = [s.slot.name for s in inputs]
    default = im.manifest.default or max(inputs, key=lambda s: s.slot.version.parts).slot.name
    targets = [Target("image", tuple(inputs), "manifests/image.toml", default)]
    if singles and len(inputs) > 1:
        targets += [Target(stage_name("only", i, s.slot.name), (s,),
                           f"manifests/{s.slot.name}.toml", s.slot.name)
                    for i, s in enumerate(inputs, 1)]
    if len(set(names)) != len(names):
        raise UsageError("slot names must be unique")
    app = im.image.app
    return Recipe(im.image, os.path.basename(im.manifest.path), im.manifest.sha256,
                  cudaswitch_wheel, cudaswitch_sha256, tuple(inputs), tuple(targets), devel,
                  bool(app.copy or app.fetch))


def generate(im: ImageManifest, devel: bool = False, wheelhouse: str | None = None,
             singles: bool = True) -> Recipe:
    """The recipe without a context: the cudaswitch wheel is built in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cudaswitch-wheel-") as tmp:
        path, sha = build_wheel(tmp)
    wheels = {s.name: wheel_names(slot_wheel_dir(wheelhouse, s.name)) for s in im.slots}
    return plan(im, devel, os.path.basename(path), sha, wheels, singles)


def _link_or_copy(src: str, dest: str) -> None:
    if os.path.exists(dest):
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def fill_wheelhouse(im: ImageManifest, dest: str, wheelhouse: str | None, devel: bool,
                    env: Mapping[str, str]) -> dict[str, list[str]]:
    """``dest/<slot>/`` for every slot: from ``wheelhouse``, else downloaded now (before the
    build, so the build itself stays offline)."""
    out = {}
    for slot in im.slots:
        folder = os.path.join(dest, slot.name)
        os.makedirs(folder, exist_ok=True)
        src = slot_wheel_dir(wheelhouse, slot.name)
        if src:
            for n in wheel_names(src):
                _link_or_copy(os.path.join(src, n), os.path.join(folder, n))
        else:
            from ..install.engine import InstallOptions, download

            rslot, _ = runtime_slot(slot, devel)
            download([rslot], folder, InstallOptions(env=dict(env)))
        out[slot.name] = wheel_names(folder)
        if not out[slot.name]:
            raise UsageError(f"no wheels for slot {slot.name} in {src or folder}; fill a "
                             "wheelhouse with: cudaswitch download --wheelhouse DIR")
    return out


def fetch_app(url: str, sha256: str | None, strip: int, dest: str, cache: str) -> str:
    """Download a release archive once (kept in ``cache``), check it, unpack into ``dest``."""
    name = hashlib.sha256(url.encode()).hexdigest()[:16] + ".tar.gz"
    path = os.path.join(cache, name)
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - https only
            data = resp.read(1 << 30)
        tmp = path + f".{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    with open(path, "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if sha256 and got != sha256:
        os.unlink(path)
        raise UsageError(f"{url}: sha256 {got} differs from the manifest's {sha256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for m in tf.getmembers():
            parts = m.name.split("/")[strip:]
            if not parts or not parts[0] or m.issym() or m.islnk() or not (m.isfile()
                                                                          or m.isdir()):
                continue
            if ".." in parts or m.name.startswith("/"):
                raise UsageError(f"{url}: member {m.name!r} points outside the app folder")
            target = os.path.join(dest, *parts)
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            src = tf.extractfile(m)
            assert src is not None
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)
    return got


def assemble(im: ImageManifest, context: str, wheelhouse: str | None = None,
             devel: bool = False, singles: bool = True,
             env: Mapping[str, str] | None = None) -> Recipe:
    """Write the whole context into ``context`` (emptied of what an earlier run left)."""
    env = dict(os.environ if env is None else env)
    os.makedirs(context, exist_ok=True)
    for sub in ("dist", "slots", "manifests", "app"):
        shutil.rmtree(os.path.join(context, sub), ignore_errors=True)
    wh = os.path.join(context, "wheelhouse")
    shutil.rmtree(wh, ignore_errors=True)
    wheel_path, sha = build_wheel(os.path.join(context, "dist"))
    wheels = fill_wheelhouse(im, wh, wheelhouse, devel, env)
    recipe = plan(im, devel, os.path.basename(wheel_path), sha, wheels, singles)
    os.makedirs(os.path.join(context, "slots"))
    os.makedirs(os.path.join(context, "manifests"))
    for s in recipe.slots:
        _write(os.path.join(context, "slots", f"{s.slot.name}.toml"),
               manifest_for((s.slot,), None))
    for t in recipe.targets:
        _write(os.path.join(context, t.manifest_file),
               manifest_for(tuple(s.slot for s in t.slots), t.default))
    app = im.image.app
    app_dir = os.path.join(context, "app")
    if app.copy or app.fetch:
        os.makedirs(app_dir)
    for rel in app.copy:
        src = os.path.join(im.folder, rel)
        real = os.path.realpath(src)
        if not real.startswith(os.path.realpath(im.folder) + os.sep):
            raise UsageError(f"app.copy {rel!r} leaves the manifest's folder")
        dest = os.path.join(app_dir, rel.rstrip("/"))
        if os.path.isdir(src):
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".git", ".venv"), dirs_exist_ok=True)
        elif os.path.isfile(src):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(src, dest)
        else:
            raise UsageError(f"app.copy {rel!r}: no such file or folder in {im.folder}")
    if app.fetch:
        cache = os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                             "cudaswitch", "app-archives")
        fetch_app(app.fetch, app.sha256, app.strip, app_dir, cache)
    _write(os.path.join(context, "Containerfile"), render(recipe))
    _write(os.path.join(context, ".containerignore"), "**/__pycache__\n**/*.pyc\n")
    return recipe


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
