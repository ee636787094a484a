"""Arguments several commands share, and the one call that gathers host and toolkits."""

from __future__ import annotations

import argparse
import os

from ..flow import gather

# How messages name a spec given as a command's positional argument (``which 12``), where
# ``exec`` takes it as ``--cuda``.
SPEC_ARGUMENT = "the SPEC argument"


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


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose", "-qq", "-vv")


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose, keeps text that has its own line breaks (examples, tables) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _add_globals(p: argparse.ArgumentParser, top: bool) -> None:
    """``-q``/``-v`` on the top parser and on every command, as uv takes them anywhere."""
    taken = p._option_string_actions
    default = 0 if top else argparse.SUPPRESS
    if "-q" not in taken and "--quiet" not in taken:
        p.add_argument("-q", "--quiet", action="count", default=default,
                       help="print only errors and results (no progress or notes)")
    if "-v" not in taken and "--verbose" not in taken:
        p.add_argument("-v", "--verbose", action="count", default=default,
                       help="also say why: the selection's reasoning and each step")


def finish_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Global flags, the shared formatter and each command's examples, on every parser."""
    from .examples import epilog_for

    _add_globals(parser, top=not path)
    for action in parser._actions:
        if action.option_strings == ["--json"] and not action.help:
            action.help = "machine-readable output"
    if parser.formatter_class is argparse.HelpFormatter:
        parser.formatter_class = HelpFormatter
    examples = epilog_for(" ".join(path))
    if examples and "example" not in (parser.epilog or ""):
        parser.epilog = f"{parser.epilog}\n\n{examples}" if parser.epilog else examples
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                finish_parsers(child, (*path, name))
