"""One way to print a size, a duration and a toolkit's version, for every command.

Sizes: binary units (KiB, MiB, GiB, TiB) with one decimal, as uv prints downloads and as the
portal and ``nvidia-smi`` report memory; bytes below 1 KiB are printed whole. Durations: seconds
with one decimal and no space (``2.3s``), as uv and the matrix print them; ten minutes and more
as ``12m05s``. Versions: a toolkit is its runtime's version, followed by the release it was
installed as when that differs (``12.4.127 (release 12.4.1)``), so that ``list``, ``which``,
``slot list``, ``doctor``, ``matrix`` and the banner name one toolkit the same way. Standard
library only, so that any layer may use it.
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(n: int | float) -> str:
    """``3670016`` -> ``3.5 MiB``; negative sizes keep their sign (a size that shrank)."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1024:
        return f"{sign}{int(n)} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{sign}{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``2.345`` -> ``2.3s``; ``725`` -> ``12m05s`` (a long run reads better in minutes)."""
    seconds = max(float(seconds), 0.0)
    if round(seconds, 1) < 600:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def version_text(version: object | None, release: object | None = None) -> str:
    """``12.4.127`` installed as release ``12.4.1`` -> ``12.4.127 (release 12.4.1)``.

    The runtime's version comes first because it is what a process loads and what specs match
    first; the release is added only when it says something the version does not. With no
    known version (a slot not installed, a broken toolkit) the release alone is shown, else
    ``-``. Prose puts ``CUDA `` in front; a table's CUDA or VERSION column holds it as is.
    """
    if version is None or str(version) == "":
        return str(release) if release not in (None, "") else "-"
    if release not in (None, "") and release != version and str(release) != str(version):
        return f"{version} (release {release})"
    return str(version)
