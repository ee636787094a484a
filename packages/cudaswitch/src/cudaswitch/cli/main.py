"""``cudaswitch``: parse, dispatch to a command module, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import (
    EXIT_CODES_HELP,
    EXIT_PIPE,
    EXIT_USAGE,
    CudaswitchError,
    environment_fault,
)
from .common import GLOBAL_FLAGS, finish_parsers
from .completions import complete
from .render import configure, error

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
    "completions",
    "k8s",
    "portal",
)

# Which module registers each command, so that one command imports only its own module (a
# listing should not pay for the image builder's imports). A test keeps this in step.
COMMANDS: dict[str, str] = {
    "list": "toolkits", "which": "toolkits", "compat": "compat", "require": "require",
    "exec": "run", "env": "run", "use": "run", "doctor": "doctor", "launcher": "launcher",
    "install": "slots", "uninstall": "slots", "sync": "slots", "lock": "slots",
    "download": "slots", "slot": "slots", "matrix": "matrix", "image": "image",
    "completions": "completions",
    "k8s": "k8s",
    "portal": "portal",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        error(message)
        raise SystemExit(EXIT_USAGE)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cudaswitch",
        description="Several CUDA toolkits side by side; each process picks exactly one, "
        "checked against this host's driver and GPUs.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cudaswitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in (only,) if only else COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    finish_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closed our output (``| head``) ends it quietly."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail
        os.close(devnull)
        return EXIT_PIPE


def _run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:
        return complete(build_parser())
    first = next((a for a in argv if not a.startswith("-")), None)
    lead = argv[:argv.index(first)] if first else argv
    parser = build_parser(COMMANDS.get(first) if first and all(a in GLOBAL_FLAGS for a in lead)
                          else None)
    args = parser.parse_args(argv)
    configure(args.quiet, args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CudaswitchError as e:
        error(str(e))
        return e.exit_code
    except BrokenPipeError:
        raise
    except OSError as e:  # what the machine refused (disk full, read-only, permissions)
        fault = environment_fault(e)
        error(str(fault))
        return fault.exit_code
    except RecursionError:
        error("the input is nested too deeply to read; nothing was changed")
        return EXIT_USAGE
    except EOFError:  # a prompt (a password) with standard input closed or not a terminal
        error("standard input ended before the answer was read; give it on stdin "
              "(e.g. --password-stdin) or run in a terminal; nothing was changed")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
