"""``cudaswitch launcher PATH``: write the fast container ENTRYPOINT script."""

from __future__ import annotations

import argparse
import subprocess

from ..launch import check_replaceable, write_launcher
from .common import add_json
from .render import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "launcher",
        help="write an ENTRYPOINT script that runs cudaswitch-entrypoint with python -I -S",
        description="Console scripts start Python with site processing, which costs more than "
        "the whole decision; images use this script as their ENTRYPOINT instead.",
    )
    p.add_argument("path", help="where to write it, e.g. /usr/local/bin/cudaswitch-entrypoint")
    p.add_argument("--python", help="interpreter (default: this one)")
    p.add_argument("--bake", action="store_true",
                   help="write PATH as a sh script holding the decisions this image can make "
                   "now (its toolkits, manifest and variables are fixed), so that a fresh "
                   "container's start needs no interpreter; the Python entrypoint goes to "
                   "PATH-python and decides what the script cannot. Run it as the image's last "
                   "step, in the environment and working folder the image starts with")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.bake:
        path = write_launcher(args.path, args.python)
        emit({"launcher": path}, args.json, lambda d: f"wrote {d['launcher']}")
        return 0
    # both refused before PATH-python is written: nothing left half done
    check_replaceable(args.path)
    check_replaceable(f"{args.path}-python")
    full = write_launcher(f"{args.path}-python", args.python)
    # The table is computed by the Python entrypoint itself, so that discovery sees exactly
    # the interpreter and sys.path a handed-over start will have.
    code = subprocess.run([full, "--bake-into", args.path], check=False).returncode
    if code:
        return code
    emit({"launcher": args.path, "full": full}, args.json,
         lambda d: f"wrote {d['launcher']} (baked) and {d['full']}")
    return 0
