"""``cudaswitch launcher PATH``: write the fast container ENTRYPOINT script."""

from __future__ import annotations

import argparse

from ..launch import write_launcher
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
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = write_launcher(args.path, args.python)
    emit({"launcher": path}, args.json, lambda d: f"wrote {d['launcher']}")
    return 0
