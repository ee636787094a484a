"""Real images: a two-slot (CUDA 11.8 + 12.4, cudart) image built offline with podman on a
debootstrap base, then real containers choosing their CUDA at start.

Cold (no rootfs tarball yet) this module adds a debootstrap run; warm it builds three images
and starts about a dozen containers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from image_helpers import Podman, ensure_tools, rootfs_tarball

pytestmark = pytest.mark.slow

BASE = "localhost/cudaswitch-test-base:bookworm"
NAME = "localhost/cs-image-test"
SONAME = {"11.8": "libcudart.so.11.0", "12.4": "libcudart.so.12"}
# Values an engine would expand or break if they were written unescaped.
GREETING_VALUE = '$HOME ${PATH:-x} "q" back\\slash \tté $(id)'
NOTE_VALUE = "`id` $USER \\n end"
GREETING = json.dumps(GREETING_VALUE)
NOTE = json.dumps(NOTE_VALUE)
MANIFEST = f'''default = "cuda12.4"

[image]
name = "{NAME}"
version = "1"
base = "{BASE}"
command = ["python3", "app/hello.py"]
env = {{ GREETING = {GREETING} }}
labels = {{ "org.example.note" = {NOTE} }}

[image.app]
copy = ["app"]

[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = ["cudart"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
'''


def build_argv(pm: Podman, folder: Path, wheelhouse: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cudaswitch.cli.main", "image", "build",
            "--manifest", str(folder / "cudaswitch.toml"), "--wheelhouse", str(wheelhouse),
            "--context", str(folder / "context"), *pm.store, "--isolation", "chroot", *extra]


def build(pm: Podman, folder: Path, wheelhouse: Path, *extra: str) -> dict:
    proc = subprocess.run(build_argv(pm, folder, wheelhouse, "--json", *extra), capture_output=True,
                          text=True, env=pm.env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory, slot_wheelhouse: Path):
    ensure_tools()
    tmp = tmp_path_factory.mktemp("image")
    tarball = rootfs_tarball(tmp)
    pm = Podman(tmp)
    pm("import", str(tarball), BASE)
    pm.require_containers(BASE)
    folder = tmp / "project"
    (folder / "app").mkdir(parents=True)
    (folder / "cudaswitch.toml").write_text(MANIFEST)
    (folder / "app" / "hello.py").write_text("print('hello from app v1')\n")
    first = build(pm, folder, slot_wheelhouse, "--singles")
    yield pm, folder, slot_wheelhouse, first
    pm.reset()


def test_tags_and_size_report(built):
    _pm, _folder, _wh, report = built
    tags = [t for ts in report["tags"].values() for t in ts]
    assert tags == [f"{NAME}:1", f"{NAME}:1-cuda11.8", f"{NAME}:cuda11", f"{NAME}:1-cuda12.4",
                    f"{NAME}:cuda12"]
    multi = report["images"][0]
    assert multi["ref"] == f"{NAME}:1" and multi["size"] > 0
    assert all(la["size"] >= 0 and la["digest"].startswith("sha256:") for la in multi["layers"])
    # the all-slots image is the chain of slot layers, and the first slot's single image sits
    # on that chain too: beyond the all-slots image, only the second slot's copy (for its own
    # single image), each single image's baked entrypoint (its own decisions) and small
    # manifest and app layers are stored
    slot2 = next(la["size"] for la in multi["layers"]  # ..., slot1, slot2, manifest, bake, app
                 if "cudaswitch-slots/cuda12.4.toml" in la["created_by"])
    bakes = sum(la["size"] for im in report["images"][1:] for la in im["layers"]
                if "launcher --bake" in la["created_by"])
    extra = report["stored_once"] - sum(la["size"] for la in multi["layers"])
    assert slot2 > 2**20 and extra < slot2 + bakes + 2**20
    assert report["stored_once"] < report["sum_of_images"]
    # what the store really holds: the images, and nothing twice but that one copy
    assert report["storage"]["bytes"] < report["stored_once"] * 1.35, report["storage"]


@pytest.mark.parametrize("version", ["11.8", "12.4"])
def test_cuda_version_picks_the_slot(built, version):
    pm = built[0]
    proc = pm.run(f"{NAME}:1", "cudaswitch", "which", "--json", env={"CUDA_VERSION": version})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["toolkit"]["root"] == f"/opt/cudaswitch/toolkits/cuda{version}"
    assert data["toolkit"]["version"].startswith(version + ".")
    assert f"CUDA {version}." in proc.stderr  # the entrypoint's one line


@pytest.mark.parametrize("version", ["11.8", "12.4"])
def test_probe_maps_only_its_slots_libcudart(built, version):
    pm = built[0]
    proc = pm.run(f"{NAME}:1", "python3", "-I", "-S", "/opt/cudaswitch/probe.py",
                  "--soname", SONAME[version], env={"CUDASWITCH_CUDA": version})
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout)
    assert probe["loaded"] is True
    assert probe["maps"] == [f"/opt/cudaswitch/toolkits/cuda{version}/lib/{SONAME[version]}"]
    other = "12.4" if version == "11.8" else "11.8"
    assert f"cuda{other}" not in probe["ld_library_path"]


def test_unknown_version_stops_with_exit_3_and_the_list(built):
    pm = built[0]
    proc = pm.run(f"{NAME}:1", env={"CUDA_VERSION": "10.2"})
    assert proc.returncode == 3
    assert "10.2" in proc.stderr
    assert "/opt/cudaswitch/toolkits/cuda11.8" in proc.stderr
    assert "/opt/cudaswitch/toolkits/cuda12.4" in proc.stderr
    assert "hello from app" not in proc.stdout


def test_no_cuda_version_gives_the_manifest_default(built):
    pm = built[0]
    proc = pm.run(f"{NAME}:1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello from app v1"
    assert "(slot cuda12.4)" in proc.stderr
    proc = pm.run(f"{NAME}:1", "python3", "-I", "-S", "/opt/cudaswitch/probe.py",
                  "--soname", "libcudart.so.12")
    assert json.loads(proc.stdout)["maps"] == [
        "/opt/cudaswitch/toolkits/cuda12.4/lib/libcudart.so.12"]


def test_single_slot_images_hold_one_slot(built):
    pm = built[0]
    proc = pm.run(f"{NAME}:cuda11", env={"CUDA_VERSION": "12.4"})
    assert proc.returncode == 3
    proc = pm.run(f"{NAME}:cuda11")
    assert proc.returncode == 0 and "CUDA 11.8" in proc.stderr


def test_require_cuda_and_labels(built):
    pm = built[0]
    data = json.loads(pm("image", "inspect", f"{NAME}:1").stdout)[0]
    env = dict(e.split("=", 1) for e in data["Config"]["Env"])
    labels = data["Config"]["Labels"]
    assert env["NVIDIA_REQUIRE_CUDA"] == "cuda>=11.0"  # the oldest slot's major floor
    assert "CUDA_VERSION" not in env
    assert labels["io.cudaswitch.slots"] == "cuda11.8,cuda12.4"
    assert labels["io.cudaswitch.slot.cuda11.8.driver-floor"] == "450.80.02"
    assert labels["io.cudaswitch.slot.cuda12.4.driver-floor"] == "525.60.13"
    assert labels["io.cudaswitch.slot.cuda12.4.cuda"] == "12.4.1"
    assert data["Config"]["Entrypoint"] == ["/usr/local/bin/cudaswitch-entrypoint"]
    single = json.loads(pm("image", "inspect", f"{NAME}:cuda12").stdout)[0]
    assert "NVIDIA_REQUIRE_CUDA=cuda>=12.0" in single["Config"]["Env"]


def test_runtime_image_has_no_compiler(built):
    pm = built[0]
    proc = pm.run(f"{NAME}:1", "sh", "-c",
                  "for c in gcc cc c++ nvcc ptxas; do command -v $c; done; echo end")
    assert proc.stdout.strip() == "end"


def test_app_change_rebuilds_only_the_app_layer(built):
    pm, folder, wheelhouse, _first = built
    before = {t: pm.layers(t) for t in (f"{NAME}:1", f"{NAME}:1-cuda12.4")}
    (folder / "app" / "hello.py").write_text("print('hello from app v2')\n")
    build(pm, folder, wheelhouse, "--singles")
    for tag, old in before.items():
        new = pm.layers(tag)
        assert len(new) == len(old)
        # the app's layer is the last: the baked entrypoint sits below it and is kept
        assert new[:-1] == old[:-1], f"{tag}: a layer below the app changed"
        assert new[-1] != old[-1], f"{tag}: the app layer did not change"
        print(f"{tag}: rebuild after an app change reused {len(old) - 1} of {len(old)} layers "
              f"(base, common, every slot, the manifest, the baked entrypoint); the app's is "
              "new")
    proc = pm.run(f"{NAME}:1", env={"CUDA_VERSION": "11.8"})
    assert proc.stdout.strip() == "hello from app v2"


def test_the_default_build_tags_the_all_slots_image_alone(built):
    """Without --singles (or with the old --no-singles) only NAME:VERSION is built and tagged:
    a later slot's single image would hold a second copy of its slot in local storage."""
    pm, folder, wheelhouse, _first = built
    for extra in ((), ("--no-singles",)):
        report = build(pm, folder, wheelhouse, *extra)
        assert report["tags"] == {"image": [f"{NAME}:1"]}, report["tags"]
        assert [im["ref"] for im in report["images"]] == [f"{NAME}:1"]
        assert report["stored_once"] == report["images"][0]["layer_bytes"]
        assert report["storage"]["bytes"] > 0
    containerfile = (folder / "context" / "Containerfile").read_text()
    assert " AS only" not in containerfile and "COPY --from=" not in containerfile
    proc = subprocess.run(build_argv(pm, folder, wheelhouse, "--singles", "--no-singles"),
                          capture_output=True, text=True, env=pm.env, timeout=300)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr, proc.stderr


def test_build_steps_have_no_network(built, tmp_path):
    """The same argv the builder uses, on a Containerfile whose RUN tries to connect out."""
    from cudaswitch.image.engine import EngineError, EngineOptions, build_argv, run

    pm = built[0]
    (tmp_path / "Containerfile").write_text(
        f"FROM {BASE}\nRUN python3 -c \"import socket; "
        "socket.create_connection(('deb.debian.org', 80), timeout=5)\"\n")
    opts = EngineOptions("podman", pm.store[1], pm.store[3], "overlay", "chroot")
    argv = build_argv(opts, str(tmp_path / "Containerfile"), str(tmp_path), None,
                      ["localhost/x"])
    assert argv[:3] == ["unshare", "--net", "--"]  # chroot isolation cannot take --network
    proc = subprocess.run(argv, capture_output=True, text=True, env=pm.env, timeout=300)
    assert proc.returncode != 0
    assert "gaierror" in proc.stderr + proc.stdout or "unreachable" in proc.stderr + proc.stdout
    with pytest.raises(EngineError, match="exit"):
        run(argv, pm.env)


def test_hostile_env_and_label_values_come_back_exactly(built):
    pm = built[0]
    data = json.loads(pm("image", "inspect", f"{NAME}:1").stdout)[0]
    env = dict(e.split("=", 1) for e in data["Config"]["Env"])
    assert env["GREETING"] == GREETING_VALUE
    assert data["Config"]["Labels"]["org.example.note"] == NOTE_VALUE


def test_runs_as_an_unprivileged_user(built):
    pm = built[0]
    proc = pm.run(f"{NAME}:1", "sh", "-c", "id -u; id -un; test -w /tmp && echo tmp-ok")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["10001", "app", "tmp-ok"]


def test_base_pinned_by_digest_and_labels_record_what_was_resolved(built):
    pm, folder, _wh, _report = built
    base = json.loads(pm("image", "inspect", BASE).stdout)[0]
    digest = base["Digest"]
    lock = json.loads((folder / "cudaswitch-image.lock").read_text())
    assert lock["base"] == {"ref": BASE, "digest": digest}
    containerfile = (folder / "context" / "Containerfile").read_text()
    assert f"FROM localhost/cudaswitch-test-base@{digest} AS common" in containerfile
    labels = json.loads(pm("image", "inspect", f"{NAME}:1").stdout)[0]["Config"]["Labels"]
    assert labels["io.cudaswitch.base.digest"] == digest
    assert labels["io.cudaswitch.slot.cuda12.4.cudart"] == "12.4.127"
    assert labels["io.cudaswitch.slot.cuda11.8.cudart"] == "11.8.89"


def test_created_is_the_manifests_date_not_1970(built):
    pm, folder, _wh, report = built
    created = json.loads(pm("image", "inspect", f"{NAME}:1").stdout)[0]["Created"]
    want = int((folder / "cudaswitch.toml").stat().st_mtime)
    assert report["created"] == want
    import datetime

    assert datetime.datetime.fromisoformat(created[:19]).replace(
        tzinfo=datetime.timezone.utc).timestamp() == want


def test_no_layer_holds_the_wheelhouse(built):
    """The wheels were bind-mounted into the slot steps: no wheel file and no pip or apt cache
    is anywhere in the image (beyond the base's own ensurepip wheels), and no step copied the
    wheelhouse."""
    pm = built[0]
    hist = json.loads(pm("history", "--no-trunc", "--format", "json", f"{NAME}:1").stdout)
    steps = [str(h.get("CreatedBy") or h.get("created_by") or "") for h in hist]
    copies = [s for s in steps if "#(nop) COPY" in s or "#(nop) ADD" in s]
    assert not any("wheelhouse" in s for s in copies)
    mounted = [s for s in steps if "--mount=type=bind,source=wheelhouse/" in s]
    assert len(mounted) == 2 and all("cudaswitch sync" in s for s in mounted)
    proc = pm("run", "--rm", "--pull=never", "--user", "0", f"{NAME}:1", "sh", "-c",
              "find / -xdev -path /usr/share/python-wheels -prune -o \\( -name '*.whl' -o "
              "-path '*/.cache/pip' -o -path '/var/cache/apt/archives/*.deb' \\) -print; "
              "echo end")
    assert proc.stdout.strip() == "end", proc.stdout


def test_missing_base_with_pull_never_is_exit_2(built, tmp_path):
    pm, _folder, wheelhouse, _ = built
    (tmp_path / "app").mkdir()
    (tmp_path / "cudaswitch.toml").write_text(MANIFEST.replace(BASE, "localhost/not-here:1"))
    proc = subprocess.run(build_argv(pm, tmp_path, wheelhouse, "--pull", "never"),
                          capture_output=True, text=True, env=pm.env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "localhost/not-here:1 is not in local storage" in proc.stderr


def test_failed_pull_passes_the_engines_words_through(built, tmp_path):
    pm, _folder, wheelhouse, _ = built
    (tmp_path / "app").mkdir()
    (tmp_path / "cudaswitch.toml").write_text(MANIFEST.replace(BASE, "localhost/not-here:1"))
    proc = subprocess.run(build_argv(pm, tmp_path, wheelhouse), capture_output=True, text=True,
                          env=pm.env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "podman failed" in proc.stderr and "no output" not in proc.stderr
    assert "not-here" in proc.stderr.split("podman failed", 1)[1]
    assert "Traceback" not in proc.stderr


def test_podman_that_cannot_start_containers_is_a_skip_with_the_reason(built, tmp_path):
    """A containers.conf naming a runtime that does not exist stands in for a host whose
    podman cannot start containers."""
    pm = built[0]
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nruntime = "no-such-oci-runtime"\n')
    broken = Podman(pm.root, str(conf))
    with pytest.raises(pytest.skip.Exception, match="CUDASWITCH_CONTAINERS_CONF"):
        broken.require_containers(BASE)


ONE_SLOT = f'''[image]
name = "localhost/cs-image-resolved"
version = "1"
base = "{BASE}"
command = ["python3", "-c", "print('ok')"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
'''


def test_build_that_resolves_asks_the_base_and_keeps_a_lock(built, tmp_path):
    """No --wheelhouse: the base's own Python says which wheels fit, pip resolves them (from
    the index these tests use), each is fetched and checked, and the lock pins it all; the
    next build takes the lock instead of resolving again. A damaged lock is exit 2."""
    pm = built[0]
    (tmp_path / "cudaswitch.toml").write_text(ONE_SLOT)
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "image", "build", "--manifest",
            str(tmp_path / "cudaswitch.toml"), "--context", str(tmp_path / "ctx"), *pm.store,
            "--isolation", "chroot"]
    env = {**pm.env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "cuda12.4: resolving CUDA 12.4.1" in first.stderr
    lock = json.loads((tmp_path / "cudaswitch-image.lock").read_text())
    assert lock["platform"]["python"] == "3.11" and lock["platform"]["glibc"][0] == 2
    assert lock["platform"]["source"].startswith("asked python3 in localhost/")
    wheels = {w["name"]: w for w in lock["slots"]["cuda12.4"]["wheels"]}
    assert wheels["nvidia-cuda-runtime-cu12"]["version"] == "12.4.127"
    assert len(wheels["nvidia-cuda-runtime-cu12"]["sha256"]) == 64
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resolving" not in again.stderr  # the lock was used
    proc = pm.run("localhost/cs-image-resolved:1")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    (tmp_path / "cudaswitch-image.lock").write_text('{"format": 1, "base": {"digest": "x"}}')
    bad = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "cudaswitch-image.lock" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_system_packages_get_the_network_for_their_step_alone(built, tmp_path):
    """apt-get reaches the Debian mirror in the system stage; its lists and downloads do not
    stay in the layer; every later step still has no network (the slot step's argv)."""
    import socket
    import urllib.parse

    from image_helpers import MIRROR

    host = urllib.parse.urlparse(MIRROR).hostname or "deb.debian.org"
    try:
        socket.create_connection((host, 80), timeout=10).close()
    except OSError as e:
        pytest.skip(f"the Debian mirror {host} cannot be reached from here: {e}")
    pm, _folder, wheelhouse, _ = built
    (tmp_path / "cudaswitch.toml").write_text(ONE_SLOT.replace(
        "[image]\n", '[image]\nsystem_packages = ["tini"]\n').replace(
        "cs-image-resolved", "cs-image-apt"))
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "image", "build", "--manifest",
            str(tmp_path / "cudaswitch.toml"), "--context", str(tmp_path / "ctx"), *pm.store,
            "--isolation", "chroot", "--wheelhouse", str(wheelhouse)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=pm.env, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("$ ")]
    assert "--target system" in lines[0] and not lines[0].startswith("$ unshare")
    assert all(ln.startswith("$ unshare --net -- ") for ln in lines[1:]), lines
    run = pm("run", "--rm", "--pull=never", "--user", "0", "localhost/cs-image-apt:1", "sh",
             "-c", "tini --version && ls -A /var/lib/apt/lists /var/cache/apt/archives | "
             "grep -v -e '^partial$' -e '^lock$' -e ':$' -e '^$' | wc -l")
    assert "tini version" in run.stdout and run.stdout.strip().endswith("0"), run.stdout
    none = subprocess.run([*argv, "--network", "none"], capture_output=True, text=True,
                          env=pm.env, timeout=300)
    assert none.returncode == 2 and "apt-get, which needs the network" in none.stderr


SAME_RELEASE = f'''default = "cuda12.4"

[image]
name = "localhost/cs-image-same-release"
version = "1"
base = "{BASE}"
command = ["true"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart", "nvrtc"]

[[slot]]
name = "cuda12.4-rt"
cuda = "12.4"
components = ["cudart"]
'''


def test_a_slot_of_the_same_release_shares_its_step_and_stores_its_libraries_once(
        built, tmp_path):
    """As a TensorRT slot on its CUDA slot: two slots of CUDA 12.4 in a row are installed by
    one step, so the library both toolkits hold is one file in the layer (hard links), while
    each slot still maps it from its own folder; and the first slot's single image holds that
    slot alone, not the second slot that shares its stage."""
    pm, _folder, wheelhouse, _ = built
    ref = "localhost/cs-image-same-release"
    (tmp_path / "cudaswitch.toml").write_text(SAME_RELEASE)
    report = build(pm, tmp_path, wheelhouse, "--singles")
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "AS slot1-cuda12-4\n" in containerfile and "AS slot2" not in containerfile
    proc = pm("run", "--rm", "--pull=never", "--user", "0", f"{ref}:1", "sh", "-c",
              "cd /opt/cudaswitch/toolkits && stat -L -c '%i %h' cuda12.4/lib/libcudart.so.12 "
              "cuda12.4-rt/lib/libcudart.so.12 && du -sb --apparent-size cuda12.4 | cut -f1 "
              "&& du -sb --apparent-size cuda12.4-rt | cut -f1")
    one, two, tk_bytes, rt_bytes = proc.stdout.split("\n")[:4]
    assert one.split()[0] == two.split()[0] and int(one.split()[1]) >= 2, proc.stdout
    slot_layer = next(la["size"] for la in report["images"][0]["layers"]
                      if "cudaswitch-slots/cuda12.4-rt.toml" in la["created_by"])
    assert slot_layer < int(tk_bytes) + 2**20, (slot_layer, tk_bytes)
    print(f"one step for two CUDA 12.4 slots: layer {slot_layer} bytes; the toolkits alone "
          f"{tk_bytes} and {rt_bytes} bytes")
    for slot in ("cuda12.4", "cuda12.4-rt"):
        proc = pm.run(f"{ref}:1", "python3", "-I", "-S", "/opt/cudaswitch/probe.py",
                      "--soname", "libcudart.so.12", env={"CUDASWITCH_SLOT": slot})
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["maps"] == [
            f"/opt/cudaswitch/toolkits/{slot}/lib/libcudart.so.12"]
    proc = pm.run(f"{ref}:1-cuda12.4", "sh", "-c", "ls /opt/cudaswitch/toolkits")
    assert proc.stdout.split() == ["cuda12.4"], proc.stdout
    proc = pm.run(f"{ref}:1-cuda12.4-rt", "sh", "-c", "ls /opt/cudaswitch/toolkits")
    assert proc.stdout.split() == ["cuda12.4-rt"], proc.stdout
