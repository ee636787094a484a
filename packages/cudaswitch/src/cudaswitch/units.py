"""One way to print a size, for every command and the install progress.

Binary units (KiB, MiB, GiB, TiB) with one decimal, as uv prints downloads and as the portal
and ``nvidia-smi`` report memory; bytes below 1 KiB are printed whole. Standard library only,
so that any layer may use it.
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
