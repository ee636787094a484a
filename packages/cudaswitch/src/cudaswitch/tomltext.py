"""The one way cudaswitch reads TOML a user wrote: every failure is a UsageError naming the file.

``tomllib`` raises ``RecursionError`` on arrays nested a few thousand deep; a manifest or a
configuration file is user input, so that must end as exit 2, not a traceback, wherever the
file is read (the entrypoint, ``which``, ``image build``).
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def parse_toml(text: str, path: str, hint_duplicates: bool = False) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        hint = (" (a slot name used twice?)"
                if hint_duplicates and "overwrite" in str(e).lower() else "")
        raise UsageError(f"{path}: not valid TOML: {e}{hint}") from e
    except RecursionError as e:
        raise UsageError(f"{path}: nested too deeply to be a cudaswitch manifest") from e
