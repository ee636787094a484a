"""The side effects of the flow, kept in one place: exec, the global symlink switch, verify.

Standard library only: the container entrypoint imports this.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from typing import NoReturn

from .errors import CommandNotFound, SwitchError, VerifyError
from .host import Host
from .plan import Plan

PROBE_FILE = os.path.join(os.path.dirname(__file__), "probe.py")
DEFAULT_LINK = "/usr/local/cuda"


def exec_plan(plan: Plan) -> NoReturn:
    """Replace this process with the plan's command: argv verbatim, no shell, its own status."""
    if not plan.argv:
        raise CommandNotFound("no command given to run")
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

    Readers see the old target or the new one, never a missing link. Serialised by a lock
    beside the link. Returns the previous target.
    """
    if not os.path.isabs(target) or not os.path.isdir(target):
        raise SwitchError(f"{target} is not a toolkit folder")
    parent = os.path.dirname(os.path.abspath(link)) or "/"
    if os.path.lexists(link) and not os.path.islink(link):
        raise SwitchError(f"{link} is a real folder or file, not a symlink; move it aside "
                          f"(e.g. to {link}-orig) so that it can be switched")
    lock_path = os.path.join(parent, f".{os.path.basename(link)}.cudaswitch.lock")
    tmp = os.path.join(parent, f".{os.path.basename(link)}.cudaswitch.{os.getpid()}")
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as e:
        raise SwitchError(f"cannot lock {lock_path}: {e.strerror}") from e
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
    folder = os.path.dirname(os.path.abspath(path)) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise SwitchError(f"cannot write {path}: {e.strerror}") from e
    return path
