"""``sync``/``install`` check that a slot can run its own packages' native code.

Real parts: the real onnxruntime-gpu 1.18.1 CUDA provider (from the test cache's venv), the
real cudart wheels, and for the end-to-end case a real package whose shared library gcc links
against ``libnvrtc.so.12``, installed by pip from a local wheelhouse into the slot's venv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import test_verify_provider
from conftest import slot_cli, slot_env

from cudaswitch.install.needed import (
    MissingLibraryError,
    check_slot,
    component_of,
    missing_libraries,
    needed_libraries,
)

# The real onnxruntime-gpu 1.18.1 venv that the provider tests keep in the test cache.
ort_python = test_verify_provider.ort_gpu_118_python


@pytest.mark.parametrize("soname,component", [
    ("libcudart.so.12", "cudart"), ("libcudart.so.11.0", "cudart"),
    ("libcublasLt.so.12", "cublas"), ("libcublas.so.11", "cublas"),
    ("libnvrtc.so.12", "nvrtc"), ("libnvrtc-builtins.so.12.4", "nvrtc"),
    ("libcudnn.so.9", "cudnn"), ("libcudnn_graph.so.9", "cudnn"),
    ("libnvinfer.so.10", "tensorrt"), ("libnvonnxparser.so.10", "tensorrt"),
    ("libcufft.so.11", "cufft"), ("libcurand.so.10", "curand"),
    ("libc.so.6", None), ("libcuda.so.1", None), ("libstdc++.so.6", None),
    ("libcudartx.so.1", None), ("../libcudart.so.12", None), ("", None),
])
def test_component_of(soname, component):
    assert component_of(soname) == component


def provider_lib(python: Path, which: str) -> Path:
    site = next(python.parent.parent.glob("lib/python3*/site-packages"))
    return site / "onnxruntime" / "capi" / f"libonnxruntime_providers_{which}.so"


def test_reads_the_real_cuda_providers_needs(ort_python):
    needs = needed_libraries(str(provider_lib(ort_python, "cuda")))
    assert needs is not None
    assert {"libcublasLt.so.11", "libcudnn.so.8", "libcudart.so.11.0"} <= set(needs)


def test_an_ort_118_venv_in_a_cudart_only_slot_misses_what_the_provider_links(
        ort_python, runtime_targets):
    venv = ort_python.parent.parent
    slot = runtime_targets["11.8"] / "nvidia" / "cuda_runtime"
    missing = {m.library: m for m in missing_libraries(str(venv), str(slot), ["cudart"])}
    assert {"libcublasLt.so.11", "libcublas.so.11", "libcudnn.so.8", "libcurand.so.10",
            "libcufft.so.10"} <= set(missing)
    assert "libcudart.so.11.0" not in missing  # the slot has it
    assert missing["libcudnn.so.8"].component == "cudnn"
    assert missing["libcudnn.so.8"].needed_by.endswith("libonnxruntime_providers_cuda.so")
    assert not any(m.component == "tensorrt" for m in missing.values())  # not asked for
    with_trt = missing_libraries(str(venv), str(slot), ["cudart", "tensorrt"])
    assert "libnvinfer.so.10" in {m.library for m in with_trt}


def test_another_major_is_named_as_such(ort_python, runtime_targets):
    venv = ort_python.parent.parent
    slot = runtime_targets["12.4"] / "nvidia" / "cuda_runtime"
    missing = {m.library: m for m in missing_libraries(str(venv), str(slot), ["cudart"])}
    assert "libcudart.so.12" in missing["libcudart.so.11.0"].others
    assert "another CUDA major" in missing["libcudart.so.11.0"].describe()


def test_hostile_files_are_not_libraries(tmp_path):
    venv, slot = tmp_path / "venv", tmp_path / "slot"
    venv.mkdir()
    slot.mkdir()
    (venv / "libnotelf.so").write_bytes(b"not an ELF file")
    (venv / "libtruncated.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    (venv / "libloop.so").symlink_to("libloop.so")
    (venv / "dir").mkdir()
    (venv / "dir" / "up").symlink_to(venv)
    (venv / "libunreadable.so.1").write_bytes(b"\x7fELF")
    (venv / "libunreadable.so.1").chmod(0)
    assert needed_libraries(str(venv / "libnotelf.so")) is None
    assert needed_libraries(str(venv / "libtruncated.so")) is None
    assert missing_libraries(str(venv), str(slot), ["cudart"]) == []


# --- end to end: install refuses a slot whose package needs nvrtc ----------------------------

def build_needs_nvrtc_wheel(where: Path) -> Path:
    """A real wheel whose shared library gcc linked against a libnvrtc.so.12 (a stub that only
    gives the linker the soname; the check reads the DT_NEEDED entry, never loads it)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to link the test library")
    build = where / "build"
    build.mkdir()
    (build / "stub.c").write_text("int nvrtcVersion(int *a, int *b) { return 0; }\n")
    (build / "uses.c").write_text("int nvrtcVersion(int *, int *);\n"
                                  "int uses(void) { int a, b; return nvrtcVersion(&a, &b); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(build / "libnvrtc.so.12"),
                    "-Wl,-soname,libnvrtc.so.12", str(build / "stub.c")], check=True)
    lib = build / "libuses_nvrtc.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(build / "uses.c"),
                    "-Wl,--no-as-needed", f"-L{build}", "-l:libnvrtc.so.12"], check=True)
    files = {
        "cs_needs_nvrtc/__init__.py": b"",
        "cs_needs_nvrtc/libuses_nvrtc.so": lib.read_bytes(),
        "cs_needs_nvrtc-1.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\nName: cs-needs-nvrtc\nVersion: 1.0\n",
        "cs_needs_nvrtc-1.0.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("cs_needs_nvrtc-1.0.dist-info/RECORD,,")
    wheel = where / "cs_needs_nvrtc-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("cs_needs_nvrtc-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_install_fails_naming_nvrtc_and_leaves_no_slot(slot_wheelhouse, tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    for w in slot_wheelhouse.glob("*cu12*.whl"):
        shutil.copy(w, wh)
    for w in slot_wheelhouse.glob("cuda_toolkit-12*.whl"):
        shutil.copy(w, wh)
    build_needs_nvrtc_wheel(wh)
    home = tmp_path / "home"
    env = slot_env(home)
    args = ["12.4", "--name", "ort", "--python", "python3", "--package", "cs-needs-nvrtc==1.0",
            "--wheelhouse", str(wh)]
    bad = slot_cli("install", *args, "--with", "cudart", env=env, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "libnvrtc.so.12" in bad.stderr and 'add "nvrtc"' in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (home / "toolkits" / "ort").exists()
    assert not [p for p in (home / "toolkits").iterdir() if p.name.startswith(".partial")]
    good = slot_cli("install", *args, "--with", "cudart,nvrtc", "--json", env=env)
    assert json.loads(good.stdout)["status"] == "installed"


def test_check_slot_raises_with_every_missing_library(tmp_path):
    venv, slot = tmp_path / "venv", tmp_path / "slot"
    wheel = build_needs_nvrtc_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        z.extractall(venv)
    slot.mkdir()
    with pytest.raises(MissingLibraryError, match=r"libnvrtc\.so\.12.*add \"nvrtc\""):
        check_slot("s", str(venv), str(slot), ["cudart"])
    (slot / "lib").mkdir()
    (slot / "lib" / "libnvrtc.so.12").write_bytes(b"")
    check_slot("s", str(venv), str(slot), ["cudart", "nvrtc"])
