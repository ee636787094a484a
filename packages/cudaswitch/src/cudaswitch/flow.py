"""request → resolve → check → plan, once, for every front (CLI, entrypoint, matrix, images).

Standard library only, imported by the container entrypoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .compat.verdict import compat_folder, driver_cuda_for
from .errors import UsageError
from .host import Host, detect_host
from .plan import Plan, Target, make_plan
from .select import Selection, config_paths, configured_default, read_request, resolve
from .toolkits import data_home, discover
from .toolkits.model import Toolkit
from .toolkits.search import PATH_ENV, PREFIX_ENV, site_dirs
from .versions import SpecError, VersionSpec

SLOT_ENV = "CUDASWITCH_SLOT"
FORCE_ENV = "CUDASWITCH_FORCE"


@dataclass(frozen=True)
class Outcome:
    selection: Selection | None
    target: Target
    plan: Plan
    host: Host
    toolkits: tuple[Toolkit, ...]

    def banner(self) -> str:
        """The one line the entrypoint prints: what runs, from where, on which driver."""
        tk = self.target.toolkit
        verdict = self.selection.verdict.kind if self.selection else "slot"
        driver = f"driver {self.host.driver_version}" if self.host.driver_version else "no driver"
        slot = f" (slot {self.target.label})" if self.target.label else ""
        return f"cudaswitch: CUDA {tk.version} from {tk.root}{slot} on {driver} ({verdict})"


def gather(env: Mapping[str, str],
           search_paths: Sequence[str] = ()) -> tuple[Host, tuple[Toolkit, ...]]:
    try:
        host = detect_host(env)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if host.driver_version and host.driver_cuda is None:
        host = dataclasses.replace(host, driver_cuda=driver_cuda_for(host.driver_version))
    return host, discover(env, search_paths)


def _slot_target(name: str, env: Mapping[str, str], toolkits: Sequence[Toolkit],
                 host: Host) -> Target:
    try:
        from . import slots
    except ImportError as e:
        raise UsageError(f"slot {name!r}: slots are not available in this installation") from e
    return slots.target_for_slot(name, env, toolkits, host)


def _slot_at(root: str, env: Mapping[str, str]) -> str | None:
    """The installed slot whose toolkit is ``root``: ``CUDA_VERSION=11.8`` then gets the whole
    slot (its venv, its variables), not only its libraries."""
    try:
        from . import slots
    except ImportError:
        return None
    real = os.path.realpath(root)
    for name, slot_root in slots.installed_slots(env).items():
        if os.path.realpath(slot_root) == real:
            return name
    return None


def run_flow(argv: Sequence[str], env: Mapping[str, str], cli_spec: str | None = None,
             slot: str | None = None, search_paths: Sequence[str] = (),
             force: bool = False) -> Outcome:
    host, toolkits = gather(env, search_paths)
    force = force or env.get(FORCE_ENV, "").lower() in ("1", "true", "yes")
    slot = slot or (None if cli_spec else env.get(SLOT_ENV) or None)
    selection = None
    if slot:
        target = _slot_target(slot, env, toolkits, host)
    else:
        default = configured_default(env, data_home(env))
        if default and not cli_spec:
            try:
                VersionSpec.parse(default[0])
            except SpecError:
                if not (env.get("CUDASWITCH_CUDA") or env.get("CUDA_VERSION")):
                    target = _slot_target(default[0], env, toolkits, host)
                    plan = make_plan(target, toolkits, env, argv)
                    return Outcome(None, target, plan, host, toolkits)
                default = None
        request = read_request(cli_spec, env, default)
        selection = resolve(request, toolkits, host, force=force)
        tk = selection.toolkit
        found = compat_folder(tk.root, host) if selection.verdict.kind == "forward-compat" else None
        slot_name = _slot_at(tk.root, env)
        if slot_name:
            target = dataclasses.replace(_slot_target(slot_name, env, toolkits, host),
                                         compat_dir=found[0] if found else None)
        else:
            target = Target(tk, compat_dir=found[0] if found else None)
    plan = make_plan(target, toolkits, env, argv)
    if selection is not None and selection.request.notes:
        plan = dataclasses.replace(plan, notes=selection.request.notes)
    return Outcome(selection, target, plan, host, toolkits)


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
