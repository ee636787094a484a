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
         "  picks the CUDA toolkit from CUDASWITCH_SLOT, CUDASWITCH_CUDA, CUDASWITCH_ACTIVE,\n"
         "  CUDA_VERSION (a plain version) or the manifest default, checks it against this\n"
         "  host's driver and GPUs, prints one line to stderr, then execs CMD.")


def _usage() -> str:
    from .registry import exit_codes_help

    return f"{USAGE}\n{exit_codes_help()}"


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
        sys.stderr.write(_usage() + "\n")
        return EXIT_USAGE if not args else 0
    if args[0] == "--bake-into" and len(args) == 2:
        import os

        from .bake import write_baked
        from .errors import CudaswitchError

        try:
            return write_baked(args[1], os.environ, sys.argv[0])
        except CudaswitchError as e:
            sys.stderr.write(f"cudaswitch: error: {e}\n")
            return e.exit_code
        except OSError as e:
            sys.stderr.write(f"cudaswitch: error: cannot write {args[1]}: {e.strerror}\n")
            return EXIT_USAGE
    env = _fastpath.environ()
    hit = _fastpath.lookup(env, args[0])
    if hit is not None:
        _say(env, hit["notes"], hit["banner"])
        return _exec(args, _fastpath.apply(env, hit["changes"]))
    import os

    return _full(args, os.environ)


def _full(args: list[str], env) -> int:
    from .errors import CudaswitchError
    from .flow import manifest_paths, run_flow, watch_paths
    from .toolkits import discover

    try:
        host = _fastpath.host_facts(env)
        files = [(p, _fastpath.read_bytes(p)) for p in manifest_paths(env)]
        seen: list[str] = []
        outcome = run_flow(args, env, seen=seen)
        plan = outcome.plan
        changed, unset = plan.changes(env)
        changes = {**changed, **dict.fromkeys(unset)}
        if _fastpath.cache_dir(env) is not None:
            # Stamps first, then a second discovery that must find the same: a toolkit that
            # changed while the flow ran is either seen by that discovery (no record) or
            # changes a stamp after it (a miss next time). Never a stale hit.
            watch = [(p, _fastpath.stamp(p)) for p in watch_paths(env, outcome, seen)]
            if discover(env) == outcome.toolkits and _fastpath.host_facts(env) == host:
                _fastpath.store(env, changes, outcome.banner(), list(plan.notes), watch, files,
                                host, args[0])
    except CudaswitchError as e:
        sys.stderr.write(f"cudaswitch: error: {e}\n")
        return e.exit_code
    _say(env, plan.notes, outcome.banner())
    return _exec(args, dict(plan.env))


if __name__ == "__main__":
    sys.exit(main())
