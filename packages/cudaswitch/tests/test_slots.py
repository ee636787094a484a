"""The manifest, its validation and the ONNX Runtime facts it checks against (no network)."""

from __future__ import annotations

import json

import pytest

from cudaswitch.errors import NoMatchError, UsageError
from cudaswitch.install.lockfile import LockDrift, read_lock, write_lock
from cudaswitch.install.pip import IndexOptions
from cudaswitch.install.resolve import ReleasePins, Wheel, index_for, requirements
from cudaswitch.install.store import StoreError, slot_path
from cudaswitch.slots import (
    load_manifest,
    make_slot,
    ort_build_for,
    parse_manifest,
    resolve_release,
    slot_names,
    slot_toml,
    suggest,
    target_for_slot,
)

GOOD = """
default = "cuda12"

[[slot]]
name = "cuda11"
cuda = "11.8"
components = ["cudart", "cublas", "cufft", "curand", "nvrtc", "cudnn"]
cudnn = "8.9.*"
python = "python3"
packages = ["onnxruntime-gpu==1.18.1"]

[[slot]]
name = "cuda12"
cuda = "12.4"
components = ["cudart", "cublas", "cufft", "curand", "cudnn"]
cudnn = "9.*"
packages = ["onnxruntime-gpu==1.22.0"]
env = { ORT_LOGGING_LEVEL = "2" }

[[slot]]
name = "cuda12-trt"
cuda = "12.4"
components = ["cudart", "cublas", "cudnn", "tensorrt"]
tensorrt = "10.1.*"
packages = ["onnxruntime-gpu==1.22.0"]
"""


def parse(text: str):
    return parse_manifest(text, "/x/cudaswitch.toml", {})


def test_good_manifest():
    m = parse(GOOD)
    assert m.default == "cuda12"
    assert m.names == ["cuda11", "cuda12", "cuda12-trt"]
    c11 = m.get("cuda11")
    assert c11.release == "11.8.0" and c11.cudnn == "8.9.*"
    assert m.get("cuda12").python == "python3"  # packages imply an environment
    assert dict(m.get("cuda12").env) == {"ORT_LOGGING_LEVEL": "2"}
    assert "tensorrt" in m.get("cuda12-trt").components
    assert m.warnings == ()


@pytest.mark.parametrize(("text", "needle"), [
    ('[[slot]]\nname="a"\ncuda="12.4"\ncomponents=["cudart","cudaa"]\n', "unknown component"),
    ('[[slot]]\nname="a"\ncuda="11.8"\npackages=["onnxruntime-gpu==1.20.0"]\n',
     "built for CUDA 12"),
    ('[[slot]]\nname="a"\ncuda="12.4"\npackages=["onnxruntime-gpu==1.18.1"]\n',
     "built for CUDA 11"),
    ('[[slot]]\nname="a"\ncuda="13.0"\npackages=["onnxruntime-gpu==1.22.0"]\n',
     "onnxruntime-gpu==1.31.1"),
    ('[[slot]]\nname="a"\ncuda="12.4"\npackages=["onnxruntime-gpu"]\n', "pin onnxruntime-gpu"),
    ('[[slot]]\nname="a"\ncuda="12.4"\npackages=["onnxruntime-gpu==1.22.0","onnxruntime"]\n',
     "shadows"),
    ('[[slot]]\nname="a"\ncuda="11.8"\ncudnn="9.*"\npackages=["onnxruntime-gpu==1.18.1"]\n',
     "needs cuDNN 8"),
    ('[[slot]]\nname="a"\ncuda="12.4"\n[[slot]]\nname="a"\ncuda="11.8"\n', "used twice"),
    ('[[slot]]\nname="a"\ncuda="12.77"\n', "11.8, 12.0"),
    ('[[slot]]\nname="../x"\ncuda="12.4"\n', "bad slot name"),
    ('[[slot]]\nname="a"\ncuda="../12"\n', "not a CUDA version"),
    ('[[slot]]\nname="a"\ncuda="12.4"\ncomponents=["nvcc"]\n', "runfile"),
    ('[[slot]]\nname="a"\ncuda="11.8"\ntensorrt="10.14.*"\n', "last is 10.13.0.35"),
    ('[[slot]]\nname="a"\ncuda="13.0"\ncudnn="8.9.*"\n', "first is 9.12"),
    ('[[slot]]\nname="a"\ncuda="12.4"\nenv={LD_LIBRARY_PATH="/x"}\n', "set by cudaswitch"),
    ('[[slot]]\nname="a"\ncuda="12.4"\npackages=["--index-url=http://x"]\n', "plain requirement"),
    ('[[slot]]\nname="a"\ncuda="12.4"\npython="-c"\n', "interpreter"),
    ('[[slot]]\nname="a"\ncuda="12.4"\ncolour="red"\n', "unknown key"),
    ('[slots.a]\ncuda="12.4"\n', "[[slot]]"),
    ('[[slot]]\nname="a"\ncuda=12.4\n', "version string"),
    ("[[slot]\n", "not valid TOML"),
], ids=lambda v: v if len(v) < 30 else None)
def test_bad_manifests(text, needle):
    with pytest.raises(UsageError) as e:
        parse(text)
    assert needle in str(e.value)


NO_DEPS = ('[[slot]]\nname="app"\ncuda="12.4"\npackages=["deface==1.5.0", "Pillow>=10"]\n'
           'no_deps={}\n')


def test_no_deps_names_packages_installed_without_their_dependencies():
    slot = parse(NO_DEPS.format('["Deface"]')).slots[0]
    assert slot.no_deps == ("deface",)
    assert slot.request()["no_deps"] == ["deface"]  # it changes what the slot holds
    assert parse(NO_DEPS.format('["pillow", "deface"]')).slots[0].no_deps == ("deface", "pillow")
    plain = parse('[[slot]]\nname="app"\ncuda="12.4"\npackages=["pillow>=10"]\n').slots[0]
    # a slot without it asks for what it asked before: its records and locks stay valid
    assert plain.no_deps == () and "no_deps" not in plain.request()


@pytest.mark.parametrize(("value", "needle"), [
    ('["numpy"]', "no_deps names 'numpy', which is not in the slot's packages"),
    ('["deface==1.5.0"]', "no_deps: 'deface==1.5.0' is not a package name"),
    ('["../deface"]', "no_deps: '../deface' is not a package name"),
    ('["--no-index"]', "no_deps: '--no-index' is not a package name"),
    ('["deface[cuda]"]', "no_deps: 'deface[cuda]' is not a package name"),
    ('["' + "d" * 300 + '"]', "is not a package name"),
    ('"deface"', "no_deps must be a list of package names"),
    ('[1]', "no_deps must be a list of package names"),
    ('{deface=true}', "no_deps must be a list of package names"),
], ids=["not-in-packages", "with-version", "path", "option", "extras", "long", "string",
        "number", "table"])
def test_bad_no_deps_is_a_usage_error_naming_the_key_and_the_slot(value, needle):
    with pytest.raises(UsageError) as e:
        parse(NO_DEPS.format(value))
    assert needle in str(e.value) and "slot #1 'app'" in str(e.value), str(e.value)
    assert len(str(e.value)) < 400


def test_no_deps_without_packages_is_a_usage_error():
    with pytest.raises(UsageError, match="no_deps names 'deface', which is not in"):
        parse('[[slot]]\nname="app"\ncuda="12.4"\nno_deps=["deface"]\n')


def test_missing_cudnn_is_a_warning():
    m = parse('[[slot]]\nname="a"\ncuda="11.8"\npackages=["onnxruntime-gpu==1.18.1"]\n')
    assert any("cuDNN" in w for w in m.warnings)


@pytest.mark.parametrize(("text", "release"), [
    ("11.8", "11.8.0"), ("12.4", "12.4.1"), ("12.4.0", "12.4.0"), ("12", "12.9.2.0"),
    ("13.0", "13.0.3.0"), ("13.0.2", "13.0.2"), ("v12.8", "12.8.2.0"),
])
def test_resolve_release(text, release):
    assert resolve_release(text, {}) == release


@pytest.mark.parametrize("text", ["12.77", "../x", "12.4; rm -rf /", "", "1" * 80, "10.2",
                                  "12.4.9", "１２.４"])
def test_bad_release(text):
    with pytest.raises(UsageError) as e:
        resolve_release(text, {})
    assert "11.8, 12.0, 12.1" in str(e.value)


def test_extra_release_from_env():
    assert resolve_release("13.6", {"CUDASWITCH_EXTRA_RELEASES": "13.6.0"}) == "13.6.0"


@pytest.mark.parametrize(("ort", "major", "cudnn"), [
    ("1.16.3", 11, 8), ("1.17.1", 11, 8), ("1.18.0", 11, 8), ("1.18.1", 11, 8),
    ("1.19.2", 12, 9), ("1.20.0", 12, 9), ("1.22.0", 12, 9), ("1.26.0", 12, 9),
    ("1.27.0", 13, 9), ("1.31.1", 13, 9),
])
def test_ort_builds_from_shipped_data(ort, major, cudnn):
    b = ort_build_for(ort)
    assert b is not None and (b.cuda_major, b.cudnn_major) == (major, cudnn)


@pytest.mark.parametrize(("cuda", "ort"), [("11.8", "onnxruntime-gpu==1.18.*"),
                                           ("12.4", "onnxruntime-gpu==1.26.0"),
                                           ("13.0", "onnxruntime-gpu==1.31.1")])
def test_suggest_is_coherent_and_round_trips(cuda, ort):
    s = suggest(cuda, "onnxruntime", {})
    assert s["slot"]["packages"] == [ort]
    m = parse(s["toml"])  # what suggest prints is a valid manifest
    assert m.slots[0].cuda == s["slot"]["cuda"]
    if cuda == "11.8":
        assert s["slot"]["cudnn"] == "8.9.*" and "nvrtc" in s["slot"]["components"]


def test_slot_toml_escapes():
    t = {"name": "a", "cuda": "12.4", "env": {"X": 'quote " and \\'}}
    assert dict(parse(slot_toml(t)).slots[0].env) == {"X": 'quote " and \\'}


@pytest.mark.parametrize(("member", "dest"), [
    ("nvidia/cu13/lib/libcudart.so.13", "lib/libcudart.so.13"),
    ("nvidia/cu13/bin/nvcc", "bin/nvcc"),
    ("nvidia/cu13/nvvm/bin/cicc", "nvvm/bin/cicc"),
    ("nvidia/cuda_runtime/lib/libcudart.so.12", "lib/libcudart.so.12"),
    ("nvidia/cudnn/include/cudnn.h", "include/cudnn.h"),
    ("nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc", "nvvm/libdevice/libdevice.10.bc"),
    ("tensorrt_libs/libnvinfer.so.10", "lib/libnvinfer.so.10"),
    ("nvidia/cuda_runtime/lib/__init__.py", None),
    ("nvidia/__init__.py", None),
    ("nvidia_cuda_runtime_cu12-12.4.127.dist-info/METADATA", None),
    ("tensorrt_libs/__init__.py", None),
])
def test_slot_path(member, dest):
    assert slot_path(member) == dest


@pytest.mark.parametrize("member", ["nvidia/cu13/../../../etc/passwd", "/etc/passwd",
                                    "../x"])
def test_slot_path_refuses_escape(member):
    with pytest.raises(StoreError):
        slot_path(member)


PINS = ReleasePins("12.4.1", ("nvidia-cublas-cu12==12.4.5.8.*",
                              "nvidia-cuda-nvcc-cu12==12.4.131.*",
                              "nvidia-cuda-runtime-cu12==12.4.127.*"),
                   ("cublas", "cudart", "nvcc", "nvrtc"))


def test_requirements_for_cudnn_and_tensorrt():
    slot, _ = make_slot({"name": "t", "cuda": "12.4", "components": ["cudart", "cudnn", "ptxas"],
                         "tensorrt": ">=10.1,<10.2"}, "t", {})
    assert requirements(slot, PINS) == [
        "cuda-toolkit[cudart]==12.4.1", "nvidia-cuda-nvcc-cu12==12.4.131.*",
        "nvidia-cudnn-cu12", "tensorrt-cu12-libs>=10.1,<10.2"]
    assert index_for(slot, IndexOptions()).extra_index_urls == ("https://pypi.nvidia.com",)
    assert index_for(slot, IndexOptions(wheelhouse="/w")).extra_index_urls == ()


def test_requirements_missing_extra():
    slot, _ = make_slot({"name": "t", "cuda": "12.4", "components": ["nvjpeg"]}, "t", {})
    with pytest.raises(UsageError, match="has no component nvjpeg"):
        requirements(slot, PINS)


def test_lock_drift(tmp_path):
    path = tmp_path / "cudaswitch.toml"
    path.write_text('[[slot]]\nname="a"\ncuda="12.4"\n')
    m = load_manifest(str(path), {})
    w = Wheel("nvidia-cuda-runtime-cu12", "12.4.127", "x.whl", "file:///x.whl", "0" * 64)
    write_lock(m, {"a": [w]})
    path.write_text('# a comment changes nothing\n[[slot]]\nname="a"\ncuda="12.4"\n')
    assert read_lock(load_manifest(str(path), {})) == {"a": [w]}
    path.write_text('[[slot]]\nname="a"\ncuda="12.4"\ncomponents=["cudart","nvrtc"]\n')
    with pytest.raises(LockDrift, match="changed since the lock"):
        read_lock(load_manifest(str(path), {}))
    path.write_text('[[slot]]\nname="b"\ncuda="12.4"\n')
    with pytest.raises(LockDrift, match="not in the lock"):
        read_lock(load_manifest(str(path), {}))


def test_unknown_slot_names_the_slots(tmp_path):
    man = tmp_path / "cudaswitch.toml"
    man.write_text('[[slot]]\nname="declared"\ncuda="12.4"\n')
    env = {"CUDASWITCH_HOME": str(tmp_path), "CUDASWITCH_CONFIG": str(man)}
    assert slot_names(env) == ["declared"]
    with pytest.raises(NoMatchError, match="slots: declared"):
        target_for_slot("nope", env, (), None)
    with pytest.raises(NoMatchError, match="cudaswitch sync"):
        target_for_slot("declared", env, (), None)
    assert load_manifest(None, {"CUDASWITCH_CONFIG": str(tmp_path / "none.toml"),
                                "CUDASWITCH_HOME": str(tmp_path)}) is None


@pytest.mark.parametrize("text", [
    '[[slot]]\nname="a"\ncuda="12.4"\ncudnn="' + "9" * 5000 + '"\n',
    '[[slot]]\nname="a"\ncuda="12.4"\ncudnn=">=9.' + "1" * 5000 + '"\n',
    '[[slot]]\nname="a"\ncuda="12.4"\ntensorrt="10.' + "1" * 5000 + '"\n',
    '[[slot]]\nname="a"\ncuda="12.4"\npackages=["numpy==' + "9" * 5000 + '"]\n',
    '[[slot]]\nname="a"\ncuda="' + "1" * 5000 + '"\n',
    "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "x = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n",
], ids=["cudnn-5000-digits", "cudnn-range", "tensorrt", "package", "cuda", "deep-array",
        "deep-table"])
def test_hostile_manifest_values_are_usage_errors(text):
    """Numbers too long for int() and nesting too deep for the parser are bad input, not a
    ValueError or RecursionError from deep inside."""
    with pytest.raises(UsageError) as e:
        parse(text)
    assert len(str(e.value)) < 400


def _damage(lock: dict, how: str) -> object:
    if how.startswith("raw:"):
        return how[4:]
    key, _, value = how.partition("=")
    value = json.loads(value)
    target = lock
    *parents, last = key.split(".")
    for p in parents:
        target = target[p]
    target[last] = value
    return lock


@pytest.mark.parametrize("how", [
    "slots=[]", "slots.a=5", "slots.a.wheels=5", 'slots.a.wheels=[{"name": 1}]',
    "slots.a.wheels=[7]", 'format="1"', "slots.a.request=5", "manifest_sha256=5",
    'slots.a.wheels=[{"name": "x", "version": "1", "filename": "../x.whl", "url": "u", '
    '"sha256": "00"}]',
    "raw:[]", "raw:" + "{" * 100000, "raw:\xff\xfe not utf-8", "raw:",
], ids=lambda v: v[:30])
def test_a_lock_with_wrong_types_is_exit_2_naming_the_file(tmp_path, how):
    path = tmp_path / "cudaswitch.toml"
    path.write_text('[[slot]]\nname="a"\ncuda="12.4"\n')
    m = load_manifest(str(path), {})
    w = Wheel("nvidia-cuda-runtime-cu12", "12.4.127", "x.whl", "file:///x.whl", "0" * 64)
    lock = tmp_path / "cudaswitch.lock"
    write_lock(m, {"a": [w]})
    bad = _damage(json.loads(lock.read_text()), how)
    if isinstance(bad, str):
        lock.write_bytes(bad.encode("latin-1"))
    else:
        lock.write_text(json.dumps(bad))
    with pytest.raises(UsageError) as e:
        read_lock(m)
    assert str(lock) in str(e.value)


# cuDNN's support matrix, as shipped: which series a slot's CUDA release gets

def test_cudnn_rows_carry_the_cuda_range_and_gpus_of_each_build():
    from cudaswitch.compat.data import cudnn_releases

    rows = {r.series: r for r in cudnn_releases()}
    b95 = rows[(9, 5)].build_for(12)
    assert b95 is not None and str(b95.low) == "12.0" and str(b95.high) == "12.6"
    assert b95.cc_low == (5, 0)
    b917 = rows[(9, 17)].build_for(12)
    assert b917 is not None and b917.cc_low == (7, 5)  # the newer 9.x left Maxwell to Volta
    assert rows[(9, 17)].build_for(11) is None


@pytest.mark.parametrize("cuda,want", [("11.8", "8.9.*"), ("12.4", "9.5.*"), ("12.6", "9.5.*"),
                                       ("12.8", "9.10.*")])
def test_suggest_picks_the_cudnn_that_serves_every_gpu_of_the_toolkit(cuda, want):
    s = suggest(cuda, "onnxruntime", {})
    assert s["slot"]["cudnn"] == want, s
    assert any(f"cuDNN {want[:-2]}" in n for n in s["notes"]), s["notes"]


def test_a_cuda_release_no_listed_cudnn_covers_falls_back_to_the_major():
    from cudaswitch.slots import suggest_cudnn

    assert suggest_cudnn("13.0", 8) == ("8.*", None)  # no cuDNN 8 was built for CUDA 13
    assert suggest_cudnn("12.9", 9)[0] == "9.10.*"  # 9.17 lists 12.9 too, from 7.5 only


def test_the_recipes_use_the_cudnn_suggest_picks():
    from cudaswitch.image.recipes import RECIPES
    from cudaswitch.image.spec import parse_image_manifest

    for name, text in RECIPES.items():
        im = parse_image_manifest(text, f"recipe {name}", "/nonexistent", env={})
        for slot in im.slots:
            want = suggest(slot.cuda, "onnxruntime", {})["slot"]["cudnn"]
            assert slot.cudnn == want, (name, slot.name, slot.cudnn, want)
