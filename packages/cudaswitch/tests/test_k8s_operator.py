"""The operator: its status function directly, and its kopf wiring run by kopf against a
stand-in API server (no kube-apiserver installs here; see k8s_standin.py for what it is not)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from k8s_helpers import gfd_labels
from k8s_standin import StandinApi, kubeconfig

from cudaswitch.k8s.status import fit_change, runtime_status

IMAGE = "ghcr.io/example/facefusion:3.1"
NOW, LATER = "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"


def runtime(name: str, cuda: str, generation: int = 1, **spec) -> dict:
    return {"apiVersion": "cudaswitch.io/v1alpha1", "kind": "CudaRuntime",
            "metadata": {"name": name, "generation": generation},
            "spec": {"cuda": cuda, "image": IMAGE, **spec}}


FLEET = [("h100", gfd_labels("580.95.05", "13.0", "9.0")),
         ("t4", gfd_labels("470.256.02", "11.4", "7.5")),
         ("cpu-1", {"kubernetes.io/os": "linux"})]


def test_status_lists_fitting_and_unfit_nodes_with_reasons():
    s = runtime_status(runtime("cu124", "12.4", generation=3), FLEET, NOW)
    assert s["fittingNodes"] == ["h100"] and s["fitting"] == 1
    (t4,) = s["unfitNodes"]
    assert t4["node"] == "t4" and "525.60.13" in t4["reason"] and t4["verdict"] == "unsupported"
    assert s["observedGeneration"] == 3 and s["cuda"] == "12.4" and s["minDriver"] == "525.60.13"
    conds = {c["type"]: c for c in s["conditions"]}
    assert conds["Valid"]["status"] == "True" and conds["Placeable"]["status"] == "True"
    assert "cpu-1" not in str(s), "a node without GPU labels is not a GPU node"


def test_status_names_an_architecture_that_is_not_a_target():
    s = runtime_status(runtime("cu118", "11.8"), [("b200", gfd_labels("590.44.01", "13.1",
                                                                       "10.0"))], NOW)
    assert s["fitting"] == 0 and "not a target of CUDA 11.8" in s["unfitNodes"][0]["reason"]
    assert {c["type"]: c["status"] for c in s["conditions"]}["Placeable"] == "False"


def test_invalid_spec_is_a_false_condition_not_a_crash():
    s = runtime_status(runtime("bad", "12.99"), FLEET, NOW)
    valid = next(c for c in s["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and "no CUDA release matches" in valid["message"]
    assert s["fitting"] == 0


def test_transition_time_moves_only_when_the_status_flips():
    first = runtime_status(runtime("cu124", "12.4"), FLEET, NOW)
    again = runtime_status(runtime("cu124", "12.4"), FLEET, LATER, first)
    assert again == first, "an unchanged fleet must produce an identical status"
    flipped = runtime_status(runtime("cu124", "12.4"), FLEET[1:], LATER, first)
    placeable = next(c for c in flipped["conditions"] if c["type"] == "Placeable")
    assert placeable["status"] == "False" and placeable["lastTransitionTime"] == LATER


def test_fit_change_messages():
    a = {"fitting": 1, "fittingNodes": ["h100"]}
    b = {"fitting": 2, "fittingNodes": ["h100", "t4"]}
    assert fit_change(a, a) is None
    assert fit_change(a, b) == "now fits t4"
    assert fit_change(b, a) == "no longer fits t4"


def _wait(what, predicate, timeout=45.0, proc=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    out = ""
    if proc is not None:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    raise AssertionError(f"timed out waiting for {what}\n{out[-4000:]}")


@pytest.fixture
def standin(tmp_path):
    api = StandinApi()
    api.start()
    yield api
    api.stop()


def _status(api, name):
    return (api.get("cudaruntimes", name) or {}).get("status") or {}


def test_operator_under_kopf_against_standin_apiserver(standin, tmp_path):
    """kopf discovers the resources, lists and watches nodes and runtimes, and patches status;
    node label changes and new or edited runtimes show up in the status."""
    for name, labels in FLEET[:2]:
        standin.put("nodes", {"metadata": {"name": name, "labels": labels}})
    standin.put("cudaruntimes", runtime("cu124", "12.4"))
    cfg = tmp_path / "kubeconfig"
    kubeconfig(cfg, standin.port)
    env = {**os.environ, "KUBECONFIG": str(cfg)}
    proc = subprocess.Popen([sys.executable, "-m", "cudaswitch.cli.main", "k8s", "operator"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        s = _wait("first status", lambda: _status(standin, "cu124").get("fittingNodes") == [
            "h100"] and _status(standin, "cu124"), proc=proc)
        assert s["observedGeneration"] == 1 and "525.60.13" in s["unfitNodes"][0]["reason"]

        # the t4 node's driver is upgraded: its GFD labels change
        standin.put("nodes", {"metadata": {"name": "t4", "labels": gfd_labels(
            "550.54.15", "12.4", "7.5")}})
        _wait("node label change", lambda: _status(standin, "cu124").get("fitting") == 2,
              proc=proc)

        standin.put("cudaruntimes", runtime("cu131", "13.1"))
        s = _wait("new runtime", lambda: "fitting" in _status(standin, "cu131") and
                  _status(standin, "cu131"), proc=proc)
        # 13.1 on the 13.0 driver: minor-version compatibility; the 12.4 driver: too old
        assert s["fittingNodes"] == ["h100"] and [u["node"] for u in s["unfitNodes"]] == ["t4"]

        edited = runtime("cu124", "13.0")
        standin.put("cudaruntimes", edited)
        s = _wait("edited runtime", lambda: _status(standin, "cu124").get(
            "observedGeneration") == 2 and _status(standin, "cu124"), proc=proc)
        assert s["fittingNodes"] == ["h100"] and s["cuda"] == "13.0"

        standin.put("cudaruntimes", runtime("broken", "12.99"))
        s = _wait("invalid runtime", lambda: _status(standin, "broken").get("conditions"),
                  proc=proc)
        assert any(c["type"] == "Valid" and c["status"] == "False" for c in s)

        reasons = _wait("events", lambda: {e.get("reason") for e in standin.events} >= {
            "Placement", "InvalidSpec"} and standin.events, proc=proc)
        messages = [e.get("message", "") for e in reasons]
        assert any("now fits t4" in m for m in messages), messages
        status_writes = [p for p in standin.patches if p[1] == "status"]
        assert status_writes, "status must go through the status subresource"
        assert proc.poll() is None, "the operator exited"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
