"""The admission webhook over real HTTPS: AdmissionReview v1 in, a JSONPatch out that a
JSON-patch library applies, and the patched pod validated against Kubernetes' own schema."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import jsonpatch
import pytest
from k8s_helpers import (
    children,
    gfd_labels,
    make_certs,
    pod_affinity_matches,
    start_server,
    stop,
)

from cudaswitch.k8s import gfd
from cudaswitch.k8s.placement import node_verdict
from cudaswitch.k8s.runtime import catalog_from_objects, objects_from_text
from cudaswitch.k8s.webhook import MUTATE_PODS_PATH, VALIDATE_RUNTIMES_PATH

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "deploy" / "examples" / "cudaruntimes.yaml"
IMAGE = "ghcr.io/example/facefusion:3.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webhook")
    certs = make_certs(tmp / "certs")
    proc, url = start_server([sys.executable, "-m", "cudaswitch.cli.main", "k8s", "webhook",
                              "--cert", str(certs["cert"]), "--key", str(certs["key"]),
                              "--port", "0", "--runtimes", str(EXAMPLES),
                              "--image", "registry.example.com/ml/trainer"])
    url = url.replace("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    with httpx.Client(base_url=url, verify=ctx, timeout=20) as client:
        yield client, certs, url
    stop(proc)


def pod(annotations=None, containers=None, affinity=None, name="ff") -> dict:
    spec: dict = {"containers": containers if containers is not None else [
        {"name": "app", "image": IMAGE,
         "resources": {"limits": {"nvidia.com/gpu": "1"}}},
        {"name": "sidecar", "image": "docker.io/library/busybox:1.36"},
    ]}
    if affinity is not None:
        spec["affinity"] = affinity
    meta: dict = {"name": name, "namespace": "default"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def review(obj, resource=("", "v1", "pods"), operation="CREATE", dry_run=False) -> dict:
    group, version, res = resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()), "kind": {"group": group, "version": version,
                                           "kind": obj.get("kind", "Pod")},
        "resource": {"group": group, "version": version, "resource": res},
        "requestKind": {"group": group, "version": version, "kind": obj.get("kind", "Pod")},
        "requestResource": {"group": group, "version": version, "resource": res},
        "name": obj["metadata"].get("name"), "namespace": obj["metadata"].get("namespace"),
        "operation": operation, "userInfo": {"username": "system:admin"},
        "object": obj, "oldObject": None, "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def admit(client, body: dict, path=MUTATE_PODS_PATH) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == body["request"]["uid"]
    return out["response"]


def patched(obj: dict, response: dict) -> dict:
    if "patch" not in response:
        return obj
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    return jsonpatch.JsonPatch(ops).apply(copy.deepcopy(obj))


def validate_strict(tmp_path: Path, obj: dict) -> None:
    f = tmp_path / f"{uuid.uuid4().hex}.json"
    f.write_text(json.dumps(obj))
    r = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                        "-k", "1.30.0", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "INFO" in r.stdout or "PASSED" in r.stdout.upper() or not r.stderr, r.stdout


NODES = {
    "h100-580": gfd_labels("580.95.05", "13.0", "9.0"),
    "a100-535": gfd_labels("535.104.05", "12.2", "8.0"),
    "t4-470": gfd_labels("470.256.02", "11.4", "7.5"),
    "b200-590": gfd_labels("590.44.01", "13.1", "10.0"),
    "rtx5090-570": gfd_labels("570.124.06", "12.8", "12.0"),
    "old-gfd-550": gfd_labels("550.54.15", "12.4", "8.9", current=False, deprecated=True),
    "cpu": {"kubernetes.io/os": "linux"},
}


@pytest.mark.parametrize("annotations,expect_env", [
    ({"cudaswitch.io/runtime": "facefusion-cuda12"},
     [{"name": "CUDASWITCH_CUDA", "value": "12.4"}, {"name": "ORT_LOG_LEVEL", "value": "2"}]),
    ({"cudaswitch.io/runtime": "facefusion-cuda11"},
     [{"name": "CUDASWITCH_SLOT", "value": "cuda11.8"}]),
    ({"cudaswitch.io/cuda": "12.4"}, [{"name": "CUDASWITCH_CUDA", "value": "12.4"}]),
    ({"cudaswitch.io/runtime": "blackwell-cuda13"},
     [{"name": "CUDASWITCH_CUDA", "value": ">=13.0,<14"}]),
], ids=["runtime-env", "runtime-slot", "bare-cuda", "arch-and-driver"])
def test_pod_gets_env_and_an_affinity_that_places_it_like_compat(server, tmp_path, annotations,
                                                                   expect_env):
    client, _, _ = server
    obj = pod(annotations)
    response = admit(client, review(obj))
    assert response["allowed"] is True
    out = patched(obj, response)
    validate_strict(tmp_path, out)
    app, sidecar = out["spec"]["containers"]
    assert app["env"] == expect_env
    assert "env" not in sidecar, "a container without a GPU is left alone"
    catalog = catalog_from_objects(objects_from_text(EXAMPLES.read_text()))
    name = annotations.get("cudaswitch.io/runtime")
    from cudaswitch.k8s.placement import make_request
    request = catalog.runtimes[name] if name else make_request("x", annotations[
        "cudaswitch.io/cuda"])
    for node, labels in NODES.items():
        fits = node_verdict(request, gfd.node_facts(node, labels)).kind in (
            "native", "minor-compat")
        assert pod_affinity_matches(out, labels) == fits, node
    assert out["metadata"]["annotations"]["cudaswitch.io/placed"].startswith("sha256:")


def test_a_second_admission_of_its_own_output_changes_nothing(server):
    client, _, _ = server
    obj = pod({"cudaswitch.io/runtime": "facefusion-cuda12"},
              affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                  "nodeSelectorTerms": [{"matchExpressions": [
                      {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}})
    once = patched(obj, admit(client, review(obj)))
    second = admit(client, review(once))
    assert second["allowed"] is True and "patch" not in second
    assert patched(once, second) == once


def test_existing_required_terms_are_kept_and_anded(server, tmp_path):
    client, _, _ = server
    own = [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In",
                                  "values": ["amd64"]}]},
           {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu-b"]}]}]
    preferred = [{"weight": 1, "preference": {"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a"]}]}}]
    obj = pod({"cudaswitch.io/cuda": "12.4"}, affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": own},
        "preferredDuringSchedulingIgnoredDuringExecution": preferred}})
    out = patched(obj, admit(client, review(obj)))
    validate_strict(tmp_path, out)
    assert out["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    h100 = NODES["h100-580"]
    assert pod_affinity_matches(out, {**h100, "kubernetes.io/arch": "amd64"})
    assert pod_affinity_matches(out, {**h100, "pool": "gpu-b"})
    assert not pod_affinity_matches(out, {**h100, "kubernetes.io/arch": "arm64"}), \
        "the pod's own term was dropped"
    assert not pod_affinity_matches(out, {**NODES["t4-470"], "kubernetes.io/arch": "amd64"}), \
        "the pod's own term replaced cudaswitch's"


def test_env_already_set_is_replaced_and_the_other_selector_removed(server):
    client, _, _ = server
    obj = pod({"cudaswitch.io/cuda": "12.4"}, containers=[
        {"name": "app", "image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": "2"}},
         "env": [{"name": "A", "value": "1"}, {"name": "CUDASWITCH_SLOT", "value": "cuda11.8"},
                 {"name": "CUDASWITCH_CUDA", "value": "11.8"}]}])
    out = patched(obj, admit(client, review(obj)))
    assert out["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}, {"name": "CUDASWITCH_CUDA", "value": "12.4"}]


def test_containers_named_by_annotation(server):
    client, _, _ = server
    obj = pod({"cudaswitch.io/cuda": "12.4", "cudaswitch.io/containers": "worker"},
              containers=[{"name": "worker", "image": IMAGE},
                          {"name": "gpu-other", "image": IMAGE,
                           "resources": {"requests": {"nvidia.com/gpu": "1"}}}])
    out = patched(obj, admit(client, review(obj)))
    assert out["spec"]["containers"][0]["env"][0]["name"] == "CUDASWITCH_CUDA"
    assert "env" not in out["spec"]["containers"][1]


def test_dry_run_gets_the_same_answer(server):
    client, _, _ = server
    obj = pod({"cudaswitch.io/runtime": "facefusion-cuda12"})
    wet, dry = admit(client, review(obj)), admit(client, review(obj, dry_run=True))
    assert wet["patch"] == dry["patch"] and dry["allowed"]


def test_pods_without_the_annotation_are_never_touched(server):
    client, _, _ = server
    for obj in (pod(), pod({"other.io/x": "y"}), pod(containers=[{"name": "x", "image": "a"}])):
        response = admit(client, review(obj))
        assert response == {"uid": response["uid"], "allowed": True}


@pytest.mark.parametrize("annotations,containers,needle", [
    ({"cudaswitch.io/runtime": "nope"}, None,
     "no CudaRuntime named 'nope' (CudaRuntimes: blackwell-cuda13, facefusion-cuda11, "
     "facefusion-cuda12)"),
    ({"cudaswitch.io/cuda": "12.99"}, None, "no CUDA release matches '12.99'; NVIDIA publishes"),
    ({"cudaswitch.io/cuda": "auto"}, None, "depends on the node"),
    ({"cudaswitch.io/cuda": "11.8", "cudaswitch.io/runtime": "facefusion-cuda12"}, None,
     "use one"),
    ({"cudaswitch.io/runtime": "facefusion-cuda12"},
     [{"name": "app", "image": "nvcr.io/nvidia/pytorch:24.01-py3",
       "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
     "not a multi-CUDA image of CudaRuntime 'facefusion-cuda12' "
     "(multi-CUDA images: ghcr.io/example/facefusion, registry.example.com/ml/trainer)"),
    ({"cudaswitch.io/cuda": "12.4"}, [{"name": "app", "image": IMAGE}],
     "no container requests nvidia.com/gpu"),
    ({"cudaswitch.io/cuda": "12.4", "cudaswitch.io/containers": "ap"}, None,
     "no container named ap (containers: app, sidecar)"),
], ids=["unknown-runtime", "no-release", "auto", "both", "not-multi-cuda", "no-gpu",
        "bad-container"])
def test_denied_with_why_and_what_exists(server, annotations, containers, needle):
    client, _, _ = server
    obj = pod(annotations, containers)
    response = admit(client, review(obj))
    assert response["allowed"] is False and "patch" not in response
    assert needle in response["status"]["message"]
    assert response["status"]["code"] == 403


def test_bare_cuda_accepts_configured_image_repositories(server):
    client, _, _ = server
    obj = pod({"cudaswitch.io/cuda": "12"}, containers=[
        {"name": "t", "image": "registry.example.com/ml/trainer@sha256:" + "b" * 64,
         "resources": {"limits": {"nvidia.com/gpu": "1"}}}])
    assert admit(client, review(obj))["allowed"] is True


def runtime_object(spec: dict, name="r1") -> dict:
    return {"apiVersion": "cudaswitch.io/v1alpha1", "kind": "CudaRuntime",
            "metadata": {"name": name}, "spec": spec}


RT = ("cudaswitch.io", "v1alpha1", "cudaruntimes")


def test_validating_webhook_accepts_a_good_runtime(server):
    client, _, _ = server
    body = review(runtime_object({"cuda": "12.4", "image": IMAGE}), resource=RT)
    assert admit(client, body, VALIDATE_RUNTIMES_PATH)["allowed"] is True


@pytest.mark.parametrize("spec,needle", [
    ({"cuda": "12.99", "image": IMAGE}, "spec.cuda: no CUDA release matches"),
    ({"cuda": "banana", "image": IMAGE}, "spec.cuda: not a CUDA spec"),
    ({"cuda": "12.4", "image": "Bad Image!"}, "spec.image"),
    ({"cuda": "12.4"}, "spec.image"),
    ({"cuda": "12.4", "image": IMAGE, "gpuArch": "hopper"}, "spec.gpuArch"),
    ({"cuda": "11.8", "image": IMAGE, "gpuArch": ">=10.0"}, "builds for compute capability"),
    ({"cuda": "12.4", "image": IMAGE, "env": [{"name": "CUDASWITCH_CUDA", "value": "1"}]},
     "spec.env"),
    ({"cuda": "12.4", "image": IMAGE, "colour": "blue"}, "unknown field 'colour'"),
])
def test_validating_webhook_refuses_bad_runtimes(server, spec, needle):
    client, _, _ = server
    response = admit(client, review(runtime_object(spec), resource=RT), VALIDATE_RUNTIMES_PATH)
    assert response["allowed"] is False and needle in response["status"]["message"]
    assert response["status"]["code"] == 422


def _raw(obj) -> bytes:
    return json.dumps(obj).encode()


GOOD = review(pod({"cudaswitch.io/cuda": "12.4"}))
MALFORMED = {
    "empty": b"",
    "not-json": b"{not json",
    "json-array": b"[1, 2]",
    "json-string": b'"AdmissionReview"',
    "wrong-api-version": _raw({**GOOD, "apiVersion": "admission.k8s.io/v1beta1"}),
    "no-request": _raw({k: v for k, v in GOOD.items() if k != "request"}),
    "no-uid": _raw({**GOOD, "request": {k: v for k, v in GOOD["request"].items()
                                        if k != "uid"}}),
    "uid-not-string": _raw({**GOOD, "request": {**GOOD["request"], "uid": 7}}),
    "no-object": _raw({**GOOD, "request": {**GOOD["request"], "object": None}}),
    "no-resource": _raw({**GOOD, "request": {**GOOD["request"], "resource": "pods"}}),
    "containers-not-list": _raw({**GOOD, "request": {**GOOD["request"], "object": {
        **GOOD["request"]["object"], "spec": {"containers": {"name": "app"}}}}}),
    "annotations-not-strings": _raw({**GOOD, "request": {**GOOD["request"], "object": {
        **GOOD["request"]["object"], "metadata": {"annotations": {"cudaswitch.io/cuda": 12.4}}}}}),
    "env-not-list": _raw({**GOOD, "request": {**GOOD["request"], "object": {
        **GOOD["request"]["object"], "spec": {"containers": [
            {"name": "a", "image": IMAGE, "env": "X=1"}]}}}}),
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge": b'{"apiVersion": "admission.k8s.io/v1", "pad": "' + b"x" * (9 * 2**20) + b'"}',
    "a-runtime-on-the-pod-path": _raw(review(runtime_object({"cuda": "12.4", "image": IMAGE}),
                                             resource=RT)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_reviews_get_400_with_a_reason_never_an_allow(server, name):
    client, _, _ = server
    r = client.post(MUTATE_PODS_PATH, content=MALFORMED[name],
                    headers={"content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    data = r.json()
    assert data["error"] and "allowed" not in json.dumps(data)


def test_unknown_paths_and_methods_are_errors_not_allows(server):
    client, _, _ = server
    body = _raw(GOOD)
    for path in ("/", "/mutate", "/mutate/pods/", "/validate/pods", "/mutate-pods"):
        r = client.post(path, content=body)
        assert r.status_code == 404, path
        assert "allowed" not in r.text
    assert client.get(MUTATE_PODS_PATH).status_code == 405
    assert client.get("/healthz").json()["runtimes"] == 3


def test_the_server_certificate_is_really_checked(server, tmp_path):
    """A client trusting another CA refuses the connection: TLS is not decoration."""
    _, _, url = server
    other = make_certs(tmp_path / "other")
    ctx = ssl.create_default_context(cafile=str(other["ca"]))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"), \
            httpx.Client(verify=ctx) as c:
        c.get(url + "/healthz")


def test_a_large_valid_review_is_read_whole(server):
    """A body spanning many TCP reads (here ~1 MiB of annotations) is admitted, not cut short."""
    client, _, _ = server
    obj = pod({"cudaswitch.io/cuda": "12.4", **{f"note.example.com/n{i}": "y" * 1000
                                                 for i in range(1100)}})
    assert len(json.dumps(review(obj))) > 2**20
    response = admit(client, review(obj))
    assert response["allowed"] is True and response["patch"]


def test_a_chunked_body_gets_400_with_the_reason(server):
    """kube-apiserver always sends a Content-Length; a chunked body (here a huge one) is refused
    before it is read, never allowed."""
    client, _, _ = server

    def chunks():
        yield b'{"apiVersion": "admission.k8s.io/v1", "pad": "'
        for _ in range(9 * 16):
            yield b"x" * 65536
        yield b'"}'
    r = client.post(MUTATE_PODS_PATH, content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert "Content-Length" in r.json()["error"] and "allowed" not in r.text


def _raw_exchange(server, data: bytes, certs_key="ca") -> bytes:
    """Bytes in, every byte the server sends back until it closes or goes quiet."""
    import socket

    _, certs, url = server
    host, port = url.rsplit("//", 1)[1].split(":")
    ctx = ssl.create_default_context(cafile=str(certs[certs_key]))
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(data)
        out = b""
        tls.settimeout(3)
        try:
            while chunk := tls.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return out


def _request(body: bytes, path=MUTATE_PODS_PATH, extra=b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n").encode() + extra + b"\r\n" + body


def test_kept_alive_pipelined_requests_are_answered_in_order(server):
    """As the apiserver calls: one connection, many reviews, its ?timeout= query on the path."""
    bodies = [_raw(review(pod({"cudaswitch.io/cuda": c}))) for c in ("12.4", "11.8", "13.0")]
    data = b"".join(_request(b, MUTATE_PODS_PATH + "?timeout=10s") for b in bodies)
    out = _raw_exchange(server, data + b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    answers = out.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200"] * 4, out[:500]
    uids = [json.loads(b)["request"]["uid"] for b in bodies]
    got = [json.loads(a.split(b"\r\n\r\n", 1)[1])["response"]["uid"] for a in answers[:3]]
    assert got == uids


def test_expect_100_continue_is_honoured(server):
    body = _raw(review(pod({"cudaswitch.io/cuda": "12.4"})))
    out = _raw_exchange(server, _request(body, extra=b"Expect: 100-continue\r\n"
                                         b"Connection: close\r\n"))
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), out[:200]


@pytest.mark.parametrize("data,status,needle", [
    (b"GARBAGE\r\n\r\n", b"400", b"request line"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"400", b"request line"),
    (b"POST /mutate/pods HTTP/1.2\r\n\r\n", b"505", b"HTTP/1.1"),
    (b"POST /mutate/pods HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
     b"400", b"twice"),
    (b"POST /mutate/pods HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400", b"not a number"),
    (b"POST /mutate/pods HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b"400",
     b"byte limit"),
    (b"POST /mutate/pods HTTP/1.1\r\nBad Header\r\n\r\n", b"400", b"header"),
    (b"POST /mutate/pods HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b"431", b"head"),
    (b"POST /mutate/pods HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"400", b"empty body"),
], ids=["garbage", "http2-preface", "http-1.2", "two-lengths", "negative-length", "huge-length",
        "bad-header", "huge-head", "no-body"])
def test_malformed_http_gets_4xx_with_a_reason_never_an_allow(server, data, status, needle):
    out = _raw_exchange(server, data)
    assert out.startswith(b"HTTP/1.1 " + status), out[:300]
    assert needle in out and b"allowed" not in out, out[:300]


def test_a_copied_placed_annotation_does_not_skip_placement(server):
    """The idempotency mark is a digest anyone can copy; a pod carrying it without the affinity
    it stands for (a hand-written or stripped spec) is still placed."""
    client, _, _ = server
    obj = pod({"cudaswitch.io/runtime": "facefusion-cuda12"})
    placed = patched(obj, admit(client, review(obj)))
    forged = pod({"cudaswitch.io/runtime": "facefusion-cuda12", "cudaswitch.io/placed":
                  placed["metadata"]["annotations"]["cudaswitch.io/placed"]})
    out = patched(forged, admit(client, review(forged)))
    assert out["spec"].get("affinity") == placed["spec"]["affinity"]
    assert not pod_affinity_matches(out, NODES["t4-470"])


def _split(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(next(h.split(b":")[1] for h in head.split(b"\r\n")
                      if h.lower().startswith(b"content-length:")))
    return head, body[:length]


def test_a_placed_pod_is_answered_as_gzip_to_a_client_that_takes_it(server):
    """The apiserver's Go client asks for gzip; the answer must decode to exactly the plain one."""
    import gzip

    body = _raw(review(pod({"cudaswitch.io/runtime": "facefusion-cuda12"})))
    plain_head, plain = _split(_raw_exchange(server, _request(
        body, extra=b"Connection: close\r\n")))
    gz_head, gz = _split(_raw_exchange(server, _request(
        body, extra=b"Accept-Encoding: gzip\r\nConnection: close\r\n")))
    assert b"Content-Encoding" not in plain_head and plain.startswith(b"{")
    assert b"\r\nContent-Encoding: gzip" in gz_head and b"\r\nVary: Accept-Encoding" in gz_head
    assert gzip.decompress(gz) == plain
    assert len(gz) * 5 < len(plain), (len(gz), len(plain))
    # refused by q=0, the answer stays plain
    head, again = _split(_raw_exchange(server, _request(
        body, extra=b"Accept-Encoding: gzip;q=0, identity\r\nConnection: close\r\n")))
    assert b"Content-Encoding" not in head and again == plain


def test_small_answers_stay_plain_even_when_gzip_is_taken(server):
    client, _, _ = server
    for obj in (pod(), pod({"cudaswitch.io/runtime": "no-such-runtime"})):
        r = client.post(MUTATE_PODS_PATH, json=review(obj), headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and "content-encoding" not in r.headers, r.headers
    r = client.post(MUTATE_PODS_PATH, content=b"{", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 400 and "content-encoding" not in r.headers


def _listening_inodes(port: int) -> set[str]:
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                out.add(f[9])
    return out


def _socket_inodes(pid: int) -> set[str]:
    got = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            got.add(target[8:-1])
    return got


def test_workers_share_the_port_and_a_dead_worker_stops_them_all(tmp_path):
    certs = make_certs(tmp_path / "certs")
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "k8s", "webhook", "--cert",
            str(certs["cert"]), "--key", str(certs["key"]), "--port", "0", "--runtimes",
            str(EXAMPLES), "--workers", "2"]
    proc, url = start_server(argv)
    try:
        port = int(url.rsplit(":", 1)[1])
        kids = children(proc.pid)
        assert len(kids) == 2, kids
        listening = _listening_inodes(port)
        # each worker holds its own listening socket on the one port; the parent holds none
        owned = [_socket_inodes(k) & listening for k in kids]
        assert all(len(o) == 1 for o in owned) and owned[0] != owned[1], owned
        assert not _socket_inodes(proc.pid) & listening
        ctx = ssl.create_default_context(cafile=str(certs["ca"]))
        body = review(pod({"cudaswitch.io/runtime": "facefusion-cuda12"}))
        for _ in range(8):  # a new connection each time, as many apiservers would open
            with httpx.Client(base_url=url.replace("127.0.0.1", "localhost"), verify=ctx,
                              timeout=20) as client:
                assert "patch" in admit(client, body)
        os.kill(kids[0], signal.SIGKILL)
        assert proc.wait(20) == 1
        err = proc.stderr.read()
        assert f"worker {kids[0]} exited (signal 9)" in err, err
        for k in kids:
            assert not Path(f"/proc/{k}").exists() or \
                Path(f"/proc/{k}/stat").read_text().split()[2] == "Z", k
    finally:
        if proc.poll() is None:
            stop(proc)


def test_workers_stop_cleanly_on_sigterm_and_bad_counts_are_refused(tmp_path):
    certs = make_certs(tmp_path / "certs")
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "k8s", "webhook", "--cert",
            str(certs["cert"]), "--key", str(certs["key"]), "--port", "0", "--runtimes",
            str(EXAMPLES)]
    proc, _ = start_server([*argv, "--workers", "3"])
    kids = children(proc.pid)
    assert len(kids) == 3
    proc.terminate()
    assert proc.wait(20) == 0
    assert all(not Path(f"/proc/{k}").exists() for k in kids), kids
    for bad in ("0", "-1", "100000"):
        r = subprocess.run([*argv, "--workers", bad], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--workers" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bad_certificate_is_refused_before_any_worker_starts(tmp_path, workers):
    certs = make_certs(tmp_path / "certs")
    r = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "k8s", "webhook",
                        "--cert", str(certs["key"]), "--key", str(certs["key"]), "--port", "0",
                        "--runtimes", str(EXAMPLES), "--workers", workers],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "--cert" in r.stderr and "Traceback" not in r.stderr and "worker" not in r.stderr
