"""The plan is a pure function: tested on plain data, including a property over many envs."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cudaswitch.compat.verdict import Verdict
from cudaswitch.plan import ADDED_ENV, Checked, Target
from cudaswitch.plan import make_plan as make_checked_plan
from cudaswitch.toolkits.model import Toolkit
from cudaswitch.versions import CudaVersion

UNKNOWN = Verdict("unknown", "no driver in these tests")


def make_plan(target, toolkits, env, argv=(), compat_dir=None):
    """Plans here are of targets already checked: the verdict is not what these tests are of."""
    return make_checked_plan(Checked(target, UNKNOWN, compat_dir=compat_dir), toolkits, env,
                             argv)


def tk(root: str, version: str, libdir: str = "lib64") -> Toolkit:
    return Toolkit(root, CudaVersion.parse(version), "toolkit", "test",
                   bin_dirs=(f"{root}/bin",), lib_dirs=(f"{root}/{libdir}",),
                   include_dirs=(f"{root}/include",), cudart=f"{root}/{libdir}/libcudart.so",
                   owned=(root, f"{root}/bin", f"{root}/{libdir}", f"{root}/include"))


A = tk("/opt/cuda-11.8", "11.8.89")
B = tk("/opt/cuda-12.4", "12.4.131")
C = tk("/opt/site/nvidia/cu13", "13.0.96", "lib")
ALL = (A, B, C)

BASE = {
    "PATH": "/opt/cuda-11.8/bin:/usr/local/cuda-12.9/bin:/usr/bin:/bin",
    "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:/opt/cuda-11.8/lib64::/home/me/lib:"
                       "/opt/site/nvidia/cu13/lib",
    "CUDA_HOME": "/opt/cuda-11.8",
    "HOME": "/home/me",
}


def entries(env, var):
    return env.get(var, "").split(":")


def test_other_toolkits_leave_driver_stays_target_first():
    plan = make_plan(Target(B), ALL, BASE, ["app", "--flag"])
    ld = entries(plan.env, "LD_LIBRARY_PATH")
    assert ld[0] == "/opt/cuda-12.4/lib64"
    assert "/usr/local/nvidia/lib64" in ld and "/home/me/lib" in ld
    assert not any(e.startswith(("/opt/cuda-11.8", "/opt/site/nvidia")) for e in ld)
    assert "" not in ld
    path = entries(plan.env, "PATH")
    assert path[0] == "/opt/cuda-12.4/bin"
    assert "/usr/local/cuda-12.9/bin" not in path and "/opt/cuda-11.8/bin" not in path
    assert plan.env["CUDA_HOME"] == plan.env["CUDA_PATH"] == "/opt/cuda-12.4"
    assert plan.env["CUDASWITCH_ACTIVE"].endswith("@/opt/cuda-12.4")
    assert plan.argv == ("app", "--flag")
    assert ("LD_LIBRARY_PATH", "/opt/cuda-11.8/lib64") in plan.removed
    assert plan.env["HOME"] == "/home/me"


def test_base_is_not_modified():
    before = dict(BASE)
    make_plan(Target(C), ALL, BASE)
    assert before == BASE


def test_slot_extras_and_env():
    target = Target(B, "cuda12", extra_bin_dirs=("/venvs/cuda12/bin",),
                    extra_lib_dirs=("/opt/cudnn9/lib",), extra_env=(("VIRTUAL_ENV", "/venvs/c"),))
    plan = make_plan(target, ALL, BASE)
    assert entries(plan.env, "PATH")[:2] == ["/venvs/cuda12/bin", "/opt/cuda-12.4/bin"]
    assert entries(plan.env, "LD_LIBRARY_PATH")[0] == "/opt/cudnn9/lib"
    back = make_plan(Target(A), ALL, plan.env)
    assert "VIRTUAL_ENV" not in back.env
    assert "/opt/cudnn9/lib" not in back.env["LD_LIBRARY_PATH"]
    assert "/venvs/cuda12/bin" not in back.env["PATH"]


def test_compat_dir_goes_first():
    plan = make_plan(Target(B), ALL, {}, compat_dir="/opt/cuda-12.4/compat")
    assert entries(plan.env, "LD_LIBRARY_PATH")[0] == "/opt/cuda-12.4/compat"


def test_no_plan_without_a_verdict():
    with pytest.raises(TypeError, match="check"):
        make_checked_plan(Target(B), ALL, {})


DIRS = ["/usr/bin", "/bin", "/home/me/bin", "/usr/local/nvidia/lib64", "/opt/cuda-11.8/bin",
        "/opt/cuda-11.8/lib64", "/opt/cuda-12.4/lib64", "/opt/site/nvidia/cu13/lib",
        "/usr/local/cuda/lib64", "/usr/local/cuda-10.1/bin", "", "/opt/x/lib", "/venvs/s/bin"]
values = st.lists(st.sampled_from(DIRS), max_size=8).map(":".join)
envs = st.fixed_dictionaries({}, optional={
    "PATH": values, "LD_LIBRARY_PATH": values, "LIBRARY_PATH": values, "CPATH": values,
    "CUDA_HOME": st.sampled_from(["/opt/cuda-11.8", "/elsewhere"]), "OTHER": st.just("1"),
})
targets = st.sampled_from([
    Target(A), Target(B), Target(C),
    Target(B, "s", extra_bin_dirs=("/venvs/s/bin",), extra_lib_dirs=("/opt/x/lib",),
           extra_env=(("VIRTUAL_ENV", "/venvs/s"), ("OTHER", "2"))),
])


@settings(max_examples=300)
@given(envs, targets, targets)
def test_switching_leaves_no_trace(env, a, b):
    """Planning B over an environment planned for A equals planning B over the original."""
    over_a = make_plan(b, ALL, make_plan(a, ALL, env).env).env
    direct = make_plan(b, ALL, env).env
    assert over_a == direct


@given(envs, targets)
def test_no_empty_entries_and_idempotent(env, t):
    once = make_plan(t, ALL, env).env
    twice = make_plan(t, ALL, once).env
    assert once == twice
    for var in ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH"):
        assert "" not in once.get(var, "x").split(":")
    assert ADDED_ENV in once
