"""Every wheel an image's slots install, resolved for the image's interpreter and platform.

pip resolves with the configured index (``pip config``, ``--index-url``) but with the base
image's Python version, glibc and machine instead of the host's, so a 3.12 host building a 3.11
image gets cp311 wheels. Resolution reads metadata only: ``--dry-run`` and the build share it,
and a pin the index does not serve fails here, in seconds, before a byte of a wheel is fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..install import resolve as install_resolve
from ..install.pip import IndexOptions, PipError
from ..install.resolve import Wheel, resolve_slot
from ..slots import Slot

_TAG_PYTHON_RE = re.compile(r"(?:^|/)python:(3\.\d{1,2})(?:[.-]|$)")


@dataclass(frozen=True)
class Platform:
    """The interpreter and C library wheels must fit: ``python`` as ``3.11``."""

    python: str
    glibc: tuple[int, int] = (2, 28)
    machine: str = "x86_64"
    source: str = "assumed"

    def pip_args(self) -> list[str]:
        tags = [f"manylinux_{self.glibc[0]}_{m}_{self.machine}"
                for m in range(self.glibc[1], 16, -1)]
        tags += [f"manylinux2014_{self.machine}", f"linux_{self.machine}"]
        out = ["--python-version", self.python, "--implementation", "cp"]
        for t in tags:
            out += ["--platform", t]
        return out

    def describe(self) -> str:
        return (f"Python {self.python}, glibc {self.glibc[0]}.{self.glibc[1]}, {self.machine} "
                f"({self.source})")

    def as_dict(self) -> dict:
        return {"python": self.python, "glibc": list(self.glibc), "machine": self.machine,
                "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping) -> Platform:
        try:
            python, glibc, machine = str(d["python"]), d["glibc"], str(d["machine"])
            if not re.fullmatch(r"3\.\d{1,2}", python) or not re.fullmatch(r"[a-z0-9_]{1,20}",
                                                                           machine):
                raise ValueError(python)
            return cls(python, (int(glibc[0]), int(glibc[1])), machine,
                       str(d.get("source", "lock")))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise UsageError(f"bad platform record {dict(d)!r:.120}") from e


PROBE = ("import json, platform, sys; print(json.dumps([list(sys.version_info[:2]), "
         "platform.libc_ver(), platform.machine()]))")


def parse_probe(text: str, source: str) -> Platform:
    """The probe's one JSON line, as the base's Python printed it."""
    try:
        (major, minor), (libc, version), machine = json.loads(text.strip().splitlines()[-1])
        parts = [int(p) for p in str(version).split(".")[:2]]
        if libc != "glibc" or len(parts) != 2:
            raise ValueError(libc)
        return Platform(f"{int(major)}.{int(minor)}", (parts[0], parts[1]), str(machine),
                        source)
    except (ValueError, TypeError, IndexError) as e:
        raise UsageError(f"the base image's Python did not say what it is ({text.strip()[-200:]!r}"
                         "); cudaswitch images need a glibc base with Python 3") from e


def guess_platform(base: str) -> Platform | None:
    """From a ``python:3.X-...`` tag, when the base cannot be asked."""
    m = _TAG_PYTHON_RE.search(base)
    if not m:
        return None
    return Platform(m.group(1), (2, 28), "x86_64", f"read from the tag of {base}; glibc assumed")


@dataclass(frozen=True)
class SlotWheels:
    """A slot's NVIDIA wheels and its packages' wheels (every dependency, pinned by pip)."""

    slot: Slot
    nvidia: tuple[Wheel, ...]
    packages: tuple[Wheel, ...]

    @property
    def wheels(self) -> tuple[Wheel, ...]:
        return self.nvidia + self.packages

    def versions(self) -> dict[str, str]:
        return {w.name: w.version for w in self.wheels}


def resolve_packages(slot: Slot, platform: Platform, index: IndexOptions,
                     env: Mapping[str, str] | None = None) -> list[Wheel]:
    """The slot's packages and every dependency, for the image's interpreter and platform;
    its ``no_deps`` packages without the dependencies they declare, as ``sync`` installs
    them in the image from exactly these wheels."""
    if not slot.packages:
        return []
    try:
        return install_resolve.resolve_packages(
            slot.packages, None, index, env, f"resolving the packages of slot {slot.name}",
            slot.no_deps, platform.pip_args())
    except PipError as e:
        raise PipError(
            f"slot {slot.name}: {', '.join(slot.packages)} cannot be installed on "
            f"{platform.describe()} from the configured index.\n  {e}\n"
            "  Change the pins to versions the index serves (pip index versions NAME; "
            f"cudaswitch slot suggest --cuda {slot.cuda})") from None


def resolve_image(slots: Sequence[Slot], platform: Platform, index: IndexOptions, cache: str,
                  env: Mapping[str, str] | None = None, line=None) -> list[SlotWheels]:
    out = []
    for slot in slots:
        if line:
            line(f"{slot.name}: resolving CUDA {slot.release} and "
                 f"{len(slot.packages)} package(s) for {platform.describe()}")
        nvidia = resolve_slot(slot, index, cache, env)
        out.append(SlotWheels(slot, tuple(nvidia),
                              tuple(resolve_packages(slot, platform, index, env))))
    return out


# Labels saying what a slot really holds: wheel name -> label key.
RESOLVED_LABELS = (
    (re.compile(r"^nvidia-cuda-runtime(-cu\d+)?$"), "cudart"),
    (re.compile(r"^nvidia-cudnn(-cu\d+)?$"), "cudnn"),
    (re.compile(r"^tensorrt(-cu\d+)?(-libs)?$"), "tensorrt"),
    (re.compile(r"^onnxruntime(-gpu)?$"), "onnxruntime"),
    (re.compile(r"^numpy$"), "numpy"),
)


def resolved_labels(names_versions: Mapping[str, str], major: int) -> dict[str, str]:
    """Versions a slot of CUDA ``major`` really holds; wheels built for another major (a
    shared wheelhouse) are not its own."""
    out: dict[str, str] = {}
    for name, version in sorted(names_versions.items()):
        cu = re.search(r"-cu(\d+)(?:-|$)", name)
        if cu and int(cu.group(1)) != major:
            continue
        if not cu and name.startswith("nvidia-cuda-runtime") and \
                not version.startswith(f"{major}."):
            continue
        for pattern, key in RESOLVED_LABELS:
            if pattern.match(name) and key not in out:
                out[key] = version
    return out


_WHEEL_NAME_RE = re.compile(r"^([A-Za-z0-9_.]+)-([A-Za-z0-9_.+!]+)-")


def name_version(filename: str) -> tuple[str, str] | None:
    m = _WHEEL_NAME_RE.match(filename)
    if not m:
        return None
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2)
