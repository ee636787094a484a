"""Errors a caller can act on, one class each, and the exit code each maps to.

Only ``main()`` functions exit; library code raises these. The codes and their meanings live
in ``registry``, from which ``cudaswitch --help`` and the README's table are derived.
"""

from __future__ import annotations

import errno

from .registry import exit_code, exit_codes_help

EXIT_OK = exit_code("OK")
EXIT_FAILED = exit_code("FAILED")
EXIT_USAGE = exit_code("USAGE")
EXIT_NO_MATCH = exit_code("NO_MATCH")
EXIT_INCOMPATIBLE = exit_code("INCOMPATIBLE")
EXIT_VERIFY = exit_code("VERIFY")
EXIT_SWITCH = exit_code("SWITCH")
EXIT_ENVIRONMENT = exit_code("ENVIRONMENT")
EXIT_NOT_FOUND = exit_code("NOT_FOUND")
EXIT_INTERRUPTED = exit_code("INTERRUPTED")
EXIT_PIPE = exit_code("PIPE")

EXIT_CODES_HELP = exit_codes_help()


class CudaswitchError(Exception):
    exit_code = EXIT_FAILED


class UsageError(CudaswitchError):
    exit_code = EXIT_USAGE


class NoMatchError(CudaswitchError):
    exit_code = EXIT_NO_MATCH


class IncompatibleError(CudaswitchError):
    exit_code = EXIT_INCOMPATIBLE


class VerifyError(CudaswitchError):
    exit_code = EXIT_VERIFY


class SwitchError(CudaswitchError):
    exit_code = EXIT_SWITCH


class EnvironmentFault(CudaswitchError):
    """The machine refused an operation (disk full, permission denied, read-only folder)."""

    exit_code = EXIT_ENVIRONMENT


class CommandNotFound(CudaswitchError):
    exit_code = EXIT_NOT_FOUND


_FAULT_HINTS = {
    errno.ENOSPC: "free some space, or point CUDASWITCH_HOME / CUDASWITCH_CACHE elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or use another folder",
    errno.EACCES: "run as a user who may write there, or set CUDASWITCH_HOME to a folder of yours",
    errno.EPERM: "run as a user who may write there, or set CUDASWITCH_HOME to a folder of yours",
    errno.EROFS: "the filesystem is read-only; set CUDASWITCH_HOME to a writable folder",
}


def environment_fault(e: OSError) -> EnvironmentFault:
    """One line for an operating-system refusal: what failed, on which path, what to do."""
    what = e.strerror or type(e).__name__
    where = ": ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
    hint = _FAULT_HINTS.get(e.errno or 0, "")
    return EnvironmentFault("; ".join(x for x in (f"{what}: {where}" if where else what, hint)
                                      if x))
