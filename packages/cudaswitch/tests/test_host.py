from pathlib import Path

import pytest

from cudaswitch.host import Host, detect_host, parse_nvidia_smi, parse_proc_version
from cudaswitch.versions import CudaVersion

PROC_PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
PROC_OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  "
             "(dvs-builder@U22-I3-AF03-09-1)  Thu Oct  9 18:13:56 UTC 2025\n")


@pytest.mark.parametrize("text,expected", [(PROC_PROPRIETARY, "535.104.05"),
                                           (PROC_OPEN, "580.159.04"), ("garbage", None)],
                         ids=["proprietary", "open-module", "garbage"])
def test_proc_version(text, expected):
    assert parse_proc_version(text) == expected


def fake_root(tmp_path: Path, sysfs: str | None = None, procfs: str | None = None) -> str:
    if sysfs is not None:
        (tmp_path / "sys/module/nvidia").mkdir(parents=True)
        (tmp_path / "sys/module/nvidia/version").write_text(sysfs + "\n")
    if procfs is not None:
        (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
        (tmp_path / "proc/driver/nvidia/version").write_text(procfs)
    return str(tmp_path)


def test_sysfs_wins_over_procfs(tmp_path):
    host = detect_host({}, fake_root(tmp_path, "580.95.05", PROC_PROPRIETARY))
    assert (host.driver_version, host.driver_source) == ("580.95.05", "sysfs")


def test_procfs_when_no_sysfs(tmp_path):
    host = detect_host({}, fake_root(tmp_path, None, PROC_OPEN))
    assert (host.driver_version, host.driver_source) == ("580.159.04", "procfs")


def test_override_wins_and_gives_gpus(tmp_path):
    env = {"CUDASWITCH_DRIVER_VERSION": "525.60.13", "CUDASWITCH_GPU_ARCH": "8.6, 9.0"}
    host = detect_host(env, fake_root(tmp_path, "580.95.05"))
    assert host.driver_version == "525.60.13" and host.driver_source == "override"
    assert [g.compute_capability for g in host.gpus] == ["8.6", "9.0"]
    assert [g.sm for g in host.gpus] == ["sm_86", "sm_90"]


@pytest.mark.parametrize("env", [{"CUDASWITCH_DRIVER_VERSION": "latest"},
                                 {"CUDASWITCH_GPU_ARCH": "sm_90"},
                                 {"CUDASWITCH_GPU_ARCH": "9.0;rm"}])
def test_bad_overrides_are_errors(env, tmp_path):
    with pytest.raises(ValueError, match="CUDASWITCH_"):
        detect_host(env, str(tmp_path))


def test_no_driver_on_empty_root(tmp_path):
    host = detect_host({}, str(tmp_path))
    assert host == Host(None, None, (), "none", "none")


def test_nvidia_smi_output():
    csv = ("0, NVIDIA H100 80GB HBM3, 9.0, 81559, 580.159.04\n"
           "1, NVIDIA GeForce RTX 4090, 8.9, 24564, 580.159.04\n")
    header = "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0     |"
    driver, cuda, gpus = parse_nvidia_smi(csv, header)
    assert driver == "580.159.04" and cuda == CudaVersion(13, 0)
    assert [(g.brand, g.compute_capability, g.memory_mib) for g in gpus] == [
        ("NVIDIA", "9.0", 81559), ("GeForce RTX", "8.9", 24564)]


def test_nvml_through_nvidia_ml_py_and_ctypes_agree():
    """Both NVML paths read the same driver and GPUs; without a driver both say nothing."""
    from cudaswitch.host import read_nvml_ctypes, read_pynvml

    pytest.importorskip("pynvml")
    assert read_pynvml() == read_nvml_ctypes()
