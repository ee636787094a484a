"""Placement: the affinity the webhook writes matches exactly the nodes ``compat`` says fit."""

from __future__ import annotations

import contextlib
import functools
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s_helpers import affinity_matches, gfd_labels

from cudaswitch.cli.main import main as cli
from cudaswitch.compat.verdict import driver_cuda_for, minor_floor
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
# CUDA 10.2 has no architecture list in the compat data: compat judges the driver only
ALL_RUNTIMES = [*RUNTIMES, {"name": "cu102", "cuda": "10.2"}]
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples" / "cudaruntimes.yaml"
NODES = [(f"n-{d}-{cc}", d, cc) for d in DRIVERS for cc in CCS]


@functools.cache
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


def _floors(spec: dict) -> list[str]:
    request = _request(spec)
    floors = [f for f in (minor_floor(request.version), spec.get("min_driver")) if f]
    return floors


def _around(driver: str) -> list[str]:
    """Drivers one step below, at and above each part of ``driver``."""
    a, b, *rest = (int(p) for p in driver.split("."))
    out = [f"{a - 1}.{b}", f"{a + 1}.0", f"{a}.{b + 1}", f"{a}.{max(b - 1, 0)}", f"{a}.{b}"]
    if rest:
        c = rest[0]
        out += [f"{a}.{b}.{c + d}" for d in (-1, 0, 1) if c + d >= 0]
        out += [f"{a}.{b - 1}.{c + 1}", f"{a - 1}.{b + 1}.{c + 1}"]
    return out


# how a revision may be spelled on a node: as GFD writes it, zero-padded, signed (not a valid
# label value, but ParseInt reads it), not a number, empty, past int64
REVISION_SPELLINGS = {
    "gfd": lambda r: r.zfill(2),
    "padded": lambda r: r.zfill(3),
    "signed": lambda r: "+" + r,
    "not-a-number": lambda r: r + "a",
    "empty": lambda r: "",
    "past-int64": lambda r: "9" * 20,
}


def _boundary_nodes(spec: dict):
    """(name, labels, driver as the scheduler reads it, compute capability) around every
    driver floor of the runtime, in every revision spelling and label generation."""
    ccs = ["8.6", "8.8", "9.0", "10.0", "7.5"]
    for floor in _floors(spec):
        for driver in _around(floor):
            a, b, *rest = driver.split(".")
            spellings = {"none": None} if not rest else REVISION_SPELLINGS
            for how, spell in spellings.items():
                read = driver if spell is None else f"{a}.{b}"
                if spell is not None:
                    text = spell(rest[0])
                    if how in ("gfd", "padded", "signed"):
                        read = f"{a}.{b}.{int(text)}"
                dcuda = driver_cuda_for(read)
                if dcuda is None:
                    continue
                for generation in ("current", "deprecated", "both"):
                    for cc in ccs:
                        labels = gfd_labels(f"{a}.{b}", str(dcuda), cc,
                                            current=generation != "deprecated",
                                            deprecated=generation != "current")
                        if spell is not None:
                            for key in ("nvidia.com/cuda.driver-version.revision",
                                        "nvidia.com/cuda.driver.rev"):
                                if key.replace("revision", "major").replace(
                                        ".rev", ".major") in labels:
                                    labels[key] = text
                        yield f"{driver}/{how}/{generation}/{cc}", labels, read, cc


@pytest.mark.parametrize("spec", RUNTIMES, ids=[r["name"] for r in RUNTIMES])
def test_affinity_matches_compat_around_every_driver_floor(spec):
    """Nodes one revision, minor and major either side of each floor (the minor-version
    floor, minDriver), the revision zero-padded ("013" is 13 to Gt), signed, not a number,
    empty or past int64 (no revision, then), under the current, the deprecated or both label
    names: the affinity matches exactly when ``cudaswitch compat`` says the driver as the
    scheduler reads it, and the GPU, can run it."""
    request = _request(spec)
    terms = required_node_affinity(request)
    wrong, seen, fits = [], 0, 0
    for name, labels, read, cc in _boundary_nodes(spec):
        ok, kind = compat_cli(str(request.version), read, cc)
        if spec.get("min_driver"):
            ok = ok and tuple(map(int, read.split("."))) >= tuple(
                map(int, spec["min_driver"].split(".")))
        if spec.get("gpu_arch"):
            ok = ok and tuple(map(int, cc.split("."))) >= (8, 0)
        if affinity_matches(terms, labels) != ok:
            wrong.append(f"{name}: compat {kind} ({ok}), affinity {not ok}")
        verdict = node_verdict(request, gfd.node_facts(name, labels))
        if (verdict.kind in ("native", "minor-compat")) != ok:
            wrong.append(f"{name}: node_verdict {verdict.kind}, compat {kind}")
        seen += 1
        fits += ok
    assert not wrong, "\n".join(wrong[:20])
    assert 0 < fits < seen, "the boundary nodes must fall on both sides"


_VALUES = st.sampled_from(["0", "4", "11", "12", "13", "012", "+12", "-1", "12a", "", "60",
                           "61", "59", "525", "0525", "526", "524", "580", "65", "06", "6",
                           "9223372036854775808", "8", "9", "09", "10", "3", "5"])
_KEYS = [*(getattr(names, f) for names in gfd.GENERATIONS
           for f in ("driver_major", "driver_minor", "driver_revision", "cuda_major",
                     "cuda_minor")), gfd.COMPUTE_MAJOR, gfd.COMPUTE_MINOR]


@st.composite
def _drawn_labels(draw) -> dict[str, str]:
    """A node GFD could have labelled, then up to four labels rewritten or removed."""
    driver = draw(st.sampled_from([*DRIVERS, "525.60", "580.65.6", "450.80.2"]))
    labels = gfd_labels(driver, str(driver_cuda_for(driver)), draw(st.sampled_from(CCS)),
                        **draw(st.sampled_from([{}, {"deprecated": True},
                                                {"current": False, "deprecated": True}])))
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=4)):
        value = draw(st.one_of(st.none(), _VALUES))
        if value is None:
            labels.pop(key, None)
        else:
            labels[key] = value
    return labels


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=_drawn_labels(), spec=st.sampled_from(ALL_RUNTIMES))
def test_affinity_agrees_with_node_verdict_on_any_labels(labels, spec):
    """GFD label sets with labels rewritten to values around the floors, zero-padded,
    signed, not numbers, past int64, or removed, in any mix of the two generations: the
    matcher (the scheduler's semantics) and the verdict never disagree."""
    request = _request(spec)
    verdict = node_verdict(request, gfd.node_facts("drawn", labels))
    fits = verdict.kind in ("native", "minor-compat")
    assert affinity_matches(required_node_affinity(request), labels) == fits, \
        (labels, verdict.reason)


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
    # "1.10" is not "11.0", though both spell sm_110
    "compute-1-10": gfd_labels("580.95.05", "13.0", "1.10"),
    "compute-zero-padded": gfd_labels("580.95.05", "13.0", "09.0"),
    "compute-minor-padded": gfd_labels("580.95.05", "13.0", "9.00"),
    "driver-major-padded": gfd_labels("580.95.05", "13.0", "9.0") | {
        "nvidia.com/cuda.driver-version.major": "0580"},
    "runtime-major-padded": gfd_labels("525.60.13", "12.0", "8.6") | {
        "nvidia.com/cuda.runtime-version.major": "012"},
    "driver-major-past-int64": gfd_labels("580.95.05", "13.0", "9.0") | {
        "nvidia.com/cuda.driver-version.major": "9223372036854775808"},
    "driver-major-huge": gfd_labels("525.60.13", "12.0", "8.6") | {
        "nvidia.com/cuda.driver-version.major": "9223372036854775807"},
    "current-major-not-int-with-deprecated": gfd_labels(
        "580.95.05", "13.0", "9.0", deprecated=True) | {
        "nvidia.com/cuda.driver-version.major": "x"},
    # GFD's label for an old driver, a new runtime-version claim: the labels are believed
    "runtime-newer-than-driver": gfd_labels("450.80.02", "13.0", "8.0"),
    "runtime-older-than-driver": gfd_labels("580.95.05", "11.4", "8.0"),
}


@pytest.mark.parametrize("value,read", [
    ("13", 13), ("013", 13), ("+13", 13), ("0", 0), ("1e1", None), (" 13", None),
    ("13 ", None), ("", None), ("-1", None), ("1_3", None), ("9223372036854775807", None),
    ("9223372036854775808", None)])
def test_driver_labels_are_read_as_the_scheduler_reads_gt(value, read):
    """Gt/Lt parse a label with strconv.ParseInt(v, 10, 64); the verdict reads the driver
    labels the same way (a negative one counts as missing, as the affinity asks for >= 0)."""
    labels = gfd_labels("580.95.05", "13.0", "9.0") | {
        "nvidia.com/cuda.runtime-version.major": value}
    facts = gfd.node_facts("odd", labels)
    if value == "9223372036854775807":
        assert facts.driver_cuda is not None and facts.driver_cuda.major == 2**63 - 1
    elif read is None:
        assert not facts.complete and "runtime-version.major" in facts.missing
    else:
        assert facts.driver_cuda is not None and facts.driver_cuda.major == read


@pytest.mark.parametrize("value", ["09", "+9", "9.0", " 9", "nine"])
def test_architecture_labels_are_read_only_as_gfd_writes_them(value):
    """``In ["9"]`` does not match ``"09"``, so the verdict does not read it as 9 either."""
    labels = gfd_labels("580.95.05", "13.0", "9.0") | {"nvidia.com/gpu.compute.major": value}
    facts = gfd.node_facts("odd", labels)
    assert facts.compute_capability is None and "gpu.compute.major" in facts.missing


@pytest.mark.parametrize("spec", ALL_RUNTIMES, ids=[r["name"] for r in ALL_RUNTIMES])
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


def test_affinity_compares_each_label_one_way():
    """``In`` (string match) only on the architecture labels, ``Gt`` (integer) only on the
    driver labels, ``DoesNotExist`` only to fall back to the deprecated names: a label
    compared both ways would match "0525" in one term and not in another."""
    for spec in RUNTIMES:
        for term in required_node_affinity(_request(spec)):
            for e in term["matchExpressions"]:
                if e["key"].startswith("nvidia.com/gpu.compute."):
                    assert e["operator"] == "In", e
                elif e["operator"] == "DoesNotExist":
                    assert e["key"] == gfd.CURRENT.driver_major, e
                else:
                    assert e["operator"] == "Gt" and e["key"].startswith("nvidia.com/cuda."), e
                for v in e.get("values", []):
                    assert v.lstrip("-").isdigit(), e


@pytest.mark.parametrize("spec", RUNTIMES, ids=[r["name"] for r in RUNTIMES])
def test_affinity_has_no_term_another_term_covers(spec):
    terms = required_node_affinity(_request(spec))
    sets = [frozenset(json.dumps(e, sort_keys=True) for e in t["matchExpressions"])
            for t in terms]
    assert len(set(sets)) == len(sets)
    for i, a in enumerate(sets):
        assert not any(b < a for j, b in enumerate(sets) if j != i), terms[i]


@pytest.mark.parametrize("cuda,terms", [("12.4", 50), ("12", 10), ("13.0", 10),
                                        ("11.8", 60), ("11.0", 10)])
def test_affinity_term_counts(cuda, terms):
    """The count is the product of the smallest forms of three independent conditions: the
    GFD generation (2), the driver fitting (up to 5 lower-bound terms: driver CUDA >= X.Y is
    2, "same major and driver >= floor" 3) and the GPU architecture (one term per set of
    minors, e.g. 5 for CUDA 12.4's targets). A fourth or fifth driver term shows an
    unsimplified product."""
    assert len(required_node_affinity(make_request("r", cuda))) == terms


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
    # no architecture list for CUDA 10.2: a gpuArch could not be written as affinity
    with pytest.raises(PlacementError, match=r"lists no GPU architectures for CUDA 10\.2"):
        make_request("r", "10.2", gpu_arch=">=7.0")


@pytest.mark.parametrize("field,value", [("image", "Not An Image"), ("image", "a//b"),
                                         ("slot", "../x"), ("min_driver", "latest"),
                                         ("min_driver", "1.2.3.4"),
                                         ("min_driver", "525.1000000000")])
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
