"""The CLI as users run it: a real child process per call."""

import json
import os
import shutil
import subprocess
import threading

import pytest

from cs_helpers import clean_env, cudaswitch_cmd


def cs(*args, env=None, **kw):
    return subprocess.run(cudaswitch_cmd(*args), env=env or clean_env(), capture_output=True,
                          text=True, timeout=60, **kw)


def shell_unknown_env() -> dict[str, str]:
    """As CI runs the tests: no ``$SHELL``, and pytest (not a shell) as the parent process."""
    env = clean_env()
    env.pop("SHELL", None)
    return env


def test_compat_example_from_the_docs():
    out = cs("compat", "12.2", "--driver", "525.60.13", "--arch", "9.0", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["verdict"] == "minor-compat" and d["needs_driver"] == "525.60.13"
    out = cs("compat", "13.0", "--driver", "525.60.13", "--arch", "9.0")
    assert out.returncode == 4 and out.stdout.startswith("unsupported:")
    assert "580.65.06" in out.stdout


@pytest.mark.parametrize("bad", ["12.2; rm -rf /", "../../etc", "", "9" * 300, "１２.２", "12.x"])
@pytest.mark.parametrize("cmd", [("which",), ("exec", "--cuda"), ("env",), ("use",)])
def test_bad_specs_exit_2_and_change_nothing(bad, cmd, tmp_path):
    link = tmp_path / "cuda"
    extra = ["--link", str(link)] if cmd[0] == "use" else []
    tail = ["--", "true"] if cmd[0] == "exec" else []
    out = cs(*cmd, bad, *extra, *tail, env=shell_unknown_env())
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "spec" in out.stderr and "Traceback" not in out.stderr
    assert not os.path.lexists(link)


def test_help_documents_exit_codes():
    out = cs("--help")
    for code in ("2 ", "3 ", "4 ", "5 ", "127"):
        assert f"  {code}" in out.stdout


def test_list_and_which_json(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots), CUDASWITCH_DRIVER_VERSION="580.95.05",
                    CUDASWITCH_GPU_ARCH="9.0")
    d = json.loads(cs("list", "--json", env=env).stdout)
    assert d["host"]["driver_version"] == "580.95.05" and d["host"]["driver_cuda"] == "13.0"
    versions = {t["version"]: t["verdict"] for t in d["toolkits"]}
    assert versions["11.8.89"] == "native" and versions["13.0.96"] == "native"
    w = json.loads(cs("which", "12", "--json", env=env).stdout)
    assert w["toolkit"]["version"] == "12.4.127" and w["why"]


def test_shell_env_switching_twice_leaves_no_trace(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    env["LD_LIBRARY_PATH"] = "/usr/local/nvidia/lib64:/opt/mine/lib"
    script = f"""
set -e
base_ld="$LD_LIBRARY_PATH"
eval "$({' '.join(cudaswitch_cmd('env', '11.8', '--shell', 'bash'))})"
first="$LD_LIBRARY_PATH"
eval "$({' '.join(cudaswitch_cmd('env', '12.4', '--shell', 'bash'))})"
echo "FIRST=$first"
echo "SECOND=$LD_LIBRARY_PATH"
echo "HOME_=$CUDA_HOME"
"""
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert "cuda-11.8" in lines["FIRST"]
    assert "cuda-11.8" not in lines["SECOND"] and "cuda-12.4" in lines["SECOND"]
    assert lines["SECOND"].endswith(":/usr/local/nvidia/lib64:/opt/mine/lib")
    assert "cuda-12.4" in lines["HOME_"]


def test_fish_output_is_fish(wheel_roots):
    out = cs("env", "12", "--shell", "fish", env=clean_env(CUDASWITCH_PATH=str(wheel_roots)))
    assert out.returncode == 0
    assert all(line.startswith(("set -gx ", "set -e ", "function cudaswitch_deactivate;"))
               for line in out.stdout.splitlines())
    if shutil.which("fish"):
        check = subprocess.run(["fish", "-n", "-c", out.stdout], capture_output=True)
        assert check.returncode == 0


def make_toolkit(root, runtime_targets, key, soname):
    src = {"11.8": "nvidia/cuda_runtime/lib", "12.4": "nvidia/cuda_runtime/lib",
           "13.0": "nvidia/cu13/lib"}[key]
    (root / "lib64").mkdir(parents=True)
    shutil.copy(runtime_targets[key] / src / soname, root / "lib64" / soname)
    (root / "version.json").write_text(json.dumps({"cuda": {"version": key + ".0"}}))
    return root


def test_use_switches_atomically_and_readers_never_see_it_missing(tmp_path, runtime_targets):
    tks = tmp_path / "toolkits"
    a = make_toolkit(tks / "cuda-11.8", runtime_targets, "11.8", "libcudart.so.11.0")
    b = make_toolkit(tks / "cuda-12.4", runtime_targets, "12.4", "libcudart.so.12")
    link = tmp_path / "cuda"
    env = clean_env(CUDASWITCH_PATH=str(tks))
    out = cs("use", "11.8", "--link", str(link), "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert os.readlink(link) == str(a)
    missing = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                os.readlink(link)
            except FileNotFoundError:
                missing.append(1)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for spec in ("12.4", "11.8", "12.4", "11.8", "12.4"):
            assert cs("use", spec, "--link", str(link), env=env).returncode == 0
    finally:
        stop.set()
        t.join()
    assert os.readlink(link) == str(b)
    assert not missing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuda", "toolkits"]  # no lock left


def test_use_refuses_a_real_folder_and_a_missing_match(tmp_path, runtime_targets):
    tks = tmp_path / "toolkits"
    make_toolkit(tks / "cuda-12.4", runtime_targets, "12.4", "libcudart.so.12")
    real = tmp_path / "cuda"
    real.mkdir()
    env = clean_env(CUDASWITCH_PATH=str(tks))
    out = cs("use", "12.4", "--link", str(real), env=env)
    assert out.returncode == 6 and "real folder" in out.stderr and real.is_dir()
    out = cs("use", "10.2", "--link", str(tmp_path / "other"), env=env)
    assert out.returncode == 3 and not os.path.lexists(tmp_path / "other")


def test_doctor_names_what_mixes_toolkits(tmp_path, runtime_targets):
    env = clean_env(
        LD_LIBRARY_PATH=":".join([str(runtime_targets["11.8"] / "nvidia/cuda_runtime/lib"),
                                  str(runtime_targets["12.4"] / "nvidia/cuda_runtime/lib"),
                                  "/usr/local/cuda-11.2/lib64", ""]),
        CUDA_HOME="/usr/local/cuda-13.0", CUDA_PATH=str(tmp_path))
    out = cs("doctor", "--json", env=env)
    ids = {f["id"] for f in json.loads(out.stdout)["findings"]}
    assert {"several-cudart-majors", "stale-ld-entry", "cuda-home-path", "ld-empty-entry"} <= ids
    if os.path.exists("/etc/ld.so.conf.d/zz-cuda-13-0.conf"):
        assert "ld-so-conf" in ids
    if os.path.exists("/usr/local/bin/nvcc"):
        assert "pinned-wrapper" in ids
    text = cs("doctor", env=env).stdout
    assert "fix:" in text


def test_command_table_matches_what_modules_register():
    import argparse
    import importlib

    from cudaswitch.cli.main import COMMAND_MODULES, COMMANDS

    for module in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"cudaswitch.cli.{module}").register(sub)
        assert {c for c, m in COMMANDS.items() if m == module} == set(sub.choices), module


def test_doctor_names_half_a_switch(wheel_roots, runtime_targets):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots),
                    LD_LIBRARY_PATH=str(runtime_targets["11.8"] / "nvidia/cuda_runtime/lib"),
                    CUDA_HOME=str(runtime_targets["12.4"] / "nvidia/cuda_runtime"))
    found = json.loads(cs("doctor", "--json", env=env).stdout)["findings"]
    mixed = [f for f in found if f["id"] == "mixed-toolkits"]
    assert len(mixed) == 1 and "11.8.89" in mixed[0]["message"]
    env["CUDA_HOME"] = str(runtime_targets["11.8"] / "nvidia/cuda_runtime")
    found = json.loads(cs("doctor", "--json", env=env).stdout)["findings"]
    assert not [f for f in found if f["id"] == "mixed-toolkits"]


@pytest.mark.parametrize("argv,source", [
    (("which", "12"), "the SPEC argument"),
    (("env", "12", "--shell", "bash"), "the SPEC argument"),
    (("exec", "--cuda", "12", "--dry-run", "--", "true"), "--cuda"),
])
def test_messages_name_where_the_request_came_from(argv, source, wheel_roots):
    """``which 12`` got its spec from a positional argument: saying --cuda misleads."""
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    flags = ("--json",) if argv[0] == "exec" else ("-v",)
    out = cs(*argv[:-2], *flags, *argv[-2:], env=env)
    said = out.stdout + out.stderr
    assert out.returncode == 0, out.stderr
    assert f"requested 12 (from {source})" in said  # env says why under -v
    assert ("from --cuda" in said) is (source == "--cuda")
    missing = cs(*(a if a != "12" else "10" for a in argv), env=env)
    assert missing.returncode == 3
    assert f"matches 10 (from {source})" in missing.stderr


@pytest.mark.parametrize("cmd", ["which", "env"])
def test_a_bad_positional_spec_is_not_blamed_on_cuda(cmd):
    out = cs(cmd, "12.x", env=shell_unknown_env())
    assert out.returncode == 2 and "--cuda" not in out.stderr, out.stderr
    assert "SPEC argument" in out.stderr


def test_list_header_without_a_driver_says_so(wheel_roots):
    out = cs("list", env=clean_env(CUDASWITCH_PATH=str(wheel_roots)))
    head = out.stdout.splitlines()[0]
    assert "none via none" not in head and "via None" not in head, head
    assert head.startswith("no NVIDIA driver found"), head


def test_list_header_names_the_driver_and_where_it_came_from(wheel_roots):
    out = cs("list", env=clean_env(CUDASWITCH_PATH=str(wheel_roots),
                                   CUDASWITCH_DRIVER_VERSION="580.95.05"))
    head = out.stdout.splitlines()[0]
    assert head.startswith("driver 580.95.05 (CUDA 13.0) from CUDASWITCH_DRIVER_VERSION"), head


def _switched_to(env: dict, spec: str) -> dict:
    """The environment of a bash shell after `eval "$(cudaswitch env SPEC)"`."""
    code = cs("env", spec, "--shell", "bash", env=env).stdout
    shell = subprocess.run(["bash", "-c", code + "\nenv -0"], env=env, capture_output=True,
                           text=True, check=True).stdout
    return dict(kv.split("=", 1) for kv in shell.split("\0") if "=" in kv)


def test_list_marks_the_shells_active_toolkit(wheel_roots):
    """After `eval "$(cudaswitch env 11.8)"`, `list` marks 11.8 as Lmod marks a loaded module."""
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    switched = _switched_to(env, "11.8")
    text = cs("list", env=switched).stdout
    marked = [line for line in text.splitlines() if "(active)" in line]
    assert len(marked) == 1 and marked[0].startswith("11.8."), text
    assert "active" in text.splitlines()[-1]  # the legend says what the mark means
    data = json.loads(cs("list", "--json", env=switched).stdout)
    assert [t["version"][:4] for t in data["toolkits"] if t["active"]] == ["11.8"]
    plain = cs("list", env=env).stdout
    assert "(active)" not in plain


def test_which_shows_the_active_toolkit_it_ranked_below_an_argument(wheel_roots):
    env = clean_env(CUDASWITCH_PATH=str(wheel_roots))
    switched = _switched_to(env, "11.8")
    picked_by_shell = cs("which", env=switched).stdout
    assert picked_by_shell.startswith("CUDA 11.8.") and "CUDASWITCH_ACTIVE" in picked_by_shell
    overridden = cs("which", "12", env=switched).stdout
    assert overridden.startswith("CUDA 12.4.")
    assert "this shell's active toolkit" in overridden and "cuda-11.8" in overridden, overridden
