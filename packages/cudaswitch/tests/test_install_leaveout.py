"""A slot's ``leave_out``: library files of its wheels that it does not install.

Real parts: NVIDIA's cudart and nvrtc wheels for CUDA 12.4 (the test wheelhouse), installed by
``cudaswitch install`` and ``sync``; for the refused case, a real wheel whose library gcc linked
against ``libnvrtc.so.12``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import slot_cli, slot_env
from test_install_needed import build_needs_nvrtc_wheel

from cudaswitch.errors import UsageError
from cudaswitch.image.recipes import RECIPES
from cudaswitch.install.leaveout import is_left_out, placeholder_names, write_placeholders
from cudaswitch.slots import make_slot, parse_manifest

BUILTINS = "libnvrtc-builtins.so.*"


def _wheelhouse(slot_wheelhouse: Path, tmp_path: Path) -> Path:
    wh = tmp_path / "wh"
    wh.mkdir()
    for pattern in ("*cu12*.whl", "cuda_toolkit-12*.whl"):
        for w in slot_wheelhouse.glob(pattern):
            shutil.copy(w, wh)
    return wh


def _only_placeholders(lib: Path, pattern: str) -> list[Path]:
    """The files of ``lib`` named by ``pattern``, each a placeholder and no library."""
    found = sorted(lib.glob(pattern))
    for f in found:
        assert f.is_file() and not f.is_symlink(), f
        text = f.read_bytes()
        assert not text.startswith(b"\x7fELF") and b"left out of slot" in text, f
        assert len(text) < 1024, f
    return found


def _nothing_half_done(home: Path, name: str) -> None:
    toolkits = home / "toolkits"
    assert not (toolkits / name).exists()
    assert not toolkits.exists() or not [p for p in toolkits.iterdir()
                                         if p.name.startswith(".partial")]


@pytest.mark.parametrize("pattern,path,out", [
    ("libcudnn_*_train.so.8", "lib/libcudnn_cnn_train.so.8", True),
    ("libcudnn_*_train.so.8", "lib/libcudnn_cnn_infer.so.8", False),
    ("libcudnn_adv_infer.so.8", "lib/libcudnn_adv_infer.so.8", True),
    ("libnvrtc-builtins.so.*", "lib/libnvrtc-builtins.so.12.4", True),
    ("libnvrtc*", "include/libnvrtc.h", False),  # only the library folder
    ("libnvrtc*", "bin/libnvrtc.so", False),
])
def test_patterns_take_out_library_files_by_name(pattern, path, out):
    assert is_left_out((pattern,), path) is out


@pytest.mark.parametrize("value,needle", [
    ("libcudnn_*_train.so.8", "must be a list"),
    ([3], "must be a list"),
    (["../../etc/passwd"], "not a library file name"),
    (["lib/libcudart.so.12"], "not a library file name"),
    (["libx[ab].so"], "not a library file name"),
    (["lib*"], "not a library file name"),
    (["libcudart.so.12\n"], "not a library file name"),
    (["cudnn"], "not a library file name"),
    (["lib" + "a" * 200], "not a library file name"),
])
def test_bad_leave_out_is_refused_naming_it(value, needle):
    with pytest.raises(UsageError, match=needle):
        make_slot({"name": "s", "cuda": "12.4", "leave_out": value})


def test_leave_out_is_part_of_the_request_only_when_set():
    plain, _ = make_slot({"name": "s", "cuda": "12.4"})
    trimmed, _ = make_slot({"name": "s", "cuda": "12.4",
                            "leave_out": ["libb.so.1", "liba.so.1", "libb.so.1"]})
    assert "leave_out" not in plain.request()
    assert trimmed.request()["leave_out"] == ["liba.so.1", "libb.so.1"]


def test_install_leaves_the_named_library_out_and_records_it(slot_wheelhouse, tmp_path):
    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    home = tmp_path / "home"
    env = slot_env(home)
    done = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--leave-out", BUILTINS,
                    "--wheelhouse", str(wh), "--json", env=env)
    assert json.loads(done.stdout)["status"] == "installed"
    lib = home / "toolkits" / "cuda12.4" / "lib"
    assert (lib / "libnvrtc.so.12").is_file() and (lib / "libcudart.so.12").is_file()
    assert [p.name for p in _only_placeholders(lib, "libnvrtc-builtins*")] == [
        "libnvrtc-builtins.so", "libnvrtc-builtins.so.12", "libnvrtc-builtins.so.12.4",
        "libnvrtc-builtins.so.12.4.127"]
    record = json.loads((lib.parent / "cudaswitch-slot.json").read_text())
    assert list(record["left_out"]) == ["lib/libnvrtc-builtins.so.12.4"]
    assert record["left_out"]["lib/libnvrtc-builtins.so.12.4"] > 0
    assert record["request"]["leave_out"] == [BUILTINS]
    assert "lib/libnvrtc-builtins.so.12.4" in record["generated"]
    again = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--leave-out", BUILTINS,
                     "--wheelhouse", str(wh), "--json", env=env)
    assert json.loads(again.stdout)["status"] == "unchanged"
    whole = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--wheelhouse", str(wh),
                     "--json", env=env)
    assert json.loads(whole.stdout)["status"] != "unchanged"
    assert (lib / "libnvrtc-builtins.so.12.4").read_bytes().startswith(b"\x7fELF")
    slot_cli("uninstall", "cuda12.4", env=env)
    assert not lib.parent.exists()


@pytest.mark.parametrize("pattern,needle", [
    ("libnothing*.so", "matches no library of the slot's wheels"),
    ("libcudart*", "takes out every library of cudart"),
    ("libnvrtc*", "takes out every library of nvrtc"),
])
def test_a_pattern_that_takes_out_nothing_or_everything_installs_nothing(
        slot_wheelhouse, tmp_path, pattern, needle):
    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    home = tmp_path / "home"
    bad = slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--leave-out", pattern,
                   "--wheelhouse", str(wh), env=slot_env(home), check=False)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert needle in bad.stderr and "Traceback" not in bad.stderr
    _nothing_half_done(home, "cuda12.4")


def test_a_library_the_venv_links_cannot_be_left_out(slot_wheelhouse, tmp_path):
    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    build_needs_nvrtc_wheel(wh)
    home = tmp_path / "home"
    args = ["12.4", "--name", "ort", "--python", "python3", "--package", "cs-needs-nvrtc==1.0",
            "--with", "cudart,nvrtc", "--wheelhouse", str(wh)]
    bad = slot_cli("install", *args, "--leave-out", "libnvrtc.so.12", env=slot_env(home),
                   check=False)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "libnvrtc.so.12 is needed by" in bad.stderr and "libuses_nvrtc.so" in bad.stderr
    _nothing_half_done(home, "ort")


def test_sync_reads_leave_out_from_the_manifest(slot_wheelhouse, tmp_path):
    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    home = tmp_path / "home"
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text('[[slot]]\nname = "rt"\ncuda = "12.4"\n'
                        'components = ["cudart", "nvrtc"]\n'
                        f'leave_out = ["{BUILTINS}"]\n')
    slot_cli("sync", "--manifest", str(manifest), "--wheelhouse", str(wh), env=slot_env(home))
    lib = home / "toolkits" / "rt" / "lib"
    assert (lib / "libnvrtc.so.12").is_file() and _only_placeholders(lib, "libnvrtc-builtins*")


CUDNN9_NEEDED = ("libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
                 "libcudnn_heuristic.so.9", "libcudnn_engines_precompiled.so.9",
                 "libcudnn_engines_runtime_compiled.so.9")


def _ort_minor(packages) -> tuple[int, int]:
    pin = next(p for p in packages if p.startswith("onnxruntime-gpu=="))
    major, minor = pin.split("==", 1)[1].split(".")[:2]
    return int(major), int(minor)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipes_leave_out_only_what_their_onnxruntime_never_loads(recipe):
    """What the H200 showed (docs/gpu-results.md): with cuDNN 8, ONNX Runtime 1.18 loads
    neither the training sub-libraries nor ``adv_infer``; with cuDNN 9, ONNX Runtime 1.19
    leaves loading to cuDNN, which opens RNN's ``libcudnn_adv`` for an RNN only, while 1.20 and
    later name every sub-library in DT_NEEDED, so a slot with them may leave none out; and
    without ``libcudnn_engines_runtime_compiled`` even a convolution fails."""
    slots = parse_manifest(RECIPES[recipe], f"{recipe}.toml").slots
    for slot in slots:
        if slot.cudnn and slot.cudnn.startswith("8."):
            assert "libcudnn_*_train.so.8" in slot.leave_out
            for name in ("libcudnn_cnn_infer.so.8", "libcudnn_ops_infer.so.8", "libcudnn.so.8"):
                assert not is_left_out(slot.leave_out, f"lib/{name}")
        elif slot.leave_out:
            assert slot.cudnn and slot.cudnn.startswith("9.")
            assert set(slot.leave_out) == {"libcudnn_adv.so.9"}
            assert _ort_minor(slot.packages) < (1, 20)
            for name in CUDNN9_NEEDED:
                assert not is_left_out(slot.leave_out, f"lib/{name}")


def test_the_facefuse_image_leaves_rnn_out_of_both_slots():
    slots = {s.name: s for s in parse_manifest(RECIPES["facefuse"], "facefuse.toml").slots}
    assert is_left_out(slots["cuda11.8"].leave_out, "lib/libcudnn_adv_infer.so.8")
    assert is_left_out(slots["cuda12.4"].leave_out, "lib/libcudnn_adv.so.9")


# NVRTC opens its builtins by one name; cuDNN 9 tries its sub-libraries as name.so.9.5.1,
# .so.9.5, .so.9 and .so in turn (docs/gpu-results.md). The probe does both, in the process
# cudaswitch exec starts, and reports which file of that name got mapped.
BUILTINS_PROBE = r"""
import ctypes, json, re, sys
nvrtc = ctypes.CDLL("libnvrtc.so.12")
prog = ctypes.c_void_p()
src = b'extern "C" __global__ void k(float *x) { x[threadIdx.x] *= 2.0f; }'
assert nvrtc.nvrtcCreateProgram(ctypes.byref(prog), src, b"k.cu", 0, None, None) == 0
rc = nvrtc.nvrtcCompileProgram(prog, 0, None)
tried = {}
for name in sys.argv[1:]:
    try:
        ctypes.CDLL(name)
        tried[name] = "loaded"
    except OSError as e:
        tried[name] = str(e)
maps = sorted({line.split()[-1] for line in open("/proc/self/maps")
               if re.search(r"/libnvrtc-builtins[^/]*$", line.strip())})
print(json.dumps({"compile_rc": rc, "maps": maps, "tried": tried}))
"""
AS_CUDNN_TRIES = ["libnvrtc-builtins.so.12.4.127", "libnvrtc-builtins.so.12.4",
                  "libnvrtc-builtins.so.12", "libnvrtc-builtins.so"]


def test_a_left_out_library_opened_by_name_is_not_found_elsewhere(slot_wheelhouse, tmp_path):
    """Left out of the slot, a library's name must not resolve to a copy further down the
    search path (the host's, or a folder the user's LD_LIBRARY_PATH still names), under any
    of the names a loader tries: the slot keeps placeholders under them, which the loader
    finds first and refuses, so the process fails to compile rather than mixing in a library
    of another build. The same slot, whole, compiles and maps its own copy."""
    import zipfile

    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nvrtc_wheel = next(wh.glob("nvidia_cuda_nvrtc_cu12-*.whl"))
    with zipfile.ZipFile(nvrtc_wheel) as z:
        member = next(n for n in z.namelist() if "/libnvrtc-builtins.so." in n)
        data = z.read(member)
    for name in AS_CUDNN_TRIES:
        (elsewhere / name).write_bytes(data)
    home = tmp_path / "home"
    env = slot_env(home)
    slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--leave-out", BUILTINS,
             "--wheelhouse", str(wh), env=env)
    lib = home / "toolkits" / "cuda12.4" / "lib"
    script = tmp_path / "probe.py"
    script.write_text(BUILTINS_PROBE)

    def probe(*names: str) -> dict:
        proc = slot_cli("exec", "--slot", "cuda12.4", "--", sys.executable, "-I", str(script),
                        *names, env={**env, "LD_LIBRARY_PATH": str(elsewhere)})
        return json.loads(proc.stdout.strip().splitlines()[-1])

    trimmed = probe(*AS_CUDNN_TRIES)
    assert trimmed["maps"] == [] and trimmed["compile_rc"] != 0, trimmed
    for name, outcome in trimmed["tried"].items():  # refused in the slot (lib64 is lib)
        path, _, why = outcome.partition(": ")
        assert Path(path).resolve() == (lib / name).resolve(), (name, outcome)
        assert "ELF" in why or "too short" in why, outcome
    assert {p.name for p in _only_placeholders(lib, "libnvrtc-builtins*")} == set(
        AS_CUDNN_TRIES)
    slot_cli("install", "12.4", "--with", "cudart,nvrtc", "--wheelhouse", str(wh), env=env)
    whole = probe()
    assert whole["compile_rc"] == 0, whole
    assert whole["maps"] == [str(lib / "libnvrtc-builtins.so.12.4")], whole
    assert not list(lib.glob("libnvrtc-builtins.so.12.4.*"))  # no placeholder is left over


@pytest.mark.parametrize(("name", "version", "names"), [
    ("libcudnn_adv.so.9", "9.5.1.17", ["libcudnn_adv.so", "libcudnn_adv.so.9",
                                       "libcudnn_adv.so.9.5", "libcudnn_adv.so.9.5.1",
                                       "libcudnn_adv.so.9.5.1.17"]),
    ("libnvrtc-builtins.so.12.4", "12.4.127.post1", [
        "libnvrtc-builtins.so", "libnvrtc-builtins.so.12", "libnvrtc-builtins.so.12.4",
        "libnvrtc-builtins.so.12.4.127"]),
    ("libcudnn_adv.so.9", "12.4.1", ["libcudnn_adv.so", "libcudnn_adv.so.9"]),  # other major
    ("libfoo.so", "1.0", ["libfoo.so"]),
    ("libnvinfer.so.10", "10.0.0a1", ["libnvinfer.so", "libnvinfer.so.10",
                                       "libnvinfer.so.10.0"]),
    ("notalib.txt", "1.0", ["notalib.txt"]),
])
def test_placeholder_names_are_the_names_a_loader_may_try(name, version, names):
    assert placeholder_names(name, version) == names


def test_a_placeholder_never_replaces_or_follows_what_is_there(tmp_path):
    """A name the slot already holds (a kept library, a link the layout made, or a planted
    symlink) is left as it is: nothing is written through it or over it."""
    root = tmp_path / "slot"
    (root / "lib").mkdir(parents=True)
    outside = tmp_path / "outside.so"
    outside.write_bytes(b"\x7fELF precious")
    (root / "lib" / "libcudnn_adv.so").symlink_to(outside)
    (root / "lib" / "libcudnn_adv.so.9.5").write_bytes(b"\x7fELF kept")
    made = write_placeholders("s", ["libcudnn_adv.so.9"], str(root),
                              {"lib/libcudnn_adv.so.9": "9.5.1"})
    assert made == ["lib/libcudnn_adv.so.9", "lib/libcudnn_adv.so.9.5.1"]
    assert outside.read_bytes() == b"\x7fELF precious"
    assert (root / "lib" / "libcudnn_adv.so").is_symlink()
    assert (root / "lib" / "libcudnn_adv.so.9.5").read_bytes() == b"\x7fELF kept"
    for rel in made:
        assert b"left out of slot s" in (root / rel).read_bytes()


def test_a_slot_installed_without_its_placeholders_is_not_up_to_date(slot_wheelhouse, tmp_path):
    """A slot installed before left-out names got placeholders (its record lists what was left
    out, and no placeholder), or one whose placeholder was deleted, would let the loader look
    elsewhere again: the same request installs it again rather than calling it unchanged."""
    wh = _wheelhouse(slot_wheelhouse, tmp_path)
    home = tmp_path / "home"
    env = slot_env(home)
    args = ("install", "12.4", "--with", "cudart,nvrtc", "--leave-out", BUILTINS,
            "--wheelhouse", str(wh), "--json")
    slot_cli(*args, env=env)
    lib = home / "toolkits" / "cuda12.4" / "lib"
    record_path = lib.parent / "cudaswitch-slot.json"
    record = json.loads(record_path.read_text())
    for p in _only_placeholders(lib, "libnvrtc-builtins*"):
        p.unlink()
    record["generated"] = [g for g in record["generated"] if "builtins" not in g]
    record_path.write_text(json.dumps(record))  # as an earlier cudaswitch wrote it
    again = json.loads(slot_cli(*args, env=env).stdout)
    assert again["status"] != "unchanged", again
    assert len(_only_placeholders(lib, "libnvrtc-builtins*")) == 4
    assert json.loads(slot_cli(*args, env=env).stdout)["status"] == "unchanged"
    (lib / "libnvrtc-builtins.so.12").unlink()
    third = json.loads(slot_cli(*args, env=env).stdout)
    assert third["status"] != "unchanged", third
    assert (lib / "libnvrtc-builtins.so.12").is_file()
