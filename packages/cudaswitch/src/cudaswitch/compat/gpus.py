"""NVIDIA GPUs by PCI device id, read from the shipped ``gpus.json``.

A baked entrypoint learns a GPU's compute capability from sysfs, where the kernel gives the
PCI device id but nothing NVIDIA-specific; this table turns the id into the architecture the
verdict needs. It is data with its sources (see ``gpus.json``), kept short on purpose: a GPU
it does not list is left to NVML, in the full flow. Names are for people only: the id decides,
because the ``Model:`` names the driver prints vary between driver branches.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache

DATA_FILE = os.path.join(os.path.dirname(__file__), "gpus.json")
NVIDIA_VENDOR = "0x10de"
_ID = re.compile(r"0x[0-9a-f]{4}")
_CC = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")


@dataclass(frozen=True)
class GpuModel:
    pci_device_id: str  # as sysfs prints it: 0x and four lower-case hex digits
    chip: str
    name: str
    compute_capability: str


def parse_models(raw: dict) -> tuple[GpuModel, ...]:
    """The rows of ``gpus.json``, checked: a malformed or repeated id is a ValueError, since a
    wrong row would make the baked entrypoint decide for the wrong architecture."""
    out: dict[str, GpuModel] = {}
    for row in raw["rows"]:
        m = GpuModel(str(row["pci_device_id"]), str(row["chip"]), str(row["name"]),
                     str(row["compute_capability"]))
        if not _ID.fullmatch(m.pci_device_id) or not _CC.fullmatch(m.compute_capability):
            raise ValueError(f"gpus.json: bad row {row!r} (want 0x and four lower-case hex "
                             "digits, and a compute capability such as 9.0)")
        if m.pci_device_id in out:
            raise ValueError(f"gpus.json: {m.pci_device_id} is listed twice")
        out[m.pci_device_id] = m
    return tuple(out.values())


@lru_cache(maxsize=1)
def gpu_models() -> tuple[GpuModel, ...]:
    with open(DATA_FILE, encoding="utf-8") as f:
        return parse_models(json.load(f))
