"""``admission.k8s.io/v1`` AdmissionReview in and out, with nothing assumed about the input.

A review that is not one (not JSON, not an object, wrong apiVersion or kind, no ``uid``, no
object, the wrong resource for the path) is a ``ReviewError``: the server answers 400 with the
reason, never an allow. A well-formed review gets a response carrying its ``uid``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

from .crd import API_VERSION, GROUP, KIND, PLURAL
from .gzipped import gzip_join
from .jsontext import dumps as _dumps
from .jsontext import loads as _loads
from .mutate import Decision, deny, mutate_pod
from .placement import PlacementError
from .runtime import Catalog, request_from_object

REVIEW_API = "admission.k8s.io/v1"
MAX_BODY = 8 * 2**20  # an object is at most ~3 MiB in etcd; a review carries two of them
MAX_UID = 128


class ReviewError(ValueError):
    """Not an AdmissionReview this endpoint can answer; the message says what was wrong."""


def parse_review(body: bytes) -> tuple[str, Mapping]:
    """(uid, request) of a review, or ReviewError."""
    if not body:
        raise ReviewError("empty body; expected an admission.k8s.io/v1 AdmissionReview")
    if len(body) > MAX_BODY:
        raise ReviewError(f"body is {len(body)} bytes, over the {MAX_BODY} byte limit")
    try:
        review = _loads(body)
    except (ValueError, RecursionError) as e:
        raise ReviewError(f"body is not JSON ({type(e).__name__}: {str(e)[:80]})") from e
    if not isinstance(review, dict):
        raise ReviewError("body is JSON but not an object; expected an AdmissionReview")
    if review.get("apiVersion") != REVIEW_API or review.get("kind") != "AdmissionReview":
        raise ReviewError(f"expected apiVersion {REVIEW_API} kind AdmissionReview, got "
                          f"{str(review.get('apiVersion'))[:60]!r} "
                          f"{str(review.get('kind'))[:60]!r}")
    request = review.get("request")
    if not isinstance(request, dict):
        raise ReviewError("request: missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > MAX_UID:
        raise ReviewError("request.uid: missing, empty or not a string")
    if not isinstance(request.get("operation"), str):
        raise ReviewError("request.operation: missing")
    return uid, request


def _resource(request: Mapping) -> tuple[str, str]:
    res = request.get("resource")
    if not isinstance(res, Mapping):
        raise ReviewError("request.resource: missing or not an object")
    return str(res.get("group", "")), str(res.get("resource", ""))


def _object(request: Mapping) -> Mapping:
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise ReviewError(f"request.object: missing or not an object "
                          f"(operation {request.get('operation')})")
    return obj


def check_pod(pod: Mapping) -> None:
    """The pod's shape, as far as ``mutate`` reads it. A review is parsed JSON, so an object is
    exactly a ``dict`` (cheaper to test than the ``Mapping`` ABC, on every admission)."""
    meta = pod.get("metadata", {})
    if type(meta) is not dict:
        raise ReviewError("request.object.metadata: not an object")
    ann = meta.get("annotations") or {}
    if type(ann) is not dict or not all(type(v) is str for v in ann.values()):
        raise ReviewError("request.object.metadata.annotations: not a map of strings")
    spec = pod.get("spec")
    if type(spec) is not dict:
        raise ReviewError("request.object.spec: missing or not an object")
    containers = spec.get("containers")
    if type(containers) is not list or not containers:
        raise ReviewError("request.object.spec.containers: not a list of containers")
    for i, c in enumerate(containers):
        if type(c) is not dict:
            raise ReviewError("request.object.spec.containers: not a list of containers")
        env = c.get("env")
        if env is not None and (type(env) is not list or
                                not all(type(e) is dict for e in env)):
            raise ReviewError(f"request.object.spec.containers[{i}].env: not a list")
        res = c.get("resources")
        if res and (type(res) is not dict or
                    not all(type(res.get(k) or {}) is dict for k in ("limits", "requests"))):
            raise ReviewError(f"request.object.spec.containers[{i}].resources: not an object")
    affinity = spec.get("affinity")
    if affinity is not None and type(affinity) is not dict:
        raise ReviewError("request.object.spec.affinity: not an object")


def admit_pod(request: Mapping, catalog: Catalog) -> Decision:
    if _resource(request) != ("", "pods"):
        raise ReviewError(f"this path admits pods, got resource {_resource(request)}")
    if request["operation"] != "CREATE" or request.get("subResource"):
        return Decision(True)
    return POD_DECISIONS.decide(_object(request), catalog)


class PodDecisions:
    """The decision for each pod content seen lately, for the catalog it was made with.

    The pods of one ReplicaSet reach the webhook alike (the name is generated after admission,
    the uid is the review's), so a rollout of N replicas is one decision and N - 1 lookups. The
    key is the whole pod as JSON: two pods that differ anywhere are decided apart. A new
    catalog (the runtimes changed; a list that says the same keeps its catalog) forgets every
    decision; a pod whose shape is refused is never kept."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.owner: Catalog | None = None
        self.entries: OrderedDict[bytes, Decision] = OrderedDict()

    def decide(self, pod: Mapping, catalog: Catalog) -> Decision:
        if catalog is not self.owner:
            self.entries.clear()
            self.owner = catalog
        try:
            key: bytes | None = _dumps(pod)
        except (TypeError, ValueError, RecursionError):  # deeper than the writer goes
            key = None  # decided, not kept
        hit = self.entries.get(key) if key is not None else None
        if hit is not None:
            self.entries.move_to_end(key)
            return hit
        check_pod(pod)
        decision = mutate_pod(pod, catalog)
        if key is not None:
            self.entries[key] = decision
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return decision


POD_DECISIONS = PodDecisions()


def validate_runtime(request: Mapping, catalog: Catalog) -> Decision:
    if _resource(request) != (GROUP, PLURAL):
        raise ReviewError(f"this path validates {PLURAL}.{GROUP}, got resource "
                          f"{_resource(request)}")
    if request["operation"] not in ("CREATE", "UPDATE"):
        return Decision(True)
    obj = _object(request)
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        return deny(f"expected {API_VERSION} {KIND}", 422)
    try:
        r = request_from_object(obj)
    except PlacementError as e:
        return deny(str(e), 422)
    return Decision(True, f"CUDA {r.version}")


Handler = Callable[[Mapping, Catalog], Decision]


GZIP_FROM = 1024  # a smaller answer is not worth an encoding
_PATCH_HEAD = b',"patchType":"JSONPatch","patch":"'
_PATCH_END = b'"}}'


def review_response(uid: str, decision: Decision, gzip: bool = False) -> tuple[bytes, bool]:
    """The review's JSON, and whether it is gzip (asked for by ``gzip`` and worth it). The
    patch (base64, tens of KB) is appended as the document's last member rather than run
    through the JSON encoder, which would scan it on every request; as gzip, its big pieces
    are deflated once per runtime (``gzipped``)."""
    response: dict = {"uid": uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": decision.code, "message": decision.message,
                              "reason": "Forbidden" if decision.code == 403 else "Invalid"}
    if decision.warnings:
        response["warnings"] = list(decision.warnings)
    text = _dumps({"apiVersion": REVIEW_API, "kind": "AdmissionReview", "response": response})
    if not decision.patch:
        return text, False
    head = text[:-2] + _PATCH_HEAD  # the text ends with the two objects' closing braces
    if gzip and decision.patch_size >= GZIP_FROM:
        return gzip_join([head, *decision.patch_base64_parts(), _PATCH_END]), True
    return b"".join((head, decision.patch_base64.encode("ascii"), _PATCH_END)), False


def _error(message: str) -> bytes:
    return _dumps({"error": message})


def answer(body: bytes, handler: Handler, catalog: Catalog,
           gzip: bool = False) -> tuple[int, bytes, bool]:
    """(HTTP status, JSON body, whether the body is gzip) for one request body: 200 and a
    review, or 400 and why."""
    try:
        uid, request = parse_review(body)
        return 200, *review_response(uid, handler(request, catalog), gzip)
    except ReviewError as e:
        return 400, _error(str(e)), False
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        # a shape check above missed a case: still the input's fault, still not an allow
        return 400, _error(f"malformed AdmissionReview ({type(e).__name__}: {e})"), False
