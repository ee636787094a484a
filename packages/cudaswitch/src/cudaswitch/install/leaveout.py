"""A slot's ``leave_out``: library files its wheels bring that the slot does not install.

NVIDIA ships some libraries whole that an application uses in part: cuDNN 8 comes as
``*_infer`` and ``*_train`` sub-libraries, and an inference-only program (ONNX Runtime) never
loads the training ones, 313 MB of the CUDA 11.8 slot. What is checked when the slot is
assembled, before it is swapped in (a failed check leaves nothing behind):

- every pattern takes out at least one file (a typo is an error, not a silent no-op);
- no component loses all its libraries (drop it from ``components`` instead);
- no library the slot keeps, and none in its venv, names a left-out one in ``DT_NEEDED``.

What cannot be checked here is a library loaded by name at run time (cuDNN's sub-libraries
are, and NVRTC's builtins): that is what ``cudaswitch exec --verify --provider cuda`` is for.
Such a name must not fall through to a copy further down the loader's search (the host's
cuDNN in ``/usr/lib``, a folder the user's ``LD_LIBRARY_PATH`` keeps): on the H200 a slot
without ``libcudnn_adv`` loaded the host's, of another cuDNN build (docs/gpu-results.md). So
the slot keeps a placeholder under each name a loader may ask for in its place, a short text
file: the loader finds it first, in the slot's own folder, and stops there with "invalid ELF
header" instead of looking further, and a program that needs the library fails as if it were
absent everywhere. A loader may ask for more than the file's own name: cuDNN 9 tries
``libcudnn_adv.so.9.5.1``, ``.so.9.5``, ``.so.9`` and ``.so`` in turn, and on the H200 a
placeholder under ``.so.9`` alone let it go on to the host's ``libcudnn_adv.so``
(docs/gpu-results.md); so the names are the file's, its bare ``.so`` and each leading part of
the version of the wheel that brings it (see ``placeholder_names``).
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence

from .. import fsguard
from ..errors import UsageError
from .needed import base_name, component_of, missing_libraries


def is_left_out(patterns: Sequence[str], path: str) -> bool:
    """Whether ``path`` (a slot-relative path such as ``lib/libcudnn_adv_train.so.8``) is one
    of the library files the patterns take out."""
    if not patterns or not path.startswith("lib/"):
        return False
    name = posixpath.basename(path)
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_left_out(slot_name: str, patterns: Sequence[str], left: Iterable[str],
                   kept: Iterable[str]) -> None:
    """UsageError when a pattern matched nothing or a component kept none of its libraries."""
    left_names = [posixpath.basename(p) for p in left]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in left_names)]
    kept_names = [posixpath.basename(p) for p in kept if p.startswith("lib/")]
    if unmatched:
        libs = sorted(n for n in kept_names if ".so" in n)
        raise UsageError(f"slot {slot_name}: leave_out {', '.join(map(repr, unmatched))} "
                         f"matches no library of the slot's wheels (they bring: "
                         f"{', '.join(libs)[:400]})")
    emptied = sorted({c for n in left_names if (c := component_of(n))}
                     - {c for n in kept_names if (c := component_of(n))})
    if emptied:
        raise UsageError(f"slot {slot_name}: leave_out takes out every library of "
                         f"{', '.join(emptied)}; take the component out of components instead")


def check_needed(slot_name: str, patterns: Sequence[str], venv: str | None, root: str,
                 components: Sequence[str], left: Mapping[str, object]) -> None:
    """UsageError naming each left-out library that a kept one (or the venv) needs."""
    names = {posixpath.basename(p) for p in left}
    hits = [m for m in missing_libraries(venv, root, components) if m.library in names]
    if hits:
        raise UsageError(
            f"slot {slot_name}: leave_out ({', '.join(patterns)}) takes out libraries that "
            "others need; nothing was installed:\n" + "\n".join(
                f"  {m.library} is needed by {m.needed_by}" for m in hits))


def placeholder_names(name: str, wheel_version: str) -> list[str]:
    """The names a loader may try for the left-out library ``name`` of a wheel of version
    ``wheel_version``: the name itself, its bare ``.so``, and ``.so.`` with each leading part
    of the wheel's version when that version has the file's major (``libcudnn_adv.so.9`` of
    nvidia-cudnn-cu12 9.5.1.17: ``.so``, ``.so.9``, ``.so.9.5``, ``.so.9.5.1``,
    ``.so.9.5.1.17``)."""
    base = base_name(name)
    if base is None:
        return [name]
    stem = f"{base}.so"
    major = name[len(stem) + 1:].split(".")[0]
    names = {name, stem}
    parts = list(itertools.takewhile(str.isdigit, wheel_version.split(".")))
    if parts and parts[0] == major:
        names.update(f"{stem}.{'.'.join(parts[:k])}" for k in range(1, len(parts) + 1))
    return sorted(names)


def write_placeholders(slot_name: str, patterns: Sequence[str], root: str,
                       left: Mapping[str, str]) -> list[str]:
    """Placeholders in ``root`` for the left-out libraries (``left``: slot-relative path ->
    version of the wheel that brings it), under every name ``placeholder_names`` gives that
    the slot does not hold already (see the module's docstring); returns their paths, relative
    to ``root``, for the slot's record."""
    out = []
    for rel, version in sorted(left.items()):
        folder, name = posixpath.split(rel)
        for alias in placeholder_names(name, version):
            path = posixpath.join(folder, alias)
            if path in out or os.path.lexists(os.path.join(root, path)):
                continue  # a file the slot keeps, or a link to one, stays what it is
            fsguard.atomic_write(
                os.path.join(root, path),
                f"{name} was left out of slot {slot_name} by cudaswitch (leave_out: "
                f"{', '.join(patterns)}). This file stands in its place so that the dynamic "
                "loader stops here instead of loading a copy of another build from elsewhere "
                "on the host. Install the slot without that leave_out for a program that needs "
                "it.\n", mode=0o644)
            out.append(path)
    return sorted(out)
