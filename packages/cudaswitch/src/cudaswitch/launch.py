"""The side effects of the flow, kept in one place: exec, the global symlink switch, verify.

Standard library only: the container entrypoint imports this.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import NoReturn

from .errors import CommandNotFound, SwitchError, VerifyError
from .host import Host
from .libsets import mixed
from .plan import SHADOW_DIR, SHADOWED_TOOLS, Plan
from .toolkits.model import Toolkit

PROBE_FILE = os.path.join(os.path.dirname(__file__), "probe.py")
ORT_CHECK_FILE = os.path.join(os.path.dirname(__file__), "ort_check.py")
_MISSING_LIB_RE = re.compile(r"(lib[A-Za-z0-9_.+-]+\.so[0-9.]*): cannot open shared object file")
DEFAULT_LINK = "/usr/local/cuda"


def shadowed(plan: Plan) -> str | None:
    """Why the plan's command is a CUDA tool the chosen toolkit lacks, or None.

    Such a name finds the stub in ``SHADOW_DIR`` first; this says which other copy it hides.
    """
    name = plan.argv[0] if plan.argv else ""
    if "/" in name or name not in SHADOWED_TOOLS:
        return None
    path = plan.env.get("PATH", "")
    found = shutil.which(name, path=path)
    if not found or os.path.dirname(found) != SHADOW_DIR:
        return None
    rest = ":".join(p for p in path.split(":") if p and p != SHADOW_DIR)
    other = shutil.which(name, path=rest)
    tk = plan.target.toolkit
    slot = f" (slot {plan.target.label})" if plan.target.label else ""
    hidden = f"; {other} on PATH belongs to another toolkit and is hidden" if other else ""
    return (f"{name} is not part of CUDA {tk.shown_version}{slot} at {tk.root}{hidden}; pick a "
            f"toolkit that has {name} (`cudaswitch list` shows each one's components)")


def exec_plan(plan: Plan) -> NoReturn:
    """Replace this process with the plan's command: argv verbatim, no shell, its own status."""
    if not plan.argv:
        raise CommandNotFound("no command given to run")
    why = shadowed(plan)
    if why:
        raise CommandNotFound(why)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(plan.argv[0], list(plan.argv), dict(plan.env))
    except FileNotFoundError as e:
        raise CommandNotFound(
            f"{plan.argv[0]}: command not found on PATH={plan.env.get('PATH', '')}") from e
    except PermissionError as e:
        raise CommandNotFound(f"{plan.argv[0]}: not executable ({e.strerror})") from e


def verify(plan: Plan, host: Host) -> dict:
    """Load the chosen ``libcudart`` by absolute path in a child with the plan's environment.

    A child, because only a fresh process sees the planned ``LD_LIBRARY_PATH`` (and a
    forward-compat ``libcuda``); the report is what the application itself will get.
    """
    tk = plan.target.toolkit
    if not tk.cudart:
        raise VerifyError(f"{tk.root} has no libcudart to load")
    device = host.has_driver or os.path.exists("/dev/nvidiactl")
    cmd = [sys.executable, "-I", "-S", PROBE_FILE, "--path", os.path.abspath(tk.cudart)]
    if device:
        cmd.append("--device")
    try:
        out = subprocess.run(cmd, env=dict(plan.env), capture_output=True, text=True,
                             timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise VerifyError(f"could not run the runtime probe: {e}") from e
    try:
        report = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        how = (f"killed by {signal.Signals(-out.returncode).name}" if out.returncode < 0
               else f"exit {out.returncode}")
        raise VerifyError(f"loading {tk.cudart} crashed the runtime probe ({how}): the file is "
                          f"damaged or not a CUDA runtime {out.stderr.strip()[-300:]}") from e
    if not report.get("loaded"):
        raise VerifyError(f"{tk.cudart} did not load: {report.get('load_error')}")
    version = tk.version
    rc = report.get("runtime_rc")
    if rc:
        if rc == 35 and not host.has_driver and version and version.major == 11:
            report["note"] = ("no NVIDIA driver: the 11.x runtime reports "
                              "cudaErrorInsufficientDriver without one; version taken from the "
                              "toolkit")
        elif not host.has_driver and not device:
            report["note"] = ("no NVIDIA driver: cudaRuntimeGetVersion gave "
                              f"{report['runtime_error']}")
        else:
            raise VerifyError(f"cudaRuntimeGetVersion failed: {report['runtime_error']} ({rc})")
    got = report.get("runtime_version") or 0
    if got and version and (got // 1000, (got % 1000) // 10) != (version.major, version.minor):
        raise VerifyError(f"{tk.cudart} reports runtime {got}, expected CUDA "
                          f"{version.major_minor}")
    if device:
        for step in ("device", "malloc"):
            if report.get(f"{step}_rc"):
                what = "cudaGetDeviceCount" if step == "device" else "cudaMalloc(1 MiB)"
                raise VerifyError(f"{what} failed: {report[f'{step}_error']} "
                                  f"({report[f'{step}_rc']})")
        if report.get("device_count", 0) == 0:
            raise VerifyError("cudaGetDeviceCount found no CUDA device")
    cudarts = [m for m in report.get("maps", []) if "/libcudart.so" in m]
    if len(cudarts) != 1:
        raise VerifyError(f"expected exactly one libcudart mapped, found {cudarts}")
    return report


def switch_link(target: str, link: str = DEFAULT_LINK) -> str | None:
    """Point ``link`` at ``target`` atomically: a new symlink renamed over the old one.

    Readers see the old target or the new one, never a missing link. Serialised by a lock on
    the link's folder itself, so that no lock file is left beside the link. Returns the
    previous target.
    """
    if not os.path.isabs(target) or not os.path.isdir(target):
        raise SwitchError(f"{target} is not a toolkit folder")
    parent = os.path.dirname(os.path.abspath(link)) or "/"
    if os.path.lexists(link) and not os.path.islink(link):
        raise SwitchError(f"{link} is a real folder or file, not a symlink; move it aside "
                          f"(e.g. to {link}-orig) so that it can be switched")
    tmp = os.path.join(parent, f".{os.path.basename(link)}.cudaswitch.{os.getpid()}")
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise SwitchError(f"cannot lock {parent}: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        previous = os.readlink(link) if os.path.islink(link) else None
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(target, tmp)
            os.replace(tmp, link)
        except OSError as e:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise SwitchError(f"cannot switch {link}: {e.strerror}") from e
        return previous
    finally:
        os.close(fd)


# Every launcher cudaswitch writes names itself in its first lines (the Python one and the
# baked sh one); a console script made by pip imports cudaswitch.entrypoint.
LAUNCHER_MARKS = (b"cudaswitch-entrypoint", b"cudaswitch.entrypoint")


def check_replaceable(path: str) -> None:
    """A launcher may replace only a launcher (see fsguard.check_replaceable)."""
    from . import fsguard  # not on the entrypoint's path: only writing a launcher needs it

    fsguard.check_replaceable(path, LAUNCHER_MARKS, "a launcher")


def write_launcher(path: str, python: str | None = None) -> str:
    """Write a container ENTRYPOINT script that starts the interpreter with ``-I -S``.

    Console scripts made by pip or uv start Python with ``site``, which costs more than the
    whole decision; this one imports the package from the folder it lives in now, so its
    start is the bare interpreter's. Written atomically, mode 0755.
    """
    import cudaswitch

    python = python or sys.executable
    if not os.path.isabs(python) or any(c in python for c in "\n\r\0 "):
        raise SwitchError(f"{python!r} cannot be a launcher interpreter (absolute, no spaces)")
    where = os.path.dirname(os.path.dirname(os.path.abspath(cudaswitch.__file__)))
    text = (f"#!{python} -IS\n"
            "# cudaswitch-entrypoint: picks one CUDA toolkit, then execs the command.\n"
            "import sys\n"
            f"sys.path.insert(0, {where!r})\n"
            "from cudaswitch.entrypoint import main\n"
            "sys.exit(main())\n")
    from .fsguard import atomic_write

    check_replaceable(path)
    try:
        atomic_write(path, text, mode=0o755)
    except OSError as e:
        raise SwitchError(f"cannot write {path}: {e.strerror}") from e
    return path


def slot_python(plan: Plan) -> str | None:
    """The interpreter the planned process would get: the slot's venv, else PATH's python3."""
    venv = dict(plan.target.extra_env).get("VIRTUAL_ENV")
    if venv and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return os.path.join(venv, "bin", "python")
    return shutil.which("python3", path=plan.env.get("PATH", ""))


def default_provider(plan: Plan) -> str | None:
    """``cuda`` when the slot's venv holds onnxruntime-gpu: verify then checks it too."""
    venv = dict(plan.target.extra_env).get("VIRTUAL_ENV")
    if venv and glob.glob(os.path.join(venv, "lib", "python*", "site-packages",
                                       "onnxruntime_gpu-*.dist-info")):
        return "cuda"
    return None


def verify_provider(plan: Plan, provider: str, toolkits: Sequence[Toolkit] = ()) -> dict:
    """Open a tiny ONNX Runtime session on ``provider`` in the planned environment.

    ONNX Runtime only logs "Falling back to CPU" when a provider cannot start; here that is
    an error naming what was missing, which is what users came for. ``torch``, ``jax`` and
    ``cupy`` run that framework's own check (``fwcheck``).
    """
    from .fwcheck import FRAMEWORKS, describe_mixes, verify_framework

    if provider in FRAMEWORKS:
        return verify_framework(plan, provider, toolkits)
    python = slot_python(plan)
    if python is None:
        raise VerifyError("no python3 on the planned PATH to check onnxruntime with")
    try:
        out = subprocess.run([python, ORT_CHECK_FILE, provider], env=dict(plan.env),
                             capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise VerifyError(f"the onnxruntime check did not run with {python}: {e}") from e
    lines = out.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        how = (f"killed by {signal.Signals(-out.returncode).name}" if out.returncode < 0
               else f"exit {out.returncode} without a report")
        tail = (out.stderr.strip().splitlines() or [""])[-1][-200:]
        raise VerifyError(f"the onnxruntime check crashed with {python} ({how})"
                          + (f": {tail}" if tail else "")
                          + "; a library it loaded is broken or of another CUDA")
    wanted = report.get("provider", provider)
    if report.get("error") and "active" not in report:
        raise VerifyError(report["error"])
    where = f"onnxruntime {report.get('version')} at {os.path.dirname(report.get('module', ''))}"
    if wanted not in report.get("available", []):
        raise VerifyError(
            f"{wanted} is not in this build ({where} has {', '.join(report.get('available', []))})"
            ": a CPU-only onnxruntime, or one installed beside onnxruntime-gpu (both import as "
            "onnxruntime); give the slot onnxruntime-gpu alone")
    active = report.get("active", [])
    if not active or active[0] != wanted:
        log = [ln.strip() for ln in report.get("log", "").splitlines() if ln.strip()]
        report["log_tail"] = log[-1][-300:] if log else ""
        missing = sorted(set(_MISSING_LIB_RE.findall(report.get("log", "") + " " +
                                                     str(report.get("error", "")))))
        why = f"; missing {', '.join(missing)}" if missing else (
            f"; {report['error']}" if report.get("error") else
            (f"; onnxruntime said: {report['log_tail']}" if report.get("log_tail") else ""))
        if not active:
            raise VerifyError(f"{where} could not open a session on {wanted}{why}")
        raise VerifyError(f"{where} fell back to {', '.join(active)}: {wanted} could not "
                          f"start{why}")
    foreign = foreign_libs(report.get("maps", []), plan, toolkits)
    if foreign:
        raise VerifyError(
            f"{where} runs on {wanted}, but with another toolkit's CUDA libraries, not those of "
            f"{plan.target.toolkit.root}: {', '.join(foreign)}; a global loader entry supplies "
            "them (see `cudaswitch doctor`), and this onnxruntime build wants another CUDA "
            "major than the one chosen")
    maps = report.get("maps", [])
    mixes = mixed(maps, {p: os.path.realpath(p) for p in maps})
    if mixes:
        raise VerifyError(f"{where} runs on {wanted}, but the process mapped "
                          f"{describe_mixes(mixes)}: one build of each CUDA library per process")
    return report


def foreign_libs(maps: Sequence[str], plan: Plan, toolkits: Sequence[Toolkit] = ()) -> list[str]:
    """CUDA libraries a process mapped from another toolkit, or a ``libcudart`` of another major.

    Libraries in no toolkit at all (a system cuDNN, the driver's ``libcuda``) are the host's
    and pass; the chosen toolkit, the slot's library folders and its venv are the process's own.
    """
    target = plan.target
    own = [os.path.realpath(d) for d in (*target.toolkit.owned, target.toolkit.root,
                                         *target.extra_lib_dirs, *target.extra_bin_dirs)]
    venv = dict(target.extra_env).get("VIRTUAL_ENV")
    if venv:
        own.append(os.path.realpath(venv))
    major = target.toolkit.version.major if target.toolkit.version else None
    others = [t for t in toolkits if os.path.realpath(t.root) != os.path.realpath(
        target.toolkit.root)]

    def inside(real: str, folders: Sequence[str]) -> bool:
        return any(real == f or real.startswith(f.rstrip("/") + "/") for f in folders)

    out = []
    for path in maps:
        name = os.path.basename(path)
        if name.startswith(("libcuda.so", "libnvidia-")):
            continue
        real = os.path.realpath(path)
        if inside(real, own):
            continue
        m = re.match(r"libcudart\.so\.([0-9]+)", name)
        if any(t.owns(real) for t in others) or (m and major and int(m.group(1)) != major):
            out.append(path)
    return out
