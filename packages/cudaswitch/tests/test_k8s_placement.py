"""Placement: the affinity the webhook writes matches exactly the nodes ``compat`` says fit."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from k8s_helpers import affinity_matches, gfd_labels

from cudaswitch.cli.main import main as cli
from cudaswitch.compat.verdict import driver_cuda_for
from cudaswitch.k8s import gfd
from cudaswitch.k8s.placement import (
    PlacementError,
    fleet_table,
    image_repository,
    make_request,
    node_verdict,
    required_node_affinity,
)

DRIVERS = ["450.36.06", "450.80.01", "450.80.02", "470.57.02", "470.256.02", "525.60.12",
           "525.60.13", "535.104.05", "550.54.15", "560.35.03", "570.124.06", "575.57.08",
           "580.65.05", "580.65.06", "580.95.05", "590.44.01"]
CCS = ["3.5", "3.7", "5.2", "6.1", "7.0", "7.5", "8.0", "8.6", "8.7", "8.8", "8.9", "9.0",
       "10.0", "10.1", "10.3", "11.0", "12.0", "12.1"]
RUNTIMES = [
    {"name": "cu118", "cuda": "11.8"},
    {"name": "cu110", "cuda": "11.0"},
    {"name": "cu120", "cuda": "12.0"},
    {"name": "cu124", "cuda": "12.4"},
    {"name": "cu128", "cuda": "12.8"},
    {"name": "cu129", "cuda": "12.9"},
    {"name": "cu130", "cuda": "13.0"},
    {"name": "cu131", "cuda": "13.1"},
    {"name": "cu12", "cuda": "12"},
    {"name": "cu12-range", "cuda": ">=12.6,<13"},
    {"name": "cu124-ampere-up", "cuda": "12.4", "gpu_arch": ">=8.0"},
    {"name": "cu124-550", "cuda": "12.4", "min_driver": "550.54.15"},
    {"name": "cu118-2part", "cuda": "11.8", "min_driver": "470.57"},
]
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "cudaruntimes.yaml"
NODES = [(f"n-{d}-{cc}", d, cc) for d in DRIVERS for cc in CCS]


def compat_cli(version: str, driver: str, cc: str) -> tuple[bool, str]:
    """What ``cudaswitch compat VERSION --driver D --arch CC`` says, run as a user would."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["compat", version, "--driver", driver, "--arch", cc, "--json"])
    data = json.loads(out.getvalue())
    return code == 0 and data["verdict"] in ("native", "minor-compat"), data["verdict"]


def _request(spec: dict):
    return make_request(spec["name"], spec["cuda"], min_driver=spec.get("min_driver"),
                        gpu_arch=spec.get("gpu_arch"))


@pytest.mark.parametrize("spec", RUNTIMES, ids=[r["name"] for r in RUNTIMES])
@pytest.mark.parametrize("generation", ["current", "deprecated", "both"])
def test_affinity_matches_exactly_the_nodes_compat_accepts(spec, generation):
    request = _request(spec)
    terms = required_node_affinity(request)
    assert terms, "no terms: the affinity would match nothing"
    wrong, fits = [], 0
    for name, driver, cc in NODES:
        labels = gfd_labels(driver, str(driver_cuda_for(driver)), cc,
                            current=generation != "deprecated",
                            deprecated=generation != "current")
        ok, kind = compat_cli(str(request.version), driver, cc)
        if spec.get("min_driver"):
            ok = ok and tuple(map(int, driver.split("."))) >= tuple(
                map(int, spec["min_driver"].split(".")))
        if spec.get("gpu_arch"):
            ok = ok and tuple(map(int, cc.split("."))) >= (8, 0)
        matched = affinity_matches(terms, labels)
        if matched != ok:
            wrong.append(f"{name}: compat {kind} ({ok}) but affinity matched={matched}")
        verdict = node_verdict(request, gfd.node_facts(name, labels))
        if (verdict.kind in ("native", "minor-compat")) != ok:
            wrong.append(f"{name}: node_verdict {verdict.kind} but compat {kind}")
        fits += ok
    assert not wrong, "\n".join(wrong[:20])
    assert 0 < fits < len(NODES), "the table must hold nodes on both sides"


ODD_NODES = {
    "no-labels": {"kubernetes.io/os": "linux"},
    "driver-only": {"nvidia.com/cuda.driver-version.major": "580",
                    "nvidia.com/cuda.driver-version.minor": "95"},
    "no-compute": {k: v for k, v in gfd_labels("580.95.05", "13.0", "9.0").items()
                   if "compute" not in k},
    "no-revision": {k: v for k, v in gfd_labels("525.60.13", "12.0", "8.6").items()
                    if "revision" not in k},
    "revision-not-int": {**gfd_labels("525.60.13", "12.0", "8.6"),
                         "nvidia.com/cuda.driver-version.revision": "13a"},
    "major-not-int": {**gfd_labels("580.95.05", "13.0", "9.0"),
                      "nvidia.com/cuda.driver-version.major": "v580"},
    "negative-minor": {**gfd_labels("580.95.05", "13.0", "9.0"),
                       "nvidia.com/cuda.runtime-version.minor": "-1"},
    "leading-zero-revision": gfd_labels("525.60.13", "12.0", "8.6") | {
        "nvidia.com/cuda.driver-version.revision": "013"},
    # old GFD names saying 13.0 while the current ones say 12.0: current names win
    "generations-disagree": gfd_labels("525.60.13", "12.0", "9.0") | {
        "nvidia.com/cuda.driver.major": "580", "nvidia.com/cuda.driver.minor": "95",
        "nvidia.com/cuda.runtime.major": "13", "nvidia.com/cuda.runtime.minor": "0"},
    "deprecated-only-new-driver": gfd_labels("580.95.05", "13.0", "12.0", current=False,
                                             deprecated=True),
}


@pytest.mark.parametrize("value", ["+13", "013", "1e1", " 13", "13 "])
def test_numbers_gfd_never_writes_are_read_as_missing(value):
    labels = gfd_labels("580.95.05", "13.0", "9.0") | {
        "nvidia.com/cuda.runtime-version.major": value}
    facts = gfd.node_facts("odd", labels)
    assert not facts.complete and "runtime-version.major" in facts.missing


@pytest.mark.parametrize("spec", RUNTIMES, ids=[r["name"] for r in RUNTIMES])
@pytest.mark.parametrize("node", sorted(ODD_NODES))
def test_affinity_agrees_with_node_verdict_on_odd_labels(spec, node):
    """Label sets GFD would not write, or writes only in old releases: the affinity and the
    verdict read them the same way."""
    request = _request(spec)
    labels = ODD_NODES[node]
    verdict = node_verdict(request, gfd.node_facts(node, labels))
    fits = verdict.kind in ("native", "minor-compat")
    assert affinity_matches(required_node_affinity(request), labels) == fits, verdict.reason


def test_missing_labels_are_named():
    facts = gfd.node_facts("cpu-1", ODD_NODES["no-labels"])
    assert not facts.complete and "nvidia.com/cuda.driver-version.major" in facts.missing
    facts = gfd.node_facts("x", ODD_NODES["no-compute"])
    assert "nvidia.com/gpu.compute.major" in facts.missing


def test_affinity_uses_whole_number_operators_only():
    for spec in RUNTIMES:
        for term in required_node_affinity(_request(spec)):
            for e in term["matchExpressions"]:
                assert e["operator"] in ("In", "Gt", "Lt", "DoesNotExist"), e
                for v in e.get("values", []):
                    assert v.lstrip("-").isdigit(), e


@pytest.mark.parametrize("cuda,needle", [
    ("12.99", "no CUDA release matches"),
    ("14", "no CUDA release matches"),
    ("auto", "depends on the node"),
    ("twelve", "not a CUDA"),
    ("", "empty CUDA spec"),
])
def test_impossible_or_malformed_specs_are_refused_with_what_exists(cuda, needle):
    with pytest.raises(PlacementError) as e:
        make_request("r", cuda)
    assert needle in str(e.value)
    if "matches" in needle:
        assert "12.4" in str(e.value) and "13.0" in str(e.value)


def test_no_gpu_could_ever_run_it_on_the_requested_architecture():
    with pytest.raises(PlacementError, match="builds for compute capability"):
        make_request("r", "11.8", gpu_arch=">=10.0")
    with pytest.raises(PlacementError, match="gpuArch"):
        make_request("r", "12.4", gpu_arch="hopper")


@pytest.mark.parametrize("field,value", [("image", "Not An Image"), ("image", "a//b"),
                                         ("slot", "../x"), ("min_driver", "latest"),
                                         ("min_driver", "1.2.3.4")])
def test_malformed_fields_are_refused(field, value):
    with pytest.raises(PlacementError, match=field.replace("min_driver", "minDriver")):
        make_request("r", "12.4", **{field: value})


def test_env_may_not_override_the_selection():
    with pytest.raises(PlacementError, match="CUDASWITCH_CUDA"):
        make_request("r", "12.4", env=[("CUDASWITCH_CUDA", "11.8")])


def test_image_repository_reads_references_like_the_kubelet():
    assert image_repository("ghcr.io/acme/ff:1.0") == "ghcr.io/acme/ff"
    assert image_repository("ghcr.io/acme/ff@sha256:" + "a" * 64) == "ghcr.io/acme/ff"
    assert image_repository("localhost:5000/ff:2") == "localhost:5000/ff"
    assert image_repository("ubuntu") == "docker.io/library/ubuntu"
    assert image_repository("acme/ff:3") == "docker.io/acme/ff"


def test_fleet_table_reports_each_node_and_runtime():
    nodes = {"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"name": "h100", "labels": gfd_labels("580.95.05", "13.0", "9.0")}},
        {"metadata": {"name": "t4-old", "labels": gfd_labels("470.256.02", "11.4", "7.5")}},
        {"metadata": {"name": "cpu", "labels": {}}},
    ]}
    rows = fleet_table(nodes, [make_request("cu124", "12.4"), make_request("cu118", "11.8")])
    table = {r.facts.name: r.as_dict() for r in rows}
    assert table["h100"]["fits"] == ["cu124", "cu118"]
    assert table["t4-old"]["fits"] == ["cu118"]
    (why,) = table["t4-old"]["does_not_fit"]
    assert why["runtime"] == "cu124" and "525.60.13" in why["reason"]
    assert table["cpu"]["fits"] == [] and "no GPU Feature Discovery" in \
        table["cpu"]["does_not_fit"][0]["reason"]
    assert table["h100"]["gpu_product"] == "NVIDIA-GPU"
    assert table["h100"]["compute_capability"] == "9.0"


def test_fleet_table_refuses_what_is_not_a_node_list():
    with pytest.raises(PlacementError, match="items"):
        fleet_table({"kind": "Pod"}, [])
    with pytest.raises(PlacementError, match=r"metadata\.name"):
        fleet_table({"items": [{"metadata": {}}]}, [])


def _kubectl_nodes(tmp_path):
    """What `kubectl get nodes -o json` saves: a v1 List of Nodes."""
    nodes = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": "h100", "labels": gfd_labels("580.95.05", "13.0", "9.0",
                                                 product="NVIDIA-H100-80GB-HBM3")},
         "status": {"capacity": {"nvidia.com/gpu": "8"}}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": "t4", "labels": gfd_labels("470.256.02", "11.4", "7.5")}}]}
    f = tmp_path / "nodes.json"
    f.write_text(json.dumps(nodes))
    return f


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(argv)
    return code, out.getvalue(), err.getvalue()


def test_k8s_nodes_from_a_saved_node_list_as_json(tmp_path):
    code, out, err = _cli(["k8s", "nodes", "--from", str(_kubectl_nodes(tmp_path)), "--runtimes",
                           str(EXAMPLES), "--cuda", "12.4", "--json"])
    assert code == 0, err
    rows = {r["node"]: r for r in json.loads(out)}
    assert rows["h100"]["gpu_product"] == "NVIDIA-H100-80GB-HBM3"
    assert rows["h100"]["driver_cuda"] == "13.0" and rows["h100"]["compute_capability"] == "9.0"
    assert rows["h100"]["fits"] == ["facefusion-cuda12", "facefusion-cuda11", "cuda=12.4"]
    assert rows["t4"]["fits"] == ["facefusion-cuda11"]
    why = {d["runtime"]: d["reason"] for d in rows["t4"]["does_not_fit"]}
    assert "525.60.13" in why["cuda=12.4"] and "580.65.06" in why["blackwell-cuda13"]
    code, text, _ = _cli(["k8s", "nodes", "--from", str(_kubectl_nodes(tmp_path)),
                          "--runtimes", str(EXAMPLES)])
    assert code == 0 and text.splitlines()[0].split()[:5] == ["NODE", "DRIVER", "CUDA", "GPU",
                                                               "CC"]


def test_k8s_nodes_from_a_file_stays_offline(tmp_path, monkeypatch):
    """--from is the offline view: with no --runtimes or --cuda it shows the nodes' drivers and
    GPUs and judges nothing, instead of reaching for a cluster that is not there."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    code, out, err = _cli(["k8s", "nodes", "--from", str(_kubectl_nodes(tmp_path)), "--json"])
    assert code == 0, err
    rows = json.loads(out)
    assert [r["node"] for r in rows] == ["h100", "t4"] and rows[0]["fits"] == []
    assert "--runtimes" in err


@pytest.mark.parametrize("content,needle", [
    (None, "No such file"), ("{not json", "--from"), ('{"kind": "Pod"}', "items")])
def test_k8s_nodes_refuses_a_bad_node_file(tmp_path, content, needle):
    f = tmp_path / "nodes.json"
    if content is not None:
        f.write_text(content)
    code, _, err = _cli(["k8s", "nodes", "--from", str(f), "--cuda", "12"])
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
