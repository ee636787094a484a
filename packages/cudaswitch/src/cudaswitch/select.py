"""The request step: what the caller asked for, read from flags, variables and the manifest.

Precedence, first that is set wins:

1. ``--slot NAME`` or ``--cuda SPEC`` (both at once: exit 2)
2. ``CUDASWITCH_SLOT`` or ``CUDASWITCH_CUDA`` (both at once: exit 2)
3. the shell's active toolkit, ``CUDASWITCH_ACTIVE`` (what ``eval "$(cudaswitch env ...)"`` and
   every launched process carry), so that a shell switched to 11.8 keeps running 11.8
4. ``CUDA_VERSION``, only a plain version: NVIDIA's images set it (``12.4.1``, a release label,
   read as ``12.4``), and its container toolkit reads it; ``12`` means the newest 12.x
5. ``default`` in ``cudaswitch.toml``: a version spec or a slot name
6. ``auto``

Nothing here looks at the disk beyond the manifest: which toolkit answers is the target step.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .compat.verdict import Verdict, compat_driver_in, verdict_for
from .errors import UsageError
from .host import Host
from .tomltext import parse_toml
from .toolkits.model import Toolkit
from .versions import SpecError, VersionSpec, is_plain_version

NOTHING_REQUESTED = "nothing requested"

SPEC_ENV = "CUDASWITCH_CUDA"
SLOT_ENV = "CUDASWITCH_SLOT"
LEGACY_ENV = "CUDA_VERSION"
ACTIVE_ENV = "CUDASWITCH_ACTIVE"
CONFIG_ENV = "CUDASWITCH_CONFIG"
CONFIG_NAME = "cudaswitch.toml"
MANIFEST_LIMIT = 1 << 20

@dataclass(frozen=True)
class Request:
    """One selector: a version spec, a slot by name, or the shell's active toolkit (a root)."""

    spec: VersionSpec | None
    origin: str
    notes: tuple[str, ...] = ()
    slot: str | None = None
    active: str | None = None

    @property
    def text(self) -> str:
        if self.slot is not None:
            return self.slot
        if self.active is not None:
            return self.active
        return str(self.spec)

    @property
    def kind(self) -> str:
        return "slot" if self.slot is not None else "active" if self.active is not None else "spec"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "spec": self.text, "origin": self.origin,
                "notes": list(self.notes)}


def config_paths(env: Mapping[str, str], home: str) -> list[str]:
    if env.get(CONFIG_ENV):
        return [env[CONFIG_ENV]]
    return [os.path.join(os.getcwd(), CONFIG_NAME), os.path.join(home, CONFIG_NAME),
            os.path.join("/etc/cudaswitch", CONFIG_NAME)]


def read_default(path: str) -> str | None:
    """The manifest's top-level ``default``, parsed as TOML (a byte-order mark is allowed).

    A manifest that does not parse is an error naming the file and line: ignoring it would
    run another CUDA than the one written there.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UsageError(f"cannot read manifest {path}: {e.strerror}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{path}: a manifest must be a regular file")
        data = os.read(fd, MANIFEST_LIMIT + 1)
    except OSError as e:
        raise UsageError(f"cannot read manifest {path}: {e.strerror}") from e
    finally:
        os.close(fd)
    if len(data) > MANIFEST_LIMIT:
        raise UsageError(f"{path}: manifest larger than 1 MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start})") from e
    raw = parse_toml(text, path)
    value = raw.get("default")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{path}: default must be a non-empty string (a slot name or a CUDA "
                         f"spec such as \"12.4\"), not {value!r:.40}")
    return value.strip()


def configured_default(env: Mapping[str, str], home: str) -> tuple[str, str] | None:
    """(value, path) of the first manifest found that has a ``default``."""
    for path in config_paths(env, home):
        if os.path.isfile(path):
            value = read_default(path)
            if value:
                return value, path
    return None


def _spec(value: str, origin: str, notes: list[str]) -> Request:
    try:
        return Request(VersionSpec.parse(value), origin, tuple(notes))
    except SpecError as e:
        raise UsageError(f"{origin}: {e}") from e


def _both(a: str, av: str, b: str, bv: str) -> UsageError:
    return UsageError(f"{a} {av!r:.70} and {b} {bv!r:.70} both select a toolkit; give one "
                      f"(a slot name, or a version spec)")


def legacy_spec(text: str) -> str:
    """``CUDA_VERSION`` as a spec: ``12`` stays a major, ``12.4.1`` (NVIDIA's release label)
    becomes ``12.4``."""
    parts = text.strip().lstrip("v").split(".")
    return ".".join(parts[:2])


def read_request(cli_spec: str | None, env: Mapping[str, str],
                 default: tuple[str, str] | None = None,
                 cli_slot: str | None = None, spec_origin: str = "--cuda") -> Request:
    """The request, by the precedence above. Raises UsageError for a bad spec or two selectors
    of the same rank. ``spec_origin`` names where ``cli_spec`` was given (``--cuda`` or a
    command's positional argument), so that messages blame the right thing."""
    notes: list[str] = []
    if cli_slot is not None and cli_spec is not None:
        raise _both("--slot", cli_slot, spec_origin, cli_spec)
    ours = env.get(SPEC_ENV) or None
    slot_var = env.get(SLOT_ENV) or None
    legacy = env.get(LEGACY_ENV) or None
    active = env.get(ACTIVE_ENV) or None
    if cli_slot is not None:
        return Request(None, "--slot", tuple(notes), slot=cli_slot)
    if cli_spec is not None:
        return _spec(cli_spec, spec_origin, notes)
    if ours and slot_var:
        raise _both(SLOT_ENV, slot_var, SPEC_ENV, ours)
    if ours and legacy and is_plain_version(legacy):
        try:
            if VersionSpec.parse(ours).text != legacy_spec(legacy):
                notes.append(f"{SPEC_ENV}={ours} wins over {LEGACY_ENV}={legacy}")
        except SpecError:
            pass
    if slot_var:
        return Request(None, SLOT_ENV, tuple(notes), slot=slot_var)
    if ours:
        return _spec(ours, SPEC_ENV, notes)
    if active:
        _name, sep, root = active.partition("@")
        if not sep or not os.path.isabs(root):
            raise UsageError(f"{ACTIVE_ENV}={active!r:.80} is not NAME@/ABSOLUTE/ROOT as "
                             f"`cudaswitch env` sets it; unset it or switch again")
        return Request(None, f"{ACTIVE_ENV} (this shell)", tuple(notes), active=root)
    if legacy:
        if is_plain_version(legacy):
            return _spec(legacy_spec(legacy), LEGACY_ENV, notes)
        notes.append(f"{LEGACY_ENV}={legacy[:40]!r} ignored: only a plain version such as 12.4 "
                     f"selects a toolkit (use {SPEC_ENV} for specs)")
    if default:
        value, path = default
        try:
            return Request(VersionSpec.parse(value), f"default in {path}", tuple(notes))
        except SpecError:
            return Request(None, f"default in {path}", tuple(notes), slot=value)
    return Request(VersionSpec.parse("auto"), NOTHING_REQUESTED, tuple(notes))


def verdicts(toolkits: Sequence[Toolkit], host: Host) -> dict[str, Verdict]:
    """Each usable toolkit's verdict on ``host``, by root: what listings show beside it."""
    return {t.root: verdict_for(t.version, host, compat_driver_in(t.root, host))
            for t in toolkits if t.ok and t.version is not None}
