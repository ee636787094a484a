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
from .select import Request, config_paths, configured_default, read_request
from .target import find_target
from .toolkits import data_home, discover
from .toolkits.model import Toolkit
from .toolkits.search import PATH_ENV, PREFIX_ENV, site_dirs

FORCE_ENV = "CUDASWITCH_FORCE"


@dataclass(frozen=True)
class Outcome:
    request: Request
    checked: Checked
    plan: Plan
    host: Host
    toolkits: tuple[Toolkit, ...]

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
        driver = f"driver {self.host.driver_version}" if self.host.driver_version else "no driver"
        slot = f" (slot {self.target.label})" if self.target.label else ""
        forced = ", forced" if self.checked.forced else ""
        return (f"cudaswitch: CUDA {tk.shown_version} from {tk.root}{slot} on {driver} "
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


def gather(env: Mapping[str, str],
           search_paths: Sequence[str] = ()) -> tuple[Host, tuple[Toolkit, ...]]:
    try:
        host = detect_host(env)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if host.driver_version and host.driver_cuda is None:
        host = dataclasses.replace(host, driver_cuda=driver_cuda_for(host.driver_version))
    return host, discover(env, search_paths)


def forced(env: Mapping[str, str]) -> bool:
    return env.get(FORCE_ENV, "").lower() in ("1", "true", "yes")


def run_flow(argv: Sequence[str], env: Mapping[str, str], cli_spec: str | None = None,
             slot: str | None = None, search_paths: Sequence[str] = (),
             force: bool = False) -> Outcome:
    """The whole decision for one process. Raises the errors of each step (exit 2, 3, 4)."""
    default = configured_default(env, data_home(env))
    request = read_request(cli_spec, env, default, cli_slot=slot)
    host, toolkits = gather(env, search_paths)
    target = find_target(request, toolkits, host, env)
    checked = check(target, host, env, force=force or forced(env))
    plan = make_plan(checked, toolkits, env, argv)
    notes = (*request.notes, *(f.message for f in checked.findings if not f.blocking))
    if notes:
        plan = dataclasses.replace(plan, notes=notes)
    return Outcome(request, checked, plan, host, toolkits)


def watch_paths(env: Mapping[str, str], search_paths: Sequence[str],
                toolkits: Sequence[Toolkit]) -> list[str]:
    """Every file and folder whose change could change what the flow decides here."""
    home = data_home(env)
    prefix = env.get(PREFIX_ENV) or "/"
    paths = [os.path.join(home, "toolkits"), os.path.join(home, "venvs"),
             *config_paths(env, home),
             os.path.join(prefix, "usr/local"), os.path.join(prefix, "usr/local/cuda"),
             os.path.join(prefix, "usr/lib/nvidia-cuda-toolkit"), *search_paths,
             *[p for p in env.get(PATH_ENV, "").split(":") if p]]
    for var in ("CUDA_HOME", "CUDA_PATH", "CONDA_PREFIX"):
        if env.get(var):
            paths += [env[var], os.path.join(env[var], "conda-meta")]
    for site in site_dirs():
        paths += [site, os.path.join(site, "nvidia")]
    for t in toolkits:
        paths += [t.root, os.path.dirname(t.root), *t.aliases, *t.lib_dirs, *t.bin_dirs,
                  os.path.join(t.root, "version.json"), os.path.join(t.root, "compat")]
        if t.cudart:
            paths.append(t.cudart)
    return list(dict.fromkeys(paths))
