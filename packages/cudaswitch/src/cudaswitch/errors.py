"""Errors a caller can act on, one class each, and the exit code each maps to.

Only ``main()`` functions exit; library code raises these. The codes are documented in
``cudaswitch --help`` and the README.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_FAILED = 1  # a requirement did not hold, a doctor finding at error level, a failed check
EXIT_USAGE = 2  # bad input: spec, flag, manifest, path
EXIT_NO_MATCH = 3  # nothing installed matches the request
EXIT_INCOMPATIBLE = 4  # the match cannot run on this host (driver or GPU); --force runs anyway
EXIT_VERIFY = 5  # --verify: the runtime did not load, or a CUDA call failed
EXIT_SWITCH = 6  # the global symlink could not be switched (permissions, a real folder there)
EXIT_ENVIRONMENT = 7  # the machine refused: disk full, permission denied, read-only folder
EXIT_PIPE = 141  # the reader of our output went away (``| head``), as a shell reports SIGPIPE
EXIT_NOT_FOUND = 127  # the command to run does not exist

EXIT_CODES_HELP = """exit codes:
  0    success (exec: the command's own status)
  1    a requirement or check did not hold
  2    bad input (spec, flag, manifest, path); nothing was changed
  3    no installed toolkit matches the request (the installed ones are listed)
  4    the matching toolkit cannot run on this host's driver or GPU (--force runs anyway)
  5    --verify failed: the runtime did not load or a CUDA call failed
  6    the /usr/local/cuda switch failed; the old link is untouched
  7    environment fault: disk full, permission denied, read-only or unusable folder
  127  the command to run was not found
  141  the output pipe closed early (e.g. | head); the rest of the output was dropped"""


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
