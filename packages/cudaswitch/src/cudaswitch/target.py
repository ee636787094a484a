"""The target step: from a request to the one toolkit (and slot) a process would run against.

A version spec picks the newest matching toolkit this host can run (the verdicts rank the
matches; the check step still judges the winner); a slot name picks that installed slot; the
shell's active toolkit picks the toolkit at its root. A toolkit that is an installed slot's
toolkit becomes the whole slot (``_slot_at``): ``CUDA_VERSION=11.8`` in an image then runs the
11.8 slot's Python too. No verdict is final here; :func:`cudaswitch.check.check` gives it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from . import slots
from .compat.verdict import compat_driver_in, verdict_for
from .errors import NoMatchError
from .host import Host
from .plan import Target
from .select import LEGACY_ENV, NOTHING_REQUESTED, Request, legacy_spec
from .toolkits.model import Toolkit
from .versions import VersionSpec, is_plain_version


def listing(toolkits: Sequence[Toolkit]) -> str:
    """The installed toolkits, for messages that must say what would have matched."""
    lines = []
    width = max([len(t.shown_version) for t in toolkits if t.ok] + [len("broken")])
    for t in toolkits:
        if t.ok:
            how = t.layout if t.found_via == t.layout else f"{t.layout}, {t.found_via}"
            lines.append(f"  {t.shown_version:<{width}} {t.root}  ({how})")
        else:
            lines.append(f"  {'broken':<{width}} {t.root}  ({t.broken})")
    return "\n".join(lines) if lines else "  (none found)"


def _slot_at(root: str, env: Mapping[str, str]) -> str | None:
    """The installed slot whose toolkit is ``root``, if any."""
    real = os.path.realpath(root)
    for name, slot_root in slots.installed_slots(env).items():
        if os.path.realpath(slot_root) == real:
            return name
    return None


def _as_slot(target: Target, env: Mapping[str, str], toolkits: Sequence[Toolkit],
             host: Host) -> Target:
    name = _slot_at(target.toolkit.root, env)
    if not name:
        return target
    whole = slots.target_for_slot(name, env, toolkits, host)
    return dataclasses.replace(whole, why=(*target.why, f"{target.toolkit.root} is slot {name}: "
                                           "the slot's venv and variables come with it"))


def _asked(spec: VersionSpec, origin: str) -> str:
    return f"{spec} ({origin})" if origin == NOTHING_REQUESTED else f"{spec} (from {origin})"


def spec_target(spec: VersionSpec, origin: str, toolkits: Sequence[Toolkit],
                host: Host) -> Target:
    """The newest toolkit matching ``spec`` that this host can run, else the newest match
    (``latest``: the newest, whatever the host)."""
    usable = [t for t in toolkits if t.ok and t.version is not None]
    matches = [t for t in usable if t.matches(spec)]
    if not matches:
        raise NoMatchError(f"no installed CUDA toolkit matches {_asked(spec, origin)}; "
                           f"installed:\n{listing(toolkits)}")
    matches.sort(key=lambda t: t.version.parts if t.version else (), reverse=True)
    judged = [(t, verdict_for(t.version, host, compat_driver_in(t.root, host)))
              for t in matches if t.version is not None]
    why = [f"nothing requested, so {spec}" if origin == NOTHING_REQUESTED
           else f"requested {spec} (from {origin})",
           f"{len(matches)} installed toolkit(s) match: "
           + ", ".join(f"{t.shown_version} [{v.kind}]" for t, v in judged)]
    runnable = [t for t, v in judged if v.runnable]
    if spec.kind == "latest":
        chosen = judged[0][0]
        why.append("latest: the newest installed, whatever this host can run")
    elif runnable:
        chosen = runnable[0]
        why.append("the newest match this host can run")
    else:
        chosen = judged[0][0]
        why.append("the newest match; none can run here")
    return Target(chosen, why=tuple(why))


def active_target(root: str, origin: str, env: Mapping[str, str],
                  toolkits: Sequence[Toolkit]) -> Target:
    real = os.path.realpath(root)
    tk = next((t for t in toolkits
               if t.ok and (t.root == root or os.path.realpath(t.root) == real)), None)
    if tk is None:
        raise NoMatchError(f"this shell's active toolkit ({origin}: {root}) is no longer "
                           f"installed; switch again with eval \"$(cudaswitch env SPEC)\" or "
                           f"unset CUDASWITCH_ACTIVE; installed:\n{listing(toolkits)}")
    why = [f"this shell's active toolkit, {root} (from {origin})"]
    legacy = env.get(LEGACY_ENV)
    if legacy and is_plain_version(legacy) and tk.version is not None \
            and not tk.matches(VersionSpec.parse(legacy_spec(legacy))):
        why.append(f"note: {LEGACY_ENV}={legacy} is not read while a toolkit is active")
    return Target(tk, why=tuple(why))


def find_target(request: Request, toolkits: Sequence[Toolkit], host: Host,
                env: Mapping[str, str]) -> Target:
    """The target of ``request``; NoMatchError when nothing installed answers it."""
    if request.slot is not None:
        target = slots.target_for_slot(request.slot, env, toolkits, host)
        return dataclasses.replace(target,
                                   why=(f"slot {request.slot} (from {request.origin})",))
    if request.active is not None:
        target = active_target(request.active, request.origin, env, toolkits)
    else:
        assert request.spec is not None
        target = spec_target(request.spec, request.origin, toolkits, host)
    return _as_slot(target, env, toolkits, host)
