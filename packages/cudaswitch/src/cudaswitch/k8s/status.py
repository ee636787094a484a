"""A ``CudaRuntime``'s status from the nodes' labels, as pure functions the operator calls.

The status lists the nodes that can run the runtime and those that cannot with the verdict's
reason, the release the nodes were judged against, and two conditions: ``Valid`` (the spec
parses and names a published CUDA) and ``Placeable`` (some node fits). A condition keeps its
``lastTransitionTime`` while its status stays the same, so an unchanged fleet writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from . import gfd
from .placement import PlacementError, node_verdict
from .runtime import request_from_object


def _condition(ctype: str, ok: bool, reason: str, message: str, generation: int | None,
               now: str, previous: Sequence[Mapping]) -> dict:
    status = "True" if ok else "False"
    old = next((c for c in previous if isinstance(c, Mapping) and c.get("type") == ctype), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond = {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since or now}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def runtime_status(obj: Mapping, nodes: Iterable[tuple[str, Mapping[str, str]]], now: str,
                   previous: Mapping | None = None) -> dict:
    """The whole ``status`` of one runtime; ``now`` is an RFC 3339 time for new transitions."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation") if isinstance(meta.get("generation"), int) else None
    old_conditions = list((previous or {}).get("conditions") or [])
    status: dict = {}
    if generation is not None:
        status["observedGeneration"] = generation
    try:
        request = request_from_object(obj)
    except PlacementError as e:
        status.update({"fitting": 0, "fittingNodes": [], "unfitNodes": [], "conditions": [
            _condition("Valid", False, "InvalidSpec", str(e), generation, now, old_conditions),
            _condition("Placeable", False, "InvalidSpec", "the spec does not parse",
                       generation, now, old_conditions)]})
        return status
    fitting, unfit = [], []
    for name, labels in sorted(nodes, key=lambda n: n[0]):
        facts = gfd.node_facts(name, labels)
        if facts.missing and facts.driver is None:
            continue  # not a GPU node: no GFD labels at all
        v = node_verdict(request, facts)
        if v.kind in ("native", "minor-compat"):
            fitting.append(name)
        else:
            unfit.append({"node": name, "verdict": v.kind, "reason": v.reason})
    status.update({
        "cuda": str(request.version),
        "minDriver": request.needs_driver or "",
        "fitting": len(fitting),
        "fittingNodes": fitting,
        "unfitNodes": unfit,
        "conditions": [
            _condition("Valid", True, "SpecValid", f"CUDA {request.cuda} is placed as "
                       f"{request.version}", generation, now, old_conditions),
            _condition("Placeable", bool(fitting),
                       "NodesFit" if fitting else "NoNodeFits",
                       f"{len(fitting)} of {len(fitting) + len(unfit)} GPU nodes can run it",
                       generation, now, old_conditions),
        ],
    })
    return status


def fit_change(previous: Mapping | None, current: Mapping) -> str | None:
    """An event message when the set of fitting nodes changed, else None."""
    before = set((previous or {}).get("fittingNodes") or [])
    after = set(current.get("fittingNodes") or [])
    if before == after and previous and previous.get("fitting") == current.get("fitting"):
        return None
    gained, lost = sorted(after - before), sorted(before - after)
    parts = []
    if gained:
        parts.append("now fits " + ", ".join(gained))
    if lost:
        parts.append("no longer fits " + ", ".join(lost))
    return "; ".join(parts) or f"{len(after)} nodes fit"


def same_status(a: Mapping | None, b: Mapping) -> bool:
    return dict(a or {}) == dict(b)
