"""The matrix's files for CI: JUnit XML against ``junit-10.xsd``, GitHub Actions and GitLab CI
YAML against their published JSON schemas. The schemas ship in ``schemas/`` (see its README
for where each came from): nothing is fetched at test time.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema
import yaml

from cs_helpers import clean_env, cudaswitch_cmd

SCHEMAS = Path(__file__).parent / "schemas"
WHEEL = "dist/cudaswitch-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


def json_validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture
def wenv(wheel_roots: Path, tmp_path: Path) -> dict[str, str]:
    return clean_env(CUDASWITCH_PATH=str(wheel_roots),
                     CUDASWITCH_SYSTEM_PREFIX=str(tmp_path / "no-system"))


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cudaswitch_cmd(*args), env=env, capture_output=True, text=True,
                          timeout=300)


# Passes under 11.8, fails under 12.4 (with a colour code and a stray control character in its
# output, which XML cannot carry), and 13.0 is skipped by the driver override.
MIXED = ("import os, sys; home = os.environ['CUDA_HOME']; "
         "print('\\x1b[31mred\\x1b[0m \\x07 <&> under', home); "
         "sys.exit(3 if 'cuda-12.4' in home else 0)")


def test_junit_one_suite_per_slot_is_schema_valid_and_parses_back(wenv, tmp_path,
                                                                   junit_schema):
    env = {**wenv, "CUDASWITCH_DRIVER_VERSION": "550.54.14"}  # CUDA 12.4: 13.0 cannot run
    report = tmp_path / "junit.xml"
    proc = cli("matrix", "--junit", str(report), "--log-dir", str(tmp_path / "logs"), "--",
               sys.executable, "-c", MIXED, env=env)
    assert proc.returncode == 1, proc.stderr
    junit_schema.validate(str(report))  # raises with the offending path if not valid

    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["cuda11.8", "cuda12.4", "cuda13.0"]
    props = {p.get("name"): p.get("value")
             for p in suites["cuda12.4"].find("properties").findall("property")}
    assert props["cuda"] == "12.4.127" and props["verdict"] == "native"
    assert props["exec"].startswith("cudaswitch exec --cuda 12.4.127 -- ")

    ok, bad, skipped = (suites[n].find("testcase") for n in ("cuda11.8", "cuda12.4", "cuda13.0"))
    assert ok.find("failure") is None and ok.find("skipped") is None
    assert "under" in ok.find("system-out").text
    failure = bad.find("failure")
    assert failure is not None and failure.get("message") == "exit code 3"
    assert "<&> under" in failure.text and "\x1b" not in failure.text
    assert suites["cuda12.4"].get("failures") == "1"
    skip = skipped.find("skipped")
    assert skip is not None and "unsupported" in skip.get("message")
    assert suites["cuda13.0"].get("skipped") == "1"
    assert all(c.get("classname") == f"cudaswitch.matrix.{n}"
               for n, c in (("cuda11.8", ok), ("cuda12.4", bad), ("cuda13.0", skipped)))


def test_the_junit_schema_rejects_what_ci_tools_would(junit_schema):
    """The check above can fail: a suite without its counts is not JUnit for Jenkins."""
    bad = b'<testsuites><testsuite name="x" tests="1"><testcase name="c"/></testsuite>' \
          b'</testsuites>'
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        junit_schema.validate(bad.decode())


@pytest.mark.parametrize("flavour,schema", [("github", "github-workflows.json"),
                                            ("gitlab", "gitlab-ci.json")])
def test_emitted_ci_matrix_is_schema_valid_for_implicit_slots(flavour, schema, wenv):
    proc = cli("matrix", "--emit", flavour, "--install-from", WHEEL, "--", "python", "-m",
               "pytest", "-k", "not slow",
               env=wenv)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    json_validator(schema).validate(doc)
    if flavour == "github":
        assert "on" in doc and True not in doc  # `on:` quoted, not read as a boolean
        job = doc["jobs"]["cuda"]
        entries = job["strategy"]["matrix"]["include"]
        assert [e["slot"] for e in entries] == ["cuda11.8", "cuda12.4", "cuda13.0"]
        assert entries[1]["setup"] == "cudaswitch install 12.4 --name cuda12.4"
        run = job["steps"][-1]["run"]
        assert run == ('cudaswitch exec --slot "${{ matrix.slot }}" -- '
                       "python -m pytest -k 'not slow'")
        assert job["strategy"]["fail-fast"] is False
    else:
        job = doc["cuda-matrix"]
        entries = job["parallel"]["matrix"]
        assert [e["CUDA_SLOT"] for e in entries] == ["cuda11.8", "cuda12.4", "cuda13.0"]
        assert job["script"][-1] == ('cudaswitch exec --slot "$CUDA_SLOT" -- '
                                     "python -m pytest -k 'not slow'")


@pytest.mark.parametrize("flavour,schema", [("github", "github-workflows.json"),
                                            ("gitlab", "gitlab-ci.json")])
def test_emitted_ci_matrix_from_the_manifest(flavour, schema, wenv, tmp_path):
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text('default = "cuda12"\n[[slot]]\nname = "cuda11"\ncuda = "11.8"\n\n'
                        '[[slot]]\nname = "cuda12"\ncuda = "12.4"\n'
                        'components = ["cudart", "cublas"]\n')
    env = {**wenv, "CUDASWITCH_CONFIG": str(manifest), "CUDASWITCH_HOME": str(tmp_path / "h")}
    proc = cli("matrix", "--emit", flavour, "--install-from", WHEEL, "--slots", "cuda12",
               "--runs-on",
               "self-hosted,gpu", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    json_validator(schema).validate(doc)
    text = proc.stdout
    assert "cudaswitch sync" in text and "cuda11" not in text.split("\n", 2)[2]
    assert "python -m pytest" in text  # the default command
    if flavour == "github":
        assert doc["jobs"]["cuda"]["runs-on"] == ["self-hosted", "gpu"]
        assert doc["jobs"]["cuda"]["strategy"]["matrix"]["include"] == [
            {"slot": "cuda12", "setup": "cudaswitch sync --slot cuda12"}]
    else:
        assert doc["cuda-matrix"]["tags"] == ["self-hosted", "gpu"]


@pytest.mark.parametrize("flavour,schema,breaks", [
    ("github", "github-workflows.json", lambda d: d["jobs"]["cuda"].pop("runs-on")),
    # An unquoted `on:` that YAML 1.1 reads as the boolean true.
    ("github", "github-workflows.json", lambda d: d.__setitem__(True, d.pop("on"))),
    ("gitlab", "gitlab-ci.json",
     lambda d: d["cuda-matrix"]["parallel"].__setitem__("matrix", 3)),
], ids=["github-no-runs-on", "github-on-as-boolean", "gitlab-matrix-not-a-list"])
def test_the_ci_schemas_reject_broken_files(flavour, schema, breaks, wenv):
    """The validations above can fail: the same document, broken one way, is rejected."""
    doc = yaml.safe_load(cli("matrix", "--emit", flavour, "--install-from", WHEEL, "--", "true",
                             env=wenv).stdout)
    broken = copy.deepcopy(doc)
    breaks(broken)
    with pytest.raises(jsonschema.ValidationError):
        json_validator(schema).validate(broken)
