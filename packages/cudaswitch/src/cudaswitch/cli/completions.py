"""``cudaswitch completions SHELL``: tab completion for bash, zsh and fish, from argcomplete.

The printed script asks ``cudaswitch`` itself for candidates (argcomplete's protocol: the
``_ARGCOMPLETE`` variable), so completions follow the installed version's commands and flags.
"""

from __future__ import annotations

import argparse
import sys

COMPLETION_SHELLS = ("bash", "zsh", "fish")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completions", help="print a tab-completion script for bash, zsh or fish",
        description="Print a tab-completion script for SHELL; load it from the shell's "
        "startup file.",
        epilog="examples:\n"
               "  cudaswitch completions bash > ~/.local/share/bash-completion/completions/"
               "cudaswitch\n"
               "  echo 'eval \"$(cudaswitch completions zsh)\"' >> ~/.zshrc\n"
               "  cudaswitch completions fish > ~/.config/fish/completions/cudaswitch.fish",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=COMPLETION_SHELLS, help="the shell to complete in")
    p.set_defaults(func=run_completions)


def run_completions(args: argparse.Namespace) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["cudaswitch"], shell=args.shell))
    return 0


def complete(parser: argparse.ArgumentParser) -> int:
    """Answer one completion request from the shell script above, then exit."""
    import argcomplete

    argcomplete.autocomplete(parser, always_complete_options=False)
    return 0
