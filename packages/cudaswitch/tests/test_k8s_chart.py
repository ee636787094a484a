"""The Helm chart: lint, render, every rendered object valid against Kubernetes' schemas, the
webhook paths equal to the server's routes, and the shipped plain manifests equal to a render."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from k8s_helpers import helm_binary

from cudaswitch.k8s.crd import crd
from cudaswitch.k8s.runtime import objects_from_text, request_from_object
from cudaswitch.k8s.webhook import ROUTES

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "cudaswitch"
MANIFESTS = REPO / "packages" / "cudaswitch" / "src" / "cudaswitch" / "k8s" / "manifests" / \
    "cudaswitch.yaml"
QUICKSTART = ["template", "cudaswitch", str(CHART), "--namespace", "cudaswitch-system",
              "--kube-version", "1.30.0", "--include-crds", "--set", "createNamespace=true"]


@pytest.fixture(scope="module")
def helm():
    return str(helm_binary())


def render(helm: str, *sets: str, ok: bool = True) -> list[dict] | str:
    argv = [helm, "template", "cudaswitch", str(CHART), "--namespace", "cudaswitch-system",
            "--kube-version", "1.30.0", "--include-crds"]
    for s in sets:
        argv += ["--set", s]
    r = subprocess.run(argv, capture_output=True, text=True)
    if not ok:
        assert r.returncode != 0, "helm rendered values it should have refused"
        return r.stderr
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def test_helm_lint_strict(helm):
    r = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


VALUE_SETS = {
    "defaults": (),
    "own-secret": ("certificates.certManager.enabled=false",
                   "certificates.existingSecret=my-tls", "certificates.caBundle=Q0E="),
    "tuned": ("webhook.failurePolicy=Ignore", "webhook.timeoutSeconds=3",
              "webhook.objectSelector.matchLabels.gpu=yes",
              "webhook.namespaceSelector.matchLabels.team=ml",
              "webhook.extraImages={registry.example.com/ml/trainer}", "operator.enabled=false"),
}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_validates_strictly(helm, tmp_path, name):
    docs = render(helm, *VALUE_SETS[name])
    builtin = [d for d in docs if not d["apiVersion"].startswith("cert-manager.io/")]
    f = tmp_path / "rendered.yaml"
    f.write_text(yaml.safe_dump_all(builtin))
    r = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0",
                        str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ERROR" not in r.stdout and "WARN" not in r.stdout, r.stdout
    kinds = sorted(d["kind"] for d in docs)
    assert "MutatingWebhookConfiguration" in kinds and "ValidatingWebhookConfiguration" in kinds


def _webhooks(docs: list[dict]) -> list[dict]:
    return [w for d in docs if d["kind"].endswith("WebhookConfiguration") for w in d["webhooks"]]


def test_chart_webhook_paths_are_the_server_routes(helm):
    for name in VALUE_SETS:
        paths = {w["clientConfig"]["service"]["path"] for w in _webhooks(render(helm,
                                                                              *VALUE_SETS[name]))}
        assert paths == set(ROUTES), f"{name}: chart {sorted(paths)} != server {sorted(ROUTES)}"


def test_values_reach_the_webhook_configurations(helm):
    docs = render(helm, *VALUE_SETS["tuned"])
    pods = next(w for w in _webhooks(docs) if w["name"] == "pods.cudaswitch.io")
    assert pods["failurePolicy"] == "Ignore" and pods["timeoutSeconds"] == 3
    assert pods["objectSelector"] == {"matchLabels": {"gpu": "yes"}}
    assert pods["namespaceSelector"]["matchLabels"] == {"team": "ml"}
    assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["cudaswitch-system"]} in pods["namespaceSelector"]["matchExpressions"]
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    assert "--image=registry.example.com/ml/trainer" in deploy["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert not [d for d in docs if "operator" in d["metadata"]["name"]]
    own = render(helm, *VALUE_SETS["own-secret"])
    assert all(w["clientConfig"]["caBundle"] == "Q0E=" for w in _webhooks(own))
    assert not [d for d in own if d["apiVersion"].startswith("cert-manager.io/")]
    deploy = next(d for d in own if d["kind"] == "Deployment" and "webhook" in
                  d["metadata"]["name"])
    assert deploy["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "my-tls"


def test_deployment_shape(helm):
    docs = render(helm)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert by[("Deployment", "cudaswitch-webhook")]["spec"]["replicas"] == 2
    assert by[("PodDisruptionBudget", "cudaswitch-webhook")]["spec"]["minAvailable"] == 1
    assert by[("Deployment", "cudaswitch-operator")]["spec"]["replicas"] == 1
    args = by[("Deployment", "cudaswitch-webhook")]["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert "--host=0.0.0.0" in args and "--from-cluster" in args
    injected = {d["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from")
                for d in docs if d["kind"].endswith("WebhookConfiguration")}
    assert injected == {"cudaswitch-system/cudaswitch-webhook"}


def test_rbac_is_least_privilege(helm):
    roles = {d["metadata"]["name"]: d["rules"] for d in render(helm) if d["kind"] == "ClusterRole"}
    for name, rules in roles.items():
        for rule in rules:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], name
            assert "secrets" not in rule["resources"], name
            assert not {"delete", "deletecollection", "escalate", "bind"} & set(rule["verbs"])
    (webhook_rule,) = roles["cudaswitch-webhook"]
    assert webhook_rule["verbs"] == ["get", "list", "watch"]
    node_rules = [r for r in roles["cudaswitch-operator"] if "nodes" in r["resources"]]
    assert node_rules[0]["verbs"] == ["get", "list", "watch"]


@pytest.mark.parametrize("bad,needle", [
    ("webhook.failurePolicy=Sometimes", "failurePolicy"),
    ("webhook.timeoutSeconds=60", "timeoutSeconds"),
    ("webhook.replicaz=3", "replicaz"),
    ("webhook.workers=0", "workers"),
    ("webhook.workers=65", "workers"),
    ("certificates.certManager.enabled=false", "existingSecret is required"),
])
def test_bad_values_are_refused(helm, bad, needle):
    assert needle in render(helm, bad, ok=False)


def test_webhook_workers_reach_the_server(helm):
    docs = render(helm, "webhook.workers=4")
    (dep,) = [d for d in docs if d["kind"] == "Deployment" and "webhook" in d["metadata"]["name"]]
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--workers=4" in args, args


def test_chart_crd_is_the_code_crd(helm):
    text = (CHART / "crds" / "cudaruntimes.yaml").read_text()
    assert yaml.safe_load(text) == crd()


def _structural_to_jsonschema(schema):
    if isinstance(schema, dict):
        out = {k: _structural_to_jsonschema(v) for k, v in schema.items()
               if not k.startswith("x-kubernetes-")}
        if out.pop("nullable", False):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_structural_to_jsonschema(s) for s in schema]
    return schema


CRD_SCHEMA = _structural_to_jsonschema(
    crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_example_runtimes_validate_against_the_crd_schema_and_parse():
    examples = objects_from_text((REPO / "deploy" / "examples" / "cudaruntimes.yaml").read_text())
    assert len(examples) == 3
    for obj in examples:
        jsonschema.validate(obj, CRD_SCHEMA, format_checker=jsonschema.FormatChecker())
        request_from_object(obj)


@pytest.mark.parametrize("spec", [{"cuda": "12.4"}, {"cuda": 12.4, "image": "a"},
                                  {"cuda": "12.4", "image": "a", "slot": "../x"},
                                  {"cuda": "12.4", "image": "a", "minDriver": "new"},
                                  {"cuda": "12.4", "image": "a", "env": [{"value": "x"}]}])
def test_the_crd_schema_refuses_bad_specs(spec):
    obj = {"apiVersion": "cudaswitch.io/v1alpha1", "kind": "CudaRuntime",
           "metadata": {"name": "x"}, "spec": spec}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, CRD_SCHEMA)


def test_shipped_manifests_are_the_chart_rendered(helm):
    r = subprocess.run([helm, *QUICKSTART], capture_output=True, text=True, check=True)
    shipped = [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]
    assert shipped == [d for d in yaml.safe_load_all(r.stdout) if d], \
        "regenerate: see the header of " + MANIFESTS.name
    kinds = [d["kind"] for d in shipped]
    assert kinds[0] == "CustomResourceDefinition" and "Namespace" in kinds


def test_cli_prints_the_manifests():
    from cudaswitch.cli.main import main

    r = subprocess.run([sys.executable, "-c", "import sys; from cudaswitch.cli.main import main;"
                        " sys.exit(main(['k8s', 'manifests']))"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == MANIFESTS.read_text()
    assert callable(main) and copy and json
