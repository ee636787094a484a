"""Assemble a build context: the Containerfile and everything it copies or mounts.

    Containerfile
    dist/cudaswitch-<version>-py3-none-any.whl
    wheelhouse/<slot>/*.whl        every wheel the slot's install reads
    slots/<slot>.toml              a manifest of that slot alone (what `cudaswitch sync` installs)
    manifests/image.toml           what the all-slots image holds (-> /etc/cudaswitch)
    manifests/<slot>.toml          what each single-slot image holds (--singles)
    app/                           the app's files (copied from the manifest's folder, or fetched)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from .. import fsguard
from ..errors import CudaswitchError, UsageError
from .containerfile import Recipe, SlotInputs, Target, render, runtime_slot, stage_name
from .resolve import name_version, resolved_labels
from .selfwheel import build_wheel
from .spec import ImageManifest, manifest_for

WheelFiles = Mapping[str, Sequence[tuple[str, str]]]  # slot -> (file name, sha256) pairs


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def wheel_files(folder: str | None) -> list[tuple[str, str]]:
    """(name, sha256) of every wheel in ``folder``: contents, not names, key a slot's step."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".whl")) if folder else []
    except OSError:
        return []
    return [(n, _sha256(os.path.join(folder, n))) for n in names  # type: ignore[arg-type]
            if os.path.isfile(os.path.join(folder, n))]  # type: ignore[arg-type]


def wheel_names(folder: str | None) -> list[str]:
    return [n for n, _ in wheel_files(folder)]


def slot_wheel_dir(wheelhouse: str | None, slot: str) -> str | None:
    """``<wheelhouse>/<slot>/`` where that exists, else the wheelhouse itself."""
    if not wheelhouse:
        return None
    sub = os.path.join(wheelhouse, slot)
    return sub if os.path.isdir(sub) else wheelhouse


def plan(im: ImageManifest, devel: bool, cudaswitch_wheel: str, cudaswitch_sha256: str,
         wheels: WheelFiles, singles: bool = False, base_ref: str = "",
         revision: str = "") -> Recipe:
    """The recipe (pure): which slots, stages, targets and digests.

    Single-slot targets only with ``singles``: containers/storage keeps one layer per parent
    chain, so a later slot's single image cannot reuse its layer from the all-slots chain and
    holds a copy of its slot, which local storage then keeps twice.

    A slot of the same CUDA release as the slot before it (a TensorRT slot on its CUDA slot)
    shares that slot's stage: both are installed by one step, whose store hard-links each
    library file the two toolkits hold alike, so the layer keeps it once; a link across
    layers would copy the file up, and a symbolic link would make the process map the other
    slot's path."""
    if im.image.devel_base and not devel:
        raise UsageError(f"base {im.image.base} is a -devel image, which carries a compiler; "
                         "use a -base- or -runtime- image, or pass --devel")
    inputs: list[SlotInputs] = []
    for i, slot in enumerate(im.slots, 1):
        rslot, dropped = runtime_slot(slot, devel)
        text = manifest_for((rslot,), None)
        h = hashlib.sha256(text.encode())
        versions = {}
        for n, sha in wheels.get(slot.name, ()):
            h.update(b"\0" + n.encode() + b"\0" + sha.encode())
            nv = name_version(n)
            if nv:
                versions[nv[0]] = nv[1]
        stage = stage_name("slot", i, slot.name)
        if inputs and inputs[-1].slot.release == rslot.release:
            stage = inputs[-1].stage  # same CUDA release: one step, its files stored once
        inputs.append(SlotInputs(rslot, stage, h.hexdigest(),
                                 dropped, tuple(resolved_labels(versions, slot.major).items())))
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
                  bool(app.copy or app.fetch), base_ref=base_ref, revision=revision)


def generate(im: ImageManifest, devel: bool = False, wheelhouse: str | None = None,
             singles: bool = False) -> Recipe:
    """The recipe without a context: the cudaswitch wheel is built in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cudaswitch-wheel-") as tmp:
        path, sha = build_wheel(tmp)
    wheels = {s.name: wheel_files(slot_wheel_dir(wheelhouse, s.name)) for s in im.slots}
    return plan(im, devel, os.path.basename(path), sha, wheels, singles)


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def fill_wheelhouse(im: ImageManifest, dest: str, wheelhouse: str | None,
                    resolved: Mapping[str, Sequence] | None, cache: str,
                    progress: Callable[[str, int, int], None] | None = None
                    ) -> dict[str, list[tuple[str, str]]]:
    """``dest/<slot>/`` for every slot: the wheels of ``wheelhouse``, else the resolved wheels,
    fetched now (each checked against its sha256) so the build itself stays offline."""
    from ..install.fetch import fetch

    out = {}
    for slot in im.slots:
        folder = os.path.join(dest, slot.name)
        os.makedirs(folder, exist_ok=True)
        src = slot_wheel_dir(wheelhouse, slot.name)
        if src:
            for n in wheel_names(src):
                _link_or_copy(os.path.join(src, n), os.path.join(folder, n))
            out[slot.name] = wheel_files(folder)
        else:
            got = (resolved or {}).get(slot.name, ())
            for w in got:
                _link_or_copy(fetch(w, cache, None, progress), os.path.join(folder, w.filename))
            # fetch() checked each file against its sha256: no need to read them again
            out[slot.name] = sorted((w.filename, w.sha256) for w in got)
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
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - https only
                data = resp.read(1 << 30)
        except OSError as e:
            raise CudaswitchError(f"app.fetch {url}: {e}; check the URL and the network") \
                from e
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


def check_app_tree(src: str, rel: str) -> None:
    """Refuse a symlink that leaves ``src`` (it would copy a file from elsewhere into the
    image), and anything that is not a file, folder or link (devices, sockets, fifos)."""
    top = os.path.realpath(src)
    for root, dirs, files in os.walk(src):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            shown = os.path.join(rel, os.path.relpath(path, src))
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(path)
                if real != top and not real.startswith(top + os.sep):
                    raise UsageError(f"app.copy: {shown} is a symlink to {os.readlink(path)}, "
                                     f"outside {rel}; copy the file in, or remove the link")
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise UsageError(f"app.copy: {shown} is not a file or folder")


def check_app(im: ImageManifest) -> None:
    for rel in im.image.app.copy:
        src = os.path.join(im.folder, rel)
        real = os.path.realpath(src)
        if not real.startswith(os.path.realpath(im.folder) + os.sep):
            raise UsageError(f"app.copy {rel!r} leaves the manifest's folder")
        if os.path.isdir(src):
            check_app_tree(src, rel)
        elif not os.path.isfile(src):
            raise UsageError(f"app.copy {rel!r}: no such file or folder in {im.folder}")


_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".venv")


def copy_app_tree(src: str, dest: str, rel: str) -> None:
    """Copy a checked app folder; links that stay inside it are copied as links."""
    check_app_tree(src, rel)
    shutil.copytree(src, dest, symlinks=True, ignore=_IGNORE, dirs_exist_ok=True)


def source_revision(im: ImageManifest, env: Mapping[str, str]) -> str:
    """The app's revision for the image's labels: the git commit of the manifest's folder
    (``-dirty`` when files differ from it), else the fetched archive's sha256."""
    if im.image.app.copy:
        try:
            head = subprocess.run(["git", "-C", im.folder, "rev-parse", "HEAD"],
                                  capture_output=True, text=True, timeout=30, env=dict(env))
            if head.returncode == 0 and len(head.stdout.strip()) == 40:
                dirty = subprocess.run(["git", "-C", im.folder, "status", "--porcelain",
                                        "--", *im.image.app.copy], capture_output=True,
                                       text=True, timeout=60, env=dict(env)).stdout.strip()
                return head.stdout.strip() + ("-dirty" if dirty else "")
        except (OSError, subprocess.TimeoutExpired):
            pass
    return ""


def created_epoch(im: ImageManifest, env: Mapping[str, str]) -> str:
    """The image's ``created`` time: ``SOURCE_DATE_EPOCH`` when set (0 gives 1970), else the
    last commit that touched the manifest, else the manifest file's time. The same manifest
    gives the same date, and an app change does not move it."""
    value = env.get("SOURCE_DATE_EPOCH", "")
    if value.isdigit() and len(value) <= 12:
        return value
    path = im.manifest.path
    try:
        proc = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(path)), "log",
                               "-1", "--format=%ct", "--", os.path.basename(path)],
                              capture_output=True, text=True, timeout=30, env=dict(env))
        if proc.returncode == 0 and proc.stdout.strip().isdigit():
            return proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return str(int(os.stat(path).st_mtime))
    except OSError:
        return "0"


def claim_context(path: str) -> fsguard.Root:
    """The context folder, cudaswitch's own: a non-empty folder without the marker (a project
    folder, say) is refused, exit 2, before anything is written."""
    return fsguard.claim(path, "--context")


def assemble(im: ImageManifest, context: str | fsguard.Root, wheelhouse: str | None = None,
             devel: bool = False, singles: bool = False,
             env: Mapping[str, str] | None = None, resolved: Mapping[str, Sequence] | None = None,
             base_ref: str = "", cache: str | None = None,
             progress: Callable[[str, int, int], None] | None = None,
             app_sha256: str | None = None) -> tuple[Recipe, str | None]:
    """Write the whole context (emptied of what an earlier run left); returns the recipe and
    the fetched archive's sha256 (for the lock)."""
    env = dict(os.environ if env is None else env)
    root = context if isinstance(context, fsguard.Root) else claim_context(context)
    ctx = root.path
    check_app(im)
    for sub in ("dist", "slots", "manifests", "app", "wheelhouse", "Containerfile",
                ".containerignore"):
        fsguard.remove(os.path.join(ctx, sub), root)
    cache = cache or os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                  "cudaswitch")
    wheel_path, sha = build_wheel(os.path.join(ctx, "dist"))
    wheels = fill_wheelhouse(im, os.path.join(ctx, "wheelhouse"), wheelhouse, resolved,
                             os.path.join(cache, "image-wheels"), progress)
    recipe = plan(im, devel, os.path.basename(wheel_path), sha, wheels, singles, base_ref,
                  source_revision(im, env))
    for s in recipe.slots:
        _write(os.path.join(ctx, "slots", f"{s.slot.name}.toml"), manifest_for((s.slot,), None))
    for t in recipe.targets:
        _write(os.path.join(ctx, t.manifest_file),
               manifest_for(tuple(s.slot for s in t.slots), t.default))
    app = im.image.app
    app_dir = os.path.join(ctx, "app")
    if app.copy or app.fetch:
        os.makedirs(app_dir)
    for rel in app.copy:
        src = os.path.join(im.folder, rel)
        dest = os.path.join(app_dir, rel.rstrip("/"))
        if os.path.isdir(src):
            copy_app_tree(src, dest, rel)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(src, dest)
    got = None
    if app.fetch:
        got = fetch_app(app.fetch, app.sha256 or app_sha256, app.strip, app_dir,
                        os.path.join(cache, "app-archives"))
        recipe = dataclasses.replace(recipe, revision=f"sha256:{got}")
    _write(os.path.join(ctx, "Containerfile"), render(recipe))
    _write(os.path.join(ctx, ".containerignore"), "**/__pycache__\n**/*.pyc\n")
    return recipe, got


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fsguard.atomic_write(path, text)
