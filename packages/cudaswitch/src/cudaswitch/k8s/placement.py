"""Placement: (runtime request, a node's GFD labels) -> verdict, and runtime -> node affinity.

The single place where a cluster decides which nodes can run a CUDA runtime. The verdict is
the one ``cudaswitch compat`` gives (``compat.verdict.verdict_for`` on the driver, driver CUDA
and compute capability the labels state), so a node is never judged by a second copy of the
rules; the affinity is the same decision written as node-selector terms, and a test holds the
two equal over a table of nodes. The webhook, the operator, ``cudaswitch k8s nodes`` and the
portal's fleet page (through :func:`fleet_table`) all call these functions.

A version spec that names several releases (``12``, ``>=12.1,<13``) is placed by the oldest
published release it matches: the node must be able to run at least that, and the entrypoint
in the pod then picks among the image's slots with its own check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..compat.data import catalog
from ..compat.verdict import Verdict, arch_targets, builds_for, minor_floor, verdict_for
from ..host import Gpu, Host
from ..versions import CudaVersion, SpecError, VersionSpec, parse_dotted
from . import gfd
from .affinity import ABSENT, Constraint, IntRange, IntSet, at_least, conjoin, node_selector_terms

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
SLOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# distribution/reference's grammar, reduced: [host[:port]/]path[:tag][@digest]
_IMAGE_RE = re.compile(
    r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*"
    r"[a-zA-Z0-9])?)*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$")
RESERVED_ENV = frozenset({"CUDASWITCH_CUDA", "CUDASWITCH_SLOT"})


class PlacementError(ValueError):
    """A runtime request that cannot be placed anywhere; the message says why and what exists."""


@dataclass(frozen=True)
class RuntimeRequest:
    """What a pod asks for: a ``CudaRuntime`` by name, or a bare ``cudaswitch.io/cuda``."""

    name: str
    cuda: str
    version: CudaVersion
    image: str | None = None
    slot: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    min_driver: str | None = None
    gpu_arch: str | None = None

    @property
    def needs_driver(self) -> str | None:
        """The driver this request needs at least: ``minDriver``, else from the compat data."""
        return self.min_driver or minor_floor(self.version) or _release_driver(self.version)


def published_releases() -> tuple[CudaVersion, ...]:
    """CUDA releases (major.minor) NVIDIA lists in the release notes' Table 3."""
    return tuple(sorted({CudaVersion(r.cuda.major, r.cuda.minor) for r in catalog().driver_rows}))


def _release_driver(v: CudaVersion) -> str | None:
    rows = [r for r in catalog().driver_rows if (r.cuda.major, r.cuda.minor) == (v.major, v.minor)]
    return min(rows, key=lambda r: r.min_driver_tuple).min_driver if rows else None


def placement_version(spec_text: str) -> CudaVersion:
    """The oldest published release the spec matches; PlacementError names what exists."""
    try:
        spec = VersionSpec.parse(spec_text)
    except SpecError as e:
        raise PlacementError(str(e)) from e
    if spec.kind in ("auto", "latest"):
        raise PlacementError(f"CUDA spec {spec.text!r} depends on the node; a cluster needs a "
                             "version or a range (e.g. '12.4' or '>=12.1,<13')")
    releases = [r for r in catalog().driver_rows if spec.matches(r.cuda)]
    if not releases:
        known = ", ".join(str(v) for v in published_releases() if v.major >= 11)
        raise PlacementError(f"no CUDA release matches {spec.text!r}; NVIDIA publishes "
                             f"{known}")
    oldest = min(releases, key=lambda r: r.cuda.parts)
    return CudaVersion(oldest.cuda.major, oldest.cuda.minor)


def make_request(name: str, cuda: str, image: str | None = None, slot: str | None = None,
                 env: Iterable[tuple[str, str]] = (), min_driver: str | None = None,
                 gpu_arch: str | None = None) -> RuntimeRequest:
    """A checked request: the spec resolves, the fields are well formed, some GPU could run it."""
    if not isinstance(cuda, str):
        raise PlacementError("cuda: a CUDA version spec is required (e.g. '12.4')")
    version = placement_version(cuda)
    if image is not None and not valid_image(image):
        raise PlacementError(f"image: {image!r} is not an image reference "
                             "(e.g. registry.example.com/team/app:1.0)")
    if slot is not None and (not isinstance(slot, str) or not SLOT_RE.match(slot)):
        raise PlacementError(f"slot: {slot!r} is not a slot name (e.g. cuda12.4)")
    pairs = tuple(env)
    for key, value in pairs:
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            raise PlacementError(f"env: {key!r} is not a variable name")
        if key in RESERVED_ENV:
            raise PlacementError(f"env: {key} is set from cuda/slot; use those fields")
        if not isinstance(value, str):
            raise PlacementError(f"env: {key}: the value must be a string")
    if min_driver is not None and (not isinstance(min_driver, str)
                                   or not parse_dotted(min_driver)
                                   or len(parse_dotted(min_driver)) > 3
                                   or max(parse_dotted(min_driver)) >= gfd.DRIVER_PART_MAX):
        raise PlacementError(f"minDriver: {min_driver!r} is not a driver version "
                             "(e.g. 535.104.05)")
    if gpu_arch is not None:
        try:
            arch = VersionSpec.parse(gpu_arch) if isinstance(gpu_arch, str) else None
        except SpecError as e:
            raise PlacementError(f"gpuArch: {gpu_arch!r} is not a compute capability range "
                                 "(e.g. '>=8.0' or '9.0')") from e
        if arch is None or arch.kind in ("auto", "latest"):
            raise PlacementError(f"gpuArch: {gpu_arch!r} is not a compute capability range "
                                 "(e.g. '>=8.0' or '9.0')")
        if arch_targets(version) is None:
            raise PlacementError(f"gpuArch: the compat data lists no GPU architectures for "
                                 f"CUDA {version}, so nodes cannot be chosen by {gpu_arch!r}; "
                                 "leave gpuArch out, or ask for CUDA 11.0 or newer")
    request = RuntimeRequest(name, cuda, version, image, slot, pairs, min_driver, gpu_arch)
    if not allowed_archs(request) and arch_targets(version) is not None:
        targets = arch_targets(version)
        listed = ", ".join(f"{a}.{b}" for a, b in _target_ccs(version)) if targets else "?"
        raise PlacementError(f"no GPU can run CUDA {version} with gpuArch {gpu_arch!r}: "
                             f"CUDA {version} builds for compute capability {listed}")
    return request


def valid_image(ref: object) -> bool:
    return isinstance(ref, str) and len(ref) <= 512 and bool(_IMAGE_RE.match(ref))


def image_repository(ref: str) -> str:
    """``host/path`` without tag or digest; a bare name is Docker Hub's, as the kubelet reads it."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if rest else "library/" + name)
    return name


def _target_ccs(version: CudaVersion) -> list[tuple[int, int]]:
    t = arch_targets(version)
    out = set()
    for sm in (t.sms if t else ()):
        digits = sm[3:]
        if digits.isdigit() and len(digits) >= 2:
            out.add((int(digits[:-1]), int(digits[-1])))
    return sorted(out)


@lru_cache(maxsize=256)
def allowed_archs(request: RuntimeRequest) -> tuple[tuple[int, int], ...]:
    """Compute capabilities the request may land on: the toolkit's targets (as ``builds_for``
    decides them) within ``gpuArch``; empty when the compat data has no list for it."""
    arch = VersionSpec.parse(request.gpu_arch) if request.gpu_arch else None
    return tuple(cc for cc in _target_ccs(request.version)
                 if builds_for(request.version, f"{cc[0]}.{cc[1]}")
                 and (arch is None or arch.matches(CudaVersion(*cc))))


def node_host(facts: gfd.NodeFacts) -> Host:
    """The node as ``compat`` sees a host: its driver, driver CUDA and one GPU kind."""
    gpus = ((Gpu(0, facts.product or "GPU", "NVIDIA", facts.compute_capability),)
            if facts.compute_capability else ())
    return Host(facts.driver, facts.driver_cuda, gpus, "labels", "labels")


def arch_rule(request: RuntimeRequest) -> bool:
    """Whether the GPU is judged at all: the compat data lists targets for this CUDA (it
    does from 11.0; ``gpuArch`` is refused without them). Without, ``compat`` looks at the
    driver only, and so does placement."""
    return arch_targets(request.version) is not None


def node_verdict(request: RuntimeRequest, facts: gfd.NodeFacts) -> Verdict:
    if facts.driver is None or facts.driver_cuda is None or (
            arch_rule(request) and facts.compute_capability is None):
        return Verdict("unsupported", f"node {facts.name}: {facts.missing}")
    verdict = verdict_for(request.version, node_host(facts))
    if not verdict.runnable:
        return verdict
    if request.min_driver and parse_dotted(facts.driver) < parse_dotted(request.min_driver):
        return Verdict("unsupported", f"driver {facts.driver} is older than the runtime's "
                       f"minDriver {request.min_driver}", request.min_driver, facts.driver_cuda)
    if arch_rule(request):
        assert facts.compute_capability is not None
        major, minor = map(int, facts.compute_capability.split("."))
        if (major, minor) not in allowed_archs(request):
            listed = ", ".join(f"{a}.{b}" for a, b in allowed_archs(request))
            within = f" within gpuArch {request.gpu_arch}" if request.gpu_arch else ""
            return Verdict("unsupported", f"GPU architecture {facts.compute_capability} is not "
                           f"one CUDA {request.version} builds for{within} ({listed})", None,
                           facts.driver_cuda)
    return verdict


def _complete(names: gfd.LabelNames) -> dict[str, Constraint]:
    """What ``gfd.node_facts`` needs to read the driver and its CUDA, as constraints; for
    the deprecated names, also that the node does not have the current ones (it is read
    with those then)."""
    base: dict[str, Constraint] = {k: IntRange(0) for k in (
        names.driver_major, names.driver_minor, names.cuda_major, names.cuda_minor)}
    if names is gfd.DEPRECATED:
        base[gfd.CURRENT.driver_major] = ABSENT
    return base


def _arch_terms(request: RuntimeRequest) -> list[dict[str, Constraint]]:
    """The allowed compute capabilities as ``In`` pairs, majors with the same minors in one."""
    if not arch_rule(request):
        return [{}]
    by_major: dict[int, set[int]] = {}
    for major, minor in allowed_archs(request):
        by_major.setdefault(major, set()).add(minor)
    by_minors: dict[frozenset[int], set[int]] = {}
    for major, minors in sorted(by_major.items()):
        by_minors.setdefault(frozenset(minors), set()).add(major)
    return [{gfd.COMPUTE_MAJOR: IntSet(frozenset(majors)), gfd.COMPUTE_MINOR: IntSet(minors)}
            for minors, majors in sorted(by_minors.items(), key=lambda kv: min(kv[1]))]


def _driver_floor(request: RuntimeRequest) -> tuple[int, ...] | None:
    """The minor-version-compatibility floor, raised to ``minDriver`` when that is higher."""
    floor = minor_floor(request.version)
    if not floor:
        return None
    parts = parse_dotted(floor)
    return max(parts, parse_dotted(request.min_driver)) if request.min_driver else parts


@lru_cache(maxsize=256)
def affinity_terms(request: RuntimeRequest) -> tuple[dict[str, Constraint], ...]:
    """The verdict "native or minor-compat, GPU a target, minDriver and gpuArch met" as OR-ed
    terms, once per generation of GFD label names, with lower bounds only on the driver
    labels. ``compat`` says native when the driver's CUDA is at least the request's, and
    minor-compat when its major is the same and the driver is at least the floor; a driver
    CUDA of a later major is native already, so "same major" is written as "at least the
    major", a single ``Gt``, and no ``In`` is needed on a label ``Gt`` also reads."""
    v = request.version
    floor = _driver_floor(request)
    out: list[dict[str, Constraint]] = []
    for names in gfd.GENERATIONS:
        driver = (names.driver_major, names.driver_minor, names.driver_revision)
        fits = at_least((names.cuda_major, names.cuda_minor), (v.major, v.minor))
        if floor:
            fits += conjoin([{names.cuda_major: IntRange(v.major)}], at_least(driver, floor))
        conditions = [[_complete(names)], fits, _arch_terms(request)]
        if request.min_driver:
            conditions.append(at_least(driver, parse_dotted(request.min_driver)))
        out += conjoin(*conditions)
    return tuple(out)


def required_node_affinity(request: RuntimeRequest) -> list[dict]:
    """``nodeSelectorTerms`` for ``requiredDuringSchedulingIgnoredDuringExecution``."""
    return node_selector_terms(affinity_terms(request))


@dataclass(frozen=True)
class NodeFit:
    runtime: str
    verdict: str
    reason: str

    @property
    def fits(self) -> bool:
        return self.verdict in ("native", "minor-compat")


@dataclass(frozen=True)
class FleetRow:
    """One node of the fleet table, and how every runtime fares on it."""

    facts: gfd.NodeFacts
    fits: tuple[NodeFit, ...]

    def as_dict(self) -> dict:
        return {**self.facts.as_dict(),
                "fits": [f.runtime for f in self.fits if f.fits],
                "does_not_fit": [{"runtime": f.runtime, "verdict": f.verdict,
                                  "reason": f.reason} for f in self.fits if not f.fits],
                "verdicts": {f.runtime: f.verdict for f in self.fits}}


def nodes_from_list(nodes_json: Mapping | Sequence) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of each node in ``kubectl get nodes -o json`` (a List) or a list of nodes."""
    items = nodes_json.get("items") if isinstance(nodes_json, Mapping) else nodes_json
    if not isinstance(items, list):
        raise PlacementError("not a node list: expected kubectl get nodes -o json output "
                             "(an object with 'items')")
    out = []
    for i, node in enumerate(items):
        meta = node.get("metadata") if isinstance(node, Mapping) else None
        if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
            raise PlacementError(f"items[{i}]: a node has metadata.name")
        labels = meta.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise PlacementError(f"items[{i}] ({meta['name']}): metadata.labels is not a map")
        out.append((meta["name"], {str(k): str(v) for k, v in labels.items()}))
    return out


def fleet_table(nodes_json: Mapping | Sequence,
                runtimes: Sequence[RuntimeRequest]) -> list[FleetRow]:
    """The fleet: every node of ``kubectl get nodes -o json`` with its driver, GPU and the
    verdict of each runtime on it. ``cudaswitch k8s nodes`` prints it; the portal's fleet
    page shows the same rows (``fleet_table(nodes_json, runtimes)``)."""
    rows = []
    for name, labels in nodes_from_list(nodes_json):
        facts = gfd.node_facts(name, labels)
        fits = tuple(NodeFit(r.name, (v := node_verdict(r, facts)).kind, v.reason)
                     for r in runtimes)
        rows.append(FleetRow(facts, fits))
    return rows
