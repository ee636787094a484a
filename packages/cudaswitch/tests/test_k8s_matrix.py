"""``cudaswitch matrix --emit kubernetes``: one Job per slot, valid against Kubernetes' schema,
and each Job's pod, admitted by the real mutating webhook code, placed where compat says its
CUDA can run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from k8s_helpers import gfd_labels, pod_affinity_matches
from test_k8s_webhook import patched

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch.k8s import gfd
from cudaswitch.k8s.admission import admit_pod, answer
from cudaswitch.k8s.placement import make_request, node_verdict
from cudaswitch.k8s.runtime import Catalog

IMAGE = "registry.example.com/ml/app:1.0"
MANIFEST = ('default = "cuda12"\n[[slot]]\nname = "cuda11"\ncuda = "11.8"\n\n'
            '[[slot]]\nname = "cuda12"\ncuda = "12.4"\n\n'
            '[[slot]]\nname = "cu13+x"\ncuda = "13.0"\n')
NODES = {
    "h100-580": gfd_labels("580.95.05", "13.0", "9.0"),
    "a100-535": gfd_labels("535.104.05", "12.2", "8.0"),
    "t4-470": gfd_labels("470.256.02", "11.4", "7.5"),
}


@pytest.fixture
def env(tmp_path):
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text(MANIFEST)
    return clean_env(CUDASWITCH_CONFIG=str(manifest), CUDASWITCH_HOME=str(tmp_path / "h"),
                     CUDASWITCH_PATH=str(tmp_path / "none"),
                     CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "no-system"))


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cudaswitch_cmd(*args), env=env, capture_output=True, text=True,
                          timeout=300)


def test_one_annotated_job_per_slot_valid_and_placed_like_compat(env, tmp_path):
    proc = cli("matrix", "--emit", "kubernetes", "--install-from", IMAGE, "--runs-on",
               "nvidia.com/gpu.present=true", "--", "python", "-m", "pytest", "-k",
               "not slow; rm -rf /", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# One Kubernetes Job per cudaswitch slot")
    jobs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert [j["metadata"]["annotations"]["cudaswitch.io/matrix-slot"] for j in jobs] == [
        "cuda11", "cuda12", "cu13+x"]
    assert [j["metadata"]["name"] for j in jobs] == [
        "cuda-matrix-cuda11", "cuda-matrix-cuda12", "cuda-matrix-cu13-x"]
    f = tmp_path / "jobs.yaml"
    f.write_text(proc.stdout)
    r = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0",
                        str(f)], capture_output=True, text=True)
    assert r.returncode == 0 and "ERROR" not in r.stdout and "WARN" not in r.stdout, r.stdout

    catalog = Catalog({}, (IMAGE,))
    for j, cuda in zip(jobs, ["11.8", "12.4", "13.0"], strict=True):
        template = j["spec"]["template"]
        assert template["metadata"]["annotations"]["cudaswitch.io/cuda"] == cuda
        (c,) = template["spec"]["containers"]
        assert c["image"] == IMAGE and c["resources"]["limits"] == {"nvidia.com/gpu": "1"}
        assert c["args"] == ["python", "-m", "pytest", "-k", "not slow; rm -rf /"]
        assert "command" not in c, "the image's entrypoint must stay: it picks the slot"
        assert template["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": j["metadata"]["name"] + "-abcde", "namespace": "default",
            **template["metadata"]}, "spec": template["spec"]}
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "u1", "operation": "CREATE", "object": pod,
            "resource": {"group": "", "version": "v1", "resource": "pods"}}}
        status, raw, _ = answer(json.dumps(review).encode(), admit_pod, catalog)
        out = json.loads(raw)
        assert status == 200 and out["response"]["allowed"], out
        placed = patched(pod, out["response"])
        assert placed["spec"]["containers"][0]["env"] == [
            {"name": "CUDASWITCH_CUDA", "value": cuda}]
        request = make_request("x", cuda)
        for node, labels in NODES.items():
            fits = node_verdict(request, gfd.node_facts(node, labels)).kind in (
                "native", "minor-compat")
            assert pod_affinity_matches(placed, labels) == fits, (cuda, node)


@pytest.mark.parametrize("args,needle", [
    (["--emit", "kubernetes"], "needs --install-from IMAGE"),
    (["--emit", "kubernetes", "--install-from", "Not An Image"], "not an image reference"),
    (["--emit", "kubernetes", "--install-from", IMAGE, "--runs-on", "gpu"], "key=value"),
    (["--emit", "kubernetes", "--install-from", IMAGE, "--runs-on", "a=b\nc"], "key=value"),
])
def test_bad_requests_are_one_line_exit_2(env, args, needle):
    proc = cli("matrix", *args, "--", "true", env=env)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert not proc.stdout and len(proc.stderr.strip().splitlines()) == 1


def test_two_slots_of_one_cuda_are_refused(env, tmp_path):
    manifest = tmp_path / "two.toml"
    manifest.write_text('[[slot]]\nname = "a"\ncuda = "12.4"\n\n[[slot]]\nname = "b"\n'
                        'cuda = "12.4.1"\n')
    proc = cli("matrix", "--emit", "kubernetes", "--install-from", IMAGE, "--", "true",
               env={**env, "CUDASWITCH_CONFIG": str(manifest)})
    assert proc.returncode == 2 and "'a' and 'b' are both CUDA 12.4" in proc.stderr
