"""Real container images for the image tests: podman from Debian, a debootstrap base.

The base root filesystem is made once per machine by ``debootstrap --variant=minbase`` and kept
as a tarball under ``$CUDASWITCH_TEST_CACHE/rootfs``; each test module gets its own podman
store (``--root``/``--runroot`` in a temporary folder) with the settings these machines need
(``../shared/reference/containers.conf``, or ``$CUDASWITCH_CONTAINERS_CONF``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE",
                            Path.home() / ".cache" / "cudaswitch-tests"))
ROOTFS = CACHE / "rootfs" / "bookworm-minbase-python3-v1.tar"
MIRROR = os.environ.get("CUDASWITCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
APT_LIST = Path(__file__).resolve().parents[3] / ".ci" / "apt-packages-image.txt"
TOOLS = {"podman": "podman", "debootstrap": "debootstrap", "unshare": "util-linux"}


def containers_conf() -> str | None:
    if os.environ.get("CUDASWITCH_CONTAINERS_CONF"):
        return os.environ["CUDASWITCH_CONTAINERS_CONF"]
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "reference" / "containers.conf"
        if cand.is_file():
            return str(cand)
        cand = parent.parent / "shared" / "reference" / "containers.conf"
        if cand.is_file():
            return str(cand)
    return None


def ensure_tools() -> None:
    """podman, buildah, debootstrap from Debian's packages; skip (with why) if impossible."""
    missing = [t for t in TOOLS if not shutil.which(t)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{', '.join(missing)} missing and cannot be installed here "
                    "(needs root and apt-get)")
    pkgs = [p.strip() for p in APT_LIST.read_text().splitlines() if p.strip()] \
        if APT_LIST.is_file() else ["podman", "buildah", "debootstrap"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            pytest.skip(f"could not install {', '.join(pkgs)}: {proc.stderr.strip()[-300:]}")
    still = [t for t in TOOLS if not shutil.which(t)]
    if still:
        pytest.skip(f"{', '.join(still)} still missing after apt-get install")


def rootfs_tarball(tmp: Path) -> Path:
    """The debootstrap base as a tarball, made once and kept."""
    if ROOTFS.is_file():
        return ROOTFS
    target = tmp / "rootfs"
    proc = subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
         "bookworm", str(target), MIRROR], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.skip(f"debootstrap failed (no Debian mirror?): {proc.stderr.strip()[-300:]}")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                 "usr/share/man", "usr/share/locale"):
        shutil.rmtree(target / junk, ignore_errors=True)
    ROOTFS.parent.mkdir(parents=True, exist_ok=True)
    tmp_tar = ROOTFS.with_suffix(f".{os.getpid()}.tmp")
    with tarfile.open(tmp_tar, "w") as tf:
        for entry in sorted(os.listdir(target)):
            tf.add(target / entry, arcname=entry)
    os.replace(tmp_tar, ROOTFS)
    shutil.rmtree(target, ignore_errors=True)
    return ROOTFS


class Podman:
    """podman with a store of its own."""

    def __init__(self, root: Path, conf: str | None = None):
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        conf = conf or containers_conf()
        if conf:
            self.env["CONTAINERS_CONF"] = conf
        self.store = ["--root", str(root / "store"), "--runroot", str(root / "run"),
                      "--storage-driver", "overlay"]

    def __call__(self, *args: str, check: bool = True, timeout: float = 600
                 ) -> subprocess.CompletedProcess:
        proc = subprocess.run(["podman", *self.store, *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def run(self, image: str, *cmd: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        flags = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        return self("run", "--rm", "--pull=never", *flags, image, *cmd, check=False)

    def layers(self, ref: str) -> list[str]:
        import json

        return json.loads(self("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]

    def can_start(self, image: str) -> str | None:
        """None when a container of ``image`` starts here, else podman's own words."""
        proc = self("run", "--rm", "--pull=never", "--network", "none", image, "true",
                    check=False, timeout=300)
        if proc.returncode == 0:
            return None
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {proc.returncode}"

    def require_containers(self, image: str) -> None:
        """Skip (with the reason and the fix) where podman cannot start a container at all."""
        why = self.can_start(image)
        if why:
            pytest.skip(f"podman cannot start a container on this host ({why}); where root "
                        "cannot raise rlimits or cgroups are hybrid, point "
                        "CUDASWITCH_CONTAINERS_CONF at a containers.conf that fits (for "
                        "example ../shared/reference/containers.conf)")

    def reset(self) -> None:
        self("system", "reset", "--force", check=False, timeout=300)
