"""install and uninstall under hostile folders, planted links, forged records and kills.

Real wheels from the shared wheelhouse, the real CLI in child processes. Each case is one a
careless user or an attacker with write access to a folder could set up; the test checks that
nothing outside what cudaswitch made is removed or written through.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import slot_cli, slot_env

from cudaswitch.errors import EXIT_NO_MATCH, EXIT_USAGE
from cudaswitch.fsguard import MARKER
from cudaswitch.slotrecord import load_record
from cudaswitch.slots import RECORD_NAME
from cudaswitch.toolkits import discover
from cudaswitch.toolkits.layout import probe_toolkit


def install(env: dict[str, str], wheelhouse: Path, *args: str, version: str = "12.4",
            check: bool = True) -> subprocess.CompletedProcess:
    return slot_cli("install", version, "--with", "cudart", "--wheelhouse", str(wheelhouse),
                    *args, env=env, check=check)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


def slot_ok(env: dict[str, str], root: Path, version_prefix: str) -> bool:
    """The slot at ``root`` is a whole toolkit of that CUDA, and its record checks out."""
    found = [t for t in discover(env) if t.root == str(root)] or \
        [t for t in [probe_toolkit(str(root), "managed", "managed")] if t]
    if not (found and found[0].ok and str(found[0].version).startswith(version_prefix)):
        return False
    rec = load_record(str(root))
    return rec is not None and all(
        (root / rel).is_file() and (root / rel).stat().st_size == f.size
        for rel, f in rec.files.items())


# --- --prefix ---------------------------------------------------------------------------------

def test_prefix_refuses_a_folder_holding_the_users_files(tmp_path, slot_wheelhouse):
    mine = tmp_path / "mine"
    (mine / "src").mkdir(parents=True)
    (mine / "src" / "main.c").write_text("int main(){}")
    (mine / "notes.txt").write_text("keep")
    proc = install(slot_env(tmp_path / "home"), slot_wheelhouse, "--prefix", str(mine),
                   check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_USAGE and "not empty" in proc.stderr, proc.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "src"]
    assert (mine / "src" / "main.c").read_text() == "int main(){}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_prefix_at_the_toolkits_folder_or_the_home_wipes_no_slot(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "a")
    for prefix in (home / "toolkits", home, home / "toolkits" / "a", tmp_path):
        proc = install(env, slot_wheelhouse, "--name", "b", "--prefix", str(prefix), check=False)
        no_traceback(proc)
        assert proc.returncode == EXIT_USAGE, (prefix, proc.stderr)
        assert slot_ok(env, home / "toolkits" / "a", "12.4"), prefix


def test_prefix_in_a_new_folder_installs_updates_and_uninstalls(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    prefix = tmp_path / "opt" / "cuda"
    install(env, slot_wheelhouse, "--name", "p", "--prefix", str(prefix))
    assert (prefix / MARKER).is_file() and slot_ok(env, prefix, "12.4")
    install(env, slot_wheelhouse, "--name", "p", "--prefix", str(prefix), version="11.8")
    assert slot_ok(env, prefix, "11.8")
    other = install(env, slot_wheelhouse, "--name", "q", "--prefix", str(prefix), check=False)
    assert other.returncode == EXIT_USAGE and "slot p" in other.stderr, other.stderr
    assert slot_ok(env, prefix, "11.8")
    assert sorted(p.name for p in (tmp_path / "opt").iterdir()) == ["cuda"]
    slot_cli("uninstall", "p", env=env)
    assert not prefix.exists()


# --- planted links in the store ---------------------------------------------------------------

def test_uninstall_garbage_collection_never_follows_a_planted_link(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.db").write_text("keep")
    (home / "store" / "sha256" / "zz").symlink_to(elsewhere)
    some = next(p for p in (home / "store" / "sha256").iterdir() if not p.is_symlink())
    (some / "yy").symlink_to(elsewhere / "precious.db")
    proc = slot_cli("uninstall", "a", env=env, check=False)
    no_traceback(proc)
    assert (elsewhere / "precious.db").read_text() == "keep"


def test_install_never_writes_through_planted_store_links(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    files = home / "store" / "sha256"
    files.mkdir(parents=True)
    for i in range(256):
        (files / f"{i:02x}").symlink_to(elsewhere)
    (home / "store" / "tmp").symlink_to(elsewhere)
    proc = install(env, slot_wheelhouse, check=False)
    no_traceback(proc)
    assert list(elsewhere.iterdir()) == []
    if proc.returncode == 0:
        assert slot_ok(env, home / "toolkits" / "cuda12.4", "12.4")
    else:
        assert proc.returncode == EXIT_USAGE and "symbolic link" in proc.stderr, proc.stderr


# --- forged records -----------------------------------------------------------------------------

def test_a_record_naming_another_slots_files_removes_nothing_of_it(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "a")
    install(env, slot_wheelhouse, "--name", "a-other")
    rec_path = home / "toolkits" / "a" / RECORD_NAME
    rec = json.loads(rec_path.read_text())
    rec["files"]["../a-other/version.json"] = {"sha256": "0" * 64, "size": 1, "mode": "",
                                               "how": "link", "wheel": "x"}
    rec["generated"].append("../a-other/lib64")
    rec_path.write_text(json.dumps(rec))
    proc = slot_cli("uninstall", "a", env=env, check=False)
    no_traceback(proc)
    assert (home / "toolkits" / "a-other" / "version.json").is_file()
    assert (home / "toolkits" / "a-other" / "lib64").is_symlink()
    assert slot_ok(env, home / "toolkits" / "a-other", "12.4")
    if proc.returncode != 0:
        assert proc.returncode == EXIT_USAGE and str(rec_path) in proc.stderr, proc.stderr


@pytest.mark.parametrize("field,value", [
    ("files", 5), ("files", {"lib/x": "not a table"}), ("generated", "lib64"),
    ("wheels", [{"name": 1}]), ("release", ["12.4"]), ("venv", 7), ("name", {"a": 1}),
    ("files", {"lib/x": {"sha256": "0" * 64, "size": "huge"}}),
], ids=lambda v: str(v)[:24])
def test_a_record_with_wrongly_typed_fields_exits_2_naming_the_file(tmp_path, slot_wheelhouse,
                                                                    field, value):
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "a")
    rec_path = home / "toolkits" / "a" / RECORD_NAME
    rec = json.loads(rec_path.read_text())
    rec[field] = value
    rec_path.write_text(json.dumps(rec))
    for args in (["uninstall", "a"], ["install", "12.4", "--with", "cudart", "--name", "a",
                                      "--wheelhouse", str(slot_wheelhouse)]):
        proc = slot_cli(*args, env=env, check=False)
        no_traceback(proc)
        assert proc.returncode == EXIT_USAGE, (args, proc.stderr)
        assert str(rec_path) in proc.stderr, proc.stderr
    assert (home / "toolkits" / "a" / "lib").is_dir()


def test_uninstall_by_version_never_takes_a_slot_of_another_name(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "cuda12.4-rand")
    proc = slot_cli("uninstall", "12.4", env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_NO_MATCH and "cuda12.4-rand" in proc.stderr, proc.stderr
    assert slot_ok(env, home / "toolkits" / "cuda12.4-rand", "12.4")
    install(env, slot_wheelhouse)
    slot_cli("uninstall", "12.4", env=env)
    assert not (home / "toolkits" / "cuda12.4").exists()
    assert slot_ok(env, home / "toolkits" / "cuda12.4-rand", "12.4")


# --- kills during an update ---------------------------------------------------------------------

KILLER = r"""
import os, signal, sys
mode, kind, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = {}
WATCHED = ("cudaswitch.install.engine", "cudaswitch.fsguard")
def wrap(fn, name):
    def inner(*a, **k):
        if sys._getframe(1).f_globals.get("__name__") in WATCHED:
            seen[name] = seen.get(name, 0) + 1
            if name == kind and seen[name] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return fn(*a, **k)
    return inner
for name in ("rename", "replace", "rmdir", "unlink"):
    setattr(os, name, wrap(getattr(os, name), name))
from cudaswitch.install import engine
engine._exchange = wrap((lambda a, b: False) if mode == "two-renames" else engine._exchange,
                        "exchange")
from cudaswitch.cli.main import main
sys.exit(main(sys.argv[4:]))
"""

# Each step of an update, by the n-th call of each kind of filesystem change: the atomic writes
# of marker, version.json and record (replace), the swap (exchange, or the two renames where the
# filesystem cannot exchange), and the removal of the old slot (unlink, rmdir).
KILL_POINTS = [("exchange", "replace", n) for n in (1, 2, 3, 4)] + [
    ("exchange", "exchange", 1), ("exchange", "unlink", 1), ("exchange", "unlink", 60),
    ("exchange", "rmdir", 1), ("two-renames", "replace", 4), ("two-renames", "rename", 1),
    ("two-renames", "rename", 2), ("two-renames", "unlink", 1), ("two-renames", "rmdir", 2)]


@pytest.mark.parametrize("mode,kind,nth", KILL_POINTS, ids=lambda v: str(v))
def test_a_kill_at_any_step_of_an_update_keeps_a_usable_slot(tmp_path, slot_wheelhouse,
                                                            mode, kind, nth):
    """SIGKILL the update 11.8 -> 12.4 of a slot at one step: at that instant the slot is the
    old or the new one, whole; the next install restores or finishes the job and leaves
    nothing behind."""
    home = tmp_path / "home"
    env = slot_env(home)
    root = home / "toolkits" / "s"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    install(env, slot_wheelhouse, "--name", "s", version="11.8")
    proc = subprocess.run([sys.executable, str(script), mode, kind, str(nth), "install", "12.4",
                           "--with", "cudart", "--name", "s", "--wheelhouse",
                           str(slot_wheelhouse)], env=env, capture_output=True, text=True,
                          timeout=300)
    no_traceback(proc)
    assert proc.returncode == -9, f"step {kind} #{nth} was never reached: {proc.stderr}"
    whole = slot_ok(env, root, "11.8") or slot_ok(env, root, "12.4")
    if mode == "two-renames" and not whole:  # between the renames: the old slot waits aside
        held = [p / "slot" for p in root.parent.glob(".old-s-*")]
        whole = len(held) == 1 and slot_ok(env, held[0], "11.8")
    assert whole, sorted(p.name for p in root.parent.iterdir())
    again = install(env, slot_wheelhouse, "--name", "s")
    assert slot_ok(env, root, "12.4"), again.stderr
    assert sorted(p.name for p in root.parent.iterdir()) == ["s"]


def test_an_old_slot_left_by_a_kill_between_renames_is_restored(tmp_path, slot_wheelhouse):
    """The state a kill between the two renames of an update leaves: the slot only in
    ``.old-*``. The next run puts it back, and never deletes it."""
    home = tmp_path / "home"
    env = slot_env(home)
    install(env, slot_wheelhouse, "--name", "s")
    toolkits = home / "toolkits"
    hidden = toolkits / ".old-s-abc123"
    hidden.mkdir()
    os.rename(toolkits / "s", hidden / "slot")
    proc = slot_cli("slot", "list", "--json", env=env)
    proc = install(env, slot_wheelhouse, "--name", "s")
    assert "restored" in proc.stderr, proc.stderr
    assert slot_ok(env, toolkits / "s", "12.4")
    assert sorted(p.name for p in toolkits.iterdir()) == ["s"]


def test_store_tmp_leftovers_are_cleaned(tmp_path, slot_wheelhouse):
    home = tmp_path / "home"
    env = slot_env(home)
    tmp = home / "store" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "tmpab12cd").write_bytes(b"\0" * 4096)
    install(env, slot_wheelhouse)
    assert list(tmp.iterdir()) == [] if tmp.exists() else True


# --- tampered wheels ----------------------------------------------------------------------------

def _tampered_wheelhouse(src: Path, dest: Path, how: str) -> Path:
    """A copy of the wheelhouse whose cudart wheel was altered after it was built: one header
    changed (``edit``) or one library added (``add``), its RECORD left as it was."""
    dest.mkdir()
    for w in src.glob("*.whl"):
        if "cuda_runtime_cu12" not in w.name:
            (dest / w.name).write_bytes(w.read_bytes())
            continue
        with zipfile.ZipFile(w) as zin, zipfile.ZipFile(dest / w.name, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if how == "edit" and info.filename.endswith("include/cuda_runtime_api.h"):
                    data += b"\n#define INJECTED 1\n"
                zout.writestr(info, data)
            if how == "add":
                zout.writestr("nvidia/cuda_runtime/lib/libinjected.so", b"\x7fELF not really")
    return dest


def _small_wheel(path: Path, how: str) -> Path:
    """A one-module wheel with a RECORD that matches, then altered as ``how`` says."""
    import base64

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    dist = "tiny-1.0.dist-info"
    files = {"tiny.py": b"x = 1\n", f"{dist}/METADATA": b"Name: tiny\nVersion: 1.0\n"}
    record = [f"{n},sha256={digest(d)},{len(d)}" for n, d in files.items()] + [f"{dist}/RECORD,,"]
    if how == "md5":
        record[0] = "tiny.py,md5=abc,6"
    if how == "bad line":
        record.append("only,two")
    with zipfile.ZipFile(path, "w") as z:
        for n, d in files.items():
            z.writestr(n, b"x = 2\n" if how == "edit" and n == "tiny.py" else d)
        if how == "add":
            z.writestr("tiny_extra.py", b"import os\n")
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
        if how == "two records":
            z.writestr("other-1.0.dist-info/RECORD", "")
    if how == "not a zip":
        path.write_bytes(b"PK\x03\x04 cut short")
    return path


@pytest.mark.parametrize("how,says", [
    ("edit", "does not match the sha256"), ("add", "tiny_extra.py is not listed"),
    ("md5", "RECORD uses 'md5'"), ("bad line", "bad RECORD line"),
    ("two records", "exactly one .dist-info/RECORD"), ("not a zip", "not a readable wheel")])
def test_a_wheel_is_checked_against_its_own_record(tmp_path, how, says):
    """The check a slot environment's wheels go through before pip sees them."""
    from cudaswitch.install.store import IntegrityError, check_wheel_record

    check_wheel_record(str(_small_wheel(tmp_path / "good.whl", "none")))
    bad = _small_wheel(tmp_path / "tiny-1.0-py3-none-any.whl", how)
    with pytest.raises(IntegrityError) as e:
        check_wheel_record(str(bad))
    assert says in str(e.value) and str(bad) in str(e.value)


@pytest.mark.parametrize("how", ["edit", "add"])
def test_a_tampered_wheel_in_a_wheelhouse_is_refused_and_leaves_nothing(
        tmp_path, slot_wheelhouse, how):
    home = tmp_path / "home"
    env = slot_env(home)
    wh = _tampered_wheelhouse(slot_wheelhouse, tmp_path / "wh", how)
    proc = install(env, wh, check=False)
    no_traceback(proc)
    assert proc.returncode != 0 and "RECORD" in proc.stderr, proc.stderr
    assert "cuda_runtime_cu12" in proc.stderr
    toolkits = home / "toolkits"
    assert not toolkits.exists() or [p.name for p in toolkits.iterdir()] == []
    stored = [p for p in (home / "store" / "sha256").rglob("*") if p.is_file()] \
        if (home / "store" / "sha256").exists() else []
    for p in stored:
        assert b"INJECTED" not in p.read_bytes() and b"not really" not in p.read_bytes()
    bad = next(wh.glob("*cuda_runtime_cu12*.whl"))
    assert not (home / "store" / "wheels" / f"{hashlib.sha256(bad.read_bytes()).hexdigest()}"
                                             ".json").exists()


# --- concurrent processes sharing one download cache ------------------------------------------

class _SlowWheels(http.server.SimpleHTTPRequestHandler):
    """Serves the wheelhouse in small, slow pieces, so two downloads of one wheel overlap."""

    def log_message(self, *args: object) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:  # noqa: ANN001 - http.server's signature
        while chunk := source.read(32 << 10):
            outputfile.write(chunk)
            time.sleep(0.01)


@pytest.fixture
def wheel_server(slot_wheelhouse):
    handler = functools.partial(_SlowWheels, directory=str(slot_wheelhouse))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("run", [1, 2, 3])
def test_install_and_download_sharing_one_cache_at_once(tmp_path, slot_wheelhouse, wheel_server,
                                                        run):
    """``sync --locked`` and ``download --locked`` with one CUDASWITCH_CACHE at the same time,
    both downloading the same wheels over HTTP: both succeed, the cache holds whole wheels."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "cudaswitch.toml").write_text('[[slot]]\nname = "a"\ncuda = "12.4"\n'
                                             'components = ["cudart"]\n')
    cache = tmp_path / "cache"
    env = slot_env(tmp_path / "home", CUDASWITCH_CACHE=str(cache))
    manifest = str(project / "cudaswitch.toml")
    slot_cli("lock", "--manifest", manifest, "--wheelhouse", str(slot_wheelhouse), env=env)
    lock = project / "cudaswitch.lock"
    data = json.loads(lock.read_text())
    for w in data["slots"]["a"]["wheels"]:
        w["url"] = f"{wheel_server}/{w['filename']}"
    lock.write_text(json.dumps(data))
    cli = [sys.executable, "-m", "cudaswitch.cli.main"]
    procs = [subprocess.Popen([*cli, "sync", "--locked", "--manifest", manifest], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
             subprocess.Popen([*cli, "download", "--locked", "--manifest", manifest,
                               "--wheelhouse", str(tmp_path / "wh")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for rc, err in results:
        assert "Traceback" not in err, err
        assert rc == 0, err
    for w in data["slots"]["a"]["wheels"]:
        for where in (cache / "wheels", tmp_path / "wh"):
            got = hashlib.sha256((where / w["filename"]).read_bytes()).hexdigest()
            assert got == w["sha256"], where
    assert not list((cache / "wheels").glob("*.part"))
    assert slot_ok(env, tmp_path / "home" / "toolkits" / "a", "12.4")
