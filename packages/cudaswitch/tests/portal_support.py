"""What the portal tests share: a real PostgreSQL server, a real portal process, real photos.

PostgreSQL refuses to run as root, and CI runs as root, so the server is initialised and
started as ``nobody`` (through ``runuser``) in a folder of its own; as any other user it runs
as that user.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from cs_helpers import clean_env

PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "runner": "runner", "viewer": "viewer", "other": "runner"}


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def source_photo() -> Path:
    """Grace Hopper's portrait, shipped by matplotlib (JPEG, one face)."""
    return package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")


def target_photo() -> Path:
    """Eileen Collins' portrait, shipped by scikit-image (PNG, 512x512, one face)."""
    return package_file("skimage", "data", "astronaut.png")


def video_clip(folder: Path, frames: int = 6, size: int = 256) -> Path:
    """A short H.264 MP4 made by Debian's ffmpeg from the target photo (one face in every
    frame), small enough for the CPU provider to swap in seconds."""
    out = folder / "clip.mp4"
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-y", "-loop", "1",
                    "-i", str(target_photo()), "-frames:v", str(frames), "-r", "6",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-s", f"{size}x{size}", str(out)],
                   check=True, capture_output=True, timeout=60)
    return out


def probe(path: Path) -> dict:
    """ffprobe's view of the first video stream: codec, size and frame count."""
    out = subprocess.run([shutil.which("ffprobe") or "ffprobe", "-v", "error",
                          "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames", "-of", "json",
                          str(path)], check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)["streams"][0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL ------------------------------------------------------------------------------

def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


@dataclass
class Postgres:
    url: str
    folder: str
    as_user: list[str]

    def createdb(self, name: str) -> str:
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        subprocess.run([*self.as_user, pg_bin("createdb") or "createdb", "-h", "127.0.0.1",
                        "-p", port, name], check=True, capture_output=True, cwd="/")
        return self.url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL's initdb/pg_ctl are not installed"
    folder = tempfile.mkdtemp(prefix="portal-pg-", dir="/tmp")
    as_user: list[str] = []
    user = os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:
        user = "nobody"
        shutil.chown(folder, user)
        as_user = ["runuser", "-u", user, "--"]
    data, port = os.path.join(folder, "data"), free_port()
    subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", user, "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True, cwd="/")
    subprocess.run([*as_user, pg_ctl, "-D", data, "-l", os.path.join(folder, "log"), "-w",
                    "-o", f"-h 127.0.0.1 -p {port} -k {folder} -F", "start"],
                   check=True, capture_output=True, cwd="/")
    try:
        yield Postgres(f"postgresql://{user}@127.0.0.1:{port}/postgres", folder, as_user)
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd="/")
        shutil.rmtree(folder, ignore_errors=True)


# --- the portal process ----------------------------------------------------------------------

class PortalProcess:
    """``cudaswitch portal`` in a child process, with accounts made by ``portal user add``."""

    def __init__(self, home: Path, database: str | None, wheel_roots: Path,
                 extra_args: tuple[str, ...] = (), default_store: bool = False) -> None:
        self.home, self.database, self.extra_args = home, database, extra_args
        self.default_store = default_store  # no --data/--database: $CUDASWITCH_HOME/portal
        self.data = home / "portal"
        self.port = free_port()
        self.env = clean_env(CUDASWITCH_HOME=str(home), CUDASWITCH_PATH=str(wheel_roots))
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def store_args(self) -> list[str]:
        if self.default_store:
            return []
        return [*(["--database", self.database] if self.database else []),
                "--data", str(self.data)]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "portal", *args],
                              env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=120)

    def add_users(self) -> None:
        for name, role in USERS.items():
            r = self.cli("user", "add", name, "--role", role, "--password-stdin",
                         *self.store_args(), stdin=PASSWORD + "\n")
            assert r.returncode == 0, r.stderr

    def start(self) -> None:
        log = open(self.home / f"portal-{time.time():.0f}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cudaswitch.cli.main", "portal", "--port", str(self.port),
             *self.store_args(), *self.extra_args], env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, f"portal exited {self.proc.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("the portal did not answer within 60 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, user: str | None = None) -> httpx.Client:
        c = httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)
        if user:
            login(c, user)
        return c

    def token(self, user: str) -> str:
        r = self.cli("token", user, "--name", "tests", *self.store_args())
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(c: httpx.Client, user: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": user, "password": password,
                                  "csrf_token": token})


def session_csrf(c: httpx.Client) -> str:
    return csrf_of(c.get("/account").text)


def wait_for(c: httpx.Client, job_id: int, states: tuple[str, ...],
             timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    job: dict = {}
    while time.time() < deadline:
        job = c.get(f"/api/jobs/{job_id}", params={"log": "1"}).json()
        if job.get("state") in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


# A registered command whose process starts a grandchild that leaves the process group
# (setsid), writes both PIDs to pids.txt in the job's folder, and then sleeps.
TREE_SCRIPT = (
    "import os, subprocess, sys, time\n"
    "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
    " start_new_session=True)\n"
    "open('pids.txt', 'w').write(f'{os.getpid()} {kid.pid}')\n"
    "print('started', flush=True)\n"
    "time.sleep(int(os.environ.get('TREE_SLEEP', '300')))\n"
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False
