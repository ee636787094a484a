"""Findings about this machine's CUDA set-up, each with the fix, as plain records.

What users hit in the field: several ``libcudart`` majors visible to the loader, global loader
entries for one toolkit, stale CUDA folders in ``LD_LIBRARY_PATH``, ``CUDA_HOME`` and
``CUDA_PATH`` disagreeing, CPU and GPU ONNX Runtime installed together (same import name),
shell wrappers pinning ``nvcc``, and toolkits this driver or GPU cannot run.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from .compat.verdict import Verdict
from .host import Host
from .plan import STALE_CUDA_RE
from .toolkits.model import Toolkit
from .units import version_text
from .versions import is_plain_version

Level = Literal["ok", "info", "warning", "error"]
_CUDART_SONAME = re.compile(r"libcudart\.so\.(\d+)")


@dataclass(frozen=True)
class Finding:
    id: str
    level: Level
    message: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _shown(t: Toolkit) -> str:
    """A toolkit's version as ``list`` prints it, so a finding names the row it is about."""
    return version_text(t.version, t.release)


def _cuda_home(env: Mapping[str, str]) -> tuple[str, str | None]:
    """The variable that names the current toolkit and its value: ``CUDA_HOME``, else
    ``CUDA_PATH``; a message then names the one that was actually set."""
    if env.get("CUDA_HOME"):
        return "CUDA_HOME", env["CUDA_HOME"]
    return "CUDA_PATH", env.get("CUDA_PATH") or None


def _conf_entries(conf_dir: str) -> list[tuple[str, list[str]]]:
    out = []
    for path in sorted(glob.glob(os.path.join(conf_dir, "*.conf"))):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                dirs = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        except OSError:
            continue
        out.append((path, dirs))
    return out


def _majors_in(dirs: Sequence[str]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = _CUDART_SONAME.fullmatch(n) or (n == "libcudart.so.11.0" and re.match(
                r"libcudart\.so\.(11)", n))
            if m:
                found.setdefault(int(m.group(1)), []).append(os.path.join(d, n))
    return found


def loader_findings(env: Mapping[str, str], conf_dir: str = "/etc/ld.so.conf.d") -> list[Finding]:
    out: list[Finding] = []
    entries = _conf_entries(conf_dir)
    global_dirs: list[str] = []
    for path, dirs in entries:
        cuda_dirs = [d for d in dirs if STALE_CUDA_RE.search(d) or _majors_in([d])]
        if cuda_dirs:
            global_dirs.extend(cuda_dirs)
            out.append(Finding(
                "ld-so-conf", "warning",
                f"{path} puts {', '.join(cuda_dirs)} on every process's library search path, "
                "so that toolkit's libraries are found even when another one is chosen",
                f"remove {path} and run ldconfig; cudaswitch puts the chosen toolkit on "
                "LD_LIBRARY_PATH per process",
            ))
    ld = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    if env.get("LD_LIBRARY_PATH", "").startswith(":") or "::" in env.get("LD_LIBRARY_PATH", "") \
            or env.get("LD_LIBRARY_PATH", "").endswith(":"):
        out.append(Finding("ld-empty-entry", "warning",
                           "LD_LIBRARY_PATH has an empty entry, which means the current folder",
                           "remove the empty entry (a leading, trailing or doubled ':')"))
    majors = _majors_in(ld + global_dirs)
    if len(majors) > 1:
        where = "; ".join(f"{m}.x: {', '.join(p)}" for m, p in sorted(majors.items()))
        out.append(Finding(
            "several-cudart-majors", "warning",
            f"libcudart of several CUDA majors is visible to the loader ({where})",
            "keep one toolkit per process: run through `cudaswitch exec` or the entrypoint, "
            "and remove global loader entries",
        ))
    for d in ld:
        if STALE_CUDA_RE.search(d) and not os.path.isdir(d):
            out.append(Finding("stale-ld-entry", "warning",
                               f"LD_LIBRARY_PATH names {d}, which does not exist",
                               f"remove {d} from LD_LIBRARY_PATH"))
    return out


def env_findings(env: Mapping[str, str]) -> list[Finding]:
    out: list[Finding] = []
    home, path = env.get("CUDA_HOME"), env.get("CUDA_PATH")
    if home and path and os.path.realpath(home) != os.path.realpath(path):
        out.append(Finding(
            "cuda-home-path", "warning",
            f"CUDA_HOME={home} and CUDA_PATH={path} name different toolkits; build tools "
            "disagree on which one wins",
            "unset one of them, or let `cudaswitch exec` set both",
        ))
    ours, legacy = env.get("CUDASWITCH_CUDA"), env.get("CUDA_VERSION")
    if ours and legacy and is_plain_version(legacy) and not ours.startswith(
            ".".join(legacy.split(".")[:2])):
        out.append(Finding(
            "selector-disagree", "info",
            f"CUDASWITCH_CUDA={ours} and CUDA_VERSION={legacy} disagree; CUDASWITCH_CUDA wins",
            "set only one of them",
        ))
    return out


def wrapper_findings(bin_dir: str = "/usr/local/bin") -> list[Finding]:
    out = []
    for tool in ("nvcc", "ptxas", "nvlink"):
        path = os.path.join(bin_dir, tool)
        try:
            with open(path, "rb") as f:
                head = f.read(2048)
        except OSError:
            continue
        if head.startswith(b"#!"):
            m = re.search(rb"/usr/local/cuda-[\d.]+", head)
            pinned = m.group(0).decode() if m else "a fixed toolkit"
            out.append(Finding(
                "pinned-wrapper", "warning",
                f"{path} is a shell wrapper pinned to {pinned}; it runs that {tool} whatever "
                "toolkit is chosen, because /usr/local/bin comes before the toolkit on PATH "
                "for shells that did not go through cudaswitch",
                f"remove {path} and use `cudaswitch exec -- {tool}` or `cudaswitch use`",
            ))
    return out


def python_findings() -> list[Finding]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        return []
    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    ort = sorted(n for n in names if n.startswith("onnxruntime"))
    if "onnxruntime" in ort and len(ort) > 1:
        return [Finding(
            "onnxruntime-shadowed", "error",
            f"{' and '.join(ort)} are installed together; all import as `onnxruntime`, one "
            "shadows the other and the providers list may show only the CPU",
            "pip uninstall onnxruntime, then reinstall the GPU package; or give each CUDA "
            "major its own slot venv",
        )]
    return []


def python_cuda_findings(env: Mapping[str, str], toolkits: Sequence[Toolkit]) -> list[Finding]:
    """The packages of ``python3`` on ``PATH`` against the toolkit ``CUDA_HOME`` names, and
    ``LD_LIBRARY_PATH`` folders that would hand those packages a second build of a library."""
    from .interpreter import inspect
    from .pycheck import library_choice, ort_lookup, package_list
    from .pydists import majors, read_dists

    python = shutil.which("python3", path=env.get("PATH", ""))
    if python is None:
        return []
    dists = read_dists(inspect(python, env).site_dirs, ort_lookup)
    by_major = majors(dists)
    out: list[Finding] = []

    def names(ds: Sequence) -> str:
        return package_list(ds, evidence=False)

    if len(by_major) > 1:
        out.append(Finding(
            "python-cuda-majors", "error",
            f"{python}'s environment holds packages for several CUDA majors ("
            + "; ".join(f"CUDA {m}: {names(ds)}" for m, ds in by_major.items())
            + "); one process can load only one of them",
            "give each CUDA major its own venv (a cudaswitch slot has one)"))
    home_var, home = _cuda_home(env)
    active = next((t for t in toolkits if home and t.ok and t.version
                   and os.path.realpath(t.root) == os.path.realpath(home)), None)
    if active is not None:
        for m, ds in by_major.items():
            if m != active.version.major:
                out.append(Finding(
                    "python-cuda-mismatch", "warning",
                    f"{names(ds)} in {python}'s environment are built for CUDA {m}, while "
                    f"{home_var} is CUDA {_shown(active)} ({home})",
                    f"run it as `cudaswitch exec --cuda {m} -- python3 ...`, or install the "
                    f"CUDA {active.version.major} build of the package"))
    ld = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    for shadow in library_choice(ld, dists).shadows:
        out.append(Finding(
            "python-lib-shadow", "warning",
            f"LD_LIBRARY_PATH has {', '.join(shadow.losers)}, which holds another build of "
            f"{shadow.family} ({', '.join(shadow.sonames[:3])}) than {shadow.owner} carries in "
            f"{shadow.winner}: a process that loads the package gets one {shadow.family} made "
            "of two builds",
            "run the program through `cudaswitch exec`, which puts the package's own folder "
            f"first, or take {', '.join(shadow.losers)} out of LD_LIBRARY_PATH"))
    return out


def mixed_path_findings(env: Mapping[str, str], toolkits: Sequence[Toolkit]) -> list[Finding]:
    """Library folders of a toolkit other than the one ``CUDA_HOME`` names: half a switch."""
    home_var, home = _cuda_home(env)
    if not home:
        return []
    real_home = os.path.realpath(home)
    out = []
    for entry in [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]:
        owner = next((t for t in toolkits if t.ok and t.owns(entry)), None)
        if owner is not None and os.path.realpath(owner.root) != real_home:
            out.append(Finding(
                "mixed-toolkits", "warning",
                f"LD_LIBRARY_PATH has {entry}, of CUDA {_shown(owner)}, while {home_var} is "
                f"{home}: libraries of one toolkit, headers and tools of another",
                "switch with `cudaswitch exec` or `eval \"$(cudaswitch env SPEC)\"`, which "
                "take the other toolkit's folders out",
            ))
    return out


def toolkit_findings(toolkits: Sequence[Toolkit], verdicts: Mapping[str, Verdict],
                     host: Host) -> list[Finding]:
    out = []
    for t in toolkits:
        if t.broken:
            out.append(Finding("broken-toolkit", "warning", f"{t.root}: {t.broken}",
                               "repair or remove it; it is never selected"))
            continue
        v = verdicts.get(t.root)
        if v is not None and v.kind == "unsupported":
            out.append(Finding(
                "cannot-run", "warning",
                f"CUDA {_shown(t)} at {t.root} cannot run on this host: {v.reason}",
                f"install driver >= {v.needs_driver}" if v.needs_driver else "use another toolkit",
            ))
        if t.extra.get("system_libs"):
            out.append(Finding(
                "system-libcudart", "info",
                f"CUDA {_shown(t)} from Debian's nvidia-cuda-toolkit keeps libcudart in the "
                "system library folder: it stays visible to every process",
                "prefer toolkits outside the system folders for side-by-side use",
            ))
    if not host.has_driver:
        out.append(Finding("no-driver", "info",
                           "no NVIDIA driver found; verdicts are 'unknown'",
                           "set CUDASWITCH_DRIVER_VERSION (and CUDASWITCH_GPU_ARCH) to check "
                           "against a target host"))
    return out


def diagnose(env: Mapping[str, str], toolkits: Sequence[Toolkit],
             verdicts: Mapping[str, Verdict], host: Host,
             conf_dir: str = "/etc/ld.so.conf.d", bin_dir: str = "/usr/local/bin") -> list[Finding]:
    return [*loader_findings(env, conf_dir), *env_findings(env),
            *mixed_path_findings(env, toolkits), *wrapper_findings(bin_dir),
            *python_findings(), *python_cuda_findings(env, toolkits),
            *toolkit_findings(toolkits, verdicts, host)]
