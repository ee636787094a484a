"""What an installed slot says about itself (``cudaswitch-slot.json``), as checked values.

The record decides what ``uninstall`` removes and what ``install`` trusts, and anyone who can
write the folder can edit it; so it is read into frozen dataclasses, every field checked for
type and shape (paths relative and inside the slot, hashes 64 hex digits), and a bad record is
a :class:`RecordError` (exit 2) that names the file, never a half-trusted dict.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import UsageError

RECORD_NAME = "cudaswitch-slot.json"
MAX_RECORD_BYTES = 64 << 20
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_TEXT = 4096


class RecordError(UsageError):
    """A slot record or lock file is not what cudaswitch writes."""


@dataclass(frozen=True)
class Wheel:
    """One exact wheel: what ``lock`` pins, ``fetch`` verifies and a record remembers."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object, where: str = "lock entry") -> Wheel:
        if not isinstance(d, Mapping):
            raise RecordError(f"{where}: a wheel must be a table, found {type(d).__name__}")
        vals = []
        for k in ("name", "version", "filename", "url", "sha256"):
            v = d.get(k)
            if not isinstance(v, str) or not v or len(v) > _MAX_TEXT:
                raise RecordError(f"{where}: wheel field {k!r} must be a non-empty string, "
                                  f"found {_shown(v)}")
            vals.append(v)
        w = cls(*vals)
        if not _SHA_RE.match(w.sha256) or "/" in w.filename or "\\" in w.filename \
                or not w.filename.endswith(".whl") or w.filename.startswith("."):
            raise RecordError(f"{where}: bad wheel {w.name}: file {w.filename!r}, "
                              f"sha256 {w.sha256[:80]!r} (want NAME-VER-...whl and 64 hex digits)")
        return w


@dataclass(frozen=True)
class FileEntry:
    """A file the slot's wheels put there (only these are removed on uninstall)."""

    sha256: str
    size: int
    mode: str = ""
    how: str = "link"
    wheel: str = ""


@dataclass(frozen=True)
class SlotRecord:
    format: int
    name: str
    release: str
    root: str
    request: Mapping[str, Any]
    wheels: tuple[Wheel, ...]
    files: Mapping[str, FileEntry]
    generated: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    venv: str | None = None
    installed_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"format": self.format, "name": self.name, "release": self.release,
                "root": self.root, "request": dict(self.request),
                "wheels": [w.as_dict() for w in self.wheels],
                "files": {k: asdict(v) for k, v in self.files.items()},
                "generated": list(self.generated), "conflicts": list(self.conflicts),
                "venv": self.venv, "installed_at": self.installed_at, **self.extra}


def _shown(v: object) -> str:
    return f"{type(v).__name__} {str(v)[:40]!r}"


def check_relpath(rel: object, where: str) -> str:
    """A path inside the slot: relative, normalized, no ``..``, no backslash, no NUL."""
    if not isinstance(rel, str) or not rel or len(rel) > _MAX_TEXT:
        raise RecordError(f"{where}: a path must be a non-empty string, found {_shown(rel)}")
    norm = posixpath.normpath(rel)
    if norm != rel.rstrip("/") or norm.startswith(("/", "../")) or norm in (".", "..") \
            or "\\" in rel or "\0" in rel or "/../" in f"/{rel}/":
        raise RecordError(f"{where}: path {rel[:120]!r} leaves the slot or is not normalized")
    return norm


def _text(d: Mapping, key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or len(v) > _MAX_TEXT:
        raise RecordError(f"{where}: field {key!r} must be a string, found {_shown(v)}")
    return v


def _strings(v: object, where: str, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise RecordError(f"{where}: field {key!r} must be a list of strings, found {_shown(v)}")
    return tuple(v)


def _file_entry(rel: str, v: object, where: str) -> FileEntry:
    if not isinstance(v, Mapping):
        raise RecordError(f"{where}: files[{rel!r}] must be a table, found {_shown(v)}")
    sha, size = v.get("sha256"), v.get("size")
    if not isinstance(sha, str) or not _SHA_RE.match(sha):
        raise RecordError(f"{where}: files[{rel!r}].sha256 must be 64 hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RecordError(f"{where}: files[{rel!r}].size must be a whole number, "
                          f"found {_shown(size)}")
    mode, how, wheel = (v.get(k, d) for k, d in (("mode", ""), ("how", "link"), ("wheel", "")))
    if mode not in ("", "x") or not isinstance(how, str) or not isinstance(wheel, str):
        raise RecordError(f"{where}: files[{rel!r}] has a bad mode, how or wheel")
    return FileEntry(sha, size, mode, how, wheel)


def parse_record(data: object, where: str) -> SlotRecord:
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: a slot record must be a JSON object")
    fmt = data.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt != 1:
        raise RecordError(f"{where}: record format {_shown(fmt)} is not 1")
    files_raw = data.get("files", {})
    if not isinstance(files_raw, Mapping):
        raise RecordError(f"{where}: field 'files' must be a table, found {_shown(files_raw)}")
    files = {check_relpath(k, where): _file_entry(k, v, where) for k, v in files_raw.items()}
    wheels_raw = data.get("wheels", [])
    if not isinstance(wheels_raw, list):
        raise RecordError(f"{where}: field 'wheels' must be a list, found {_shown(wheels_raw)}")
    request = data.get("request", {})
    if not isinstance(request, Mapping):
        raise RecordError(f"{where}: field 'request' must be a table, found {_shown(request)}")
    venv = data.get("venv")
    if venv is not None and (not isinstance(venv, str) or not os.path.isabs(venv)):
        raise RecordError(f"{where}: field 'venv' must be an absolute path or null, "
                          f"found {_shown(venv)}")
    known = {"format", "name", "release", "root", "request", "wheels", "files", "generated",
             "conflicts", "venv", "installed_at"}
    return SlotRecord(
        format=fmt, name=_text(data, "name", where), release=_text(data, "release", where),
        root=_text(data, "root", where, ""), request=dict(request),
        wheels=tuple(Wheel.from_dict(w, where) for w in wheels_raw), files=files,
        generated=tuple(check_relpath(g, where)
                        for g in _strings(data.get("generated"), where, "generated")),
        conflicts=_strings(data.get("conflicts"), where, "conflicts"), venv=venv,
        installed_at=_text(data, "installed_at", where, ""),
        extra={k: v for k, v in data.items() if k not in known})


def read_json_file(path: str, what: str, limit: int = MAX_RECORD_BYTES) -> object:
    """A JSON document cudaswitch wrote, or a RecordError naming the file; None when absent."""
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError as e:
        raise RecordError(f"{path}: the {what} is a folder, not a file") from e
    if len(raw) > limit:
        raise RecordError(f"{path}: the {what} is larger than {limit >> 20} MiB")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RecordError(f"{path}: the {what} is not valid JSON ({str(e)[:120]}); "
                          "move the folder away or reinstall") from e


def load_record(root: str) -> SlotRecord | None:
    """The slot record in ``root``; None when there is none; RecordError when it is bad."""
    path = os.path.join(root, RECORD_NAME)
    data = read_json_file(path, "slot record")
    if data is None:
        return None
    return parse_record(data, path)


__all__ = ["RECORD_NAME", "FileEntry", "RecordError", "SlotRecord", "Wheel", "check_relpath",
           "load_record", "parse_record", "read_json_file"]
