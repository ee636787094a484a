"""The slot commands through the real CLI: bad input writes nothing, suggestions, dry runs."""

from __future__ import annotations

import json

import pytest
from conftest import slot_cli, slot_env

from cs_helpers import pure_wheel


def tree(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("args", [
    ["install", "12.77"], ["install", "../x"], ["install", "12.4; rm -rf /"],
    ["install", ""], ["install", "12.4", "--name", "../../etc"],
    ["install", "12.4", "--with", "cudart,bogus"],
    ["install", "11.8", "--with", "nvcc"],
    ["install", "12.4", "--prefix", "/"],
    ["install", "12.4", "--wheelhouse", "/nonexistent/wheelhouse"],
    ["uninstall", "../x"],
    ["download", "12.77", "--wheelhouse", "wh"],
], ids=lambda a: " ".join(a)[:40])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args):
    home = tmp_path / "home"
    proc = slot_cli(*args, env=slot_env(home), check=False)
    assert proc.returncode == 2, proc.stderr
    assert tree(tmp_path) == [], "nothing may be written"
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_version_names_the_choices(tmp_path):
    err = slot_cli("install", "12.77", env=slot_env(tmp_path), check=False).stderr
    assert "choose one of: 11.8, 12.0, 12.1" in err and "13.5" in err


def test_nvcc_on_pip_explained(tmp_path):
    err = slot_cli("install", "12.4", "--with", "nvcc", env=slot_env(tmp_path), check=False).stderr
    assert "hold only ptxas" in err and "runfile" in err and "apt" in err


@pytest.mark.parametrize("text", [
    '[[slot]]\nname="a"\ncuda="12.4"\ncomponents=["cudart","nope"]\n',
    '[[slot]]\nname="a"\ncuda="11.8"\npackages=["onnxruntime-gpu==1.22.0"]\n',
    '[[slot]]\nname="a"\ncuda="12.4"\n[[slot]]\nname="a"\ncuda="12.4"\n',
    '[[slot]]\nname="a"\ncuda="../../x"\n',
], ids=["component", "ort-major", "duplicate", "version"])
@pytest.mark.parametrize("command", ["sync", "lock", "download"])
def test_bad_manifest_exits_2_and_writes_nothing(tmp_path, text, command):
    man = tmp_path / "m" / "cudaswitch.toml"
    man.parent.mkdir()
    man.write_text(text)
    home = tmp_path / "home"
    proc = slot_cli(command, env=slot_env(home, CUDASWITCH_CONFIG=str(man)), check=False)
    assert proc.returncode == 2, proc.stderr
    assert not home.exists() and tree(man.parent) == ["cudaswitch.toml"]


def test_sync_without_manifest(tmp_path):
    env = slot_env(tmp_path / "home", CUDASWITCH_CONFIG=str(tmp_path / "missing.toml"))
    proc = slot_cli("sync", env=env, check=False)
    assert proc.returncode == 2 and "no manifest" in proc.stderr


def test_slot_suggest(tmp_path):
    env = slot_env(tmp_path)
    text = slot_cli("slot", "suggest", "--cuda", "11.8", "--for", "onnxruntime", "--no-resolve",
                    env=env).stdout
    assert 'packages = ["onnxruntime-gpu==1.18.*"]' in text and 'cudnn = "8.9.*"' in text
    data = json.loads(slot_cli("slot", "suggest", "--cuda", "12.4", "--json", "--no-resolve",
                               env=env).stdout)
    assert data["slot"]["packages"] == ["onnxruntime-gpu==1.26.0"]
    assert data["slot"]["cudnn"] == "9.5.*"
    man = tmp_path / "cudaswitch.toml"
    man.write_text(text)
    listed = json.loads(slot_cli("slot", "list", "--json",
                                 env=slot_env(tmp_path, CUDASWITCH_CONFIG=str(man))).stdout)
    assert listed == [{"name": "cuda11.8", "installed": False, "root": None}]


def test_cudnn_resolves_against_the_release_pins(tmp_path):
    """cuDNN's wheel needs cuBLAS; the release's pins choose which (no GB download)."""
    proc = slot_cli("install", "12.4", "--with", "cudart,cudnn", "--dry-run", "--json",
                    env=slot_env(tmp_path / "home"))
    data = json.loads(proc.stdout)
    wheels = {w["name"]: w["version"] for w in data["wheels"]}
    assert wheels["nvidia-cudnn-cu12"].startswith("9.")
    assert wheels["nvidia-cublas-cu12"] == "12.4.5.8"  # the 12.4.1 release's cuBLAS
    assert wheels["nvidia-cuda-runtime-cu12"] == "12.4.127"
    assert "nvidia-cublas-cu12==12.4.5.8.*" in data["constraints"]
    assert not (tmp_path / "home" / "toolkits").exists()


def test_cudnn8_for_cuda11(tmp_path):
    proc = slot_cli("install", "11.8", "--with", "cudart,nvrtc,cudnn", "--dry-run", "--json",
                    env=slot_env(tmp_path / "home"))
    # --with cannot carry a cuDNN version; the manifest can: here the default (newest for 11)
    wheels = {w["name"]: w["version"] for w in json.loads(proc.stdout)["wheels"]}
    cudnn = tuple(int(p) for p in wheels["nvidia-cudnn-cu11"].split("."))
    assert (9,) <= cudnn <= (9, 10, 2, 21)  # the last cuDNN built for CUDA 11
    assert wheels["nvidia-cuda-nvrtc-cu11"] == "11.8.89"


def test_sync_of_an_unknown_slot_names_the_real_ones(tmp_path):
    man = tmp_path / "cudaswitch.toml"
    man.write_text('[[slot]]\nname = "rt11"\ncuda = "11.8"\ncomponents = ["cudart"]\n')
    home = tmp_path / "home"
    out = slot_cli("sync", "--slot", "rt12", "--manifest", str(man), env=slot_env(home),
                   check=False)
    assert out.returncode == 2 and "no slot rt12" in out.stderr and "rt11" in out.stderr
    assert not home.exists() or not any(home.rglob("*"))


def test_slot_suggest_pins_what_the_index_serves(tmp_path):
    """The compat data's range (onnxruntime-gpu==1.18.*) becomes the newest release the index
    serves now; an index without it is an error naming the package, with nothing printed
    as a suggestion."""
    wh = tmp_path / "wh"
    wh.mkdir()
    for v in ("1.17.3", "1.18.0", "1.18.1", "1.19.2"):
        pure_wheel(wh, "onnxruntime-gpu", v)
    env = slot_env(tmp_path / "home")
    data = json.loads(slot_cli("slot", "suggest", "--cuda", "11.8", "--json", "--wheelhouse",
                               str(wh), env=env).stdout)
    assert data["slot"]["packages"] == ["onnxruntime-gpu==1.18.1"]
    assert 'packages = ["onnxruntime-gpu==1.18.1"]' in data["toml"]
    assert any("1.18.*" in n and str(wh) in n for n in data["notes"])
    for v in ("1.18.0", "1.18.1"):
        (wh / f"onnxruntime_gpu-{v}-py3-none-any.whl").unlink()
    proc = slot_cli("slot", "suggest", "--cuda", "11.8", "--wheelhouse", str(wh), env=env,
                    check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "onnxruntime-gpu==1.18.*" in proc.stderr and "--no-resolve" in proc.stderr
    assert proc.stdout == ""
