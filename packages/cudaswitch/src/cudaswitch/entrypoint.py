"""``cudaswitch-entrypoint CMD ARGS...``: a container ENTRYPOINT.

Reads ``CUDASWITCH_CUDA`` / ``CUDA_VERSION`` / ``CUDASWITCH_SLOT`` and the image's manifest
default, checks the host driver, prints one line to stderr (``CUDASWITCH_QUIET=1`` silences
it) and execs CMD. Standard library only on this path: it runs before every container start.
"""

from __future__ import annotations

import os
import sys

from .errors import EXIT_USAGE, CudaswitchError

USAGE = ("usage: cudaswitch-entrypoint CMD [ARGS...]\n"
         "  picks the CUDA toolkit from CUDASWITCH_CUDA, CUDA_VERSION (a plain version), "
         "CUDASWITCH_SLOT\n  or the manifest default, then execs CMD. "
         "Exit codes: 2 bad input, 3 no such toolkit, 4 host cannot run it, 127 no CMD.")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE if not args else 0
    from .flow import run_flow
    from .launch import exec_plan

    env = os.environ
    try:
        outcome = run_flow(args, env)
        if env.get("CUDASWITCH_QUIET", "") not in ("1", "true", "yes"):
            for note in outcome.plan.notes:
                print(f"cudaswitch: note: {note}", file=sys.stderr)
            print(outcome.banner(), file=sys.stderr)
        exec_plan(outcome.plan)
    except CudaswitchError as e:
        print(f"cudaswitch: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
