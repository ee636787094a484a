"""The webhook remembers the decision for each pod content it saw lately (``PodDecisions``):
alike pods share one, and nothing stale is ever answered. In-process, with real runtimes."""

from __future__ import annotations

import base64
import copy
import json
import uuid

import pytest

from cudaswitch.k8s.admission import PodDecisions, answer
from cudaswitch.k8s.runtime import catalog_from_objects
from cudaswitch.k8s.webhook import ROUTES

IMAGE = "ghcr.io/example/facefusion:3.1"
PATH = "/mutate/pods"


def runtimes(**env: str) -> list[dict]:
    return [{"apiVersion": "cudaswitch.io/v1alpha1", "kind": "CudaRuntime",
             "metadata": {"name": "ff"},
             "spec": {"cuda": "12.4", "image": IMAGE,
                      "env": [{"name": k, "value": v} for k, v in env.items()]}}]


def pod(env_value: str = "1", annotation: str = "ff") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "ff-7d9f8c6b5-", "namespace": "ml",
                         "annotations": {"cudaswitch.io/runtime": annotation}},
            "spec": {"containers": [{"name": "app", "image": IMAGE,
                                     "env": [{"name": "A", "value": env_value}],
                                     "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}


def review(obj: dict, uid: str | None = None) -> bytes:
    group = {"group": "", "version": "v1"}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": uid or str(uuid.uuid4()),
                                   "kind": {**group, "kind": "Pod"},
                                   "resource": {**group, "resource": "pods"},
                                   "operation": "CREATE", "object": obj}}).encode()


def response(body: bytes, catalog) -> dict:
    status, data, _ = answer(body, ROUTES[PATH], catalog)
    assert status == 200, data
    return json.loads(data)["response"]


def patch_of(r: dict) -> list[dict]:
    return json.loads(base64.b64decode(r["patch"])) if "patch" in r else []


def test_alike_pods_share_one_decision_and_keep_their_own_uid():
    memo, catalog = PodDecisions(), catalog_from_objects(runtimes(A="1"))
    first = memo.decide(pod(), catalog)
    assert memo.decide(copy.deepcopy(pod()), catalog) is first
    a = response(review(pod(), "uid-a"), catalog)
    b = response(review(pod(), "uid-b"), catalog)
    assert (a["uid"], b["uid"]) == ("uid-a", "uid-b")
    assert a["patch"] == b["patch"] and a["allowed"] and b["allowed"]


def test_a_pod_that_differs_anywhere_is_decided_again():
    catalog = catalog_from_objects(runtimes(A="1"))
    right = patch_of(response(review(pod("1")), catalog))  # decided and kept first
    wrong = patch_of(response(review(pod("0")), catalog))
    assert not [op for op in right if op["path"] == "/spec/containers/0/env/0"]
    assert {"op": "replace", "path": "/spec/containers/0/env/0",
            "value": {"name": "A", "value": "1"}} in wrong


def test_a_new_catalog_forgets_every_decision():
    memo = PodDecisions()
    with_runtime = catalog_from_objects(runtimes(A="1"))
    assert memo.decide(pod(), with_runtime).allowed
    without = catalog_from_objects([])
    denied = memo.decide(pod(), without)
    assert not denied.allowed and "no CudaRuntime named 'ff'" in denied.message
    changed = catalog_from_objects(runtimes(A="2"))
    env_ops = [op for op in patch_of_decision(memo.decide(pod(), changed))
               if op["path"].startswith("/spec/containers/0/env")]
    assert {"name": "A", "value": "2"} in [op["value"] for op in env_ops]


def patch_of_decision(decision) -> list[dict]:
    return decision.operations


@pytest.mark.parametrize("bad", [
    {"metadata": {"annotations": {"cudaswitch.io/runtime": 7}}, "spec": {"containers": []}},
    {"metadata": {"annotations": {"cudaswitch.io/runtime": "ff"}}, "spec": {"containers": [1]}},
])
def test_a_refused_pod_is_refused_every_time_and_never_kept(bad):
    memo, catalog = PodDecisions(), catalog_from_objects(runtimes())
    for _ in range(2):
        status, data, _ = answer(review(bad), ROUTES[PATH], catalog)
        assert status == 400 and json.loads(data)["error"]
    with pytest.raises(ValueError):
        memo.decide(bad, catalog)
    assert not memo.entries


def test_the_memory_is_bounded_and_forgets_the_oldest_first():
    memo, catalog = PodDecisions(size=3), catalog_from_objects(runtimes())
    decisions = [memo.decide(pod(str(i)), catalog) for i in range(5)]
    assert len(memo.entries) == 3
    assert memo.decide(pod("4"), catalog) is decisions[4]
    assert memo.decide(pod("0"), catalog) is not decisions[0]


def test_a_pod_nested_deeper_than_the_key_can_hold_is_still_decided():
    deep = pod()
    node = deep["spec"]["containers"][0]["x-nested"] = {}
    for _ in range(400):
        node["a"] = {}
        node = node["a"]
    r = response(review(deep), catalog_from_objects(runtimes(A="1")))
    assert r["allowed"] and not [op for op in patch_of(r)
                                 if op["path"] == "/spec/containers/0/env/0"]


def test_cluster_catalog_listed_again_unchanged_keeps_the_decisions_standin_apiserver():
    """The webhook lists CudaRuntimes every 10 s; a list that says what the last one said must
    not count as a new catalog, or every poll forgets every decision. One that differs does.
    (The kube-apiserver is the tests' stand-in: list of CudaRuntimes over real HTTP.)"""
    from k8s_standin import StandinApi

    from cudaswitch.k8s.apiclient import ClusterConfig
    from cudaswitch.k8s.sources import ClusterCatalog

    api = StandinApi()
    api.start()
    try:
        api.put("cudaruntimes", runtimes(A="1")[0])
        cluster = ClusterCatalog(ClusterConfig(server=f"http://127.0.0.1:{api.port}"))
        cluster.refresh()
        first = cluster()
        assert list(first.runtimes) == ["ff"]
        memo = PodDecisions()
        decision = memo.decide(pod(), cluster())
        api.put("cudaruntimes", {**runtimes(A="1")[0]})  # written again, the same spec
        cluster.refresh()
        assert cluster() is first
        assert memo.decide(pod(), cluster()) is decision
        api.put("cudaruntimes", runtimes(A="2")[0])
        cluster.refresh()
        assert cluster() is not first and cluster() != first
        again = memo.decide(pod(), cluster())
        assert again is not decision and again != decision
    finally:
        api.stop()
