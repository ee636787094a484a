"""The kopf operator: keeps every ``CudaRuntime``'s status current from the nodes' labels.

Nodes are indexed by their labels (kopf keeps the index current from a watch); each runtime
is judged again when it is created, edited or resumed, and on a short timer that rewrites
its status only when the fleet changed what it says, so a node label change shows within
``RECHECK_SECONDS``. Status comes from ``status.runtime_status`` (pure); events say which
nodes started or stopped fitting. One replica, standalone: no peering objects needed.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from .crd import GROUP, PLURAL, VERSION
from .status import fit_change, runtime_status, same_status

RECHECK_SECONDS = 3.0
ANNOTATION_PREFIX = "cudaswitch.io"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    settings.posting.level = logging.INFO
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration")
    settings.watching.server_timeout = 300


@kopf.index("", "v1", "nodes")
def node_labels(name: str, labels: Mapping[str, str], **_: Any) -> dict:
    return {name: dict(labels)}


def _nodes(index: kopf.Index) -> list[tuple[str, dict]]:
    out = []
    for name, store in index.items():
        for labels in store:
            out.append((name, labels))
            break
    return out


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(body: kopf.Body, patch: kopf.Patch, node_labels: kopf.Index, **_: Any) -> None:
    previous = dict(body.get("status") or {})
    status = runtime_status(body, _nodes(node_labels), _now(), previous)
    if same_status(previous, status):
        return
    for key, value in status.items():
        patch.status[key] = value
    message = fit_change(previous, status)
    if message:
        kopf.info(body, reason="Placement", message=message)
    invalid = next((c for c in status["conditions"] if c["type"] == "Valid"
                    and c["status"] == "False"), None)
    if invalid:
        kopf.warn(body, reason="InvalidSpec", message=invalid["message"])


kopf.on.resume(GROUP, VERSION, PLURAL)(reconcile)
kopf.on.create(GROUP, VERSION, PLURAL)(reconcile)
kopf.on.update(GROUP, VERSION, PLURAL)(reconcile)
kopf.timer(GROUP, VERSION, PLURAL, interval=RECHECK_SECONDS, id="recheck")(reconcile)


def run() -> int:
    kopf.configure(verbose=False)
    kopf.run(clusterwide=True, standalone=True)
    return 0
