"""``cudaswitch``: parse, dispatch to a command module, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import EXIT_CODES_HELP, EXIT_USAGE, CudaswitchError
from .render import error

# Each module has ``register(subparsers)``; its parsers set ``func(args) -> int``.
COMMAND_MODULES: tuple[str, ...] = (
    "toolkits",
    "compat",
    "require",
    "run",
    "doctor",
    "launcher",
    "slots",
    "matrix",
    "image",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        error(message)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cudaswitch",
        description="Several CUDA toolkits side by side; each process picks exactly one, "
        "checked against this host's driver and GPUs.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cudaswitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CudaswitchError as e:
        error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
