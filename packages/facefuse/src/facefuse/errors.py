"""One exception class per thing a user can do about a failure, each with its exit code.

Library code raises these; only `cli.main` turns them into a one-line message and an exit
status. The codes are listed in `--help` (see `EXIT_CODES`) and in docs/facefuse.md.
"""

from __future__ import annotations


class FacefuseError(Exception):
    """Base class; `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(FacefuseError):
    """Arguments that cannot work together (argparse itself uses 2 for syntax)."""

    exit_code = 2


class InputError(FacefuseError):
    """A source or target is missing, unreadable, truncated or of an unknown kind."""

    exit_code = 3


class NoFaceError(FacefuseError):
    """No face in a source image, or in the target (without --keep-unmatched)."""

    exit_code = 4


class OutputError(FacefuseError):
    """The output path cannot be written (missing folder, not writable)."""

    exit_code = 5


class ModelError(FacefuseError):
    """A model is missing, fails its hash check, cannot be downloaded or has the wrong shape."""

    exit_code = 6


class ProviderError(FacefuseError):
    """A requested execution provider is unknown or not active in the created session."""

    exit_code = 7


class MediaToolError(FacefuseError):
    """ffmpeg is missing or failed while decoding or encoding."""

    exit_code = 8


INTERRUPTED_EXIT_CODE = 130

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error",
    UsageError.exit_code: "usage error (bad or conflicting arguments)",
    InputError.exit_code: "unreadable, truncated or unsupported source/target",
    NoFaceError.exit_code: "no face found in a source, or in the target (see --keep-unmatched)",
    OutputError.exit_code: "output path not writable (e.g. its folder does not exist)",
    ModelError.exit_code: "model missing, corrupt or not downloadable",
    ProviderError.exit_code: "execution provider unknown or not active (see --allow-cpu-fallback)",
    MediaToolError.exit_code: "ffmpeg missing or failed",
    INTERRUPTED_EXIT_CODE: "interrupted (Ctrl-C); temporary files removed",
}
