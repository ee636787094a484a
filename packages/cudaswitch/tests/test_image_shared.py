"""Packages two slots share are stored once: the later slot's venv links the earlier slot's
identical files (its stage sits on the earlier one), the one-slot image of the later slot gets
real files, and a file that differs between the slots stays each slot's own. A ``no_deps``
package is installed in the image without the dependency it declares.

The first tests are the link/copy functions on plain folders; the last builds a real two-slot
image with podman (slow), with two small wheels made here: one the slots share, one of another
version in each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cs_helpers import pure_wheel
from cudaswitch.image.containerfile import render
from cudaswitch.image.context import generate
from cudaswitch.image.dedup import copy_resolved, link_duplicates
from cudaswitch.image.spec import manifest_for, parse_image_manifest
from cudaswitch.slots import parse_manifest

BLOB = os.urandom(64 * 1024)
# a module whose .pyc is well over dedup's 4 KB floor
BIG_MODULE = b"def where():\n    return where.__code__.co_filename\n\n" + b"".join(
    f"NAME_{i} = {i * 7919}\n".encode() for i in range(600))


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_identical_files_become_links_and_different_ones_stay(tmp_path):
    first = tree(tmp_path / "a", {"site/shared.so": BLOB, "site/own.py": b"x" * 8192,
                                  "site/same-size.bin": b"1" * 8192})
    later = tree(tmp_path / "b", {"site/shared.so": BLOB, "site/own.py": b"y" * 8192,
                                  "site/same-size.bin": b"2" * 8192, "site/tiny": b"t",
                                  "site/elsewhere.so": BLOB})
    (tmp_path / "a" / "site" / "tiny").write_bytes(b"t")
    os.symlink("/usr/bin/python3", later / "python")
    count, saved = link_duplicates(str(later), [str(first)])
    assert (count, saved) == (1, len(BLOB))
    assert os.readlink(later / "site/shared.so") == str(first / "site/shared.so")
    assert (later / "site/shared.so").read_bytes() == BLOB
    for own in ("own.py", "same-size.bin", "tiny", "elsewhere.so"):  # differs, small, no peer
        assert not (later / "site" / own).is_symlink(), own
    assert os.readlink(later / "python") == "/usr/bin/python3"


def test_a_link_in_an_earlier_slot_is_never_a_target(tmp_path):
    first = tree(tmp_path / "a", {"f": BLOB})
    second = tree(tmp_path / "b", {"f": BLOB})
    third = tree(tmp_path / "c", {"f": BLOB})
    link_duplicates(str(second), [str(first)])
    link_duplicates(str(third), [str(second), str(first)])
    assert os.readlink(third / "f") == str(first / "f")


def test_copy_out_of_a_mounted_stage_follows_only_links_into_home(tmp_path):
    mount = tmp_path / "mnt"  # holds what the stage has at HOME
    tree(mount, {"venvs/one/site/shared.so": BLOB, "venvs/two/site/own.py": b"own"})
    os.symlink("/opt/cudaswitch/venvs/one/site/shared.so",
               mount / "venvs/two/site/shared.so")
    os.symlink("/usr/bin/python3", mount / "venvs/two/python")
    os.symlink("site", mount / "venvs/two/lib64")
    dest = tmp_path / "out"
    n = copy_resolved(str(mount / "venvs/two"), str(dest), str(mount))
    assert n == 1
    assert not (dest / "site/shared.so").is_symlink()
    assert (dest / "site/shared.so").read_bytes() == BLOB
    assert (dest / "site/own.py").read_bytes() == b"own"
    assert os.readlink(dest / "python") == "/usr/bin/python3"
    assert os.readlink(dest / "lib64") == "site"


SHARED_MANIFEST = '''default = "cuda12.4"
[image]
name = "{name}"
version = "1"
base = "{base}"
command = ["python", "-c", "import csshared, csown; print(csshared.WHO, csown.VERSION)"]

[[slot]]
name = "cuda11.8"
cuda = "11.8"
components = ["cudart"]
packages = ["csshared==1.0", "csown==1.0"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
packages = ["csshared==1.0", "csown==2.0", "csdata==1.0"]
no_deps = ["csdata"]
'''


def test_the_later_slot_links_and_its_single_image_copies():
    im = parse_image_manifest(SHARED_MANIFEST.format(name="x", base="debian:12"), "m.toml",
                              "/nonexistent")
    text = render(generate(im, singles=True))
    slot2 = text.split("AS slot2-cuda12-4", 1)[1].split("\nFROM ", 1)[0]
    assert ("cudaswitch.image.dedup link /opt/cudaswitch/venvs/cuda12.4 "
            "/opt/cudaswitch/venvs/cuda11.8") in slot2
    slot1 = text.split("AS slot1-cuda11-8", 1)[1].split("\nFROM ", 1)[0]
    assert "dedup" not in slot1
    single = text.split("AS only2-cuda12-4", 1)[1]
    assert "COPY --from=slot2-cuda12-4 /opt/cudaswitch/venvs" not in single
    assert "from=slot2-cuda12-4,source=/opt/cudaswitch" in single


def test_the_slot_manifest_the_image_syncs_carries_no_deps():
    im = parse_image_manifest(SHARED_MANIFEST.format(name="x", base="debian:12"), "m.toml",
                              "/nonexistent")
    text = manifest_for((im.slots[1],), None)
    assert parse_manifest(text, "slot.toml", {}).slots[0].no_deps == ("csdata",)
    assert parse_manifest(manifest_for((im.slots[0],), None), "s.toml", {}).slots[0].no_deps \
        == ()


@pytest.mark.slow
def test_two_slots_share_a_packages_files_in_a_real_image(tmp_path_factory,
                                                          slot_wheelhouse: Path):
    from image_helpers import Podman, ensure_tools, rootfs_tarball

    ensure_tools()
    tmp_path = tmp_path_factory.mktemp("shr")  # podman's runroot must stay short
    base, name = "localhost/cs-shared-base:bookworm", "localhost/cs-image-shared"
    pm = Podman(tmp_path)
    pm("import", str(rootfs_tarball(tmp_path)), base)
    pm.require_containers(base)
    try:
        wh = tmp_path / "wh"
        for slot, own in (("cuda11.8", "1.0"), ("cuda12.4", "2.0")):
            (wh / slot).mkdir(parents=True)
            for w in slot_wheelhouse.glob("*.whl"):
                shutil.copy(w, wh / slot)
            pure_wheel(wh / slot, "csshared", "1.0", {"csshared/__init__.py": b"WHO = 'shared'\n",
                                                 "csshared/blob.bin": BLOB,
                                                 "csshared/big.py": BIG_MODULE})
            pure_wheel(wh / slot, "csown", own, {"csown/__init__.py": f"VERSION = {own!r}\n"
                                            .encode() + b"#" * 8192 + b"\n"})
        # declares a dependency no wheelhouse holds: the slot's sync in the image must
        # install it without (no_deps), or the build fails
        pure_wheel(wh / "cuda12.4", "csdata", "1.0", requires=("csmissing>=1",))
        (tmp_path / "p").mkdir()
        (tmp_path / "p" / "cudaswitch.toml").write_text(SHARED_MANIFEST.format(name=name,
                                                                               base=base))
        proc = subprocess.run(
            [sys.executable, "-m", "cudaswitch.cli.main", "image", "build", "--manifest",
             str(tmp_path / "p" / "cudaswitch.toml"), "--wheelhouse", str(wh), "--context",
             str(tmp_path / "ctx"), *pm.store, "--isolation", "chroot", "--singles", "--json"],
            capture_output=True, text=True, env=pm.env, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        site = "/opt/cudaswitch/venvs/{}/lib/python3.11/site-packages/{}"
        probe = ("import os, sys; p = sys.argv[1]; "
                 "print(os.readlink(p) if os.path.islink(p) else 'file')")
        for tag, rel, want in (
                ("1", "csshared/blob.bin", site.format("cuda11.8", "csshared/blob.bin")),
                ("1", "csown/__init__.py", "file"),
                # compiled alike in both venvs (no venv path inside), so stored once too
                ("1", "csshared/__pycache__/big.cpython-311.pyc",
                 site.format("cuda11.8", "csshared/__pycache__/big.cpython-311.pyc")),
                ("1-cuda12.4", "csshared/blob.bin", "file")):
            got = pm.run(f"{name}:{tag}", "python3", "-c", probe,
                         site.format("cuda12.4", rel))
            assert got.stdout.strip() == want, (tag, rel, got.stdout, got.stderr)
        for tag, env, out in (("1", {"CUDA_VERSION": "11.8"}, "shared 1.0"),
                              ("1", {"CUDA_VERSION": "12.4"}, "shared 2.0"),
                              ("1-cuda12.4", {}, "shared 2.0")):
            got = pm.run(f"{name}:{tag}", env=env)
            assert got.returncode == 0 and got.stdout.strip() == out, (tag, got.stderr)
        got = pm.run(f"{name}:1", "/opt/cudaswitch/venvs/cuda12.4/bin/python", "-c",
                     "import csdata, importlib.util as u; print(u.find_spec('csmissing'))",
                     env={"CUDASWITCH_SLOT": "cuda12.4"})
        assert got.returncode == 0 and got.stdout.strip() == "None", got.stderr[-2000:]
        # --timestamp gives every file the image's time: a slot's .pyc must be checked by its
        # source's hash, or each start recompiles in memory what the image's user cannot write
        for slot in ("cuda11.8", "cuda12.4"):
            got = pm.run(f"{name}:1", f"/opt/cudaswitch/venvs/{slot}/bin/python", "-v", "-c",
                         "import csown", env={"CUDASWITCH_SLOT": slot})
            assert got.returncode == 0, got.stderr[-2000:]
            loaded = [ln for ln in got.stderr.splitlines() if "csown" in ln]
            assert any("code object from" in ln and ".pyc" in ln for ln in loaded), loaded
            assert not any("stale" in ln for ln in loaded), loaded
            # a linked .pyc still names its own venv's source in tracebacks
            got = pm.run(f"{name}:1", f"/opt/cudaswitch/venvs/{slot}/bin/python", "-c",
                         "import csshared.big as b; print(b.where())",
                         env={"CUDASWITCH_SLOT": slot})
            assert got.stdout.strip() == site.format(slot, "csshared/big.py"), got.stderr
        sizes = {la["created_by"]: la["size"] for la in
                 json.loads(proc.stdout)["images"][0]["layers"]}
        slot2 = next(v for k, v in sizes.items() if "venvs/cuda12.4 /opt" in k)
        print(f"the later slot's layer: {slot2 / 1e6:.2f} MB; the shared file: "
              f"{len(BLOB) / 1e6:.2f} MB, stored once")
    finally:
        pm.reset()
