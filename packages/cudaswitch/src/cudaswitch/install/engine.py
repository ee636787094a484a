"""Install, sync, download, lock and uninstall slots.

An install is built in ``<toolkits>/.partial-<name>-<random>`` (discovery skips dot folders),
and renamed into place at the end: a killed install leaves nothing discovery picks up, and the
next run removes the leftover and completes the job (downloads resume from ``.part`` files, and
what was already unpacked sits in the store). One install at a time per data home (a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import CudaswitchError, NoMatchError, UsageError
from ..slots import (
    PREFIXES_NAME,
    RECORD_NAME,
    Manifest,
    Slot,
    check_name,
    installed_slots,
    read_prefixes,
    read_record,
    toolkits_dir,
    venvs_dir,
)
from ..toolkits.search import data_home
from ..versions import SpecError, VersionSpec
from . import fetch as fetching
from .lockfile import read_lock, write_lock
from .pip import IndexOptions, PipError, pip_argv, run_pip
from .progress import Reporter
from .resolve import Wheel, normalize, resolve_slot
from .store import Store

CACHE_ENV = "CUDASWITCH_CACHE"
VENV_MARK = ".cudaswitch-venv.json"
FORMAT = 1

# version.json keys NVIDIA uses for the components we can name; others are derived.
VERSION_KEYS = {
    "nvidia-cuda-runtime": "cuda_cudart", "nvidia-cuda-nvcc": "cuda_nvcc",
    "nvidia-cuda-nvrtc": "cuda_nvrtc", "nvidia-cuda-cupti": "cuda_cupti",
    "nvidia-cuda-cccl": "cuda_cccl", "nvidia-cuda-crt": "cuda_crt", "nvidia-nvvm": "libnvvm",
    "nvidia-cublas": "libcublas", "nvidia-cufft": "libcufft", "nvidia-curand": "libcurand",
    "nvidia-cusolver": "libcusolver", "nvidia-cusparse": "libcusparse",
    "nvidia-nvjitlink": "libnvjitlink", "nvidia-cudnn": "cudnn", "tensorrt": "tensorrt",
}
_SONAME_RE = re.compile(r"^(lib[A-Za-z0-9_+-]+\.so)\.\d+(\.\d+)*$")


class InUseError(CudaswitchError):
    """The slot is the target of the global link; ``--force`` removes it anyway."""


@dataclass
class InstallOptions:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    wheelhouse: str | None = None
    index_url: str | None = None
    prefix: str | None = None
    reporter: Reporter = field(default_factory=lambda: Reporter(mode="quiet"))

    @property
    def home(self) -> str:
        return data_home(self.env)

    @property
    def cache(self) -> str:
        return self.env.get(CACHE_ENV) or os.path.join(self.home, "cache")

    @property
    def index(self) -> IndexOptions:
        wh = os.path.abspath(self.wheelhouse) if self.wheelhouse else None
        return IndexOptions(wheelhouse=wh, index_url=self.index_url)


@contextlib.contextmanager
def install_lock(home: str) -> Iterator[None]:
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, ".install.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _strip_base_name(wheel_name: str) -> str:
    return re.sub(r"-cu\d+(-libs)?$", "", normalize(wheel_name)).replace("-libs", "")


def _version_json(release: str, wheels: Sequence[Wheel]) -> dict:
    out: dict[str, dict[str, str]] = {
        "cuda": {"name": "CUDA SDK", "version": ".".join(release.split(".")[:3])}}
    for w in wheels:
        base = _strip_base_name(w.name)
        if base == "cuda-toolkit":
            continue
        key = VERSION_KEYS.get(base) or base.replace("nvidia-", "").replace("-", "_")
        out[key] = {"name": w.name, "version": ".".join(w.version.split(".")[:3])}
    return out


def _clean_leftovers(parent: str, name: str) -> list[str]:
    """Partial builds of ``name`` that a killed run left (we hold the install lock)."""
    gone = []
    try:
        names = os.listdir(parent)
    except OSError:
        return gone
    for n in names:
        if n.startswith((f".partial-{name}-", f".old-{name}-")):
            shutil.rmtree(os.path.join(parent, n), ignore_errors=True)
            gone.append(n)
    return gone


def _intact(root: str, record: Mapping) -> bool:
    for rel, info in (record.get("files") or {}).items():
        try:
            if os.path.getsize(os.path.join(root, rel)) != info.get("size"):
                return False
        except OSError:
            return False
    return True


def _venv_request(slot: Slot, index: IndexOptions) -> dict:
    return {"python": slot.python, "packages": list(slot.packages)}


def _venv_ok(venv: str, want: dict) -> bool:
    try:
        with open(os.path.join(venv, VENV_MARK), encoding="utf-8") as f:
            return json.load(f) == want
    except (OSError, ValueError):
        return False


def _interpreter(python: str, env: Mapping[str, str]) -> str:
    exe = python if "/" in python else shutil.which(python, path=env.get("PATH"))
    if not exe or not os.access(exe, os.X_OK):
        raise UsageError(f"the slot's interpreter {python!r} is not on this machine")
    return exe


def build_venv(slot: Slot, venv: str, opts: InstallOptions) -> dict:
    """The slot's own environment: created with its interpreter, packages installed by pip."""
    want = _venv_request(slot, opts.index)
    if _venv_ok(venv, want):
        return {"venv": venv, "status": "unchanged"}
    rep = opts.reporter
    py = _interpreter(slot.python or "python3", opts.env)
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    rep.line(f"{slot.name}: creating a Python environment with {py}")
    proc = subprocess.run([py, "-m", "venv", venv], capture_output=True, text=True)
    uv = shutil.which("uv", path=opts.env.get("PATH"))
    if proc.returncode != 0:
        if not uv:
            raise PipError(f"{py} -m venv failed: {proc.stderr.strip()[-400:]}")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv, "venv", "--quiet", "--python", py, venv], check=True)
    vpy = os.path.join(venv, "bin", "python")
    index = opts.index.argv()
    if slot.packages:
        rep.line(f"{slot.name}: installing {', '.join(slot.packages)}")
        has_pip = subprocess.run([vpy, "-c", "import pip"], capture_output=True).returncode == 0
        if has_pip:
            argv = [vpy, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *index, *slot.packages]
        elif uv:
            argv = [uv, "pip", "install", "--quiet", "--python", vpy, *index, *slot.packages]
        else:
            raise PipError(f"the environment at {venv} has no pip and uv is not installed")
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise PipError(f"installing {', '.join(slot.packages)} into {venv} failed: "
                           + proc.stderr.strip()[-800:])
    with open(os.path.join(venv, VENV_MARK), "w", encoding="utf-8") as f:
        json.dump(want, f)
    return {"venv": venv, "status": "installed"}


def _fetch_all(wheels: Sequence[Wheel], opts: InstallOptions) -> list[str]:
    rep = opts.reporter
    paths = []
    for w in wheels:
        paths.append(fetching.fetch(w, opts.cache, opts.index.wheelhouse,
                                    lambda label, d, t: rep.bar(f"get {label}", d, t)))
    return paths


def _register_prefix(home: str, name: str, root: str | None) -> None:
    path = os.path.join(home, PREFIXES_NAME)
    data = read_prefixes({"CUDASWITCH_HOME": home})
    if root is None:
        data.pop(name, None)
    else:
        data[name] = root
    os.makedirs(home, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _slot_root(slot: Slot, opts: InstallOptions) -> str:
    if opts.prefix:
        p = os.path.abspath(opts.prefix)
        if p in ("/", "/usr", "/usr/local", os.path.expanduser("~")):
            raise UsageError(f"--prefix {p}: a slot needs a folder of its own")
        return p
    return os.path.join(toolkits_dir(opts.env), slot.name)


def install_slot(slot: Slot, opts: InstallOptions,
                 wheels: Sequence[Wheel] | None = None) -> dict:
    """Install one slot (or find it already installed as asked). Returns what happened."""
    home = opts.home
    root = _slot_root(slot, opts)
    parent = os.path.dirname(root)
    rep = opts.reporter
    started = time.monotonic()
    with install_lock(home):
        os.makedirs(parent, exist_ok=True)
        leftovers = _clean_leftovers(parent, os.path.basename(root))
        if leftovers:
            rep.line(f"{slot.name}: removed an interrupted install ({', '.join(leftovers)})")
        record = read_record(root)
        venv = os.path.join(venvs_dir(opts.env), slot.name)
        same_wheels = record is not None and (wheels is None or sorted(
            w["sha256"] for w in record.get("wheels", [])) == sorted(w.sha256 for w in wheels))
        if record and record.get("request") == slot.request() and same_wheels \
                and _intact(root, record) \
                and (not slot.packages or _venv_ok(venv, _venv_request(slot, opts.index))):
            rep.line(f"{slot.name}: up to date at {root}")
            return {"name": slot.name, "root": root, "status": "unchanged",
                    "release": record.get("release"), "files": len(record.get("files", {})),
                    "venv": record.get("venv")}
        if wheels is None:
            rep.line(f"{slot.name}: resolving CUDA {slot.release} "
                     f"[{', '.join(slot.components)}] with pip")
            wheels = resolve_slot(slot, opts.index, opts.cache, opts.env)
        paths = _fetch_all(wheels, opts)
        store = Store(home)
        partial = tempfile.mkdtemp(prefix=f".partial-{os.path.basename(root)}-", dir=parent)
        files: dict[str, dict] = {}
        conflicts: list[str] = []
        for i, (w, path) in enumerate(zip(wheels, paths, strict=True), 1):
            label = f"{slot.name} [{i}/{len(wheels)}] {w.name}"
            members = store.members(path, w.sha256, lambda d, t, lb=label: rep.bar(lb, d, t))
            for m in members:
                if m.path in files:
                    if files[m.path]["sha256"] != m.sha256:
                        conflicts.append(f"{m.path}: {files[m.path]['wheel']} and {w.name}")
                    continue
                how = store.place(m, os.path.join(partial, m.path))
                files[m.path] = {"sha256": m.sha256, "size": m.size,
                                 "mode": "x" if m.executable else "", "how": how,
                                 "wheel": w.name}
        generated = _finish_layout(partial, files)
        with open(os.path.join(partial, "version.json"), "w", encoding="utf-8") as f:
            json.dump(_version_json(slot.release, wheels), f, indent=1)
        generated.append("version.json")
        venv_result = build_venv(slot, venv, opts) if slot.packages else None
        if not slot.packages and os.path.isfile(os.path.join(venv, VENV_MARK)):
            shutil.rmtree(venv, ignore_errors=True)
        rec = {
            "format": FORMAT, "name": slot.name, "release": slot.release, "root": root,
            "request": slot.request(), "wheels": [w.as_dict() for w in wheels],
            "files": files, "generated": generated, "conflicts": conflicts,
            "venv": venv if slot.packages else None,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with open(os.path.join(partial, RECORD_NAME), "w", encoding="utf-8") as f:
            json.dump(rec, f, indent=1)
        os.chmod(partial, 0o755)
        status = "installed"
        if os.path.lexists(root):
            status = "updated"
            old = tempfile.mkdtemp(prefix=f".old-{os.path.basename(root)}-", dir=parent)
            os.rename(root, os.path.join(old, "slot"))
            os.rename(partial, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(partial, root)
        if opts.prefix:
            _register_prefix(home, slot.name, root)
        links = sum(1 for f in files.values() if f["how"] == "link")
        rep.line(f"{slot.name}: {status} CUDA {slot.release} at {root} ({len(wheels)} wheels, "
                 f"{len(files)} files, {links} hard-linked) in {time.monotonic() - started:.1f}s")
        return {"name": slot.name, "root": root, "status": status, "release": slot.release,
                "wheels": [w.as_dict() for w in wheels], "files": len(files),
                "linked": links, "conflicts": conflicts,
                "venv": venv_result["venv"] if venv_result else None}


def _finish_layout(root: str, files: Mapping[str, dict]) -> list[str]:
    """``lib64 -> lib``, and ``libX.so`` links for linkers, as NVIDIA's toolkits have."""
    generated = []
    lib = os.path.join(root, "lib")
    if os.path.isdir(lib) and not os.path.lexists(os.path.join(root, "lib64")):
        os.symlink("lib", os.path.join(root, "lib64"))
        generated.append("lib64")
    if os.path.isdir(lib):
        by_base: dict[str, list[str]] = {}
        for n in os.listdir(lib):
            m = _SONAME_RE.match(n)
            if m:
                by_base.setdefault(m.group(1), []).append(n)
        for base, names in sorted(by_base.items()):
            if os.path.lexists(os.path.join(lib, base)):
                continue
            target = min(names, key=lambda n: (n.count("."), n))
            os.symlink(target, os.path.join(lib, base))
            generated.append(f"lib/{base}")
    return generated


def sync(manifest: Manifest, opts: InstallOptions, locked: bool = False,
         only: Sequence[str] = ()) -> list[dict]:
    """Install the manifest's slots (or only those named: a CI job installs its own)."""
    names = [s.name for s in manifest.slots]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise UsageError(f"no slot {', '.join(unknown)} in {manifest.path}; "
                         f"its slots: {', '.join(names)}")
    wheels = read_lock(manifest) if locked else {}
    out = []
    for slot in manifest.slots:
        if only and slot.name not in only:
            continue
        if locked and slot.name not in wheels:
            raise UsageError(f"slot {slot.name} is not in the lock file; run cudaswitch lock")
        out.append(install_slot(slot, opts, wheels.get(slot.name)))
    return out


def lock(manifest: Manifest, opts: InstallOptions) -> tuple[str, dict[str, list[Wheel]]]:
    resolved = {}
    for slot in manifest.slots:
        opts.reporter.line(f"{slot.name}: resolving CUDA {slot.release} with pip")
        resolved[slot.name] = resolve_slot(slot, opts.index, opts.cache, opts.env)
    return write_lock(manifest, resolved), resolved


def download(slots: Sequence[Slot], wheelhouse: str, opts: InstallOptions,
             locked: Mapping[str, Sequence[Wheel]] | None = None) -> list[dict]:
    """Fill ``wheelhouse`` with every wheel the slots need, for offline installs."""
    out = []
    for slot in slots:
        wheels = list(locked[slot.name]) if locked and slot.name in locked else \
            resolve_slot(slot, opts.index, opts.cache, opts.env)
        for w, path in zip(wheels, _fetch_all(wheels, opts), strict=True):
            fetching.copy_to(path, w, wheelhouse)
        if slot.packages:
            py = _interpreter(slot.python or "python3", opts.env)
            ver = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            run_pip(["download", "--quiet", "--only-binary=:all:", "--python-version", ver,
                     "-d", wheelhouse, *opts.index.argv(), *slot.packages], opts.env,
                    f"downloading {', '.join(slot.packages)}")
        out.append({"name": slot.name, "wheels": [w.as_dict() for w in wheels],
                    "packages": list(slot.packages)})
        opts.reporter.line(f"{slot.name}: {len(wheels)} wheels in {wheelhouse}")
    return out


def find_installed(target: str, env: Mapping[str, str]) -> tuple[str, str]:
    """A slot by name, or the one installed slot whose CUDA matches a version."""
    slots = installed_slots(env)
    if target in slots:
        return target, slots[target]
    try:
        spec = VersionSpec.parse(target)
    except SpecError:
        spec = None
    if spec is None or spec.kind != "prefix":
        try:
            check_name(target)
        except UsageError as e:
            raise UsageError(f"{e}; installed slots: {', '.join(slots) or '(none)'}") from e
        raise NoMatchError(f"no slot named {target!r}; installed: {', '.join(slots) or '(none)'}")
    hits = []
    for name, root in slots.items():
        rec = read_record(root) or {}
        try:
            v = VersionSpec.parse(str(rec.get("release", ""))[:20]).prefix
        except SpecError:
            continue
        if v is not None and spec.matches(v):
            hits.append((name, root))
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise NoMatchError(f"no installed slot has CUDA {target}; installed: "
                           f"{', '.join(slots) or '(none)'}")
    raise UsageError(f"CUDA {target} matches several slots ({', '.join(n for n, _ in hits)}); "
                     "name one")


def uninstall(target: str, env: Mapping[str, str], force: bool = False,
              link: str = "/usr/local/cuda") -> dict:
    """Remove exactly what the record lists; files someone else put there stay (and are named)."""
    home = data_home(env)
    name, root = find_installed(target, env)
    real = os.path.realpath(root)
    if os.path.islink(link) and os.path.realpath(link) == real and not force:
        raise InUseError(f"{link} points at slot {name} ({root}); switch it to another toolkit "
                         f"first (cudaswitch use ...) or pass --force")
    with install_lock(home):
        record = read_record(root) or {}
        removed = 0
        for rel in [*(record.get("files") or {}), *(record.get("generated") or []), RECORD_NAME]:
            p = os.path.join(root, rel)
            if os.path.lexists(p) and os.path.realpath(os.path.dirname(p)).startswith(real):
                os.unlink(p)
                removed += 1
        left = []
        for d, _dirs, fs in os.walk(root, topdown=False):
            left += [os.path.join(d, f) for f in fs]
            with contextlib.suppress(OSError):
                os.rmdir(d)
        venv = record.get("venv")
        if isinstance(venv, str) and venv == os.path.join(venvs_dir(env), name):
            shutil.rmtree(venv, ignore_errors=True)
        if name in read_prefixes(env):
            _register_prefix(home, name, None)
        files, freed = Store(home).collect_garbage()
    return {"name": name, "root": root, "removed_files": removed, "left": left,
            "venv_removed": bool(venv), "store_files_freed": files, "store_bytes_freed": freed}


def default_slot_for(version: str, components: Sequence[str], name: str | None,
                     python: str | None = None, packages: Sequence[str] = (),
                     env: Mapping[str, str] | None = None) -> Slot:
    from ..slots import make_slot, resolve_release

    release = resolve_release(version, env)
    mm = ".".join(release.split(".")[:2])
    table: dict = {"name": name or f"cuda{mm}", "cuda": version,
                   "components": list(components) or ["cudart"]}
    if python:
        table["python"] = python
    if packages:
        table["packages"] = list(packages)
    slot, _ = make_slot(table, "install", env)
    return slot


__all__ = ["InstallOptions", "default_slot_for", "download", "install_slot", "lock", "pip_argv",
           "sync", "uninstall"]
