"""The baked entrypoint (``cudaswitch launcher --bake``) against the full flow.

An image-like setup (two real slots, a manifest whose default is a slot, a fixed environment
and working folder) is baked, then every driver and every GPU architecture of the compat data
is tried: wherever the sh script decides by itself (``CUDASWITCH_BAKED=only`` makes it exit 125
where it would hand over), its exit code, stderr and the launched process's environment must
be the full flow's. There is no GPU here: drivers and architectures come through the override
variables, as the full flow reads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cudaswitch.bake import driver_points
from cudaswitch.compat.data import catalog

WHERE = str(Path(__file__).resolve().parents[1] / "src")
ENV_BIN = "/usr/bin/env"
REFERENCE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from cudaswitch.errors import CudaswitchError
from cudaswitch.flow import run_flow
out = []
for env in json.load(sys.stdin):
    try:
        o = run_flow([sys.argv[2]], env)
    except CudaswitchError as e:
        out.append([e.exit_code, None, None])
        continue
    lines = [f"cudaswitch: note: {n}" for n in o.plan.notes] + [o.banner()]
    out.append([0, "".join(line + "\\n" for line in lines), dict(o.plan.env)])
print(json.dumps(out))
"""


def _below(driver: str) -> str | None:
    """A driver just under ``driver``: the last one of the range before it."""
    parts = [int(p) for p in driver.split(".")]
    if parts[-1] > 0:
        parts[-1] -= 1
    elif parts[0] > 0:
        return f"{parts[0] - 1}.999.99"
    else:
        return None
    return ".".join(str(p) for p in parts)


def table_drivers() -> list[str | None]:
    out: list[str | None] = [None]
    for d in driver_points():
        out += [d, _below(d)]
    return list(dict.fromkeys(d for d in out if d is not None or out.index(d) == 0))


@pytest.fixture(scope="module")
def image(runtime_slots, tmp_path_factory):
    """A baked entrypoint over the two slots, and the environment the 'image' starts with."""
    home, _ = runtime_slots
    root = tmp_path_factory.mktemp("image")
    (root / "cudaswitch.toml").write_text("default = 'cuda12.4'\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root / "user"),
           "CUDASWITCH_HOME": str(home), "CUDASWITCH_SYSTEM_PREFIX": str(root / "no-system")}
    entry = root / "cudaswitch-entrypoint"
    out = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "launcher", str(entry),
                          "--bake"], env={**env, "PYTHONPATH": WHERE}, cwd=root,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return root, entry, env


def _reference(root: Path, envs: list[dict]) -> list:
    out = subprocess.run([sys.executable, "-I", "-S", "-c", REFERENCE, WHERE, ENV_BIN],
                         input=json.dumps(envs), cwd=root, capture_output=True, text=True,
                         timeout=900, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _baked(root: Path, entry: Path, env: dict):
    out = subprocess.run([str(entry), ENV_BIN, "-0"], env=env, cwd=root, capture_output=True,
                         timeout=60)
    launched = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if item)
    # sh exports PWD; the full flow passes the environment as it found it
    assert launched.pop("PWD", str(root)) == str(root)
    return out.returncode, out.stderr.decode(), launched


def _combos(env: dict) -> list[dict]:
    base = {**env, "CUDASWITCH_BAKED": "only"}
    archs = [None, *catalog().arch_names]
    combos = []
    for driver in table_drivers():
        for arch in archs:
            combos.append({**base, **({"CUDASWITCH_DRIVER_VERSION": driver} if driver else {}),
                           **({"CUDASWITCH_GPU_ARCH": arch} if arch else {})})
        for sel in ({"CUDASWITCH_SLOT": "cuda11.8"}, {"CUDA_VERSION": "12"},
                    {"CUDASWITCH_CUDA": "12.4.1"}, {"CUDA_VERSION": "11.8"}):
            combos.append({**base, **sel,
                           **({"CUDASWITCH_DRIVER_VERSION": driver} if driver else {})})
    return combos


def test_baked_decisions_equal_the_full_flow_on_every_table_driver_and_gpu_arch(image):
    root, entry, env = image
    combos = _combos(env)
    expected = _reference(root, combos)
    decided = handed = 0
    for combo, (code, stderr, launched) in zip(combos, expected, strict=True):
        got = _baked(root, entry, combo)
        if got[0] == 125:
            handed += 1
            continue
        decided += 1
        assert code == 0, (combo, got)  # errors are always the flow's to word
        assert got == (0, stderr, launched), combo
    # with no GPU architecture given, every runnable case is decided by the script itself
    runnable_plain = sum(1 for c, (code, _, _) in zip(combos, expected, strict=True)
                         if code == 0 and "CUDASWITCH_GPU_ARCH" not in c)
    assert decided >= runnable_plain > 0 and handed > 0, (decided, handed)


@pytest.mark.parametrize("change", ["newer folder", "other cwd", "python command",
                                    "other variable", "missing command"])
def test_what_the_bake_did_not_see_is_handed_over(image, tmp_path, change):
    root, entry, env = image
    env = {**env, "CUDASWITCH_BAKED": "only", "CUDASWITCH_DRIVER_VERSION": "580.65.06"}
    cmd, cwd = [ENV_BIN], root
    if change == "newer folder":
        slot = Path(env["CUDASWITCH_HOME"]) / "toolkits" / "cuda12.4"
        st = os.stat(slot)
        os.utime(slot, (st.st_atime, st.st_mtime + 3600 * 24 * 365))
    elif change == "other cwd":
        cwd = tmp_path
    elif change == "python command":
        cmd = [sys.executable, "-c", "pass"]
    elif change == "other variable":
        env["LD_LIBRARY_PATH"] = "/opt/mine/lib"
    else:
        cmd = ["no-such-command-here"]
    try:
        out = subprocess.run([str(entry), *cmd], env=env, cwd=cwd, capture_output=True,
                             timeout=60)
    finally:
        if change == "newer folder":
            os.utime(slot, (st.st_atime, st.st_mtime))
    assert out.returncode == 125, out.stderr
    full = subprocess.run([str(entry), *cmd], env={**env, "CUDASWITCH_BAKED": ""}, cwd=cwd,
                          capture_output=True, timeout=60)
    assert full.returncode != 125
