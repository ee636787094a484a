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


# --- the GPUs from procfs and sysfs -------------------------------------------------------------
# There is no GPU here: a fake /proc and /sys tree stands in for a host's, and the script's one
# line ``_cs_root=`` is pointed at it. The full flow reads GPUs through NVML, which cannot exist
# here; it gets the true architecture through CUDASWITCH_GPU_ARCH instead.

H200, H100, A100, V100, P100 = ("0x2335", "9.0"), ("0x2330", "9.0"), ("0x20b2", "8.0"), \
    ("0x1db5", "7.0"), ("0x15f8", "6.0")
K80, UNKNOWN = ("0x102d", "3.7"), ("0x2bff", None)
DRIVERS = ("580.65.06", "535.104.05", "470.82.01")


def fake_host(root: Path, driver: str, gpus: list[tuple[str, str]], vendor: str = "0x10de"):
    """A host's /sys and /proc as the NVIDIA kernel module writes them (as seen on an H200)."""
    (root / "sys/module/nvidia").mkdir(parents=True, exist_ok=True)
    (root / "sys/module/nvidia/version").write_text(driver + "\n")
    (root / "proc/driver/nvidia/gpus").mkdir(parents=True, exist_ok=True)
    (root / "proc/driver/nvidia/version").write_text(
        f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {driver}\n")
    for n, (device, _) in enumerate(gpus):
        addr = f"0000:{6 + n:02x}:00.0"
        (root / "proc/driver/nvidia/gpus" / addr).mkdir()
        (root / "proc/driver/nvidia/gpus" / addr / "information").write_text(
            "Model: \t\t NVIDIA H200\nIRQ:   \t\t 41\nBus Type: \t PCIe\n")
        pci = root / "sys/bus/pci/devices" / addr
        pci.mkdir(parents=True)
        (pci / "vendor").write_text(vendor + "\n")
        (pci / "device").write_text(device + "\n")
        (pci / "class").write_text("0x030200\n")
    return root


def rooted(entry: Path, root: Path, dest: Path) -> Path:
    """The baked script reading the host from ``root``: only its ``_cs_root=`` line differs."""
    text = entry.read_text()
    assert text.count("\n_cs_root=\n") == 1
    dest.write_text(text.replace("\n_cs_root=\n", f"\n_cs_root='{root}'\n"))
    dest.chmod(0o755)
    return dest


@pytest.mark.parametrize("gpus", [[H200], [H100], [A100], [V100], [P100], [K80], [A100, H100],
                                  [H200, UNKNOWN], [UNKNOWN]],
                         ids=["H200", "H100", "A100", "V100", "P100", "K80", "A100+H100",
                              "H200+unknown", "unknown"])
def test_gpu_arch_from_fake_procfs_sysfs_equals_full_flow_no_gpu_here(image, tmp_path, gpus):
    root, entry, env = image
    cases = []
    for driver in DRIVERS:
        host = fake_host(tmp_path / driver, driver, gpus)
        script = rooted(entry, host, tmp_path / f"entry-{driver}")
        for sel in ({}, {"CUDASWITCH_SLOT": "cuda11.8"}, {"CUDA_VERSION": "12"}):
            cases.append((script, {**env, **sel, "CUDASWITCH_BAKED": "only"}, driver))
    known = all(cc for _, cc in gpus)
    arch = ",".join(cc or "0.0" for _, cc in gpus)
    expected = _reference(root, [{**e, "CUDASWITCH_DRIVER_VERSION": d,
                                  "CUDASWITCH_GPU_ARCH": arch} for _, e, d in cases])
    decided = 0
    for (script, e, driver), (code, stderr, launched) in zip(cases, expected, strict=True):
        got = _baked(root, script, e)
        if got[0] == 125:
            continue
        assert known and code == 0, (driver, e, got)
        # the flow passes on the override variables it was given; the script was given none
        for name in ("CUDASWITCH_DRIVER_VERSION", "CUDASWITCH_GPU_ARCH"):
            launched.pop(name)
        assert got == (0, stderr, launched), (driver, e)
        assert f"on driver {driver} " in got[1]
        decided += 1
    if not known:
        assert decided == 0
    elif gpus == [K80]:  # sm_37 is no target of 12.4: the flow words the refusal
        assert decided < len(cases)
    else:  # every selector the image foresaw, on every driver the flow accepts
        assert decided == sum(1 for code, _, _ in expected if code == 0) > 0


def test_gpu_arch_override_wins_over_fake_procfs_sysfs_no_gpu_here(image, tmp_path):
    """As in the flow, CUDASWITCH_GPU_ARCH stands for the GPUs: procfs is not read then."""
    root, entry, env = image
    script = rooted(entry, fake_host(tmp_path / "host", "580.65.06", [UNKNOWN]), tmp_path / "e")
    e = {**env, "CUDASWITCH_BAKED": "only", "CUDASWITCH_GPU_ARCH": "9.0"}
    [(code, stderr, launched)] = _reference(root, [{**e, "CUDASWITCH_DRIVER_VERSION": "580.65.06"}])
    launched.pop("CUDASWITCH_DRIVER_VERSION")
    assert _baked(root, script, e) == (code, stderr, launched) and code == 0


HOSTILE = ["huge device file", "weird bytes", "device is a fifo", "driver version is a fifo",
           "device is a folder", "odd gpu folder name", "not nvidia's vendor id", "no sysfs entry",
           "no gpu listed", "two lines of driver"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_fake_procfs_sysfs_never_hangs_and_hands_over_no_gpu_here(image, tmp_path,
                                                                          hostile):
    root, entry, env = image
    host = fake_host(tmp_path / "host", "580.65.06", [H200],
                     vendor="0x8086" if hostile == "not nvidia's vendor id" else "0x10de")
    pci = host / "sys/bus/pci/devices/0000:06:00.0"
    if hostile == "huge device file":  # without a bound, reading it takes many minutes
        (pci / "device").unlink()
        with open(pci / "device", "wb") as f:
            f.truncate(8 << 30)
    elif hostile == "weird bytes":
        (pci / "device").write_bytes(b"\xff\xfe0x2335\x1b[0m\r\n")
    elif hostile == "device is a fifo":
        (pci / "device").unlink()
        os.mkfifo(pci / "device")
    elif hostile == "driver version is a fifo":
        (host / "sys/module/nvidia/version").unlink()
        os.mkfifo(host / "sys/module/nvidia/version")
    elif hostile == "device is a folder":
        (pci / "device").unlink()
        (pci / "device").mkdir()
    elif hostile == "odd gpu folder name":
        (host / "proc/driver/nvidia/gpus/0000:06:00.0").rename(
            host / "proc/driver/nvidia/gpus/0000:06:00.0 x")
    elif hostile == "no sysfs entry":
        for f in pci.iterdir():
            f.unlink()
        pci.rmdir()
    elif hostile == "no gpu listed":
        for f in (host / "proc/driver/nvidia/gpus/0000:06:00.0").iterdir():
            f.unlink()
        (host / "proc/driver/nvidia/gpus/0000:06:00.0").rmdir()
    elif hostile == "two lines of driver":
        (host / "sys/module/nvidia/version").write_text("580.65.06\n999.1\n")
    script = rooted(entry, host, tmp_path / "entry")
    out = subprocess.run([str(script), ENV_BIN], env={**env, "CUDASWITCH_BAKED": "only"},
                         cwd=root, capture_output=True, timeout=60)
    assert out.returncode == 125, out.stderr
    # the same tree, sound, is decided by the script: the hostile part is what handed over
    sound = rooted(entry, fake_host(tmp_path / "sound", "580.65.06", [H200]), tmp_path / "ok")
    assert _baked(root, sound, {**env, "CUDASWITCH_BAKED": "only"})[0] == 0


def test_gpu_table_rows_are_architectures_the_compat_data_knows():
    from cudaswitch.compat.gpus import gpu_models

    models = gpu_models()
    assert {m.pci_device_id for m in models} >= {H200[0], H100[0], A100[0], V100[0], P100[0]}
    assert {m.compute_capability for m in models} <= set(catalog().arch_names)
    assert UNKNOWN[0] not in {m.pci_device_id for m in models}


@pytest.mark.parametrize("row", [{"pci_device_id": "0x2335", "compute_capability": "9.0"},
                                 {"pci_device_id": "0X2335", "compute_capability": "9.0"},
                                 {"pci_device_id": "0x233", "compute_capability": "9.0"},
                                 {"pci_device_id": "0x2336", "compute_capability": "sm_90"}])
def test_gpu_table_refuses_a_bad_or_repeated_row(row):
    from cudaswitch.compat.gpus import parse_models

    good = {"pci_device_id": "0x2335", "chip": "GH100", "name": "H200",
            "compute_capability": "9.0"}
    with pytest.raises(ValueError, match=r"gpus\.json"):
        parse_models({"rows": [good, {"chip": "x", "name": "y", **row}]})


@pytest.mark.parametrize("bake", [True, False], ids=["baked", "plain"])
def test_launcher_aimed_at_a_folder_is_exit_2_and_writes_nothing(tmp_path, bake):
    """The path names a folder: refused before anything is written (no PATH-python left
    beside it, the folder untouched), one line naming it, never a traceback."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "keep").write_text("keep")
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "launcher", str(folder)]
    out = subprocess.run(argv + (["--bake"] if bake else []), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and f"{folder}: is a folder" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
    assert sorted(p.name for p in folder.iterdir()) == ["keep"]


@pytest.mark.parametrize("bake", [True, False], ids=["baked", "plain"])
@pytest.mark.parametrize("taken", ["path", "path-python"])
def test_launcher_never_replaces_a_users_file(tmp_path, bake, taken):
    """A file cudaswitch did not write, at PATH or (baked) at PATH-python, is exit 2 and stays
    as it was; nothing else is written. A launcher already there is replaced as before."""
    entry = tmp_path / "entry"
    users = tmp_path / ("entry" if taken == "path" else "entry-python")
    users.write_text("#!/bin/sh\necho the user's own script\n")
    argv = [sys.executable, "-m", "cudaswitch.cli.main", "launcher", str(entry)]
    argv += ["--bake"] if bake else []
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if taken == "path-python" and not bake:
        assert out.returncode == 0, out.stderr  # PATH-python is only the baked form's
        return
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "did not write" in out.stderr
    assert users.read_text() == "#!/bin/sh\necho the user's own script\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [users.name]
    users.unlink()
    assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0
    assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0  # again
