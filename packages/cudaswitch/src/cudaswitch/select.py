"""Which toolkit a process gets: the request (flag, variables, configured default) and the match.

Precedence: ``--cuda`` > ``CUDASWITCH_CUDA`` > ``CUDA_VERSION`` (only a plain version: NVIDIA's
images set it, and its container toolkit reads it) > the configured default > ``auto``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .compat.verdict import Verdict, compat_driver_in, verdict_for
from .errors import IncompatibleError, NoMatchError, UsageError
from .host import Host
from .toolkits.model import Toolkit
from .versions import CudaVersion, SpecError, VersionSpec, is_plain_version

SPEC_ENV = "CUDASWITCH_CUDA"
LEGACY_ENV = "CUDA_VERSION"
CONFIG_ENV = "CUDASWITCH_CONFIG"
CONFIG_NAME = "cudaswitch.toml"


@dataclass(frozen=True)
class Request:
    spec: VersionSpec
    origin: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    toolkit: Toolkit
    verdict: Verdict
    request: Request
    why: tuple[str, ...]
    forced: bool = False

    def as_dict(self) -> dict:
        return {
            "request": {"spec": str(self.request.spec), "origin": self.request.origin,
                        "notes": list(self.request.notes)},
            "toolkit": self.toolkit.as_dict(),
            **self.verdict.as_dict(),
            "forced": self.forced,
            "why": list(self.why),
        }


def config_paths(env: Mapping[str, str], home: str) -> list[str]:
    if env.get(CONFIG_ENV):
        return [env[CONFIG_ENV]]
    return [os.path.join(os.getcwd(), CONFIG_NAME), os.path.join(home, CONFIG_NAME),
            os.path.join("/etc/cudaswitch", CONFIG_NAME)]


def read_default(path: str) -> str | None:
    """The top-level ``default = "..."`` of a manifest, read without a TOML library.

    The entrypoint must stay on the standard library of every supported Python (3.10 has no
    ``tomllib``); one top-level string key needs no parser.
    """
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                s = line.strip()
                if s.startswith("["):
                    return None
                m = re.match(r'^default\s*=\s*"([^"\\]*)"\s*(#.*)?$', s)
                if m:
                    return m.group(1)
    except (OSError, UnicodeDecodeError):
        return None
    return None


def configured_default(env: Mapping[str, str], home: str) -> tuple[str, str] | None:
    for path in config_paths(env, home):
        if os.path.isfile(path):
            value = read_default(path)
            if value:
                return value, path
    return None


def read_request(cli_spec: str | None, env: Mapping[str, str],
                 default: tuple[str, str] | None = None) -> Request:
    """Raises UsageError for a bad spec from the flag or ``CUDASWITCH_CUDA``."""
    notes: list[str] = []
    ours = env.get(SPEC_ENV) or None
    legacy = env.get(LEGACY_ENV) or None
    if ours and legacy and not cli_spec and is_plain_version(legacy):
        try:
            if VersionSpec.parse(ours).text != _major_minor(legacy):
                notes.append(f"{SPEC_ENV}={ours} wins over {LEGACY_ENV}={legacy}")
        except SpecError:
            pass
    for origin, value in (("--cuda", cli_spec), (SPEC_ENV, ours)):
        if value is not None:
            try:
                return Request(VersionSpec.parse(value), origin, tuple(notes))
            except SpecError as e:
                raise UsageError(f"{origin}: {e}") from e
    if legacy:
        if is_plain_version(legacy):
            return Request(VersionSpec.parse(_major_minor(legacy)), LEGACY_ENV, tuple(notes))
        notes.append(f"{LEGACY_ENV}={legacy[:40]!r} ignored: only a plain version such as 12.4 "
                     f"selects a toolkit (use {SPEC_ENV} for specs)")
    if default:
        value, path = default
        try:
            return Request(VersionSpec.parse(value), f"default in {path}", tuple(notes))
        except SpecError as e:
            raise UsageError(f"default in {path}: {e}") from e
    return Request(VersionSpec.parse("auto"), "auto (nothing requested)", tuple(notes))


def _major_minor(text: str) -> str:
    v = CudaVersion.parse(text)
    return v.major_minor


def _listing(toolkits: Sequence[Toolkit]) -> str:
    lines = []
    for t in toolkits:
        if t.ok:
            how = t.layout if t.found_via == t.layout else f"{t.layout}, {t.found_via}"
            lines.append(f"  {t.version!s:<12} {t.root}  ({how})")
        else:
            lines.append(f"  {'broken':<12} {t.root}  ({t.broken})")
    return "\n".join(lines) if lines else "  (none found)"


def verdicts(toolkits: Sequence[Toolkit], host: Host) -> dict[str, Verdict]:
    return {t.root: verdict_for(t.version, host, compat_driver_in(t.root, host))
            for t in toolkits if t.ok and t.version is not None}


def resolve(request: Request, toolkits: Sequence[Toolkit], host: Host,
            force: bool = False) -> Selection:
    spec = request.spec
    usable = [t for t in toolkits if t.ok]
    matches = [t for t in usable if t.version is not None and spec.matches(t.version)]
    if not matches:
        raise NoMatchError(
            f"no installed CUDA toolkit matches {spec} (from {request.origin}); installed:\n"
            f"{_listing(toolkits)}"
        )
    matches.sort(key=lambda t: t.version.parts if t.version else (), reverse=True)
    judged = [(t, verdict_for(t.version, host, compat_driver_in(t.root, host))) for t in matches
              if t.version is not None]
    why = [f"requested {spec} (from {request.origin})",
           f"{len(matches)} installed toolkit(s) match: "
           + ", ".join(f"{t.version} [{v.kind}]" for t, v in judged)]
    if spec.kind == "latest":
        chosen, verdict = judged[0]
        why.append("latest: the newest installed, whatever this host can run")
    else:
        runnable = [(t, v) for t, v in judged if v.runnable]
        if runnable:
            chosen, verdict = runnable[0]
            why.append("the newest match this host can run")
        else:
            chosen, verdict = judged[0]
    if not verdict.runnable:
        if not force:
            raise IncompatibleError(
                f"CUDA {chosen.version} at {chosen.root} cannot run here: {verdict.reason}"
                + (f"; install driver >= {verdict.needs_driver} or pick an older toolkit"
                   if verdict.needs_driver else "")
                + " (--force runs it anyway)"
            )
        why.append(f"--force: running despite: {verdict.reason}")
    why.append(f"verdict: {verdict.kind}: {verdict.reason}")
    return Selection(chosen, verdict, request, tuple(why), forced=not verdict.runnable)
