"""``cudaswitch list`` and ``cudaswitch which``."""

from __future__ import annotations

import argparse
import os

from ..flow import run_flow
from ..host import DRIVER_CUDA_ENV, DRIVER_ENV
from ..select import ACTIVE_ENV, verdicts
from ..units import human_size
from .common import SPEC_ARGUMENT, add_json, add_search, host_and_toolkits, split_paths
from .render import emit, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="toolkits found, where, components, verdict on this host")
    add_search(p)
    add_json(p)
    p.add_argument("--sizes", action="store_true",
                   help="also show each managed slot's apparent and unique disk use")
    p.set_defaults(func=run_list)
    w = sub.add_parser("which", help="what a spec would pick here, and why")
    w.add_argument("spec", nargs="?", help="a version spec; default: what the environment asks")
    w.add_argument("--slot", metavar="NAME", help="a slot of the manifest instead of a spec")
    add_search(w)
    add_json(w)
    w.add_argument("--force", action="store_true", help="pick even if this host cannot run it")
    w.set_defaults(func=run_which)


def _host_dict(host) -> dict:
    return {
        "driver_version": host.driver_version,
        "driver_source": host.driver_source,
        "driver_cuda": str(host.driver_cuda) if host.driver_cuda else None,
        "gpus": [{"index": g.index, "name": g.name, "brand": g.brand,
                  "compute_capability": g.compute_capability, "memory_mib": g.memory_mib}
                 for g in host.gpus],
        "gpu_source": host.gpu_source,
    }


# Where the host's facts came from, as a user would look them up or set them.
_SOURCES = {"override": DRIVER_ENV, "sysfs": "/sys/module/nvidia/version",
            "procfs": "/proc/driver/nvidia/version", "nvml": "NVML"}


def _host_line(h: dict) -> str:
    """``driver 580.95.05 (CUDA 13.0) from NVML; GPUs: 0: ...``, or that none was found.

    The CUDA version a driver supports may come from another place than the driver's own
    version (``CUDASWITCH_DRIVER_CUDA``); the line then names that place too."""
    if h["driver_version"]:
        cuda_from = f" from {DRIVER_CUDA_ENV}" if os.environ.get(DRIVER_CUDA_ENV) else ""
        cuda = f" (CUDA {h['driver_cuda']}{cuda_from})" if h["driver_cuda"] else ""
        driver = (f"driver {h['driver_version']}{cuda} from "
                  f"{_SOURCES.get(h['driver_source'], h['driver_source'])}")
    else:
        driver = f"no NVIDIA driver found ({DRIVER_ENV} checks against one)"
    gpus = ", ".join(f"{g['index']}: {g['name']} (cc {g['compute_capability']})"
                     for g in h["gpus"]) or "none"
    return f"{driver}; GPUs: {gpus}"


def _active_root(env) -> str | None:
    """The root of ``CUDASWITCH_ACTIVE`` (``NAME@ROOT``), resolved; None when unset or bad."""
    _name, sep, root = (env.get(ACTIVE_ENV) or "").partition("@")
    return os.path.realpath(root) if sep and os.path.isabs(root) else None


def run_list(args: argparse.Namespace) -> int:
    host, toolkits = host_and_toolkits(args)
    judged = verdicts(toolkits, host)
    active = _active_root(os.environ)
    rows = []
    for t in toolkits:
        d = t.as_dict()
        v = judged.get(t.root)
        d.update(v.as_dict() if v else {"verdict": "broken", "reason": t.broken})
        d["active"] = active is not None and os.path.realpath(t.root) == active
        rows.append(d)
    if getattr(args, "sizes", False):
        try:
            from ..install.sizes import slot_sizes
        except ImportError:
            slot_sizes = None
        sizes = slot_sizes(os.environ) if slot_sizes else {}
        for d in rows:
            if d["root"] in sizes:
                d["sizes"] = sizes[d["root"]]
    data = {"host": _host_dict(host), "toolkits": rows}

    def text(data: dict) -> str:
        head = _host_line(data["host"])
        sized = any("sizes" in r for r in data["toolkits"])
        rows = []
        for r in data["toolkits"]:
            version = r["shown_version"] + (" (active)" if r["active"] else "")
            row = [version, r["verdict"], r["layout"], ",".join(r["components"]) or "-"]
            if sized:
                sz = r.get("sizes") or {}
                row += [_mb(sz.get("apparent")), _mb(sz.get("unique"))]
            rows.append((*row, r["root"] + (f" (also {', '.join(r['aliases'])})"
                                            if r["aliases"] else "")))
        header = ("VERSION", "VERDICT", "LAYOUT", "COMPONENTS",
                  *(("APPARENT", "UNIQUE") if sized else ()), "ROOT")
        body = table(rows, header)
        broken = [f"  {r['root']}: {r['reason']}" for r in data["toolkits"]
                  if r["verdict"] == "broken"]
        legend = ([f"the toolkit marked active is this shell's: {ACTIVE_ENV}, set by "
                   "`cudaswitch env`"]
                  if any(r["active"] for r in data["toolkits"]) else [])
        return "\n".join([head, body, *(["broken:", *broken] if broken else []), *legend])

    emit(data, args.json, text)
    return 0


def _mb(n: int | None) -> str:
    return "-" if n is None else human_size(n)


def run_which(args: argparse.Namespace) -> int:
    outcome = run_flow([], os.environ, args.spec, args.slot, split_paths(args.search_path),
                       args.force, spec_origin=SPEC_ARGUMENT)
    data = outcome.as_dict()
    data["host"] = _host_dict(outcome.host)
    if os.environ.get(ACTIVE_ENV):
        data["active"] = os.environ[ACTIVE_ENV]

    def text(d: dict) -> str:
        tk = d["toolkit"]
        slot = f" (slot {d['slot']})" if d["slot"] else ""
        ranked = ([f"  note: this shell's active toolkit is {d['active'].partition('@')[2]} "
                   f"({ACTIVE_ENV}); {d['request']['origin']} ranks above it"]
                  if d.get("active") and d["request"]["kind"] != "active" else [])
        return "\n".join([f"CUDA {tk['shown_version']} at {tk['root']}{slot} ({d['verdict']})",
                          *(f"  {line}" for line in d["why"]),
                          *(f"  note: {n}" for n in d["request"]["notes"]), *ranked])

    emit(data, args.json, text)
    return 0
