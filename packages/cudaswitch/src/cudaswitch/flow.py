"""request → target → check → plan, once, for every front (CLI, entrypoint, matrix, images).

Each step is its own function in its own module: :func:`select.read_request`,
:func:`target.find_target`, :func:`check.check`, :func:`plan.make_plan`; the plan is made only
from a checked target, so every selection (a spec, a slot, a manifest default, the shell's
active toolkit) carries a verdict. Standard library only, imported by the container entrypoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .check import check
from .compat.verdict import Verdict, driver_cuda_for
from .errors import UsageError
from .host import Host, detect_host
from .plan import Checked, Plan, Target, make_plan
from .pycheck import check_python
from .select import Request, config_paths, configured_default, read_request
from .target import find_target
from .toolkits import data_home, discover
from .toolkits.model import Toolkit

FORCE_ENV = "CUDASWITCH_FORCE"
# Files inside a toolkit root whose content (not only presence) the probes and slots read.
WATCHED_FILES = ("version.json", "version.txt", "dist-info", "compat", "cudaswitch-slot.json",
                 "include/cuda_runtime_api.h", "conda-meta")


@dataclass(frozen=True)
class Outcome:
    request: Request
    checked: Checked
    plan: Plan
    host: Host
    toolkits: tuple[Toolkit, ...]
    watch: tuple[str, ...] = ()  # the interpreter and site folders the Python check read

    @property
    def target(self) -> Target:
        return self.checked.target

    @property
    def verdict(self) -> Verdict:
        return self.checked.verdict

    def banner(self) -> str:
        """The one line the entrypoint prints: what runs, from where, on which driver, and the
        verdict that allowed it."""
        tk = self.target.toolkit
        driver = (f"on driver {self.host.driver_version}" if self.host.driver_version
                  else "with no NVIDIA driver found")
        slot = f" (slot {self.target.label})" if self.target.label else ""
        forced = ", forced" if self.checked.forced else ""
        return (f"cudaswitch: CUDA {tk.shown_version} from {tk.root}{slot} {driver} "
                f"({self.verdict.kind}{forced})")

    def as_dict(self) -> dict:
        """What ``which --json`` and ``exec --dry-run --json`` print about the decision."""
        return {
            "request": self.request.as_dict(),
            "toolkit": self.target.toolkit.as_dict(),
            "slot": self.target.label or None,
            **self.verdict.as_dict(),
            "forced": self.checked.forced,
            "findings": [dataclasses.asdict(f) for f in self.checked.findings],
            "why": list(self.checked.why),
        }


def gather(env: Mapping[str, str], search_paths: Sequence[str] = (),
           seen: list[str] | None = None) -> tuple[Host, tuple[Toolkit, ...]]:
    try:
        host = detect_host(env)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if host.driver_version and host.driver_cuda is None:
        host = dataclasses.replace(host, driver_cuda=driver_cuda_for(host.driver_version))
    return host, discover(env, search_paths, seen)


def forced(env: Mapping[str, str]) -> bool:
    return env.get(FORCE_ENV, "").lower() in ("1", "true", "yes")


def run_flow(argv: Sequence[str], env: Mapping[str, str], cli_spec: str | None = None,
             slot: str | None = None, search_paths: Sequence[str] = (),
             force: bool = False, seen: list[str] | None = None,
             spec_origin: str = "--cuda",
             facts: tuple[Host, tuple[Toolkit, ...]] | None = None) -> Outcome:
    """The whole decision for one process. Raises the errors of each step (exit 2, 3, 4).
    ``seen`` collects every folder discovery looked at; ``spec_origin`` names where
    ``cli_spec`` came from, for messages; ``facts`` is what :func:`gather` returned, for a
    caller that decides many times over one discovery (``bake``)."""
    default = configured_default(env, data_home(env))
    request = read_request(cli_spec, env, default, cli_slot=slot, spec_origin=spec_origin)
    host, toolkits = facts if facts is not None else gather(env, search_paths, seen)
    target = find_target(request, toolkits, host, env)
    checked = check(target, host, env, force=force or forced(env))
    py = check_python(checked.target, argv, env, toolkits, force=force or forced(env))
    checked = dataclasses.replace(checked, target=py.apply(checked.target),
                                  findings=(*checked.findings, *py.findings))
    plan = make_plan(checked, toolkits, env, argv)
    notes = (*request.notes, *(f.message for f in checked.findings if not f.blocking))
    if notes:
        plan = dataclasses.replace(plan, notes=notes)
    return Outcome(request, checked, plan, host, toolkits, py.watch)


def manifest_paths(env: Mapping[str, str]) -> list[str]:
    """The manifests whose ``default`` the request step may read, in order."""
    return config_paths(env, data_home(env))


def watch_paths(env: Mapping[str, str], outcome: Outcome, seen: Sequence[str]) -> list[str]:
    """Every file and folder whose change could change what the flow decided: each folder
    discovery looked at (``seen``), and inside each toolkit what its probe read."""
    home = data_home(env)
    paths = [home, os.path.join(home, "toolkits"), os.path.join(home, "venvs"),
             os.path.join(home, "prefixes.json"), *manifest_paths(env), *seen]
    for t in outcome.toolkits:
        paths += [t.root, os.path.dirname(t.root), *t.aliases, *t.lib_dirs, *t.bin_dirs,
                  *t.include_dirs, *(os.path.join(t.root, n) for n in WATCHED_FILES)]
        if t.cudart:
            paths.append(t.cudart)
        if t.extra.get("site"):
            paths += [t.extra["site"], os.path.join(t.extra["site"], "nvidia")]
    target = outcome.target
    paths += [*target.extra_bin_dirs, *target.extra_lib_dirs]
    for k, v in target.extra_env:
        if k == "VIRTUAL_ENV":
            paths += [v, os.path.join(v, "pyvenv.cfg")]
    paths += outcome.watch
    return list(dict.fromkeys(paths))
