"""Which slots a matrix runs, and the exact environment each one gets.

A matrix is only worth trusting if every cell runs exactly what ``cudaswitch exec`` would run
there, so each job's environment comes from :func:`cudaswitch.flow.run_flow`, the same call the
``exec`` command makes, never from a second copy of the planning rules.

Slots come from the manifest (``cudaswitch.toml``) and the installed slots. Where there are
neither, every CUDA major found by discovery becomes an implicit slot named after its newest
toolkit (``cuda11.8``, ``cuda12.4``), so a matrix runs on a host (or over a folder of NVIDIA
wheels on ``CUDASWITCH_PATH``) without installing anything first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..compat.verdict import RUNNABLE
from ..errors import CudaswitchError, NoMatchError, UsageError
from ..flow import gather, run_flow
from ..slots import installed_slots, load_manifest, read_record
from ..toolkits.model import Toolkit

SlotSource = Literal["manifest", "installed", "implicit"]


@dataclass(frozen=True)
class SlotRef:
    """A slot the matrix knows by name, before anything is planned for it."""

    name: str
    source: SlotSource
    cuda: str | None = None  # declared (manifest) or discovered (implicit) version

    @property
    def exec_args(self) -> tuple[str, ...]:
        """How ``cudaswitch exec`` selects this slot (implicit slots have no slot record)."""
        if self.source == "implicit":
            return ("--cuda", self.cuda or "")
        return ("--slot", self.name)


@dataclass(frozen=True)
class SlotJob:
    """One cell of the matrix: the slot, what the host says about it, and its plan."""

    ref: SlotRef
    argv: tuple[str, ...]
    cuda: str | None
    verdict: str  # a Verdict kind, or "not-installed" / "error" when there is no plan
    reason: str
    env: Mapping[str, str] | None = None
    toolkit_root: str | None = None
    shown: str | None = None  # the toolkit as listings print it: 12.4.127 (release 12.4.1)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def runnable(self) -> bool:
        return self.env is not None and self.verdict in RUNNABLE


def _implicit(toolkits: Sequence[Toolkit]) -> list[SlotRef]:
    newest: dict[int, Toolkit] = {}
    for t in toolkits:
        if not t.ok or t.version is None:
            continue
        best = newest.get(t.version.major)
        if best is None or (best.version is not None and best.version < t.version):
            newest[t.version.major] = t
    refs = []
    for major in sorted(newest):
        v = newest[major].version
        assert v is not None
        refs.append(SlotRef(f"cuda{v.major_minor}", "implicit", str(v)))
    return refs


def matrix_slots(env: Mapping[str, str], search_paths: Sequence[str] = ()) -> list[SlotRef]:
    """The manifest's slots, then installed slots it does not declare; else implicit ones.

    A broken manifest raises UsageError: a matrix over a guess would report green for slots
    the user never asked for.
    """
    manifest = load_manifest(None, env)
    refs: list[SlotRef] = []
    if manifest is not None:
        refs += [SlotRef(s.name, "manifest", s.cuda) for s in manifest.slots]
    known = {r.name for r in refs}
    for name, root in sorted(installed_slots(env).items()):
        if name not in known:
            request = (read_record(root) or {}).get("request") or {}
            cuda = request.get("cuda") if isinstance(request.get("cuda"), str) else None
            refs.append(SlotRef(name, "installed", cuda))
    if refs:
        return refs
    _host, toolkits = gather(env, search_paths)
    return _implicit(toolkits)


def _major_key(text: str) -> str | None:
    """``cuda12`` / ``12`` / ``cuda12.4`` -> ``12`` / ``12`` / ``12.4``; None if not a version."""
    t = text[4:] if text.startswith("cuda") else text
    parts = t.split(".")
    return t if t and len(parts) <= 2 and all(p.isdigit() for p in parts) else None


def pick_slots(refs: Sequence[SlotRef], wanted: str | None) -> list[SlotRef]:
    """``all`` (or nothing) keeps every slot; ``a,b`` picks by name, or by CUDA major/minor
    (``cuda12`` picks each slot whose CUDA is 12.x), in the order given."""
    if not wanted or wanted.strip() == "all":
        return list(refs)
    out: list[SlotRef] = []
    for item in (w.strip() for w in wanted.split(",")):
        if not item:
            continue
        hits = [r for r in refs if r.name == item]
        key = _major_key(item)
        if not hits and key is not None:
            hits = [r for r in refs if r.cuda and (r.cuda == key or r.cuda.startswith(key + "."))]
        if not hits:
            have = ", ".join(r.name for r in refs) or "(none)"
            raise UsageError(f"--slots: no slot {item!r}; slots here: {have}")
        out += [h for h in hits if h not in out]
    return out


def plan_job(ref: SlotRef, argv: Sequence[str], env: Mapping[str, str],
             search_paths: Sequence[str] = ()) -> SlotJob:
    """The job for one slot: the flow's plan and this host's verdict, or why there is none.

    Errors become a job that is not runnable (the matrix reports it and goes on with the
    others); only the verdict decides whether a planned slot is skipped.
    """
    try:
        if ref.source == "implicit":
            outcome = run_flow(argv, env, cli_spec=ref.cuda, search_paths=search_paths,
                               force=True, spec_origin=f"the matrix's implicit slot {ref.name}")
        else:
            outcome = run_flow(argv, env, slot=ref.name, search_paths=search_paths, force=True)
    except NoMatchError as e:
        return SlotJob(ref, tuple(argv), ref.cuda, "not-installed", str(e))
    except CudaswitchError as e:
        return SlotJob(ref, tuple(argv), ref.cuda, "error", str(e))
    tk = outcome.target.toolkit
    verdict = outcome.verdict
    return SlotJob(ref, tuple(outcome.plan.argv), str(tk.version) if tk.version else ref.cuda,
                   verdict.kind, verdict.reason, dict(outcome.plan.env), os.path.realpath(tk.root),
                   tk.shown_version if tk.version else None)


def plan_jobs(argv: Sequence[str], env: Mapping[str, str], wanted: str | None = None,
              search_paths: Sequence[str] = ()) -> list[SlotJob]:
    """Every selected slot's job; UsageError when there is no slot at all."""
    refs = pick_slots(matrix_slots(env, search_paths), wanted)
    if not refs:
        raise UsageError("no slots: no manifest (cudaswitch.toml), no installed slot and no "
                         "CUDA toolkit found; add --search-path DIR or install one "
                         "(cudaswitch install 12.4)")
    return [plan_job(r, argv, env, search_paths) for r in refs]
