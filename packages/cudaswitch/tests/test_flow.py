"""Every selection goes request -> target -> check -> plan: a slot by name, a manifest default,
the shell's active toolkit and a version spec are judged alike, through the real CLI and the
real entrypoint, over installed slots made from NVIDIA's wheels."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import slot_cli

OLD_DRIVER = "470.82.01"  # CUDA 11.4: too old for 12.x, minor-compat for 11.8


def entry(env, *args):
    return subprocess.run([sys.executable, "-m", "cudaswitch.entrypoint", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def senv(runtime_slots):
    _home, env = runtime_slots
    return {**env, "CUDASWITCH_NO_CACHE": "1", "CUDASWITCH_SYSTEM_PREFIX": "/nonexistent"}


def manifest(tmp_path, text: str | bytes):
    path = tmp_path / "cudaswitch.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


@pytest.mark.parametrize("how", ["--slot", "CUDASWITCH_SLOT", "entrypoint CUDASWITCH_SLOT",
                                 "manifest default", "entrypoint manifest default", "--cuda"])
def test_a_slot_is_checked_like_a_version(senv, tmp_path, how):
    env = {**senv, "CUDASWITCH_DRIVER_VERSION": OLD_DRIVER}
    if "manifest" in how:
        env["CUDASWITCH_CONFIG"] = manifest(tmp_path, 'default = "cuda12.4"\n')
    elif "CUDASWITCH_SLOT" in how:
        env["CUDASWITCH_SLOT"] = "cuda12.4"
    if how.startswith("entrypoint"):
        out = entry(env, "true")
    else:
        args = {"--slot": ["--slot", "cuda12.4"], "--cuda": ["--cuda", "12.4"]}.get(how, [])
        out = slot_cli("exec", *args, "--", "true", env=env, check=False)
    assert out.returncode == 4, out.stderr
    assert "cuda12.4" in out.stderr and "525.60.13" in out.stderr and "--force" in out.stderr
    forced = slot_cli("exec", "--slot", "cuda12.4", "--force", "--dry-run", "--json", "--",
                      "true", env=env)
    d = json.loads(forced.stdout)["selection"]
    assert (d["verdict"], d["forced"], d["slot"]) == ("unsupported", True, "cuda12.4")


def test_slot_verdict_shows_in_banner_dry_run_and_json(senv):
    env = {**senv, "CUDASWITCH_DRIVER_VERSION": OLD_DRIVER, "CUDASWITCH_SLOT": "cuda11.8"}
    out = entry(env, "true")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith(f"(slot cuda11.8) on driver {OLD_DRIVER} (minor-compat)")
    dry = slot_cli("exec", "--dry-run", "--", "true", env=env)
    assert "(minor-compat)" in dry.stdout and "(slot)" not in dry.stdout
    which = json.loads(slot_cli("which", "--json", env=env).stdout)
    assert which["verdict"] == "minor-compat" and which["slot"] == "cuda11.8"
    assert which["request"] == {"kind": "slot", "spec": "cuda11.8", "origin": "CUDASWITCH_SLOT",
                                "notes": []}


@pytest.mark.parametrize("flags, env_extra, names", [
    (["--slot", "cuda11.8", "--cuda", "12"], {}, ("--slot", "--cuda")),
    ([], {"CUDASWITCH_SLOT": "cuda11.8", "CUDASWITCH_CUDA": "12"},
     ("CUDASWITCH_SLOT", "CUDASWITCH_CUDA")),
], ids=["flags", "variables"])
def test_two_selectors_of_one_rank_are_exit_2_naming_both(senv, flags, env_extra, names):
    env = {**senv, **env_extra}
    for out in (slot_cli("exec", *flags, "--", "true", env=env, check=False),
                entry(env, "true") if env_extra else None):
        if out is None:
            continue
        assert out.returncode == 2, out.stderr
        assert all(n in out.stderr for n in names) and "Traceback" not in out.stderr


def test_a_flag_beats_a_variable(senv):
    env = {**senv, "CUDASWITCH_SLOT": "cuda11.8"}
    d = json.loads(slot_cli("which", "12.4", "--json", env=env).stdout)
    assert d["slot"] == "cuda12.4" and d["request"]["origin"] == "the SPEC argument"


def test_the_shell_active_toolkit_selects(senv):
    """eval "$(cudaswitch env 11.8)", then exec/which in that shell pick 11.8, even with an
    image's CUDA_VERSION; CUDASWITCH_CUDA (an explicit request) still wins."""
    code = slot_cli("env", "11.8", "--shell", "bash", env=senv).stdout
    shell = subprocess.run(["bash", "-c", code + "\nenv -0"], env=senv, capture_output=True,
                           text=True, check=True).stdout
    switched = dict(kv.split("=", 1) for kv in shell.split("\0") if "=" in kv)
    switched["CUDA_VERSION"] = "12.4.1"
    d = json.loads(slot_cli("which", "--json", env=switched).stdout)
    assert d["slot"] == "cuda11.8" and d["request"]["kind"] == "active"
    assert any("active" in w for w in d["why"])
    dry = json.loads(slot_cli("exec", "--dry-run", "--json", "--", "true", env=switched).stdout)
    assert dry["slot"] == "cuda11.8"
    out = entry(switched, sys.executable, "-c", "import os; print(os.environ['CUDA_HOME'])")
    assert out.returncode == 0 and out.stdout.strip().endswith("cuda11.8"), out.stderr
    d = json.loads(slot_cli("which", "--json", env={**switched, "CUDASWITCH_CUDA": "12"}).stdout)
    assert d["slot"] == "cuda12.4"


def test_a_vanished_active_toolkit_is_exit_3(senv, tmp_path):
    env = {**senv, "CUDASWITCH_ACTIVE": f"cuda12.9@{tmp_path}/gone"}
    out = slot_cli("exec", "--", "true", env=env, check=False)
    assert out.returncode == 3 and "no longer installed" in out.stderr


@pytest.mark.parametrize("spec", ["12.4.1", "12.4.127", "12.4", "12"])
def test_release_and_component_version_both_select(senv, spec):
    d = json.loads(slot_cli("which", spec, "--json", env=senv).stdout)
    assert d["slot"] == "cuda12.4"
    assert d["toolkit"]["shown_version"] == "12.4.127 (release 12.4.1)"


def test_listing_shows_release_and_version_alike(senv):
    rows = json.loads(slot_cli("list", "--json", env=senv).stdout)["toolkits"]
    shown = sorted(r["shown_version"] for r in rows if r["layout"] == "managed")
    assert shown == ["11.8.89 (release 11.8.0)", "12.4.127 (release 12.4.1)"]
    text = slot_cli("list", env=senv).stdout
    assert "12.4.127 (release 12.4.1)" in text


def test_cuda_version_plain_major_is_the_newest_of_that_major(senv):
    d = json.loads(slot_cli("which", "--json", env={**senv, "CUDA_VERSION": "12"}).stdout)
    assert d["toolkit"]["version"] == "12.4.127" and d["request"]["spec"] == "12"
    d = json.loads(slot_cli("which", "--json", env={**senv, "CUDA_VERSION": "11"}).stdout)
    assert d["slot"] == "cuda11.8"


@pytest.mark.parametrize("text", ["default = 'cuda11.8'\n", b"\xef\xbb\xbfdefault = \"cuda11.8\"\n",
                                  "# comment\ndefault = \"\"\"cuda11.8\"\"\"\n"],
                         ids=["single-quotes", "bom", "multiline-string"])
def test_manifest_default_is_read_as_toml(senv, tmp_path, text):
    env = {**senv, "CUDASWITCH_CONFIG": manifest(tmp_path, text)}
    d = json.loads(slot_cli("which", "--json", env=env).stdout)
    assert d["slot"] == "cuda11.8"
    out = entry(env, sys.executable, "-c", "import os; print(os.environ['CUDA_HOME'])")
    assert out.returncode == 0 and out.stdout.strip().endswith("cuda11.8"), out.stderr


def test_a_manifest_that_does_not_parse_is_exit_2_naming_file_and_line(senv, tmp_path):
    path = manifest(tmp_path, 'default = "cuda11.8"\n\n[[slot]\nname = "x"\n')
    env = {**senv, "CUDASWITCH_CONFIG": path}
    for out in (slot_cli("exec", "--", "true", env=env, check=False), entry(env, "true")):
        assert out.returncode == 2, out.stderr
        assert path in out.stderr and "line 3" in out.stderr and "Traceback" not in out.stderr
