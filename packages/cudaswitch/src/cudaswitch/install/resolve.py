"""From a slot to exact wheels: the ``cuda-toolkit`` metapackage pins every component.

NVIDIA's ``cuda-toolkit[...]==X.Y.Z`` extras pin the top-level wheels but not what they need
(``cuda-toolkit[nvcc]==13.0.2`` alone brings the newest ``nvidia-nvvm``, a mixed toolkit). Its
``all`` extra lists the exact version of every component of the release, so we resolve twice:
first the metapackage alone to read those pins (cached per release), then the slot's extras,
cuDNN and TensorRT with the pins as pip constraints. pip reports URLs and sha256 hashes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..slotrecord import Wheel
from ..slots import Slot
from .pip import IndexOptions, PipError, dry_run_report
from .releases import CUDNN_PACKAGE, NVIDIA_INDEX, TENSORRT_PACKAGE, TOOLKIT_EXTRAS

_EXTRA_RE = re.compile(r"""extra\s*==\s*['"]([A-Za-z0-9_.-]+)['"]""")


@dataclass(frozen=True)
class ReleasePins:
    release: str
    pins: tuple[str, ...]
    extras: tuple[str, ...]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    """``onnxruntime_gpu[extra]==1.18.*`` -> ``onnxruntime-gpu``: the name pip reports."""
    return normalize(re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0])


def _wheels_from_report(report: dict) -> list[Wheel]:
    out = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        info = item.get("download_info", {})
        url = str(info.get("url", ""))
        sha = (info.get("archive_info") or {}).get("hashes", {}).get("sha256") or ""
        if not sha:
            h = str((info.get("archive_info") or {}).get("hash", ""))
            sha = h.split("=", 1)[1] if h.startswith("sha256=") else ""
        out.append(Wheel(normalize(meta["name"]), str(meta["version"]),
                         url.rsplit("/", 1)[-1].split("#")[0], url, sha))
    return sorted(out, key=lambda w: w.name)


def release_pins(release: str, index: IndexOptions, cache: str,
                 env: Mapping[str, str] | None = None) -> ReleasePins:
    """The ``all`` extra's exact pins and the extras of ``cuda-toolkit==release``."""
    path = os.path.join(cache, "cuda-toolkit", f"{release}.json")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return ReleasePins(release, tuple(d["pins"]), tuple(d["extras"]))
    except (OSError, ValueError, KeyError):
        pass
    report = dry_run_report([f"cuda-toolkit=={release}"], [], index, env,
                            f"reading cuda-toolkit {release}")
    item = next((i for i in report.get("install", [])
                 if normalize(i["metadata"]["name"]) == "cuda-toolkit"), None)
    if item is None:
        raise PipError(f"pip did not return cuda-toolkit {release}")
    pins: list[str] = []
    extras: set[str] = set()
    for req in item["metadata"].get("requires_dist") or []:
        m = _EXTRA_RE.search(req)
        if not m:
            continue
        extras.add(m.group(1))
        if m.group(1) == "all":
            pins.append(req.split(";", 1)[0].strip())
    extras.discard("all")
    got = ReleasePins(release, tuple(sorted(pins)), tuple(sorted(extras)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"pins": got.pins, "extras": got.extras}, f, indent=1)
    os.replace(tmp, path)
    return got


def _lib_req(package: str, spec: str | None) -> str:
    if not spec:
        return package
    s = spec.strip()
    return f"{package}{s}" if s[0] in "=<>~!" else f"{package}=={s}"


def requirements(slot: Slot, pins: ReleasePins) -> list[str]:
    """pip requirement strings for a slot (validated names and specs only)."""
    comps = set(slot.components) | {"cudart"}
    extras = sorted(c for c in comps if c in TOOLKIT_EXTRAS)
    missing = [c for c in extras if c not in pins.extras]
    if missing:
        raise UsageError(f"CUDA {pins.release} (cuda-toolkit on PyPI) has no component "
                         f"{', '.join(missing)}; it has: {', '.join(pins.extras)}")
    reqs = [f"cuda-toolkit[{','.join(extras)}]=={pins.release}"]
    major = slot.major
    if "ptxas" in comps:
        nvcc = next((p for p in pins.pins if normalize(p.split("=")[0]).startswith(
            "nvidia-cuda-nvcc")), None)
        if nvcc:
            reqs.append(nvcc)
    if "cudnn" in comps:
        reqs.append(_lib_req(CUDNN_PACKAGE[major], slot.cudnn))
    if "tensorrt" in comps:
        reqs.append(_lib_req(TENSORRT_PACKAGE[major], slot.tensorrt))
    return reqs


def index_for(slot: Slot, index: IndexOptions) -> IndexOptions:
    """TensorRT's wheels live on NVIDIA's index (PyPI has only source stubs for them)."""
    if "tensorrt" in slot.components and not index.wheelhouse \
            and NVIDIA_INDEX not in index.extra_index_urls:
        return IndexOptions(index.wheelhouse, index.index_url,
                            (*index.extra_index_urls, NVIDIA_INDEX))
    return index


def resolve_slot(slot: Slot, index: IndexOptions, cache: str,
                 env: Mapping[str, str] | None = None) -> list[Wheel]:
    pins = release_pins(slot.release, index, cache, env)
    reqs = requirements(slot, pins)
    report = dry_run_report(reqs, pins.pins, index_for(slot, index), env,
                            f"resolving slot {slot.name}")
    return _checked(_wheels_from_report(report))


def _checked(wheels: list[Wheel]) -> list[Wheel]:
    bad = [w.name for w in wheels if not w.sha256 or not w.filename.endswith(".whl")]
    if bad:
        raise PipError(f"pip gave no wheel with a sha256 for {', '.join(bad)}")
    return wheels


def resolve_packages(requirements: Sequence[str], python: str | None, index: IndexOptions,
                     env: Mapping[str, str] | None = None,
                     what: str = "resolving Python packages", no_deps: Collection[str] = (),
                     platform: Sequence[str] = ()) -> list[Wheel]:
    """Every wheel (dependencies included) pip picks for ``requirements`` on Python
    ``python`` (``X.Y``; or on the interpreter and platform ``platform``'s pip options name),
    each with its sha256.

    A requirement whose name ``no_deps`` holds is pinned alone, without the dependencies it
    declares (pip ``--no-deps``); the others are then resolved with those pins as constraints,
    so its dependencies come only if another package needs them, and a package that needs it
    gets the same release."""
    def resolved(reqs: Sequence[str], constraints: Sequence[str], alone: bool) -> list[Wheel]:
        if not reqs:
            return []
        return _checked(_wheels_from_report(dry_run_report(
            reqs, constraints, index, env, what, python, platform, no_deps=alone)))

    pinned = resolved([r for r in requirements if requirement_name(r) in no_deps], [], True)
    rest = resolved([r for r in requirements if requirement_name(r) not in no_deps],
                    [f"{w.name}=={w.version}" for w in pinned], False)
    return sorted({w.name: w for w in (*pinned, *rest)}.values(), key=lambda w: w.name)


def resolve_venv(slot: Slot, python: str, index: IndexOptions,
                 env: Mapping[str, str] | None = None,
                 what: str | None = None) -> list[Wheel]:
    """The slot's whole Python environment for its interpreter's ``X.Y``."""
    return resolve_packages(slot.packages, python, index, env,
                            what or f"resolving the Python packages of slot {slot.name}",
                            slot.no_deps)
