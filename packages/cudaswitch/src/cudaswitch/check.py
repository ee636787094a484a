"""The check step: every target, however it was chosen, is judged against this host.

A version spec, a slot name, a manifest default and the shell's active toolkit all pass
through :func:`check` before a plan exists; :func:`cudaswitch.plan.make_plan` takes only its
result. The verdict comes from the shipped compat data (driver, GPU architecture, forward
compat); further checks add findings of their own (see ``FINDERS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .compat.verdict import Verdict, compat_folder, verdict_for
from .errors import IncompatibleError
from .host import Host
from .plan import Checked, Finding, Target

# Further checks of a target: each gets (target, host, env) and returns its findings. A finding
# with ``blocking=True`` stops the launch with its exit code unless forced; the others are
# printed as notes. Add a check by appending its function here.
Finder = Callable[[Target, Host, Mapping[str, str]], Sequence[Finding]]
FINDERS: tuple[Finder, ...] = ()


def incompatible_message(target: Target, verdict: Verdict) -> str:
    tk = target.toolkit
    slot = f" (slot {target.label})" if target.label else ""
    return (f"CUDA {tk.shown_version} at {tk.root}{slot} cannot run here: {verdict.reason}"
            + (f"; install driver >= {verdict.needs_driver} or pick an older toolkit"
               if verdict.needs_driver else "")
            + " (--force runs it anyway)")


def check(target: Target, host: Host, env: Mapping[str, str], force: bool = False,
          finders: Sequence[Finder] | None = None) -> Checked:
    """The verdict on ``target`` here, and every finding; IncompatibleError (exit 4, or the
    finding's own code) when it cannot run and ``force`` is off."""
    tk = target.toolkit
    assert tk.version is not None, "the target step only returns usable toolkits"
    folder = compat_folder(tk.root, host)
    verdict = verdict_for(tk.version, host, folder[1] if folder else None)
    findings: list[Finding] = []
    for finder in FINDERS if finders is None else finders:
        findings.extend(finder(target, host, env))
    blocking = [f for f in findings if f.blocking]
    if not verdict.runnable and not force:
        raise IncompatibleError(incompatible_message(target, verdict))
    if blocking and not force:
        err = IncompatibleError("; ".join(f.message for f in blocking))
        err.exit_code = blocking[0].exit_code
        raise err
    why = [*target.why]
    despite = ([verdict.reason] if not verdict.runnable else []) + [f.message for f in blocking]
    if despite:
        why.append("--force: running despite: " + "; ".join(despite))
    why.append(f"verdict: {verdict.kind}: {verdict.reason}")
    compat_dir = folder[0] if folder and verdict.kind == "forward-compat" else None
    return Checked(target, verdict, forced=bool(despite),
                   findings=tuple(findings), compat_dir=compat_dir, why=tuple(why))
