"""Decisions an image makes when it is built, and the POSIX sh entrypoint that applies them.

In a fresh container the entrypoint's cache is empty, so every ``docker run`` would pay an
interpreter start and the whole flow. But an image's toolkits, manifest and variables are
fixed when it is built; only the host's driver and GPUs are not. So the build runs the full
flow here, once for every selector it can foresee (none, each slot by name, each toolkit's
versions as ``CUDASWITCH_CUDA`` or ``CUDA_VERSION``) and every driver range of the compat
tables (the verdict only changes at a driver listed there), and writes the results into a sh
script. At each start that script reads the driver (``CUDASWITCH_DRIVER_VERSION``, else
``/sys/module/nvidia/version``) and, with that real driver, the GPUs (the ones procfs lists,
each by the PCI device id sysfs holds, through the table in ``compat/gpus.json``), looks up the
decision and execs the command: no interpreter.

Whatever it cannot decide exactly as the flow would goes to the Python entrypoint, which
runs the full flow: another variable or working folder than at the build, a folder the flow
read that is newer than the script, a command run by Python (its packages are checked), an
error to report (the flow words it), a GPU whose architecture could change the decision or
is not in the table (NVML knows it), ``CUDASWITCH_DRIVER_CUDA``, forward-compat folders.
``CUDASWITCH_BAKED=off`` skips the table; ``only`` exits 125 where it would hand over (tests and
benchmarks use it to see which path decided). The script's one line ``_cs_root=`` is where it
reads ``/sys``, ``/proc`` and ``/dev`` from; tests, which have no GPU, point it at a fake tree.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .compat.data import catalog
from .compat.gpus import NVIDIA_VENDOR, gpu_models
from .compat.verdict import builds_for, driver_cuda_for
from .errors import CudaswitchError
from .flow import Outcome, run_flow, watch_paths
from .fsguard import atomic_write
from .host import ARCH_ENV, Gpu, Host
from .launch import check_replaceable
from .pycheck import planned_path
from .registry import VARIABLES
from .slots import installed_slots
from .toolkits import discover
from .toolkits.model import Toolkit
from .versions import parse_dotted

HOST_VARS = tuple(n for n, g, _ in VARIABLES if g == "host")
KEY_VARS = tuple(n for n, g, _ in VARIABLES if g in ("select", "where", "plan"))
SELECT_VARS = ("CUDASWITCH_SLOT", "CUDASWITCH_CUDA", "CUDA_VERSION")
FIXED_VARS = tuple(n for n in KEY_VARS if n not in SELECT_VARS)
BAKED_ENV = "CUDASWITCH_BAKED"
HANDED_OVER = 125
_SENTINEL = "\x00"


@dataclass(frozen=True)
class Decision:
    """What the flow decided, as the script applies it."""

    set: tuple[tuple[str, str], ...]
    unset: tuple[str, ...]
    deps: tuple[tuple[str, str | None], ...]  # values the changed variables had at the build
    banner: tuple[str, str]  # the banner around the driver's version
    notes: tuple[str, ...]
    planned_path: str  # where the Python check would look for the command


@dataclass(frozen=True)
class Segment:
    """From ``driver`` (None: no driver) up to the next segment's driver, one decision (None:
    the flow decides); ``harmless``: the compute capabilities that do not change it."""

    driver: str | None
    decision: int | None
    harmless: tuple[str, ...]


@dataclass(frozen=True)
class Baked:
    fixed: tuple[tuple[str, str | None], ...]
    cwd: str
    states: tuple[tuple[tuple[tuple[str, str | None], ...], tuple[Segment, ...]], ...]
    decisions: tuple[Decision, ...]
    watch: tuple[tuple[str, bool], ...]


def driver_points() -> list[str]:
    """One driver per range of the compat tables in which no verdict changes: each listed
    driver (the lowest of its range), and ``0`` below them all."""
    cat = catalog()
    seen: dict[tuple[int, ...], str] = {(0,): "0"}
    for d in [r.min_driver for r in cat.driver_rows] + [f.min_driver for f in cat.minor_floors]:
        if parse_dotted(d):
            seen.setdefault(parse_dotted(d), d)
    return [seen[k] for k in sorted(seen)]


def arch_classes(toolkits: Sequence[Toolkit]) -> dict[frozenset, list[str]]:
    """The compute capabilities of the compat data, grouped by the set of these toolkits they
    are not a target of: GPUs of one group lead to one decision."""
    versions = [t.version for t in toolkits if t.ok and t.version is not None]
    out: dict[frozenset, list[str]] = {}
    for cc in catalog().arch_names:
        out.setdefault(frozenset(str(v) for v in versions if builds_for(v, cc) is False),
                       []).append(cc)
    return out


def selector_states(env: Mapping[str, str], toolkits: Sequence[Toolkit]) -> list[dict]:
    """The selectors a user of the image is expected to pass, one at a time."""
    values: list[str] = []
    for t in toolkits:
        if t.ok and t.version is not None:
            for v in (t.version, t.release):
                if v is not None:
                    values += [str(v), f"{v.major}.{v.minor}", str(v.major)]
    values = list(dict.fromkeys(values))
    states: list[dict] = [{}]
    states += [{"CUDASWITCH_SLOT": n} for n in installed_slots(env)]
    states += [{"CUDASWITCH_CUDA": v} for v in [*values, "auto", "latest"]]
    states += [{"CUDA_VERSION": v} for v in values]
    return states


def _host(driver: str | None, arch: str | None) -> Host:
    gpus = (Gpu(0, f"GPU 0 (from {ARCH_ENV})", "NVIDIA", arch),) if arch else ()
    return Host(driver, driver_cuda_for(driver) if driver else None, gpus,
                "override" if driver else "none", "override" if arch else "none")


def decide(env: Mapping[str, str], toolkits: tuple[Toolkit, ...], driver: str | None,
           arch: str | None = None) -> tuple[Decision | None, Outcome | None]:
    """The flow's decision for a command not run by Python, or None where it is an error."""
    try:
        out = run_flow((), env, facts=(_host(driver, arch), toolkits))
    except CudaswitchError:
        return None, None
    changed, unset = out.plan.changes(env)
    masked = dataclasses.replace(out, host=dataclasses.replace(out.host,
                                                               driver_version=_SENTINEL))
    text = masked.banner() if driver else out.banner()
    pre, _, post = text.partition(_SENTINEL)
    return Decision(tuple(sorted(changed.items())), tuple(sorted(unset)),
                    tuple((k, env.get(k)) for k in sorted([*changed, *unset])), (pre, post),
                    tuple(out.plan.notes), planned_path(out.target, env)), out


def bake(env: Mapping[str, str]) -> Baked:
    """Every foreseeable decision for this image; ``env`` is the image's environment."""
    env = {k: v for k, v in env.items() if k not in HOST_VARS}
    seen: list[str] = []
    toolkits = discover(env, (), seen)
    compat = any(os.path.isdir(os.path.join(t.root, "compat")) for t in toolkits)
    archs = arch_classes(toolkits)
    decisions: dict[Decision, int] = {}
    watch: list[str] = []
    states = []
    for overrides in selector_states(env, toolkits):
        senv = {**env, **overrides}
        segments: list[Segment] = []
        for driver in [None, *driver_points()]:
            dec, out = decide(senv, toolkits, driver)
            harmless: list[str] = []
            if dec is None:
                index = None
            else:
                index = decisions.setdefault(dec, len(decisions))
                for excluded, ccs in archs.items():
                    if not compat and (not excluded or
                                       decide(senv, toolkits, driver, ccs[0])[0] == dec):
                        harmless += ccs
                if out is not None:
                    watch += watch_paths(senv, out, seen)
            seg = Segment(driver, index, tuple(sorted(harmless)))
            if segments and driver is not None and segments[-1].driver is not None and \
                    (segments[-1].decision, segments[-1].harmless) == (index, seg.harmless):
                continue
            segments.append(seg)
        keyed = tuple((k, senv.get(k)) for k in SELECT_VARS)
        states.append((keyed, tuple(segments)))
    watch += [*seen, *watch_paths_of_manifests(env)]
    paths = list(dict.fromkeys(os.path.abspath(p) for p in watch if p))
    return Baked(tuple((k, env.get(k)) for k in FIXED_VARS), os.getcwd(), tuple(states),
                 tuple(decisions), tuple((p, os.path.lexists(p)) for p in paths))


def watch_paths_of_manifests(env: Mapping[str, str]) -> list[str]:
    from .flow import manifest_paths

    return manifest_paths(env)


# --- the script ------------------------------------------------------------------------------

def q(text: str) -> str:
    """One sh word holding ``text`` verbatim."""
    return "'" + text.replace("'", "'\\''") + "'"


def _isset(name: str, value: str | None) -> str:
    """A test that ``name`` has ``value`` now (None: unset), an unset and an empty variable
    told apart."""
    return f'[ "${{{name}+s${name}}}" = {q("" if value is None else "s" + value)} ]'


def _key(pairs: Sequence[tuple[str, str | None]]) -> str:
    return "|".join("" if v is None else f"s{len(v.encode())}:{v}" for _, v in pairs)


_HEAD = r"""#!/bin/sh
# cudaswitch-entrypoint, baked when this image was built (`cudaswitch launcher --bake`): the
# decisions the image could make then, looked up by the host's driver at each start. What it
# cannot decide as the full flow would goes to the Python entrypoint: @FULL@
# where the host's /sys, /proc and /dev are read from (tests point it at a fake tree)
_cs_root=
_cs_full=@FULL@
case ${CUDASWITCH_BAKED-} in off) exec "$_cs_full" "$@";; esac
[ "${1-}" = -- ] && shift
case ${1-} in ''|-h|--help|--bake-into) exec "$_cs_full" "$@";; esac

# dotted version $1 >= dotted version $2, compared as integer tuples
_cs_ge() {
  _a=$1 _b=$2
  while :; do
    [ -z "$_b" ] && return 0
    [ -z "$_a" ] && return 1
    _x=${_a%%.*} _y=${_b%%.*}
    [ "$_x" -gt "$_y" ] && return 0
    [ "$_x" -lt "$_y" ] && return 1
    case $_a in *.*) _a=${_a#*.};; *) _a=;; esac
    case $_b in *.*) _b=${_b#*.};; *) _b=;; esac
  done
}

# $1 a driver version as the flow accepts it (digits and dots, 32 characters at most)
_cs_dotted() {
  case $1 in ''|*[!0-9.]*|.*|*.|*..*|*[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*)
    return 1;; esac
  [ ${#1} -le 32 ]
}

# the first entry of the PATH $2 holding $1 (with $3 = x: an executable that is no folder, as
# shutil.which finds it): _cs_w is it, or empty
_cs_which() {
  _cs_w=
  case $1 in */*) _cs_w=$1; return 0;; esac
  _p=$2
  while :; do
    _e=${_p%%:*}
    _f=${_e:-.}/$1
    if [ -e "$_f" ]; then
      if [ -z "${3-}" ] || { [ -x "$_f" ] && ! [ -d "$_f" ]; }; then _cs_w=$_f; return 0; fi
    fi
    case $_p in *:*) _p=${_p#*:};; *) return 0;; esac
  done
}

# the GPUs the driver lists (in a container, the ones given to it), each by the PCI device id
# sysfs holds, as compute capabilities: _cs_arch; fails for a GPU the table does not know. Read
# in a child with a CPU-time limit, so that a file the kernel did not write (huge, endless)
# costs a second at most; special files are not opened.
_cs_gpus() {
  _cs_arch=$(
    ulimit -t 1 2>/dev/null || exit 1
    _o=
    for _d in "$_cs_root"/proc/driver/nvidia/gpus/*; do
      _a=${_d##*/}
      case $_a in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7]) ;;
        *) exit 1;; esac
      _s=$_cs_root/sys/bus/pci/devices/$_a
      [ -d "$_d" ] && [ -f "$_s/vendor" ] && [ -f "$_s/device" ] || exit 1
      IFS= read -r _v <"$_s/vendor" && IFS= read -r _i <"$_s/device" || exit 1
      [ "$_v" = @VENDOR@ ] || exit 1
      case $_i in
@GPUS@        *) exit 1;;
      esac
      _o=$_o${_o:+,}$_c
    done
    printf %s "$_o"
  ) && [ -n "$_cs_arch" ]
}

_cs_decide() {
"""

_HOST = r"""  # the host's driver: the override, else the kernel module's own version file
  _cs_real=
  _cs_drv=${CUDASWITCH_DRIVER_VERSION-}
  if [ -n "$_cs_drv" ]; then
    _cs_dotted "$_cs_drv" || return 1
  elif [ -e "$_cs_root/sys/module/nvidia/version" ]; then
    [ -f "$_cs_root/sys/module/nvidia/version" ] || return 1
    _cs_x=
    { IFS= read -r _cs_drv; IFS= read -r _cs_x; } <"$_cs_root/sys/module/nvidia/version" || :
    [ -z "$_cs_x" ] && _cs_dotted "$_cs_drv" || return 1
    _cs_real=1
  elif [ -e "$_cs_root/proc/driver/nvidia/version" ] || [ -e "$_cs_root/dev/nvidiactl" ]; then
    return 1
  fi
  [ -n "${CUDASWITCH_DRIVER_CUDA-}" ] && return 1
  if [ -n "${CUDASWITCH_GPU_ARCH-}" ]; then
    _p=$CUDASWITCH_GPU_ARCH,
    while [ -n "$_p" ]; do
      case ${_p%%,*} in [0-9].[0-9]|[0-9][0-9].[0-9]|[0-9].[0-9][0-9]|[0-9][0-9].[0-9][0-9]) ;;
        *) return 1;; esac
      _p=${_p#*,}
    done
  fi
"""

_TAIL = r"""  [ -n "$_cs_d" ] || return 1
  # GPUs: none, or each of an architecture that does not change the decision; as the flow,
  # the override, else (with the real driver) the host's
  _p=${CUDASWITCH_GPU_ARCH-}
  if [ -z "$_p" ] && [ -n "$_cs_real" ]; then
    _cs_gpus || return 1
    _p=$_cs_arch
  fi
  _p=$_p${_p:+,}
  while [ -n "$_p" ]; do
    case $_cs_g in *,"${_p%%,*}",*) ;; *) return 1;; esac
    _p=${_p#*,}
  done
  "_cs_d$_cs_d" check || return 1

  # a command run by Python goes to the flow, which checks its packages' CUDA
  case ${1##*/} in python*) return 1;; esac
  _cs_which "$1" "$_cs_pp" x
  if [ -n "$_cs_w" ]; then
    _l=
    IFS= read -r _l <"$_cs_w" 2>/dev/null || :
    case $_l in '#!'*python*|'#!'*/bin/sh*) return 1;; esac
  fi
  # the command must be found and start as execve starts it, else the flow words the error
  _cs_which "$1" "$_cs_np"
  [ -n "$_cs_w" ] && [ -f "$_cs_w" ] && [ -x "$_cs_w" ] || return 1
  _l=
  IFS= read -r _l <"$_cs_w" 2>/dev/null || :
  case $_l in '#!'*|"$_cs_elf"*) ;; *) return 1;; esac
  return 0
}
"""

_MAIN = r"""
_cs_elf='@ELF@'  # the ELF magic
if _cs_decide "$@"; then
  case ${CUDASWITCH_QUIET-} in
    1|true|yes) ;;
    *) "_cs_d$_cs_d" say;;
  esac
  "_cs_d$_cs_d" apply
  exec "$@"
fi
[ "${CUDASWITCH_BAKED-}" = only ] && exit 125
exec "$_cs_full" "$@"
"""


def render(b: Baked, full: str, stamp: str) -> str:
    """The script: ``full`` is the Python entrypoint it hands over to, ``stamp`` the file
    whose time the watched folders must not be newer than (the script itself)."""
    out = [_HEAD.replace("@FULL@", q(full)).replace("@VENDOR@", NVIDIA_VENDOR)
           .replace("@GPUS@", gpu_cases())]
    out.append("  # the variables the flow reads, as at the build\n")
    for name, value in b.fixed:
        out.append(f"  {_isset(name, value)} || return 1\n")
    out.append(f"  [ . -ef {q(b.cwd)} ] || return 1\n")
    out.append("  # nothing the flow read is newer than this script, or has come or gone\n")
    for path, exists in b.watch:
        p = q(path)
        if exists:
            out.append(f"  {{ [ -e {p} ] || [ -L {p} ]; }} && ! [ {p} -nt {q(stamp)} ] "
                       "|| return 1\n")
        else:
            out.append(f"  [ -e {p} ] || [ -L {p} ] && return 1\n")
    out.append(_HOST)
    out.append("  # the selector, then the driver's range\n")
    sel = " ".join(f"${{{n}+s${{#{n}}}:${n}}}" for n in SELECT_VARS).replace(" ", "|")
    out.append(f'  _k="{sel}"\n  _cs_d= _cs_g=\n  case $_k in\n')
    for keyed, segments in b.states:
        out.append(f"    {q(_key(keyed))})\n")
        first = True
        for seg in sorted(segments, key=_highest_first):
            dec = "" if seg.decision is None else str(seg.decision)
            g = q("," + ",".join(seg.harmless) + ",")
            if seg.driver is None:
                cond = '[ -z "$_cs_drv" ]'
            else:
                cond = f'_cs_ge "$_cs_drv" {q(seg.driver)}'
            out.append(f"      {'if' if first else 'elif'} {cond}; then _cs_d={dec} _cs_g={g}\n")
            first = False
        out.append("      fi;;\n") if not first else out.append("      :;;\n")
    out.append("    *) return 1;;\n  esac\n")
    out.append(_TAIL)
    out += [_decision_fn(i, d) for i, d in enumerate(b.decisions)]
    out.append(_MAIN.replace("@ELF@", "\x7fELF"))
    return "".join(out)


def gpu_cases() -> str:
    """The ``case`` arms turning a PCI device id into a compute capability, one per capability,
    from ``compat/gpus.json``."""
    by_cc: dict[str, list[str]] = {}
    for m in gpu_models():
        by_cc.setdefault(m.compute_capability, []).append(m.pci_device_id)
    return "".join(f"        {'|'.join(ids)}) _c={cc};;\n" for cc, ids in sorted(
        by_cc.items(), key=lambda kv: parse_dotted(kv[0])))


def _highest_first(seg: Segment) -> tuple:
    """No driver first, then the highest driver: the script takes the first range that holds."""
    return (seg.driver is not None, tuple(-x for x in parse_dotted(seg.driver or "")))


def _decision_fn(i: int, d: Decision) -> str:
    lines = [f"\n_cs_d{i}() {{\n  case $1 in\n    check)\n"]
    for k, v in d.deps:
        lines.append(f"      {_isset(k, v)} || return 1\n")
    new_path = dict(d.set).get("PATH")
    np = q(new_path) if new_path is not None else '"${PATH-}"'
    lines.append(f"      _cs_pp={q(d.planned_path)} _cs_np={np};;\n    say)\n")
    for note in d.notes:
        lines.append(f"      printf '%s\\n' {q('cudaswitch: note: ' + note)} >&2\n")
    pre, post = d.banner
    lines.append(f"      printf '%s%s%s\\n' {q(pre)} \"$_cs_drv\" {q(post)} >&2;;\n    apply)\n")
    for k, v in d.set:
        lines.append(f"      export {k}={q(v)}\n")
    if d.unset:
        lines.append(f"      unset {' '.join(d.unset)}\n")
    lines.append("      :;;\n  esac\n}\n")
    return "".join(lines)


def write_baked(path: str, env: Mapping[str, str], full: str) -> int:
    """Bake this image's decisions into the sh entrypoint at ``path`` (atomically, 0755)."""
    check_replaceable(path)
    text = render(bake(env), full, os.path.abspath(path))
    atomic_write(path, text.encode("utf-8", "surrogateescape"), mode=0o755)
    return 0
