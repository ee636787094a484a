"""What a node's GPU Feature Discovery labels say about its driver and GPU.

GFD writes the driver version and the driver's maximum CUDA as separate integer labels
(``nvidia.com/cuda.driver-version.major`` = ``580`` ...); older GFD releases wrote the same
facts under names it has since deprecated (``nvidia.com/cuda.driver.major`` ...). A node is
read with one generation of names only: the current one when its driver major label is there,
else the deprecated one. The affinity terms in ``affinity`` are written to read nodes the same
way, which is what makes "the affinity matches" and "the verdict says it fits" the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..versions import CudaVersion

PREFIX = "nvidia.com/"


@dataclass(frozen=True)
class LabelNames:
    """One generation of GFD label names for the driver facts."""

    generation: str
    driver_major: str
    driver_minor: str
    driver_revision: str
    cuda_major: str
    cuda_minor: str


CURRENT = LabelNames(
    "current",
    "nvidia.com/cuda.driver-version.major",
    "nvidia.com/cuda.driver-version.minor",
    "nvidia.com/cuda.driver-version.revision",
    "nvidia.com/cuda.runtime-version.major",
    "nvidia.com/cuda.runtime-version.minor",
)
DEPRECATED = LabelNames(
    "deprecated",
    "nvidia.com/cuda.driver.major",
    "nvidia.com/cuda.driver.minor",
    "nvidia.com/cuda.driver.rev",
    "nvidia.com/cuda.runtime.major",
    "nvidia.com/cuda.runtime.minor",
)
GENERATIONS: tuple[LabelNames, ...] = (CURRENT, DEPRECATED)
COMPUTE_MAJOR = "nvidia.com/gpu.compute.major"
COMPUTE_MINOR = "nvidia.com/gpu.compute.minor"
PRODUCT = "nvidia.com/gpu.product"
FAMILY = "nvidia.com/gpu.family"
COUNT = "nvidia.com/gpu.count"
DRIVER_FULL = "nvidia.com/cuda.driver-version.full"

# GFD writes whole numbers without sign or leading zero (the driver revision keeps its zero,
# "06", and is only ever compared with Gt). A label written otherwise by hand ("+13", "013")
# is read as missing here; the scheduler's ``In`` would not match it either.
_INT_RE = re.compile(r"^(?:0|[1-9][0-9]{0,17})$")
_REVISION_RE = re.compile(r"^[0-9]{1,18}$")


def label_int(labels: Mapping[str, str], key: str, pattern: re.Pattern = _INT_RE) -> int | None:
    """A label as a whole number; None when absent or not written as GFD writes numbers."""
    value = labels.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        return None
    return int(value)


@dataclass(frozen=True)
class NodeFacts:
    """A node's driver and GPU as its labels tell them; ``missing`` says why they cannot."""

    name: str
    driver: str | None = None
    driver_cuda: CudaVersion | None = None
    compute_capability: str | None = None
    product: str | None = None
    gpu_count: int | None = None
    generation: str | None = None
    missing: str | None = None

    @property
    def complete(self) -> bool:
        return self.missing is None

    def as_dict(self) -> dict:
        return {
            "node": self.name,
            "driver": self.driver,
            "driver_cuda": str(self.driver_cuda) if self.driver_cuda else None,
            "gpu_product": self.product,
            "compute_capability": self.compute_capability,
            "gpu_count": self.gpu_count,
            "labels": self.generation,
            "missing": self.missing,
        }


def node_facts(name: str, labels: Mapping[str, str]) -> NodeFacts:
    """The driver revision is optional (a driver ``570.26`` has none); every other fact is
    needed for a verdict, and a node without one is reported with what is missing."""
    names = CURRENT if CURRENT.driver_major in labels else DEPRECATED
    major, minor = label_int(labels, names.driver_major), label_int(labels, names.driver_minor)
    revision = label_int(labels, names.driver_revision, _REVISION_RE)
    cuda_major = label_int(labels, names.cuda_major)
    cuda_minor = label_int(labels, names.cuda_minor)
    cc_major, cc_minor = label_int(labels, COMPUTE_MAJOR), label_int(labels, COMPUTE_MINOR)
    product = labels.get(PRODUCT)
    driver = dcuda = cc = None
    if major is not None and minor is not None:
        rev = labels.get(names.driver_revision, "")
        driver = f"{major}.{minor}" + ("" if revision is None else
                                       f".{rev}" if rev.isdigit() else f".{revision}")
    if cuda_major is not None and cuda_minor is not None:
        dcuda = CudaVersion(cuda_major, cuda_minor)
    if cc_major is not None and cc_minor is not None:
        cc = f"{cc_major}.{cc_minor}"
    missing = None
    if driver is None:
        if names.driver_major not in labels:
            names = CURRENT
        missing = (f"no GPU Feature Discovery driver labels ({names.driver_major}, "
                   f"{names.driver_minor} as whole numbers)")
    elif dcuda is None:
        missing = f"no driver CUDA labels ({names.cuda_major}, {names.cuda_minor})"
    elif cc is None:
        missing = f"no GPU architecture labels ({COMPUTE_MAJOR}, {COMPUTE_MINOR})"
    return NodeFacts(name, driver, dcuda, cc, product if isinstance(product, str) else None,
                     label_int(labels, COUNT), names.generation if driver else None, missing)
