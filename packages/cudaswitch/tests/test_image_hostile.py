"""Hostile input to the image builder: the user's folders, file names, values and links.

No engine is needed: every case is refused (or escaped) before a build would start. The CLI runs
in a child process, so a traceback or a hang is seen as the user would see it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cudaswitch.errors import UsageError
from cudaswitch.image import generate, parse_image_manifest, render

SMALL = '''default = "cuda12.4"
[image]
name = "demo"
version = "1"
base = "localhost/some-base:1"
command = ["python3", "app/hello.py"]

[image.app]
copy = ["app"]

[[slot]]
name = "cuda12.4"
cuda = "12.4"
components = ["cudart"]
'''


def cli(*args: str, cwd: Path | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "image", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


def fake_wheelhouse(tmp: Path, content: bytes = b"one") -> Path:
    """A wheel file for the slot: only its name and bytes matter before a build starts."""
    wh = tmp / "wheelhouse" / "cuda12.4"
    wh.mkdir(parents=True, exist_ok=True)
    (wh / "nvidia_cuda_runtime_cu12-12.4.127-py3-none-manylinux2014_x86_64.whl"
     ).write_bytes(content)
    return wh.parent


def project(tmp: Path, text: str = SMALL) -> Path:
    (tmp / "app").mkdir(parents=True, exist_ok=True)
    (tmp / "app" / "hello.py").write_text("print('hello')\n")
    (tmp / "cudaswitch.toml").write_text(text)
    return tmp


def test_context_that_holds_the_users_files_is_refused_and_kept(tmp_path):
    """``--context .`` in a project folder: exit 2, and app/ and dist/ are still there."""
    proj = project(tmp_path / "proj")
    (proj / "dist").mkdir()
    (proj / "dist" / "myapp-1.0.tar.gz").write_bytes(b"release")
    wh = fake_wheelhouse(tmp_path)
    proc = cli("build", "--manifest", "cudaswitch.toml", "--context", ".", "--wheelhouse",
               str(wh), cwd=proj)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "not empty" in proc.stderr and ".cudaswitch-owned" in proc.stderr
    assert (proj / "app" / "hello.py").read_text() == "print('hello')\n"
    assert (proj / "dist" / "myapp-1.0.tar.gz").read_bytes() == b"release"
    assert not (proj / "Containerfile").exists()


def test_manifest_file_name_with_a_newline_writes_no_line(tmp_path):
    name = "x\nRUN touch /pwned\nFROM evil AS common\n#.toml"
    im = parse_image_manifest(SMALL, str(tmp_path / name), str(tmp_path))
    out = render(generate(im))
    lines = out.splitlines()
    assert not any(ln.startswith(("RUN touch", "FROM evil")) for ln in lines)
    assert sum(ln.startswith("FROM ") for ln in lines) == out.count("\nFROM ")


def test_control_characters_never_reach_the_containerfile():
    """The engine's own reading of escaped values is tested on a real image
    (test_image_build: hostile ENV and LABEL values come back exactly)."""
    from cudaswitch.image.containerfile import quote_word

    for bad in ("a\nRUN x", "a\rb", "esc\x1b[2J"):
        with pytest.raises(UsageError):
            quote_word(bad)
    text = SMALL.replace('command =', 'labels = { "x.y" = "a\\u001b[2J" }\ncommand =')
    with pytest.raises(UsageError):
        parse_image_manifest(text, "cudaswitch.toml", "/nonexistent")


def test_env_value_is_written_escaped():
    text = SMALL.replace('command =', 'env = { GREETING = "$HOME" }\ncommand =')
    out = render(generate(parse_image_manifest(text, "cudaswitch.toml", "/nonexistent")))
    assert 'GREETING="\\$HOME"' in out
    assert 'GREETING="$HOME"' not in out


def test_symlink_leaving_the_app_folder_is_refused(tmp_path):
    proj = project(tmp_path / "proj")
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    (proj / "app" / "innocent.txt").symlink_to(secret)
    wh = fake_wheelhouse(tmp_path)
    proc = cli("build", "--manifest", str(proj / "cudaswitch.toml"), "--context",
               str(tmp_path / "ctx"), "--wheelhouse", str(wh), "--engine", "podman")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "innocent.txt" in proc.stderr and "outside" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "ctx").rglob("innocent.txt"))


def test_symlink_inside_the_app_folder_stays_a_link(tmp_path):
    from cudaswitch.image.context import copy_app_tree

    proj = project(tmp_path / "proj")
    (proj / "app" / "alias.py").symlink_to("hello.py")
    dest = tmp_path / "out"
    copy_app_tree(str(proj / "app"), str(dest), "app")
    assert (dest / "alias.py").is_symlink()
    assert (dest / "alias.py").read_text() == "print('hello')\n"


def _inputs(out: str) -> list[str]:
    return re.findall(r"CUDASWITCH_INPUTS=sha256:([0-9a-f]{64})", out)


def test_slot_inputs_are_keyed_by_wheel_contents(tmp_path):
    """A rebuilt wheel with the same name changes the slot's step (and so its layer)."""
    im = parse_image_manifest(SMALL, "cudaswitch.toml", str(tmp_path))
    wh = fake_wheelhouse(tmp_path, b"first build")
    one = _inputs(render(generate(im, wheelhouse=str(wh))))
    fake_wheelhouse(tmp_path, b"second build, same name")
    two = _inputs(render(generate(im, wheelhouse=str(wh))))
    assert one and two and one != two


HOSTILE_PATHS = ["/" + "a" * 40 + "!", "/" + "a/" * 30 + "!", "/" + "a" * 5000 + "/!",
                 "/" + "-." * 3000 + "\n"]


@pytest.mark.parametrize("field", ["workdir", "volumes", "copy", "pythonpath"])
def test_path_checks_are_linear_time(field):
    """Each hostile path is refused at once: a backtracking pattern would run for hours."""
    code = (
        "import sys, json\n"
        "from cudaswitch.image.spec import make_image\n"
        "from cudaswitch.errors import UsageError\n"
        f"field = {field!r}\n"
        "for p in json.loads(sys.argv[1]):\n"
        "    data = {'workdir': p} if field == 'workdir' else {'volumes': [p]} "
        "if field == 'volumes' else {'app': {field: [p.lstrip('/')]}}\n"
        "    try:\n"
        "        make_image(data, 'm.toml')\n"
        "    except UsageError:\n"
        "        continue\n"
        "    raise SystemExit('accepted ' + repr(p[:40]))\n"
    )
    import json

    proc = subprocess.run([sys.executable, "-c", code, json.dumps(HOSTILE_PATHS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_init_onto_a_folder_with_force_is_exit_2(tmp_path):
    target = tmp_path / "somefolder"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    proc = cli("init", "--recipe", "facefuse", "--no-resolve", "-o", str(target), "--force")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "folder" in proc.stderr
    assert (target / "keep.txt").read_text() == "mine"


def test_bad_manifest_value_types_are_exit_2():
    for bad in ('workdir = 5', 'env = { A = 1 }', 'labels = "x"', 'user = 7'):
        text = SMALL.replace("[image]\n", f"[image]\n{bad}\n")
        with pytest.raises(UsageError):
            parse_image_manifest(text, "cudaswitch.toml", "/nonexistent")


def test_generate_onto_a_folder_is_exit_2(tmp_path):
    proj = project(tmp_path / "proj")
    proc = cli("generate", "--manifest", str(proj / "cudaswitch.toml"), "-o", str(proj / "app"))
    assert proc.returncode == 2, proc.stderr
    assert "is a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert (proj / "app" / "hello.py").read_text() == "print('hello')\n"
