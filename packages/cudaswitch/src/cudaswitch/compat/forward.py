"""Should a container use the forward-compat ``libcuda`` it carries in ``cuda/compat``?

The NVIDIA Container Toolkit's ``cuda-compat`` hook decides this before the app starts; we
decide it the same way so that a verdict of ``forward-compat`` means what the toolkit will do.
Newer compat libraries carry an ELF note ``.note.cuda.fwd_compatibility`` (owner ``NVIDIA
Corporation``, a JSON payload) naming their CUDA version and the driver branches they work
with; older ones are judged by the driver major in their file name.

Standard library only (the container entrypoint may import this); ELF is read with ``struct``.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_COMPAT_ROOT = "/usr/local/cuda/compat"
LIB_PATTERN = "libcuda.so.*.*"
NOTE_SECTION = ".note.cuda.fwd_compatibility"
NOTE_OWNER = b"NVIDIA Corporation"
LDCONFIG_DIR = "/etc/ld.so.conf.d"

_SHT_NOTE = 7
_SHN_XINDEX = 0xFFFF
_MAX_SYMLINKS = 255
_INT64 = (-(2**63), 2**63 - 1)


class ForwardCompatError(ValueError):
    """Base for what this module raises about the files it reads."""


class ElfError(ForwardCompatError):
    """The library is not an ELF file we can read (truncated, wrong magic)."""


class CompatNoteError(ForwardCompatError):
    """The note is there but its payload is not the JSON NVIDIA writes."""


@dataclass(frozen=True)
class CompatHeader:
    """The note's payload: which CUDA the compat driver brings, which host branches it joins."""

    format: int = 0
    cuda_version: str = ""
    driver: tuple[int, ...] = ()
    device: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "cuda_version": self.cuda_version,
                "driver": list(self.driver), "device": list(self.device)}


@dataclass(frozen=True)
class CompatLib:
    """A ``libcuda.so.X.Y[.Z]`` found in a container; ``path`` is as the container sees it."""

    path: str
    host_path: str
    driver_version: str
    header: CompatHeader | None
    problem: str | None = None

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


# --------------------------------------------------------------------------- ELF note


def read_compat_header(path: str) -> CompatHeader | None:
    """The note of a compat ``libcuda``; ``None`` for a missing file or a library without one."""
    try:
        with open(path, "rb") as f:
            data = _note_section(f)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ElfError(f"failed to load elf info for {path!r}: {e}") from e
    if data is None:
        return None
    section, byteorder, align = data
    return parse_note(section, byteorder, align)


def parse_note(section: bytes, byteorder: str = "<", align: int = 1) -> CompatHeader | None:
    """One ELF note as the toolkit reads it: owner must be NVIDIA, payload must be its JSON."""
    if len(section) < 12:
        raise ElfError("failed to read data header: note shorter than 12 bytes")
    namesz, descsz, _ = struct.unpack(byteorder + "III", section[:12])
    if namesz == 0 or descsz == 0:
        return None
    step = max(align, 1)
    name_end = 12 + (namesz + step - 1) // step * step
    if section[12:name_end].strip(b"\0") != NOTE_OWNER:
        return None
    return parse_payload(section[name_end:name_end + descsz].strip(b"\0"))


def parse_payload(payload: bytes) -> CompatHeader:
    """The JSON payload, with Go's ``encoding/json`` leniency: keys match case-insensitively."""
    try:
        obj = json.loads(payload.decode("utf-8", "replace"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise CompatNoteError(f"could not unmarshal JSON data: {e}") from e
    if not isinstance(obj, dict):
        raise CompatNoteError(
            f"could not unmarshal JSON data: expected an object, got {type(obj).__name__}"
        )
    fields: dict[str, Any] = {}
    wanted = {"format": "format", "cuda version": "cuda_version",
              "driver": "driver", "device": "device"}
    for key, value in obj.items():
        name = wanted.get(key.lower())
        if name is not None and value is not None:
            fields[name] = value
    try:
        return CompatHeader(
            format=_go_int(fields.get("format", 0)),
            cuda_version=_go_str(fields.get("cuda_version", "")),
            driver=tuple(_go_int(v) for v in _go_list(fields.get("driver", []))),
            device=tuple(_go_int(v) for v in _go_list(fields.get("device", []))),
        )
    except TypeError as e:
        raise CompatNoteError(f"could not unmarshal JSON data: {e}") from e


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _go_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"cannot unmarshal {json.dumps(value)} into an int")
    if not _INT64[0] <= value <= _INT64[1]:
        raise TypeError(f"number {value} overflows an int")
    return value


def _go_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"cannot unmarshal {json.dumps(value)} into a string")
    return value


def _go_list(value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError(f"cannot unmarshal {json.dumps(value)} into a list")
    return value


def _note_section(f: Any) -> tuple[bytes, str, int] | None:
    ident = f.read(64)
    if len(ident) < 16 or ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    elf_class, data_enc = ident[4], ident[5]
    if elf_class not in (1, 2) or data_enc not in (1, 2):
        raise ElfError(f"unknown ELF class {elf_class} or data encoding {data_enc}")
    bo = "<" if data_enc == 1 else ">"
    if elf_class == 1:
        fmt_hdr, shdr_fmt = bo + "16xHHIIIIIHHHHHH", bo + "IIIIIIIIII"
    else:
        fmt_hdr, shdr_fmt = bo + "16xHHIQQQIHHHHHH", bo + "IIQQQQIIQQ"
    if len(ident) < struct.calcsize(fmt_hdr):
        raise ElfError("truncated ELF header")
    hdr = struct.unpack(fmt_hdr, ident[:struct.calcsize(fmt_hdr)])
    shoff, shentsize, shnum, shstrndx = hdr[5], hdr[10], hdr[11], hdr[12]
    if shoff == 0:
        return None
    entsize = struct.calcsize(shdr_fmt)
    if shentsize < entsize:
        raise ElfError(f"section header entries of {shentsize} bytes, expected {entsize}")

    def section_header(i: int) -> tuple:
        f.seek(shoff + i * shentsize)
        raw = f.read(entsize)
        if len(raw) < entsize:
            raise ElfError("truncated section header table")
        return struct.unpack(shdr_fmt, raw)

    first = section_header(0)
    if shnum == 0:
        shnum = first[5]
    if shstrndx == _SHN_XINDEX:
        shstrndx = first[6]
    if shnum > 65536 * 16 or shstrndx >= shnum:
        raise ElfError("implausible section count or string table index")
    headers = [section_header(i) for i in range(shnum)]
    names = _read(f, headers[shstrndx][4], headers[shstrndx][5])
    for h in headers:
        name_off, sh_type, offset, size, align = h[0], h[1], h[4], h[5], h[8]
        if sh_type != _SHT_NOTE:
            continue
        end = names.find(b"\0", name_off)
        if names[name_off:end if end >= 0 else None] != NOTE_SECTION.encode():
            continue
        return _read(f, offset, size), bo, align
    return None


def _read(f: Any, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) < size:
        raise ElfError(f"section at {offset} runs past the end of the file")
    return data


# --------------------------------------------------------------------------- decision


def _numeric(version: str) -> tuple[int, ...] | None:
    text = version[1:] if version.startswith("v") else version
    parts = text.split(".")
    if not text or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    nums = [int(p) for p in parts]
    while len(nums) > 1 and nums[-1] == 0:
        nums.pop()
    return tuple(nums)


def _major(version: str) -> int | None:
    head = version.split(".", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else None


def use_compat(
    header: CompatHeader | None,
    *,
    compat_driver: str = "",
    host_driver: str = "",
    host_cuda: str = "",
) -> bool:
    """The toolkit's rule, in this order of the facts available:

    - a note and both driver versions: the host's driver branch must be one the note lists,
      and the compat driver must be newer than the host's;
    - a note and the host's CUDA version: the note's CUDA must be newer;
    - no note: never when judged by CUDA version, else the compat driver's major must be
      higher than the host's.
    """
    if header is not None:
        if compat_driver and host_driver:
            host_major = _major(host_driver)
            ours, theirs = _numeric(compat_driver), _numeric(host_driver)
            if host_major is None or ours is None or theirs is None:
                return False
            return host_major in header.driver and ours > theirs
        if host_cuda and header.cuda_version:
            ours, theirs = _numeric(header.cuda_version), _numeric(host_cuda)
            return ours is not None and theirs is not None and ours > theirs
        return False
    if host_cuda or not host_driver or not compat_driver:
        return False
    host_major, compat_major = _major(host_driver), _major(compat_driver)
    return host_major is not None and compat_major is not None and host_major < compat_major


def resolve_in_root(root: str, path: str) -> str:
    """``path`` inside the container at ``root``, symlinks followed but never out of ``root``.

    An absolute link target restarts at ``root``; ``..`` stops at ``root``. The result is the
    container's view of the path (starting with ``/``).
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            links += 1
            if links > _MAX_SYMLINKS:
                raise ForwardCompatError(f"too many levels of symbolic links in {path!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def find_compat_libs(root: str, compat_root: str = DEFAULT_COMPAT_ROOT) -> tuple[CompatLib, ...]:
    """Every ``libcuda.so.*.*`` in the container's compat folder, with its note if it has one.

    A library whose note cannot be read is judged like one without a note, as the toolkit
    judges its own test fixtures; ``problem`` says what was wrong.
    """
    directory = resolve_in_root(root, compat_root)
    host_dir = os.path.join(root, directory.lstrip("/"))
    found = []
    for host_path in sorted(glob.glob(os.path.join(glob.escape(host_dir), LIB_PATTERN))):
        name = os.path.basename(host_path)
        try:
            header, problem = read_compat_header(host_path), None
        except ForwardCompatError as e:
            header, problem = None, str(e)
        found.append(CompatLib(
            path=os.path.join(directory, name),
            host_path=host_path,
            driver_version=name[len("libcuda.so."):],
            header=header,
            problem=problem,
        ))
    return tuple(found)


def compat_dir(
    root: str,
    *,
    host_driver: str = "",
    host_cuda: str = "",
    compat_root: str = DEFAULT_COMPAT_ROOT,
) -> str:
    """The container folder to put first on the loader path, or ``""`` to leave it alone."""
    for lib in find_compat_libs(root, compat_root):
        if use_compat(lib.header, compat_driver=lib.driver_version,
                      host_driver=host_driver, host_cuda=host_cuda):
            return lib.directory
    return ""


def ldconfig_conf(folders: Iterable[str]) -> str | None:
    """The ``ld.so.conf.d`` file the toolkit writes: one folder a line, no repeats; ``None``
    when there is nothing to add (the toolkit then writes no file).
    """
    seen: list[str] = []
    for folder in folders:
        if folder not in seen:
            seen.append(folder)
    return "".join(f"{folder}\n" for folder in seen) if seen else None


def write_ldconfig_conf(root: str, folders: Iterable[str]) -> str | None:
    """Write ``/etc/ld.so.conf.d/00-compat-*.conf`` in the container; world-readable, because
    the container may run as another user. Returns the host path written, if any.
    """
    content = ldconfig_conf(folders)
    if content is None:
        return None
    conf_dir = os.path.join(root, LDCONFIG_DIR.lstrip("/"))
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="00-compat-", suffix=".conf", dir=conf_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(path, 0o644)
    return path
