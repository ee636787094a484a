"""``lock`` pins a slot's Python environment too, and ``sync --locked`` installs exactly that.

Offline: the slot's Python packages are tiny real wheels built here (METADATA, WHEEL and a
correct RECORD, installed by the real pip into a real venv); the CUDA part is the cached
runtime wheelhouse of the other install tests. Every case runs the real command in a child.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import slot_cli, slot_env

from cs_helpers import pure_wheel
from cudaswitch.errors import EXIT_FAILED, EXIT_USAGE

MANIFEST = ('[[slot]]\nname = "s"\ncuda = "12.4"\ncomponents = ["cudart"]\n'
            'python = "python3"\npackages = [{packages}]\n')


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (),
               body: str = "VALUE = 1\n") -> Path:
    return pure_wheel(folder, name, version, {f"{name.replace('-', '_')}/__init__.py":
                                              body.encode()}, requires)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path, slot_wheelhouse: Path):
    """A wheelhouse with CUDA 12.4's runtime and alpha 1.0 (needs beta) and beta 2.0, a
    manifest asking for alpha==1.0, and the environment of a fresh data home."""
    wh = tmp_path / "wh"
    wh.mkdir()
    for w in slot_wheelhouse.glob("*.whl"):
        if w.name.startswith(("cuda_toolkit-12.4", "nvidia_cuda_runtime_cu12")):
            shutil.copyfile(w, wh / w.name)
    make_wheel(wh, "alpha", "1.0", ("beta>=1",))
    make_wheel(wh, "beta", "2.0")
    man = tmp_path / "cudaswitch.toml"
    man.write_text(MANIFEST.format(packages='"alpha==1.0"'))
    env = slot_env(tmp_path / "home", CUDASWITCH_CONFIG=str(man))
    return wh, man, env


def installed(home: Path) -> dict[str, str]:
    """name -> version of what the slot's venv holds (its dist-info folders)."""
    out = {}
    for d in (home / "venvs" / "s").glob("lib/python*/site-packages/*.dist-info"):
        name, version = d.name[:-len(".dist-info")].rsplit("-", 1)
        out[name] = version
    return out


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


def nothing_installed(home: Path) -> None:
    assert not (home / "venvs" / "s" / ".cudaswitch-venv.json").exists()
    toolkits = home / "toolkits"
    assert not toolkits.exists() or [p.name for p in toolkits.iterdir()] == []


def test_lock_pins_the_whole_venv_and_sync_locked_installs_exactly_it(project, tmp_path):
    wh, _man, env = project
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    lock = json.loads((tmp_path / "cudaswitch.lock").read_text())
    venv = lock["slots"]["s"]["venv"]
    assert {w["name"]: w["version"] for w in venv["wheels"]} == {"alpha": "1.0", "beta": "2.0"}
    for w in venv["wheels"]:
        assert w["sha256"] == sha256(wh / w["filename"])
    assert venv["python"].count(".") == 1  # the interpreter's X.Y it was resolved for
    make_wheel(wh, "beta", "3.0")  # newer than the lock: an unpinned install would take it
    slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env)
    home = tmp_path / "home"
    got = installed(home)
    assert got.get("alpha") == "1.0" and got.get("beta") == "2.0", got
    again = slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env)
    assert "nothing to do" in again.stdout
    fresh = slot_cli("lock", "--wheelhouse", str(wh), "--json", env=env)
    assert "beta" in fresh.stdout
    relocked = json.loads((tmp_path / "cudaswitch.lock").read_text())["slots"]["s"]["venv"]
    assert {w["name"]: w["version"] for w in relocked["wheels"]}["beta"] == "3.0"
    slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env)
    assert installed(home)["beta"] == "3.0"


def test_a_no_deps_package_is_locked_and_installed_without_its_dependencies(project,
                                                                           tmp_path):
    """alpha declares beta; ``no_deps = ["alpha"]`` leaves beta out of the lock, of a plain
    ``sync`` and of ``sync --locked``, whose completeness check resolves the same way (a plain
    resolution of the locked wheels would name beta as missing)."""
    wh, man, env = project
    make_wheel(wh, "gamma", "1.0")
    man.write_text(MANIFEST.format(packages='"alpha==1.0", "gamma==1.0"')
                   + 'no_deps = ["alpha"]\n')
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    entry = json.loads((tmp_path / "cudaswitch.lock").read_text())["slots"]["s"]
    assert {w["name"]: w["version"] for w in entry["venv"]["wheels"]} == {"alpha": "1.0",
                                                                         "gamma": "1.0"}
    assert entry["request"]["no_deps"] == ["alpha"]
    slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env)
    other = slot_env(tmp_path / "home2", CUDASWITCH_CONFIG=str(man))
    slot_cli("sync", "--wheelhouse", str(wh), env=other)
    for home in ("home", "home2"):
        got = installed(tmp_path / home)
        assert (got.get("alpha"), got.get("gamma"), got.get("beta")) == ("1.0", "1.0", None), got


def test_a_dependency_another_package_needs_still_comes(project, tmp_path):
    wh, man, env = project
    make_wheel(wh, "delta", "1.0", ("beta>=1",))
    man.write_text(MANIFEST.format(packages='"alpha==1.0", "delta==1.0"')
                   + 'no_deps = ["alpha"]\n')
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    venv = json.loads((tmp_path / "cudaswitch.lock").read_text())["slots"]["s"]["venv"]
    assert {w["name"] for w in venv["wheels"]} == {"alpha", "beta", "delta"}


@pytest.mark.parametrize(("no_deps", "needle"), [
    ('["beta"]', "no_deps names 'beta', which is not in the slot's packages"),
    ('["alpha>=1"]', "no_deps: 'alpha>=1' is not a package name"),
    ('"alpha"', "no_deps must be a list of package names"),
], ids=["not-in-packages", "malformed", "not-a-list"])
def test_a_bad_no_deps_is_exit_2_before_anything_is_resolved(project, tmp_path, no_deps,
                                                               needle):
    wh, man, env = project
    man.write_text(MANIFEST.format(packages='"alpha==1.0"') + f"no_deps = {no_deps}\n")
    for args in (["lock"], ["sync"], ["download", "--wheelhouse", str(tmp_path / "out")]):
        proc = slot_cli(*args, *(["--wheelhouse", str(wh)] if args[0] != "download" else []),
                        env=env, check=False)
        no_traceback(proc)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert needle in proc.stderr and "'s'" in proc.stderr, proc.stderr
        assert "resolving" not in proc.stdout + proc.stderr
    assert not (tmp_path / "cudaswitch.lock").exists() and not (tmp_path / "out").exists()
    nothing_installed(tmp_path / "home")


def _rebuilt_beta(wh: Path) -> None:
    """beta 2.0 replaced by another build of the same name, with its own correct RECORD."""
    (wh / "beta-2.0-py3-none-any.whl").unlink()
    make_wheel(wh, "beta", "2.0", body="import os\nos.system('echo injected')\n")


def _edited_beta(wh: Path) -> None:
    """beta 2.0's module edited after the wheel was built, its RECORD left as it was."""
    path = wh / "beta-2.0-py3-none-any.whl"
    src = path.read_bytes()
    tmp = wh / "src.zip"
    tmp.write_bytes(src)
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "beta/__init__.py":
                data += b"import os\nos.system('echo injected')\n"
            zout.writestr(info, data)
    tmp.unlink()


def test_a_venv_wheel_in_the_wheelhouse_that_differs_from_the_lock_is_refused(project,
                                                                              tmp_path):
    wh, _man, env = project
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    _rebuilt_beta(wh)
    proc = slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "beta-2.0-py3-none-any.whl" in proc.stderr and "sha256" in proc.stderr
    nothing_installed(tmp_path / "home")


@pytest.mark.parametrize("locked", [True, False], ids=["locked", "unlocked"])
def test_a_venv_wheel_altered_after_it_was_built_is_refused_by_its_record(project, tmp_path,
                                                                          locked):
    """RECORD checked like NVIDIA's wheels: after ``lock`` took the altered file's hash (so
    only RECORD can tell), and in a plain ``sync`` with no lock at all."""
    wh, _man, env = project
    _edited_beta(wh)
    if locked:
        slot_cli("lock", "--wheelhouse", str(wh), env=env)
    args = ["sync", "--locked"] if locked else ["sync"]
    proc = slot_cli(*args, "--wheelhouse", str(wh), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "RECORD" in proc.stderr and "beta-2.0-py3-none-any.whl" in proc.stderr
    nothing_installed(tmp_path / "home")


def locked_then_edited(project, tmp_path: Path, edit) -> Path:
    """``lock``, then ``edit`` slot s's entry of the lock file as a hand or a tool would."""
    wh, _man, env = project
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    path = tmp_path / "cudaswitch.lock"
    lock = json.loads(path.read_text())
    edit(lock["slots"]["s"])
    path.write_text(json.dumps(lock))
    return path


def test_a_lock_missing_a_dependency_of_the_venv_installs_nothing(project, tmp_path):
    wh, _man, env = project

    def drop_beta(slot):
        slot["venv"]["wheels"] = [w for w in slot["venv"]["wheels"] if w["name"] != "beta"]
    locked_then_edited(project, tmp_path, drop_beta)
    proc = slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "beta" in proc.stderr and "cudaswitch lock" in proc.stderr
    nothing_installed(tmp_path / "home")


def test_a_package_added_to_the_manifest_after_locking_is_named(project, tmp_path):
    wh, man, env = project
    make_wheel(wh, "gamma", "1.0")
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    man.write_text(MANIFEST.format(packages='"alpha==1.0", "gamma==1.0"'))
    proc = slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    assert "gamma==1.0" in proc.stderr and "cudaswitch lock" in proc.stderr
    nothing_installed(tmp_path / "home")


def test_a_lock_written_for_another_python_is_drift(project, tmp_path):
    wh, _man, env = project
    locked_then_edited(project, tmp_path, lambda slot: slot["venv"].update(python="2.7"))
    proc = slot_cli("sync", "--locked", "--wheelhouse", str(wh), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED and "2.7" in proc.stderr, proc.stderr
    assert "cudaswitch lock" in proc.stderr
    nothing_installed(tmp_path / "home")


@pytest.mark.parametrize("venv", [
    7, [], {"python": 3.11, "wheels": []}, {"python": "3.11", "wheels": {}},
    {"python": "3.11", "wheels": [{"name": "beta"}]},
    {"python": "3.11", "wheels": [{"name": "beta", "version": "2.0", "url": "file:///x",
                                   "filename": "../beta-2.0-py3-none-any.whl",
                                   "sha256": "0" * 64}]},
    {"python": "3.11\n[x]", "wheels": []},
    {"python": "3.11", "wheels": [{"name": "beta --index-url http://127.0.0.1:9/",
                                   "version": "2.0", "url": "file:///x",
                                   "filename": "beta-2.0-py3-none-any.whl",
                                   "sha256": "0" * 64}]},
], ids=["int", "list", "python-number", "wheels-table", "wheel-fields", "wheel-path",
        "python-newline", "name-with-an-option"])
def test_a_lock_with_a_bad_venv_entry_is_exit_2_naming_the_file(project, tmp_path, venv):
    wh, _man, env = project
    path = locked_then_edited(project, tmp_path, lambda slot: slot.update(venv=venv))
    for args in (["sync", "--locked", "--wheelhouse", str(wh)],
                 ["download", "--locked", "--wheelhouse", str(tmp_path / "out")]):
        proc = slot_cli(*args, env=env, check=False)
        no_traceback(proc)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert str(path) in proc.stderr
    nothing_installed(tmp_path / "home")


def test_download_locked_brings_the_venv_wheels_and_never_replaces_a_users_file(project,
                                                                                tmp_path):
    wh, _man, env = project
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    out = tmp_path / "out"
    slot_cli("download", "--locked", "--wheelhouse", str(out), env=env)
    for name in ("alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"):
        assert sha256(out / name) == sha256(wh / name)
    again = slot_cli("download", "--locked", "--wheelhouse", str(out), env=env)
    no_traceback(again)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    mine = make_wheel(theirs, "beta", "2.0", body="MINE = True\n")
    before = mine.read_bytes()
    proc = slot_cli("download", "--locked", "--wheelhouse", str(theirs), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert str(mine) in proc.stderr
    assert mine.read_bytes() == before


def test_a_same_named_cuda_wheel_in_the_target_wheelhouse_is_kept(project, tmp_path):
    """The same rule for NVIDIA's wheels: ``download`` never overwrites a user's file."""
    wh, _man, env = project
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    runtime = next(wh.glob("nvidia_cuda_runtime_cu12-*.whl"))
    (theirs / runtime.name).write_bytes(b"the user's own file")
    proc = slot_cli("download", "--locked", "--wheelhouse", str(theirs), env=env, check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert runtime.name in proc.stderr
    assert (theirs / runtime.name).read_bytes() == b"the user's own file"


DRY = ("install", "12.4", "--with", "cudart", "--name", "s", "--python", "python3",
       "--dry-run")


def test_install_dry_run_lists_the_environment_lock_would_pin_and_writes_nothing(project,
                                                                                tmp_path):
    wh, _man, env = project
    home = tmp_path / "home"
    data = json.loads(slot_cli(*DRY, "--package", "alpha==1.0", "--wheelhouse", str(wh),
                               "--json", env=env).stdout)
    text = slot_cli(*DRY, "--package", "alpha==1.0", "--wheelhouse", str(wh), env=env).stdout
    assert not (home / "toolkits").exists() and not (home / "venvs").exists()
    assert not (tmp_path / "cudaswitch.lock").exists()
    slot_cli("lock", "--wheelhouse", str(wh), env=env)
    locked = json.loads((tmp_path / "cudaswitch.lock").read_text())["slots"]["s"]
    assert data["venv"] == locked["venv"]  # same wheels, versions and hashes, same X.Y
    assert data["wheels"] == locked["wheels"]
    lines = text.splitlines()
    at = lines.index(f"and in its Python environment (Python {locked['venv']['python']}):")
    assert sorted(lines[at + 1:]) == ["  alpha==1.0  alpha-1.0-py3-none-any.whl",
                                      "  beta==2.0  beta-2.0-py3-none-any.whl"]
    bare = json.loads(slot_cli(*DRY, "--wheelhouse", str(wh), "--json", env=env).stdout)
    assert bare["venv"] is None and "Python environment" not in slot_cli(
        *DRY, "--wheelhouse", str(wh), env=env).stdout


def test_install_dry_run_of_a_package_nobody_has_names_it_and_writes_nothing(project,
                                                                            tmp_path):
    wh, _man, env = project
    proc = slot_cli(*DRY, "--package", "gamma==9.9", "--wheelhouse", str(wh), env=env,
                    check=False)
    no_traceback(proc)
    assert proc.returncode == EXIT_FAILED and "gamma" in proc.stderr, proc.stderr
    assert not (tmp_path / "home" / "toolkits").exists()
    assert not (tmp_path / "home" / "venvs").exists()


def test_install_no_deps_installs_a_package_without_what_it_declares(project, tmp_path):
    """``install --no-deps NAME`` is the manifest's ``no_deps`` for a one-off slot: alpha
    comes without beta, and the slot's record says so, so the same request again is unchanged
    while one without the flag is another slot content, which brings beta."""
    wh, _man, env = project
    args = ("install", "12.4", "--name", "s", "--python", "python3", "--package", "alpha==1.0",
            "--wheelhouse", str(wh))
    dry = slot_cli(*args, "--no-deps", "alpha", "--dry-run", "--json", env=env)
    assert [w["name"] for w in json.loads(dry.stdout)["venv"]["wheels"]] == ["alpha"]
    done = slot_cli(*args, "--no-deps", "alpha", "--json", env=env)
    assert json.loads(done.stdout)["status"] == "installed", done.stdout
    got = installed(tmp_path / "home")
    assert (got.get("alpha"), got.get("beta")) == ("1.0", None), got
    record = json.loads((tmp_path / "home" / "toolkits" / "s" / "cudaswitch-slot.json")
                        .read_text())
    assert record["request"]["no_deps"] == ["alpha"]
    again = slot_cli(*args, "--no-deps", "alpha", "--json", env=env)
    assert json.loads(again.stdout)["status"] == "unchanged", again.stdout
    whole = slot_cli(*args, "--json", env=env)
    assert json.loads(whole.stdout)["status"] != "unchanged", whole.stdout
    assert installed(tmp_path / "home").get("beta") == "2.0"


@pytest.mark.parametrize(("value", "needle"), [
    ("beta", "no_deps names 'beta', which is not in the slot's packages"),
    ("alpha>=1", "no_deps: 'alpha>=1' is not a package name"),
    ("--index-url=http://evil", "is not a package name"),
    ("alpha\n", "is not a package name"),
], ids=["not-in-packages", "a-requirement", "a-pip-option", "trailing-newline"])
def test_install_no_deps_bad_name_is_exit_2_and_installs_nothing(project, tmp_path, value,
                                                                 needle):
    wh, _man, env = project
    for verb in ("install", "download"):
        where = ["--wheelhouse", str(wh if verb == "install" else tmp_path / "out")]
        proc = slot_cli(verb, "12.4", "--name", "s", "--python", "python3", "--package",
                        "alpha==1.0", f"--no-deps={value}", *where, env=env, check=False)
        no_traceback(proc)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert needle in proc.stderr, proc.stderr
    nothing_installed(tmp_path / "home")
    assert not (tmp_path / "out").exists()
