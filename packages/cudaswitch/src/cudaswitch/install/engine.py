"""Install, sync, download, lock and uninstall slots.

An install is built in ``<toolkits>/.partial-<name>-<random>`` (discovery skips dot folders),
and swapped into place at the end: a killed install leaves nothing discovery picks up, and the
next run removes the leftover and completes the job (downloads resume from ``.part`` files, and
what was already unpacked sits in the store). An update exchanges the new folder with the old
one in one step (``renameat2(RENAME_EXCHANGE)``), so the slot is whole at every instant; where
the filesystem cannot exchange, the old slot waits in ``.old-<name>-*`` between two renames and
the next run puts it back. One install at a time per data home (a lock file). Every removal
goes through ``fsguard``: only what cudaswitch made, never through a symbolic link.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence

from .. import fsguard
from ..errors import CudaswitchError, NoMatchError, UsageError
from ..slotrecord import SlotRecord, load_record
from ..slots import (
    PREFIXES_NAME,
    RECORD_NAME,
    Manifest,
    Slot,
    check_name,
    installed_slots,
    read_prefixes,
    toolkits_dir,
    venvs_dir,
)
from ..toolkits.search import data_home
from ..units import human_duration, version_text
from ..versions import SpecError, VersionSpec
from . import fetch as fetching
from .leaveout import check_left_out, check_needed, is_left_out, write_placeholders
from .lockfile import LockedSlot, LockedVenv, read_locked, write_lock
from .needed import check_slot
from .options import InstallOptions, home_guard
from .pip import pip_argv
from .resolve import Wheel, normalize, resolve_slot
from .sizes import installed_version
from .store import Store
from .venv import (
    VENV_MARK,
    VenvPlan,
    build_venv,
    locked_venv,
    resolve_environment,
    venv_ok,
    venv_plan,
)

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


def check_home(home: str) -> None:
    """Refuse a data home that exists and is not a folder, without creating anything."""
    if os.path.lexists(home) and not os.path.isdir(home):
        raise UsageError(f"CUDASWITCH_HOME={home}: not a folder (a file is in the way); "
                         "point it at a folder")


@contextlib.contextmanager
def install_lock(home: str) -> Iterator[None]:
    guard = home_guard(home)
    path = os.path.join(guard.path, ".install.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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


def _discard_leftover(path: str, home: fsguard.Root) -> bool:
    """Remove a build folder a killed run left: ours when marked or inside the data home."""
    if fsguard.is_marked(path):
        fsguard.discard(fsguard.Root(os.path.realpath(path)))
        return True
    if fsguard.contains(home, path):
        fsguard.remove(path, home)
        return True
    return False


def _recover(parent: str, base: str, home: fsguard.Root) -> tuple[list[str], list[str]]:
    """Finish what a killed run of ``base`` left (we hold the install lock): an old slot
    waiting in ``.old-*`` while the slot itself is gone is put back; then build folders go.
    Returns (restored, removed)."""
    restored: list[str] = []
    gone: list[str] = []
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return restored, gone
    root = os.path.join(parent, base)
    for n in names:
        if n.startswith(f".old-{base}-"):
            held = os.path.join(parent, n, "slot")
            if not os.path.lexists(root) and os.path.isdir(held) \
                    and not os.path.islink(held) and load_record(held) is not None:
                os.rename(held, root)
                restored.append(n)
    for n in names:
        if n.startswith((f".partial-{base}-", f".old-{base}-")) \
                and _discard_leftover(os.path.join(parent, n), home):
            gone.append(n)
    return restored, gone


def _intact(root: str, record: SlotRecord) -> bool:
    """Every file the record lists is there, every path it generated, and a placeholder under
    each library it left out: a slot installed before left-out names got placeholders, or one
    whose placeholder is gone, would let the loader find that library elsewhere (leaveout.py),
    so it is installed again."""
    for rel, info in record.files.items():
        try:
            st = os.lstat(os.path.join(root, rel))
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != info.size:
            return False
    left = record.extra.get("left_out") or {}
    if not isinstance(left, Mapping):
        return False
    return all(os.path.lexists(os.path.join(root, rel)) for rel in [*left, *record.generated])


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: str, b: str) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), a, b)


def _swap_in(partial: str, root: str, home: fsguard.Root) -> str:
    """Put the finished build at ``root``; "installed" or "updated"."""
    if not os.path.lexists(root):
        os.rename(partial, root)
        return "installed"
    if _exchange(partial, root):  # ``partial`` now holds the old slot
        if not fsguard.is_marked(partial):  # a slot from before markers: it is ours
            fsguard.atomic_write(os.path.join(partial, fsguard.MARKER), "old slot\n")
        _discard_leftover(partial, home)
        return "updated"
    parent, base = os.path.split(root)
    old = tempfile.mkdtemp(prefix=f".old-{base}-", dir=parent)
    fsguard.atomic_write(os.path.join(old, fsguard.MARKER), "old slot, kept until the swap\n")
    os.rename(root, os.path.join(old, "slot"))
    os.rename(partial, root)
    _discard_leftover(old, home)
    return "updated"


def _register_prefix(home: str, name: str, root: str | None) -> None:
    guard = home_guard(home)
    data = read_prefixes({"CUDASWITCH_HOME": home})
    if root is None:
        data.pop(name, None)
    else:
        data[name] = root
    fsguard.atomic_write_json(os.path.join(guard.path, PREFIXES_NAME), data, root=guard)


def _within(inner: str, outer: str) -> bool:
    return inner == outer or os.path.commonpath([inner, outer]) == outer


def _prefix_root(slot: Slot, prefix: str, env: Mapping[str, str]) -> str:
    """``--prefix DIR``: a new or empty folder, or this same slot's earlier install there;
    never the data home, a folder around it or in it, another slot, or a user's files."""
    p = os.path.realpath(os.path.abspath(prefix))
    home = os.path.realpath(data_home(env))
    if _within(home, p) or _within(p, home):
        raise UsageError(f"--prefix {prefix}: {'inside' if _within(p, home) else 'holds'} the "
                         f"data home {home}; use --name for a slot there, or name another folder")
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"--prefix {prefix}: exists and is not a folder")
        rec = load_record(p)
        if rec is not None and rec.name != slot.name:
            raise UsageError(f"--prefix {prefix}: holds slot {rec.name}; uninstall it first or "
                             f"name another folder")
        if rec is None and os.listdir(p):
            raise fsguard.RefusedError(
                f"--prefix {prefix}: the folder is not empty and holds no cudaswitch slot; "
                "name an empty or new folder (cudaswitch never replaces other files)")
    return p


def _slot_root(slot: Slot, opts: InstallOptions) -> str:
    if opts.prefix:
        return _prefix_root(slot, opts.prefix, opts.env)
    return os.path.join(toolkits_dir(opts.env), slot.name)


def install_slot(slot: Slot, opts: InstallOptions, wheels: Sequence[Wheel] | None = None,
                 venv_lock: LockedVenv | None = None) -> dict:
    """Install one slot (or find it already installed as asked). Returns what happened.

    ``wheels`` and ``venv_lock`` come from the lock: exactly these are installed."""
    home = opts.home
    root = _slot_root(slot, opts)
    guard = home_guard(home)
    rep = opts.reporter
    started = time.monotonic()
    with install_lock(home):
        root = _slot_root(slot, opts)  # again, now that no other install runs
        parent = os.path.dirname(root)
        if opts.prefix:
            os.makedirs(parent, exist_ok=True)
        else:
            fsguard.ensure_dir(parent, guard)
        store = Store(home)
        store.clean_tmp()
        restored, leftovers = _recover(parent, os.path.basename(root), guard)
        if restored:
            rep.line(f"{slot.name}: restored the slot an interrupted update had moved aside "
                     f"({', '.join(restored)})")
        if leftovers:
            rep.line(f"{slot.name}: removed an interrupted install ({', '.join(leftovers)})")
        record = load_record(root)
        venv = os.path.join(venvs_dir(opts.env), slot.name)
        same_wheels = record is not None and (wheels is None or sorted(
            w.sha256 for w in record.wheels) == sorted(w.sha256 for w in wheels))
        if record and record.request == slot.request() and same_wheels \
                and _intact(root, record) \
                and (not slot.packages or venv_ok(
                    venv, slot, venv_lock.wheels if venv_lock else None)):
            rep.line(f"{slot.name}: up to date at {root}")
            return {"name": slot.name, "root": root, "status": "unchanged",
                    "release": record.release, "version": installed_version(root),
                    "files": len(record.files), "venv": record.venv}
        if wheels is None:
            rep.line(f"{slot.name}: resolving CUDA {slot.release} "
                     f"[{', '.join(slot.components)}] with pip")
            wheels = resolve_slot(slot, opts.index, opts.cache, opts.env)
        paths = fetching.fetch_all(wheels, opts.cache, opts.index.wheelhouse, opts.reporter)
        with contextlib.ExitStack() as stack:
            plan = stack.enter_context(venv_plan(slot, opts, venv_lock)) \
                if slot.packages else None
            status, files, conflicts, venv_result = _assemble(
                slot, opts, root, wheels, paths, plan, store, venv)
        if opts.prefix:
            _register_prefix(home, slot.name, root)
        links = sum(1 for f in files.values() if f["how"] == "link")
        version = installed_version(root)
        rep.line(f"{slot.name}: {status} CUDA {version_text(version, slot.release)} at {root} "
                 f"({len(wheels)} wheels, {len(files)} files, {links} hard-linked) in "
                 f"{human_duration(time.monotonic() - started)}")
        return {"name": slot.name, "root": root, "status": status, "release": slot.release,
                "version": version, "wheels": [w.as_dict() for w in wheels], "files": len(files),
                "linked": links, "conflicts": conflicts,
                "venv": venv_result["venv"] if venv_result else None}


def _assemble(slot: Slot, opts: InstallOptions, root: str, wheels: Sequence[Wheel],
              paths: Sequence[str], plan: VenvPlan | None, store: Store,
              venv: str) -> tuple[str, dict[str, dict], list[str], dict | None]:
    """Build the slot in a ``.partial-*`` folder and swap it in; nothing half-built stays."""
    rep = opts.reporter
    guard = home_guard(opts.home)
    parent = os.path.dirname(root)
    partial = tempfile.mkdtemp(prefix=f".partial-{os.path.basename(root)}-", dir=parent)
    fsguard.atomic_write(os.path.join(partial, fsguard.MARKER),
                         f"slot {slot.name}, installed by cudaswitch\n")
    try:
        files: dict[str, dict] = {}
        left: dict[str, int] = {}
        left_from: dict[str, str] = {}  # left-out path -> version of the wheel that brings it
        conflicts: list[str] = []
        for i, (w, path) in enumerate(zip(wheels, paths, strict=True), 1):
            label = f"{slot.name} [{i}/{len(wheels)}] {w.name}"
            members = store.members(path, w.sha256, lambda d, t, lb=label: rep.bar(lb, d, t))
            for m in members:
                if is_left_out(slot.leave_out, m.path):
                    left[m.path] = m.size
                    left_from[m.path] = w.version
                    continue
                if m.path in files:
                    if files[m.path]["sha256"] != m.sha256:
                        conflicts.append(f"{m.path}: {files[m.path]['wheel']} and {w.name}")
                    continue
                how = store.place(m, os.path.join(partial, m.path))
                files[m.path] = {"sha256": m.sha256, "size": m.size,
                                 "mode": "x" if m.executable else "", "how": how,
                                 "wheel": w.name}
        if slot.leave_out:
            check_left_out(slot.name, slot.leave_out, left, files)
        generated = [fsguard.MARKER, *_finish_layout(partial, files)]
        fsguard.atomic_write_json(os.path.join(partial, "version.json"),
                                  _version_json(slot.release, wheels))
        generated.append("version.json")
        venv_result = build_venv(slot, venv, opts, plan) if plan else None
        if left:
            check_needed(slot.name, slot.leave_out, venv if venv_result else None, partial,
                         slot.components, left)
        if venv_result:
            check_slot(slot.name, venv, partial, slot.components)
        generated += write_placeholders(slot.name, slot.leave_out, partial, left_from)
        if not slot.packages and os.path.isfile(os.path.join(venv, VENV_MARK)):
            fsguard.remove(venv, guard)
        rec = {
            "format": FORMAT, "name": slot.name, "release": slot.release, "root": root,
            "request": slot.request(), "wheels": [w.as_dict() for w in wheels],
            "files": files, "generated": generated, "conflicts": conflicts,
            "left_out": dict(sorted(left.items())),
            "venv": venv if slot.packages else None,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        fsguard.atomic_write_json(os.path.join(partial, RECORD_NAME), rec)
        os.chmod(partial, 0o755)
        if opts.prefix and os.path.lexists(root) and load_record(root) is None:
            fsguard.claim(root, "--prefix")  # empty, or this slot's own earlier install
        status = _swap_in(partial, root, guard)
    except BaseException:  # a refused wheel, a full disk: nothing half-built stays
        with contextlib.suppress(OSError, CudaswitchError):
            _discard_leftover(partial, guard)
        raise
    return status, files, conflicts, venv_result


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
    entries = read_locked(manifest) if locked else {}
    chosen = [s for s in manifest.slots if not only or s.name in only]
    venvs = {}
    for slot in chosen:  # every drift is found before anything is installed
        if locked and slot.name not in entries:
            raise UsageError(f"slot {slot.name} is not in the lock file; run cudaswitch lock")
        venvs[slot.name] = locked_venv(slot, entries.get(slot.name)) if locked else None
    out = []
    for slot in chosen:
        entry = entries.get(slot.name)
        out.append(install_slot(slot, opts, list(entry.wheels) if entry else None,
                                venvs[slot.name]))
    return out


def lock(manifest: Manifest, opts: InstallOptions
         ) -> tuple[str, dict[str, list[Wheel]], dict[str, LockedVenv]]:
    """Resolve every slot, its Python environment included, and write the lock."""
    resolved = {}
    venvs = {}
    for slot in manifest.slots:
        opts.reporter.line(f"{slot.name}: resolving CUDA {slot.release} with pip")
        resolved[slot.name] = resolve_slot(slot, opts.index, opts.cache, opts.env)
        held = resolve_environment(slot, opts)
        if held is not None:
            venvs[slot.name] = held
    return write_lock(manifest, resolved, venvs), resolved, venvs


def download(slots: Sequence[Slot], wheelhouse: str, opts: InstallOptions,
             locked: Mapping[str, LockedSlot] | None = None) -> list[dict]:
    """Fill ``wheelhouse`` with every wheel the slots need (their Python environments
    included), for offline installs; a different file of a wheel's name there is refused."""
    out = []
    for slot in slots:
        entry = locked.get(slot.name) if locked else None
        wheels = list(entry.wheels) if entry else \
            resolve_slot(slot, opts.index, opts.cache, opts.env)
        held = locked_venv(slot, entry) if locked else resolve_environment(slot, opts)
        venv = list(held.wheels) if held is not None else []
        every = [*wheels, *venv]
        paths = fetching.fetch_all(every, opts.cache, opts.index.wheelhouse, opts.reporter)
        for w, path in zip(every, paths, strict=True):
            fetching.copy_to(path, w, wheelhouse)
        out.append({"name": slot.name, "wheels": [w.as_dict() for w in wheels],
                    "packages": list(slot.packages), "venv": [w.as_dict() for w in venv]})
        opts.reporter.line(f"{slot.name}: {len(every)} wheels in {wheelhouse}")
    return out


def find_installed(target: str, env: Mapping[str, str]) -> tuple[str, str]:
    """A slot by name; a version means the slot ``install VERSION`` names (``cuda12.4``).

    Removing is not a search: ``uninstall 12.4`` never picks a slot of another name that
    happens to hold CUDA 12.4; those are listed for the user to name.
    """
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
    parts = target.split(".")
    same = []
    for name, root in slots.items():
        rec = load_record(root)
        try:
            v = VersionSpec.parse(rec.release[:20]).prefix if rec else None
        except SpecError:
            continue
        if v is not None and spec.matches(v):
            same.append(name)
    if len(parts) < 2:
        raise UsageError(f"CUDA {target} is a major version; name the slot to remove: "
                         f"{', '.join(same) or '(none installed)'}")
    default = f"cuda{parts[0]}.{parts[1]}"
    if default in slots:
        return default, slots[default]
    raise NoMatchError(f"no slot {default} (what install {target} makes); "
                       + (f"slots with CUDA {target}: {', '.join(same)}: name the one to remove"
                          if same else f"installed: {', '.join(slots) or '(none)'}"))


def _remove_listed(root: str, record: SlotRecord, guard: fsguard.Root) -> int:
    """Remove the files and links the record lists, each inside the slot and not a folder."""
    removed = 0
    for rel in [*record.files, *record.generated, RECORD_NAME, fsguard.MARKER]:
        p = os.path.join(root, rel)
        if not fsguard.contains(guard, p):
            continue
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        removed += fsguard.remove(p, guard)
    return removed


def uninstall(target: str, env: Mapping[str, str], force: bool = False,
              link: str = "/usr/local/cuda") -> dict:
    """Remove exactly what the record lists; files someone else put there stay (and are named)."""
    home = data_home(env)
    check_home(home)
    name, root = find_installed(target, env)
    guard = home_guard(home)
    real = os.path.realpath(root)
    if os.path.islink(link) and os.path.realpath(link) == real and not force:
        raise InUseError(f"{link} points at slot {name} ({root}); switch it to another toolkit "
                         f"first (cudaswitch use ...) or pass --force")
    with install_lock(home):
        record = load_record(root)
        if record is None:
            raise NoMatchError(f"slot {name} at {root} has no record any more; nothing removed")
        if fsguard.contains(guard, root):
            slot_guard = fsguard.sub_root(guard, root)
        else:
            slot_guard = fsguard.marked_root(root, (fsguard.MARKER, RECORD_NAME))
        removed = _remove_listed(slot_guard.path, record, slot_guard)
        left = []
        for d, _dirs, fs in os.walk(slot_guard.path, topdown=False):
            left += [os.path.join(d, f) for f in fs]
            left += [os.path.join(d, x) for x in _dirs if os.path.islink(os.path.join(d, x))]
            with contextlib.suppress(OSError):
                os.rmdir(d)
        venv = record.venv
        venv_removed = False
        if venv is not None and venv == os.path.join(venvs_dir(env), name):
            venv_removed = fsguard.remove(venv, guard) > 0
        if name in read_prefixes(env):
            _register_prefix(home, name, None)
        files, freed = Store(home).collect_garbage()
    return {"name": name, "root": root, "removed_files": removed, "left": sorted(left),
            "venv_removed": venv_removed, "store_files_freed": files,
            "store_bytes_freed": freed}


def default_slot_for(version: str, components: Sequence[str], name: str | None,
                     python: str | None = None, packages: Sequence[str] = (),
                     env: Mapping[str, str] | None = None,
                     leave_out: Sequence[str] = (), no_deps: Sequence[str] = ()) -> Slot:
    """The slot a command line asks for, read as a manifest's table would be, so the flags get
    the manifest keys' checks (``--no-deps`` is ``no_deps``, ``--leave-out`` is ``leave_out``)."""
    from ..slots import make_slot, resolve_release

    release = resolve_release(version, env)
    mm = ".".join(release.split(".")[:2])
    table: dict = {"name": name or f"cuda{mm}", "cuda": version,
                   "components": list(components) or ["cudart"]}
    if python:
        table["python"] = python
    if packages:
        table["packages"] = list(packages)
    if leave_out:
        table["leave_out"] = list(leave_out)
    if no_deps:
        table["no_deps"] = list(no_deps)
    slot, _ = make_slot(table, "install", env)
    return slot


__all__ = ["InstallOptions", "default_slot_for", "download", "install_slot", "lock", "pip_argv",
           "sync", "uninstall"]
