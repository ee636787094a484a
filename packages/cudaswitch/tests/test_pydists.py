"""Which installed distributions carry CUDA and for which major: real wheels installed with
pip, and the real dist-info folders of the large ones."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pyenv_helpers import DISTS, add_dist_info, install, make_venv

from cudaswitch.compat.cudalibs import cudalibs, soname_of
from cudaswitch.pycheck import ort_lookup
from cudaswitch.pydists import read_dists

EXPECTED = {
    "torch-2.14.1.dist-info": ("torch", 13, "requires cuda-toolkit"),
    "nvidia_cudnn_cu12-9.1.0.70.dist-info": ("nvidia-cudnn-cu12", 12, "the name"),
    "nvidia_cudnn_cu13-9.24.0.43.dist-info": ("nvidia-cudnn-cu13", 13, "the name"),
    "nvidia_nccl_cu12-2.32.3.dist-info": ("nvidia-nccl-cu12", 12, "the name"),
    "nvidia_cublas-13.1.1.3.dist-info": ("nvidia-cublas", 13, "nvidia/cu13/"),
    "jax_cuda12_plugin-0.12.0.1.dist-info": ("jax-cuda12-plugin", 12, "the name"),
    "cupy_cuda12x-14.2.0.dist-info": ("cupy-cuda12x", 12, "the name"),
    "onnxruntime_gpu-1.20.2.dist-info": ("onnxruntime-gpu", 12, "built for CUDA 12"),
}


@pytest.mark.parametrize("folder", sorted(EXPECTED), ids=lambda f: f.split("-")[0])
def test_major_from_real_dist_info(folder, tmp_path):
    add_dist_info(tmp_path, folder)
    (dist,) = read_dists([str(tmp_path)], ort_lookup)
    name, major, why = EXPECTED[folder]
    assert (dist.name, dist.cuda_major) == (name, major)
    assert why in dist.evidence


def test_every_shipped_dist_info_is_covered():
    have = {p.name for p in DISTS.iterdir() if p.name.endswith(".dist-info")}
    assert have - set(EXPECTED) == {"torch-2.13.0+cpu.dist-info",
                                    "nvidia_nccl_cu13-2.30.7.dist-info"}


def test_cpu_torch_carries_no_cuda(tmp_path):
    add_dist_info(tmp_path, "torch-2.13.0+cpu.dist-info")
    assert read_dists([str(tmp_path)], ort_lookup) == ()


def test_a_package_named_nvidia_without_libraries_is_not_cuda(tmp_path):
    """nvidia-ml-py (NVML bindings) is installed for real: pure Python, no CUDA major."""
    import pynvml

    site = Path(pynvml.__file__).parent
    info = next(site.glob("nvidia_ml_py-*.dist-info"))
    shutil.copytree(info, tmp_path / info.name)
    assert read_dists([str(tmp_path)], ort_lookup) == ()


def test_real_wheels_installed_with_pip(tmp_path):
    site = make_venv(tmp_path / "venv")
    install(site, "nvidia-cuda-runtime==13.0.96", "nvidia-cufile-cu12==1.11.1.6")
    found = {d.name: d for d in read_dists([str(site)], ort_lookup)}
    assert found["nvidia-cuda-runtime"].cuda_major == 13
    assert "nvidia/cu13/" in found["nvidia-cuda-runtime"].evidence
    cufile = found["nvidia-cufile-cu12"]
    assert cufile.cuda_major == 12
    assert sorted(os.path.basename(p) for p in cufile.libraries) == [
        "libcufile.so.0", "libcufile_rdma.so.1"]
    assert all(os.path.isfile(p) for p in cufile.libraries)


def test_an_earlier_folder_hides_the_same_name_later(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    add_dist_info(first, "nvidia_cudnn_cu12-9.1.0.70.dist-info")
    add_dist_info(second, "nvidia_cudnn_cu13-9.24.0.43.dist-info")
    os.rename(second / "nvidia_cudnn_cu13-9.24.0.43.dist-info",
              second / "nvidia_cudnn_cu12-9.24.0.43.dist-info")
    (dist,) = read_dists([str(first), str(second)], ort_lookup)
    assert dist.version == "9.1.0.70" and dist.site == str(first)


def test_unreadable_and_missing_folders_are_no_error(tmp_path):
    add_dist_info(tmp_path / "ok", "nvidia_nccl_cu12-2.32.3.dist-info")
    broken = tmp_path / "ok" / "nvidia_cudnn_cu12-9.1.0.70.dist-info"
    broken.mkdir()  # an empty dist-info: no RECORD, no METADATA
    found = read_dists([str(tmp_path / "missing"), str(tmp_path / "ok")], ort_lookup)
    assert [(d.name, d.cuda_major, d.libraries) for d in found] == [
        ("nvidia-cudnn-cu12", 12, ()),
        ("nvidia-nccl-cu12", 12, (str(tmp_path / "ok" / "nvidia/nccl/lib/libnccl.so.2"),))]


def test_nothing_is_imported_or_run(tmp_path):
    """A dist-info whose package would explode on import is read all the same."""
    add_dist_info(tmp_path, "cupy_cuda12x-14.2.0.dist-info")
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text("raise SystemExit('imported')\n")
    (dist,) = read_dists([str(tmp_path)], ort_lookup)
    assert dist.cuda_major == 12


@pytest.mark.parametrize("name,soname", [
    ("libcudnn.so.9.1.0", "libcudnn.so.9"), ("libcudart.so.11.0", "libcudart.so.11"),
    ("libcudnn.so", None), ("nvshmem_bootstrap_uid.so.3", "nvshmem_bootstrap_uid.so.3")])
def test_soname_of(name, soname):
    assert soname_of(name) == soname


def test_every_library_of_the_real_records_has_a_family():
    """Each shared library the real cuDNN / NCCL / cuBLAS wheels install belongs to a family."""
    data = cudalibs()
    for record in DISTS.glob("*/RECORD"):
        libs = [line.split(",")[0].rsplit("/", 1)[-1] for line in record.read_text().splitlines()
                if ".so" in line.split(",")[0]]
        assert libs, record
        for lib in libs:
            assert data.family_of(lib) is not None, (record.parent.name, lib)


def test_pip_show_agrees_on_what_was_installed(tmp_path):
    """The reader's view of a pip-installed folder is pip's own view."""
    site = make_venv(tmp_path / "venv")
    install(site, "nvidia-cufile-cu12==1.11.1.6")
    out = subprocess.run(["python3", "-m", "pip", "show", "-f", "nvidia-cufile-cu12"],
                         env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True,
                         text=True)
    (dist,) = read_dists([str(site)], ort_lookup)
    for lib in dist.libraries:
        assert os.path.relpath(lib, site) in out.stdout
