"""Where toolkits are looked for, in order, and the small runner that walks those places.

Each step yields (root, found_via, layout) candidates; the runner probes them, keeps the first
toolkit found at each real path and records the other names it was seen under as aliases.
Nothing here raises on a bad folder: it becomes a broken toolkit with its reason.
"""

from __future__ import annotations

import dataclasses
import os
import site
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence

from .conda import probe_conda
from .debian import probe_debian
from .layout import looks_like_toolkit, probe_toolkit
from .model import Toolkit
from .wheels import probe_wheels

PATH_ENV = "CUDASWITCH_PATH"
HOME_ENV = "CUDASWITCH_HOME"
PREFIX_ENV = "CUDASWITCH_SYSTEM_PREFIX"


def data_home(env: Mapping[str, str]) -> str:
    """Where managed toolkits and state live: ``$CUDASWITCH_HOME``, else a per-user folder."""
    if env.get(HOME_ENV):
        return env[HOME_ENV]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/opt/cudaswitch"
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "cudaswitch")


Candidate = tuple[str, str, str]


def _split(value: str | None) -> list[str]:
    return [p for p in (value or "").split(":") if p]


def _root_candidates(root: str, found_via: str, layout: str = "toolkit",
                     seen: list[str] | None = None) -> Iterator[Candidate]:
    """A root may be a toolkit, a folder of NVIDIA wheels, or a folder of either."""
    if seen is not None:
        seen.append(root)
    if os.path.isdir(os.path.join(root, "nvidia")):
        yield (root, found_via, "pip-wheels")
    elif looks_like_toolkit(root) or (os.path.islink(root) and not os.path.exists(root)):
        yield (root, found_via, layout)
    elif os.path.isdir(root):
        try:
            children = sorted(os.listdir(root))
        except OSError:
            yield (root, found_via, layout)
            return
        for child in children:
            if child.startswith("."):
                continue
            path = os.path.join(root, child)
            if seen is not None:
                seen.append(path)
            if os.path.isdir(os.path.join(path, "nvidia")):
                yield (path, found_via, "pip-wheels")
            elif (looks_like_toolkit(path) or child.startswith("cuda")
                  or (os.path.islink(path) and not os.path.exists(path))):
                yield (path, found_via, layout)


def candidates(env: Mapping[str, str], search_paths: Sequence[str] = (),
               seen: list[str] | None = None) -> Iterator[Candidate]:
    """Every place a toolkit may be, in order; ``seen`` collects each folder looked at (the
    entrypoint's cache watches them)."""
    for root in search_paths:
        yield from _root_candidates(root, "--search-path", seen=seen)
    for root in _split(env.get(PATH_ENV)):
        yield from _root_candidates(root, PATH_ENV, seen=seen)
    managed = os.path.join(data_home(env), "toolkits")
    if seen is not None:
        seen.append(managed)
    if os.path.isdir(managed):
        yield from _root_candidates(managed, "managed", "managed", seen=seen)
    for var in ("CUDA_HOME", "CUDA_PATH", "CONDA_PREFIX"):
        if env.get(var) and seen is not None:
            seen += [env[var], os.path.join(env[var], "conda-meta")]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            yield (env[var], var, "toolkit")
    prefix = env.get(PREFIX_ENV) or "/"
    local = os.path.join(prefix, "usr/local")
    if seen is not None:
        seen += [local, os.path.join(local, "cuda"),
                 os.path.join(prefix, "usr/lib/nvidia-cuda-toolkit"), *site_candidates()]
    try:
        names = sorted(n for n in os.listdir(local) if n.startswith("cuda-"))
    except OSError:
        names = []
    for n in names:
        yield (os.path.join(local, n), "/usr/local/cuda-*", "toolkit")
    if os.path.lexists(os.path.join(local, "cuda")):
        yield (os.path.join(local, "cuda"), "/usr/local/cuda", "toolkit")
    if env.get("CONDA_PREFIX"):
        yield (env["CONDA_PREFIX"], "CONDA_PREFIX", "conda")
    yield (prefix, "nvidia-cuda-toolkit package", "debian")
    for sp in site_dirs():
        yield (sp, "site-packages", "pip-wheels")


def site_candidates() -> list[str]:
    """This interpreter's site-packages folders, whether or not they hold NVIDIA wheels."""
    try:
        dirs = [*site.getsitepackages(), site.getusersitepackages()]
    except AttributeError:
        dirs = []
    dirs += [p for p in sys.path if p.endswith("-packages")]
    return list(dict.fromkeys(d for d in dirs if d))


def site_dirs() -> Iterable[str]:
    return [d for d in site_candidates() if os.path.isdir(os.path.join(d, "nvidia"))]


def _probe(root: str, found_via: str, layout: str) -> list[Toolkit]:
    if layout == "pip-wheels":
        return probe_wheels(root, found_via)
    if layout == "conda":
        tk = probe_conda(root, found_via)
        return [tk] if tk else []
    if layout == "debian":
        tk = probe_debian(root)
        return [tk] if tk else []
    tk = probe_toolkit(root, found_via, layout)
    return [tk] if tk else []


def discover(env: Mapping[str, str] | None = None, search_paths: Sequence[str] = (),
             seen: list[str] | None = None) -> tuple[Toolkit, ...]:
    """Every toolkit visible from here, broken ones included, duplicates folded into aliases."""
    env = os.environ if env is None else env
    found: dict[str, Toolkit] = {}
    for root, via, layout in candidates(env, search_paths, seen):
        try:
            real = os.path.realpath(root) if os.path.exists(root) else root
            if layout != "pip-wheels" and real in found:
                prev = found[real]
                if root != prev.root and root not in prev.aliases:
                    found[real] = dataclasses.replace(prev, aliases=(*prev.aliases, root))
                continue
            for tk in _probe(root, via, layout):
                key = os.path.realpath(tk.root) if os.path.exists(tk.root) else tk.root
                if key in found:
                    continue
                if tk.root != root and layout != "pip-wheels":
                    tk = dataclasses.replace(tk, aliases=(root,))
                found[key] = tk
        except OSError as e:
            found.setdefault(root, Toolkit(root, None, layout, via, broken=f"unreadable: {e}"))
    return tuple(found.values())
