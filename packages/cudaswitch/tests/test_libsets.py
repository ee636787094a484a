"""One build of each library family: which folders win, and what mapped libraries reveal.
Names come from the real RECORD files of NVIDIA's cuDNN, NCCL and cuBLAS wheels."""

from pathlib import Path

import pytest
from pyenv_helpers import DISTS

from cudaswitch.libsets import choose_builds, mixed


def record_libs(folder: str) -> list[str]:
    text = (DISTS / folder / "RECORD").read_text()
    return [line.split(",")[0].rsplit("/", 1)[-1] for line in text.splitlines()
            if ".so" in line.split(",")[0]]


CUDNN12 = record_libs("nvidia_cudnn_cu12-9.1.0.70.dist-info")
CUDNN13 = record_libs("nvidia_cudnn_cu13-9.24.0.43.dist-info")
NCCL12 = record_libs("nvidia_nccl_cu12-2.32.3.dist-info")
CUBLAS13 = record_libs("nvidia_cublas-13.1.1.3.dist-info")
SLOT = "/slots/cuda12.4/site/nvidia"
VENV = "/venv/lib/python3.12/site-packages/nvidia"


def test_the_packages_cudnn_wins_and_the_slots_cudnn_folder_leaves():
    choice = choose_builds(
        [(f"{SLOT}/cuda_runtime/lib", ["libcudart.so.12"]), (f"{SLOT}/cudnn/lib", CUDNN12),
         (f"{SLOT}/nccl/lib", NCCL12)],
        [("nvidia-cudnn-cu13 9.24.0.43", f"{VENV}/cudnn/lib", CUDNN13)])
    assert choice.first == (f"{VENV}/cudnn/lib",)
    assert choice.dropped == (f"{SLOT}/cudnn/lib",)
    (shadow,) = choice.shadows
    assert shadow.family == "cuDNN" and "libcudnn.so.9" in shadow.sonames
    assert "nvidia-cudnn-cu13" in shadow.describe()


def test_a_toolkit_folder_with_other_libraries_stays_behind_the_package():
    lib64 = ["libcudart.so.12", "libcublas.so.12", *CUDNN12]
    choice = choose_builds([("/usr/local/cuda-12.4/lib64", lib64)],
                           [("nvidia-cudnn-cu13 9.24.0.43", f"{VENV}/cudnn/lib", CUDNN13)])
    assert choice.first == (f"{VENV}/cudnn/lib",)
    assert choice.dropped == ()


@pytest.mark.parametrize("target,package", [
    pytest.param([(f"{SLOT}/cuda_runtime/lib", ["libcudart.so.12"])],
                 [("nvidia-cudnn-cu13", f"{VENV}/cudnn/lib", CUDNN13)], id="only-the-package"),
    pytest.param([(f"{VENV}/cudnn/lib", CUDNN13)],
                 [("nvidia-cudnn-cu13", f"{VENV}/cudnn/lib", CUDNN13)], id="same-folder"),
    pytest.param([(f"{SLOT}/cu13/lib", ["libcublas.so.13", "libcublasLt.so.13"])],
                 [("nvidia-cublas-cu12", f"{VENV}/cublas/lib",
                   ["libcublas.so.12", "libcublasLt.so.12"])], id="majors-in-sonames-differ"),
])
def test_nothing_changes_without_a_shared_soname(target, package):
    choice = choose_builds(target, package)
    assert not choice.changes and choice.shadows == ()


def test_a_shared_cu13_folder_wins_for_the_family_that_collides():
    choice = choose_builds(
        [("/usr/local/cuda-13.0/lib64", ["libcudart.so.13", "libcublas.so.13",
                                          "libcublasLt.so.13"])],
        [("nvidia-cublas 13.1.1.3", f"{VENV}/cu13/lib", CUBLAS13)])
    assert choice.first == (f"{VENV}/cu13/lib",) and choice.dropped == ()
    assert [s.family for s in choice.shadows] == ["cuBLAS"]


# What LD_DEBUG=libs showed for `exec --cuda 12.4 -- python3 t.py` with torch 2.11.0+cu130
TORCH = "/opt/torch/.venv/lib/python3.12/site-packages/nvidia"
STACK = "/stack/cuda-12.4/nvidia"
ISSUE_MAPS = [f"{TORCH}/cudnn/lib/libcudnn.so.9", f"{TORCH}/cu13/lib/libcublasLt.so.13",
              f"{TORCH}/cu13/lib/libcudart.so.13", f"{STACK}/cudnn/lib/libcudnn_graph.so.9",
              f"{STACK}/cudnn/lib/libcudnn_engines_precompiled.so.9",
              f"{STACK}/cudnn/lib/libcudnn_heuristic.so.9", f"{STACK}/cuda_runtime/lib/"
              "libcudart.so.12", "/usr/local/nvidia/lib64/libcuda.so.580.159.04"]


def test_the_reported_abort_is_two_cudnn_builds_and_two_majors():
    found = {m.kind: m for m in mixed(ISSUE_MAPS)}
    assert set(found) == {"two-majors", "two-builds"}
    assert found["two-builds"].family == "cuDNN"
    text = found["two-builds"].describe()
    assert "libcudnn.so.9" in text and "libcudnn_graph.so.9" in text
    majors = found["two-majors"].describe()
    assert "CUDA 12" in majors and "CUDA 13" in majors and "libcublasLt.so.13" in majors


def test_one_build_of_everything_is_clean():
    maps = [p for p in ISSUE_MAPS if not p.startswith(STACK)]
    assert mixed(maps) == []


def test_links_are_compared_by_their_real_folder(tmp_path: Path):
    maps = [f"{tmp_path}/a/libcudnn.so.9", f"{tmp_path}/b/libcudnn_graph.so.9"]
    assert [m.family for m in mixed(maps)] == ["cuDNN"]
    real = {maps[1]: f"{tmp_path}/a/libcudnn_graph.so.9"}
    assert mixed(maps, real) == []
