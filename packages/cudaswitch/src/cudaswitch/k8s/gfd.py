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

# Two ways to read a number, one per way the affinity compares it (see ``affinity``):
# driver and driver-CUDA labels are only compared with ``Gt``, which reads them as Go's
# strconv.ParseInt(v, 10, 64) does ("013" and "+13" are 13; "1e1", " 13" and values past
# int64 are not numbers), and a negative one counts as missing. The GPU architecture labels
# are only compared with ``In``, an exact string match, so they are read only when written
# as GFD writes them ("8", not "08").
DRIVER_PART_MAX = 999_999_999
_PARSE_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_INT_RE = re.compile(r"^(?:0|[1-9][0-9]{0,17})$")


def parse_int(value: object) -> int | None:
    """A label as the scheduler's ``Gt``/``Lt`` read it: strconv.ParseInt(value, 10, 64)."""
    if not isinstance(value, str) or not _PARSE_INT_RE.match(value):
        return None
    number = int(value)
    return number if -(2**63) <= number < 2**63 else None


def label_count(labels: Mapping[str, str], key: str) -> int | None:
    """A whole number, read when written as GFD writes them ("8"); None otherwise."""
    value = labels.get(key)
    if not isinstance(value, str) or not _INT_RE.match(value):
        return None
    return int(value)


def label_number(labels: Mapping[str, str], key: str) -> int | None:
    """A non-negative integer as ``Gt`` reads it; None when absent, not one, or negative."""
    number = parse_int(labels.get(key))
    return number if number is not None and number >= 0 else None


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


def _part(number: int) -> int:
    return min(number, DRIVER_PART_MAX)


def node_facts(name: str, labels: Mapping[str, str]) -> NodeFacts:
    """The driver revision is optional (a driver ``570.26`` has none); every other fact is
    needed for a verdict, and a node without one is reported with what is missing. A driver
    part past ``DRIVER_PART_MAX`` is read as that: no driver comes near, every floor and
    ``minDriver`` is below it, so each comparison comes out the same, and the version stays
    short enough to parse."""
    names = CURRENT if CURRENT.driver_major in labels else DEPRECATED
    major = label_number(labels, names.driver_major)
    minor = label_number(labels, names.driver_minor)
    revision = label_number(labels, names.driver_revision)
    cuda_major = label_number(labels, names.cuda_major)
    cuda_minor = label_number(labels, names.cuda_minor)
    cc_major, cc_minor = label_count(labels, COMPUTE_MAJOR), label_count(labels, COMPUTE_MINOR)
    product = labels.get(PRODUCT)
    driver = dcuda = cc = None
    if major is not None and minor is not None:
        rev = labels.get(names.driver_revision, "")
        driver = f"{_part(major)}.{_part(minor)}" + (
            "" if revision is None else
            f".{rev}" if rev.isdigit() and len(rev) <= 9 else f".{_part(revision)}")
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
                     label_count(labels, COUNT), names.generation if driver else None, missing)
