"""Arguments several commands share, and the one call that gathers host and toolkits."""

from __future__ import annotations

import argparse
import os

from ..flow import gather


def add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("--search-path", action="append", default=[], metavar="DIR",
                   help="extra root: a toolkit, a folder of toolkits, or a folder of NVIDIA "
                        "wheels (repeatable; CUDASWITCH_PATH=dir1:dir2 does the same)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def host_and_toolkits(args: argparse.Namespace):
    return gather(os.environ, split_paths(args.search_path))


def split_paths(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(p for p in v.split(":") if p)
    return out


def command_argv(args: argparse.Namespace) -> list[str]:
    """``-- CMD ARGS`` as given, without the separator."""
    argv = list(args.argv)
    return argv[1:] if argv[:1] == ["--"] else argv
