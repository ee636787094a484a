"""What the mutating webhook does to a pod, as a pure function: pod + catalog -> decision.

A pod annotated ``cudaswitch.io/runtime: NAME`` or ``cudaswitch.io/cuda: SPEC`` gets, in its
GPU containers, the selection variable the entrypoint reads and the runtime's ``env``, and a
required node affinity that admits only nodes whose driver and GPU can run it. The pod's own
required terms are kept: each of them is AND-ed with each of ours. The result is marked with
an annotation holding a digest of what was applied; admitting the output again changes
nothing, because the digest matches and the pod's affinity already implies ours (a copied
digest without that affinity does not skip placement). Pods without either annotation are
never touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from .gzipped import Deflated, deflate_once
from .jsontext import compact_ascii as _compact
from .placement import (
    PlacementError,
    RuntimeRequest,
    image_repository,
    make_request,
    required_node_affinity,
)
from .runtime import Catalog

RUNTIME_ANNOTATION = "cudaswitch.io/runtime"
CUDA_ANNOTATION = "cudaswitch.io/cuda"
CONTAINERS_ANNOTATION = "cudaswitch.io/containers"
PLACED_ANNOTATION = "cudaswitch.io/placed"
GPU_RESOURCE = "nvidia.com/gpu"
SPEC_ENV, SLOT_ENV = "CUDASWITCH_CUDA", "CUDASWITCH_SLOT"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True)
class Decision:
    """The answer for one object. ``patch`` is the JSONPatch as JSON text in pieces (empty for
    none), each piece a whole number of 3-byte groups (padded with JSON whitespace), so the
    base64 the review carries is the pieces' base64 joined. The node affinity is the same
    ~30 KB for every pod of a runtime: its piece is encoded once per runtime (text and
    base64) and reused, not encoded again for each pod."""

    allowed: bool
    message: str = ""
    patch: tuple[str, ...] = ()
    code: int = 200
    warnings: tuple[str, ...] = field(default=())

    @property
    def patch_json(self) -> str:
        return "".join(self.patch)

    @property
    def operations(self) -> list[dict]:
        return json.loads(self.patch_json) if self.patch else []

    @property
    def patch_base64(self) -> str:
        return "".join(_base64_cached(p) if len(p) > _BIG else _base64(p) for p in self.patch)

    @property
    def patch_size(self) -> int:
        return sum(len(p) for p in self.patch)

    def patch_base64_parts(self) -> list[bytes | Deflated]:
        """The base64 in pieces for a gzip answer: the big ones deflated once and reused."""
        return list(self._base64_parts)

    @cached_property
    def _base64_parts(self) -> tuple[bytes | Deflated, ...]:
        # a decision is reused for the pods of one template (admission.PodDecisions)
        return tuple(_deflated_cached(p) if len(p) > _BIG else _base64(p).encode("ascii")
                     for p in self.patch)


_BIG = 1024


def _base64(piece: str) -> str:
    return base64.b64encode(piece.encode("ascii")).decode("ascii")


@lru_cache(maxsize=256)
def _base64_cached(piece: str) -> str:
    """For the big pieces, which are the same string objects every time (hash kept)."""
    return _base64(piece)


@lru_cache(maxsize=256)
def _deflated_cached(piece: str) -> Deflated:
    return deflate_once(_base64_cached(piece).encode("ascii"))


def _piece(sep: str, op_json: str) -> str:
    """``sep`` + the op, padded with spaces to a multiple of 3 bytes (all ASCII: see _compact)."""
    text = sep + op_json
    return text + " " * (-len(text) % 3)


_CLOSE = _piece("]", "")


@dataclass(frozen=True, eq=False)
class Placement:
    """What a runtime writes into every pod, computed once per runtime: the rendered
    ``nodeSelectorTerms`` (never mutated), their JSON text, and the idempotency digest."""

    terms: tuple[dict, ...]
    terms_json: str
    digest: str


@lru_cache(maxsize=512)
def placement_for(request: RuntimeRequest) -> Placement:
    terms = required_node_affinity(request)
    return Placement(tuple(terms), _compact(terms), placement_digest(request, terms))


def deny(message: str, code: int = 403) -> Decision:
    return Decision(False, message, code=code)


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def request_for_pod(annotations: Mapping[str, str], catalog: Catalog) -> RuntimeRequest:
    name, spec = annotations.get(RUNTIME_ANNOTATION), annotations.get(CUDA_ANNOTATION)
    if name is not None and spec is not None:
        raise PlacementError(f"the pod has both {RUNTIME_ANNOTATION} and {CUDA_ANNOTATION}; "
                             "use one")
    if name is not None:
        if name not in catalog.runtimes:
            known = ", ".join(sorted(catalog.runtimes)) or "none"
            raise PlacementError(f"{RUNTIME_ANNOTATION}: no CudaRuntime named {name!r} "
                                 f"(CudaRuntimes: {known})")
        return catalog.runtimes[name]
    assert spec is not None
    try:
        return make_request(f"cuda {spec}", spec)
    except PlacementError as e:
        raise PlacementError(f"{CUDA_ANNOTATION}: {e}") from e


def _gpu_containers(pod: Mapping, annotations: Mapping[str, str]) -> list[int]:
    containers = pod["spec"]["containers"]
    names = [c.get("name") for c in containers]
    if CONTAINERS_ANNOTATION in annotations:
        wanted = [n.strip() for n in annotations[CONTAINERS_ANNOTATION].split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown or not wanted:
            raise PlacementError(f"{CONTAINERS_ANNOTATION}: no container named "
                                 f"{', '.join(unknown) or '(empty list)'} "
                                 f"(containers: {', '.join(map(str, names))})")
        return [names.index(n) for n in dict.fromkeys(wanted)]
    picked = []
    for i, c in enumerate(containers):
        res = c.get("resources") or {}
        if any(GPU_RESOURCE in (res.get(k) or {}) for k in ("limits", "requests")):
            picked.append(i)
    if not picked:
        raise PlacementError(f"no container requests {GPU_RESOURCE}; request it, or name the "
                             f"containers in {CONTAINERS_ANNOTATION}")
    return picked


def _check_images(pod: Mapping, indexes: Sequence[int], request: RuntimeRequest,
                  catalog: Catalog, by_name: bool) -> None:
    if by_name:
        known = frozenset({_repository(request.image)} if request.image else ()) | \
            catalog.extra_repositories
    else:
        known = catalog.image_repositories
    for i in indexes:
        c = pod["spec"]["containers"][i]
        image = c.get("image")
        if not isinstance(image, str) or _repository(image) not in known:
            listed = ", ".join(sorted(known)) or "none"
            owner = f"CudaRuntime {request.name!r}" if by_name else "any CudaRuntime"
            raise PlacementError(f"container {c.get('name')!r} runs {image!r}, which is not a "
                                 f"multi-CUDA image of {owner} (multi-CUDA images: {listed})")


@lru_cache(maxsize=4096)
def _repository(image: str) -> str:
    return image_repository(image)


def _wanted_env(request: RuntimeRequest) -> list[tuple[str, str]]:
    head = (SLOT_ENV, request.slot) if request.slot else (SPEC_ENV, request.cuda)
    return [head, *request.env]


def _env_ops(i: int, container: Mapping, wanted: list[tuple[str, str]]) -> list[dict]:
    env = container.get("env")
    if not env:
        return [{"op": "add", "path": _pointer("spec", "containers", i, "env"),
                 "value": [{"name": k, "value": v} for k, v in wanted]}]
    ops: list[dict] = []
    names = [e.get("name") for e in env]
    other = SPEC_ENV if wanted[0][0] == SLOT_ENV else SLOT_ENV
    for k, v in wanted:
        if k in names:
            j = names.index(k)
            if env[j] != {"name": k, "value": v}:
                ops.append({"op": "replace", "path": _pointer("spec", "containers", i, "env", j),
                            "value": {"name": k, "value": v}})
        else:
            ops.append({"op": "add", "path": _pointer("spec", "containers", i, "env", "-"),
                        "value": {"name": k, "value": v}})
    if other in names:  # both at once is an error for the entrypoint; the annotation decides
        ops.append({"op": "remove",
                    "path": _pointer("spec", "containers", i, "env", names.index(other))})
    return ops


def _merge_terms(existing: Sequence[Mapping], ours: Sequence[Mapping]) -> list[dict]:
    if not existing:
        return [dict(t) for t in ours]
    out = []
    for e in existing:
        for o in ours:
            merged = {k: v for k, v in e.items() if k != "matchExpressions"}
            exprs = list(e.get("matchExpressions") or [])
            exprs += [x for x in o["matchExpressions"] if x not in exprs]
            merged["matchExpressions"] = exprs
            out.append(merged)
    return out


def _existing_terms(pod: Mapping) -> list | None:
    affinity = pod["spec"].get("affinity")
    node = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    required = node.get(_REQUIRED) if isinstance(node, Mapping) else None
    existing = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    return existing if isinstance(existing, list) else None


def implies(existing: Sequence[Mapping] | None, ours: Sequence[Mapping]) -> bool:
    """Every existing term holds all expressions of one of ours, so the pod's required affinity
    already admits no node ours would refuse (what a placed pod looks like)."""
    if not existing:
        return False
    wanted = [_expression_set(o) for o in ours]
    return all(isinstance(e, Mapping) and any(w <= _expression_set(e) for w in wanted)
               for e in existing)


def _expression_set(term: Mapping) -> frozenset:
    exprs = term.get("matchExpressions")
    if not isinstance(exprs, list):
        return frozenset()
    return frozenset(
        (str(x.get("key")), str(x.get("operator")),
         tuple(map(str, x.get("values") or ())) if isinstance(x.get("values"), list) else ())
        for x in exprs if isinstance(x, Mapping))


_TERMS = "\x00terms\x00"  # stands for the cached terms in an op encoded here (no pod data)


def _affinity_pieces(pod: Mapping, placement: Placement, sep: str) -> list[str]:
    """The op that writes the required affinity. With required terms of the pod's own, they
    are AND-ed with ours; without, the op depends only on where the pod's affinity stops, and
    its piece is made once per runtime and shape."""
    spec = pod["spec"]
    affinity = spec.get("affinity")
    node = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    required = node.get(_REQUIRED) if isinstance(node, Mapping) else None
    existing = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
    if existing:
        merged = _merge_terms(existing, placement.terms)
        return [_piece(sep, _compact(op))
                for op in _selector_ops(affinity, node, required, existing, merged)]
    shape = (isinstance(affinity, Mapping), isinstance(node, Mapping),
             isinstance(required, Mapping), existing is None)
    return [_spliced_piece(placement, shape, sep)]


@lru_cache(maxsize=1024)
def _spliced_piece(placement: Placement, shape: tuple[bool, bool, bool, bool], sep: str) -> str:
    affinity, node, required, no_terms = shape
    (op,) = _selector_ops({} if affinity else None, {} if node else None,
                          {} if required else None, None if no_terms else [], _TERMS)
    return _piece(sep, _compact(op).replace(_compact(_TERMS), placement.terms_json, 1))


def _selector_ops(affinity: object, node: object, required: object, existing: object,
                  merged: object) -> list[dict]:
    selector = {"nodeSelectorTerms": merged}
    if not isinstance(affinity, Mapping):
        return [{"op": "add", "path": "/spec/affinity",
                 "value": {"nodeAffinity": {_REQUIRED: selector}}}]
    if not isinstance(node, Mapping):
        return [{"op": "add", "path": "/spec/affinity/nodeAffinity",
                 "value": {_REQUIRED: selector}}]
    if not isinstance(required, Mapping):
        return [{"op": "add", "path": _pointer("spec", "affinity", "nodeAffinity", _REQUIRED),
                 "value": selector}]
    return [{"op": "add" if existing is None else "replace",
             "path": _pointer("spec", "affinity", "nodeAffinity", _REQUIRED, "nodeSelectorTerms"),
             "value": merged}]


_PLACED_PATH = "/metadata/annotations/" + PLACED_ANNOTATION.replace("/", "~1")


@lru_cache(maxsize=512)
def _placed_piece(digest: str) -> str:
    return _piece(",", _compact({"op": "add", "path": _PLACED_PATH, "value": digest}))


def placement_digest(request: RuntimeRequest, terms: list[dict]) -> str:
    text = json.dumps([request.name, _wanted_env(request), terms], sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def mutate_pod(pod: Mapping, catalog: Catalog) -> Decision:
    """The decision for one pod; the caller has checked that ``pod`` is an object with
    ``spec.containers`` a list of objects (``admission.check_pod``)."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if RUNTIME_ANNOTATION not in annotations and CUDA_ANNOTATION not in annotations:
        return Decision(True)
    by_name = RUNTIME_ANNOTATION in annotations
    try:
        request = request_for_pod(annotations, catalog)
        indexes = _gpu_containers(pod, annotations)
        _check_images(pod, indexes, request, catalog, by_name)
    except PlacementError as e:
        return deny(str(e))
    placement = placement_for(request)
    digest = placement.digest
    wanted = _wanted_env(request)
    pieces: list[str] = []
    for i in indexes:
        for op in _env_ops(i, pod["spec"]["containers"][i], wanted):
            pieces.append(_piece("," if pieces else "[", _compact(op)))
    if annotations.get(PLACED_ANNOTATION) != digest or \
            not implies(_existing_terms(pod), placement.terms):
        pieces += _affinity_pieces(pod, placement, "," if pieces else "[")
        if annotations.get(PLACED_ANNOTATION) != digest:
            pieces.append(_placed_piece(digest))
    return Decision(True, f"placed for CUDA {request.version} ({request.name})",
                    (*pieces, _CLOSE) if pieces else ())
