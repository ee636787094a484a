"""The webhook's JSON: orjson where the k8s extra installed it, the standard library otherwise.
Both must give the same bytes, and what neither accepts is a 400, never an allow."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid

import pytest

from cudaswitch.k8s import jsontext
from cudaswitch.k8s.admission import answer
from cudaswitch.k8s.runtime import catalog_from_objects
from cudaswitch.k8s.webhook import ROUTES

IMAGE = "ghcr.io/example/facefusion:3.1"
UNICODE_ENV = [{"name": "GREETING", "value": "grüß dich \u2028 \U0001f600 \"q\" \\"},
               {"name": "CTRL", "value": "a\tb\x01c\x7f"}]
RUNTIMES = [{"apiVersion": "cudaswitch.io/v1alpha1", "kind": "CudaRuntime",
             "metadata": {"name": "uni"},
             "spec": {"cuda": "12.4", "image": IMAGE, "env": UNICODE_ENV}}]


def _review(annotations: dict, env: list | None = None) -> dict:
    container: dict = {"name": "app", "image": IMAGE,
                       "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    if env is not None:
        container["env"] = env
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "ns", "annotations": annotations},
           "spec": {"containers": [container]}}
    group = {"group": "", "version": "v1"}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.UUID(int=7)), "kind": {**group, "kind": "Pod"},
        "resource": {**group, "resource": "pods"}, "operation": "CREATE", "object": pod}}


BODIES = {
    "placed, env not ASCII": _review({"cudaswitch.io/runtime": "uni"}),
    "placed over an env of its own": _review({"cudaswitch.io/cuda": "12.4"},
                                             [{"name": "ÄPFEL", "value": "\u00e9"}]),
    "untouched": _review({"team": "vision \u2603"}),
    "denied, no such runtime": _review({"cudaswitch.io/runtime": "n\u00f6pe"}),
}
BAD = {
    "NaN": b'{"apiVersion": NaN}',
    "not UTF-8": b'{"apiVersion": "\xff\xfe"}',
    "lone surrogate": b'{"apiVersion": "admission.k8s.io/v1", "kind": "\\ud800"}',
    "integer past 64 bits": b'{"apiVersion": "admission.k8s.io/v1", "n": ' + b"9" * 40 + b"}",
    "trailing garbage": json.dumps(_review({})).encode() + b" {}",
}
_PATH = "/mutate/pods"


def _answers(gzip: bool) -> dict[str, list]:
    catalog = catalog_from_objects(RUNTIMES)
    bodies = {**{k: json.dumps(v).encode() for k, v in BODIES.items()}, **BAD}
    out = {}
    for name, body in bodies.items():
        status, data, gz = answer(body, ROUTES[_PATH], catalog, gzip)
        # the two parsers word their refusals differently; the rest must be the same bytes
        out[name] = [status, gz, base64.b64encode(data).decode() if status == 200 else ""]
    return out


def test_a_patch_with_text_beyond_ascii_decodes_to_the_runtime_env():
    catalog = catalog_from_objects(RUNTIMES)
    status, data, _ = answer(json.dumps(BODIES["placed, env not ASCII"]).encode(),
                             ROUTES[_PATH], catalog)
    response = json.loads(data)["response"]
    patch = base64.b64decode(response["patch"])
    assert status == 200 and patch.isascii()
    env = json.loads(patch)[0]["value"]
    assert env[1:] == UNICODE_ENV


def test_compact_ascii_escapes_what_is_not_ascii():
    value = {"k": "é\u2028\U0001f600", "n": [1, None, True]}
    text = jsontext.compact_ascii(value)
    assert text.isascii() and json.loads(text) == value
    assert text == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("name", sorted(BAD))
def test_what_the_parser_refuses_is_a_400_never_an_allow(name):
    status, data, _ = answer(BAD[name], ROUTES[_PATH], catalog_from_objects(RUNTIMES))
    body = json.loads(data)
    assert status == 400 and list(body) == ["error"]


@pytest.mark.parametrize("gzip", [False, True])
def test_the_standard_library_fallback_answers_byte_for_byte_alike(gzip):
    """The same answers with orjson blocked (as where the k8s extra is not installed)."""
    code = ("import sys, json; sys.modules['orjson'] = None; sys.path.insert(0, sys.argv[1]); "
            "import test_k8s_jsontext as t; from cudaswitch.k8s import jsontext; "
            "assert jsontext.loads is json.loads; "
            f"print(json.dumps(t._answers({gzip})))")
    out = subprocess.run([sys.executable, "-c", code, __file__.rsplit("/", 1)[0]],
                         capture_output=True, text=True, check=True).stdout
    here = _answers(gzip)
    assert jsontext.loads is not json.loads, "orjson is part of the k8s extra"
    assert json.loads(out) == here
    assert [v[0] for v in here.values()] == [200] * len(BODIES) + [400] * len(BAD)
