"""``cudaswitch require check`` through the real command, in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cudaswitch.compat.require import CUDA_SUFFIX

BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("NVIDIA_", "CUDASWITCH_")) and k != "CUDA_VERSION"}
FACTS = ["--driver", "470.82.01", "--cuda", "11.4", "--arch", "8.0", "--brand", "Tesla"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cudaswitch.cli.main", "require", "check", *args],
        capture_output=True, text=True, env={**BASE_ENV, **(env or {})}, timeout=60,
    )


def test_issue_example_holds() -> None:
    r = cli("cuda>=11.8 brand=tesla,driver>=470,driver<471", *FACTS)
    assert r.returncode == 0, r.stderr
    assert "holds" in r.stdout


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("cuda>=11.8 brand=tesla,driver>=471", "unsatisfied condition: cuda>=11.8" + CUDA_SUFFIX),
        ("brand=geforce", "unsatisfied condition: brand=geforce"),
        ("arch>=9.0", "unsatisfied condition: arch>=9.0"),
    ],
    ids=["cuda floor with driver advice", "brand", "arch"],
)
def test_unsatisfied_exits_1_with_nvidias_message(expr: str, message: str) -> None:
    r = cli(expr, *FACTS)
    assert r.returncode == 1
    assert message in r.stderr


@pytest.mark.parametrize("expr", ["foo=1", "cuda", "cuda=>11", "brand<tesla", "cuda>=abc"],
                         ids=["unknown property", "no operator", "bad operator",
                              "brand ordering", "not a version"])
def test_invalid_expression_exits_2_and_says_what_is_valid(expr: str) -> None:
    r = cli(expr, *FACTS)
    assert r.returncode == 2
    assert "invalid expression" in r.stderr
    assert "PROPERTY OP VALUE" in r.stderr


def test_several_expressions_are_anded_and_json_reports_the_failure() -> None:
    r = cli("cuda>=11", "driver>=500", *FACTS, "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["requirement"] == "driver>=500"
    assert data["gpu"] == 0
    assert data["facts"]["gpus"] == [{"arch": "8.0", "brand": "Tesla"}]


def test_driver_alone_implies_its_cuda_version() -> None:
    ok = cli("cuda>=12.0", "--driver", "535.54.03", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["facts"]["cuda"] == "12.2"
    assert cli("cuda>=12.4", "--driver", "535.54.03").returncode == 1


def test_several_gpus_each_checked() -> None:
    r = cli("arch>=8.0", "--arch", "9.0,7.5", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["gpu"] == 1


def test_env_reads_the_image_variables() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=12.2 brand=tesla,driver>=470,driver<471",
           "NVIDIA_REQUIRE_ARCH": "arch>=8.0"}
    assert cli("--env", *FACTS, env=env).returncode == 0
    r = cli("--env", *FACTS, env={"CUDA_VERSION": "12.2.2"})
    assert r.returncode == 1
    assert "unsatisfied condition: cuda>=12.2" + CUDA_SUFFIX in r.stderr
    assert cli("--env", *FACTS, env={"CUDA_VERSION": "12.2",
                                     "NVIDIA_DISABLE_REQUIRE": "true"}).returncode == 0


def test_env_with_unreadable_legacy_cuda_version_is_bad_input() -> None:
    r = cli("--env", *FACTS, env={"CUDA_VERSION": "auto"})
    assert r.returncode == 2
    assert "invalid CUDA version 'auto'" in r.stderr


@pytest.mark.parametrize("args", [[], ["cuda>=12", "--driver", "latest"],
                                  ["cuda>=12", "--arch", "sm_90"]],
                         ids=["nothing to check", "bad --driver", "bad --arch"])
def test_bad_flags_exit_2(args: list[str]) -> None:
    assert cli(*args).returncode == 2


def test_this_host_without_flags() -> None:
    r = cli("cuda>=1", "--json", env={"CUDASWITCH_DRIVER_VERSION": "550.54.15",
                                      "CUDASWITCH_GPU_ARCH": "9.0"})
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)["facts"]
    assert facts["source"].startswith("host")
    assert facts["driver"] == "550.54.15"
    assert facts["cuda"] == "12.4"
    assert [g["arch"] for g in facts["gpus"]] == ["9.0"]
