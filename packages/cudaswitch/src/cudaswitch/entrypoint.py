"""``cudaswitch-entrypoint CMD ARGS...``: a container ENTRYPOINT.

Reads ``CUDASWITCH_CUDA`` / ``CUDA_VERSION`` / ``CUDASWITCH_SLOT`` and the image's manifest
default, checks the host driver, prints one line to stderr (``CUDASWITCH_QUIET=1`` silences
it) and execs CMD. It runs before every container start, so its path is the standard library
only, and a repeated start with nothing changed is served from ``_fastpath``'s cache.
"""

import sys

from . import _fastpath

EXIT_USAGE = 2
EXIT_NOT_FOUND = 127
USAGE = ("usage: cudaswitch-entrypoint CMD [ARGS...]\n"
         "  picks the CUDA toolkit from CUDASWITCH_CUDA, CUDA_VERSION (a plain version), "
         "CUDASWITCH_SLOT\n  or the manifest default, then execs CMD. "
         "Exit codes: 2 bad input, 3 no such toolkit, 4 host cannot run it, 127 no CMD.")


def _say(env, notes, banner: str) -> None:
    if env.get("CUDASWITCH_QUIET", "") not in ("1", "true", "yes"):
        for note in notes:
            sys.stderr.write(f"cudaswitch: note: {note}\n")
        sys.stderr.write(banner + "\n")
        sys.stderr.flush()


def _exec(args: list[str], env: dict) -> int:
    try:
        _fastpath.execvpe(args[0], args, env)
    except FileNotFoundError:
        sys.stderr.write(f"cudaswitch: error: {args[0]}: command not found\n")
    except PermissionError as e:
        sys.stderr.write(f"cudaswitch: error: {args[0]}: not executable ({e.strerror})\n")
    return EXIT_NOT_FOUND


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--"]:
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE + "\n")
        return EXIT_USAGE if not args else 0
    env = _fastpath.environ()
    hit = _fastpath.lookup(env)
    if hit is not None:
        _say(env, hit["notes"], hit["banner"])
        return _exec(args, _fastpath.apply(env, hit["changes"]))
    import os

    return _full(args, os.environ)


def _full(args: list[str], env) -> int:
    from .errors import CudaswitchError
    from .flow import run_flow, watch_paths

    try:
        outcome = run_flow(args, env)
    except CudaswitchError as e:
        sys.stderr.write(f"cudaswitch: error: {e}\n")
        return e.exit_code
    plan = outcome.plan
    changed, unset = plan.changes(env)
    changes = {**changed, **dict.fromkeys(unset)}
    _fastpath.store(env, changes, outcome.banner(), list(plan.notes),
                    watch_paths(env, (), outcome.toolkits))
    _say(env, plan.notes, outcome.banner())
    return _exec(args, dict(plan.env))


if __name__ == "__main__":
    sys.exit(main())
