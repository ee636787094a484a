"""A conda environment holding NVIDIA's conda packages (``cuda-cudart``, ``cuda-version``)."""

from __future__ import annotations

import dataclasses
import os
import re

from ..versions import CudaVersion
from .layout import probe_toolkit
from .model import Toolkit

_META_RE = re.compile(r"^cuda-(cudart|version)-([0-9]+\.[0-9]+(?:\.[0-9]+)?)-.*\.json$")


def probe_conda(prefix: str, found_via: str) -> Toolkit | None:
    meta = os.path.join(prefix, "conda-meta")
    if not os.path.isdir(meta):
        return None
    tk = probe_toolkit(prefix, found_via, layout="conda")
    if tk is None or tk.cudart is None:
        return None
    try:
        names = os.listdir(meta)
    except OSError:
        return tk
    found = {}
    for n in names:
        m = _META_RE.match(n)
        if m:
            found[m.group(1)] = CudaVersion.parse(m.group(2))
    v = found.get("cudart") or found.get("version")
    if v is not None and tk.version_source in ("", "libcudart file name", "cuda_runtime_api.h"):
        return dataclasses.replace(tk, version=v, version_source="conda-meta", broken=None)
    return tk
