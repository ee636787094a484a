"""The check for commands run by Python: the CUDA its packages were built for, against the
target's, and one build of each shared-soname library in the plan.

PyTorch, JAX, CuPy and ONNX Runtime wheels bring or expect their own CUDA. A package built
for another major than the chosen toolkit fails late and obscurely (an abort inside cuDNN, a
silent CPU fallback), so it is refused before launch, naming the package and what would fit.
Standard library only: the entrypoint's full flow runs it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import IncompatibleError
from .interpreter import Interpreter, command_python, inspect
from .libsets import LibChoice, choose_builds
from .plan import Finding, Target
from .pydists import PyDist, majors, read_dists
from .toolkits.model import Toolkit


@dataclass(frozen=True)
class PyCheck:
    """What the check learned: who runs the command, what it carries, what the plan changes."""

    interpreter: Interpreter | None = None
    dists: tuple[PyDist, ...] = ()
    forced: tuple[PyDist, ...] = ()
    choice: LibChoice = field(default_factory=LibChoice)

    @property
    def watch(self) -> tuple[str, ...]:
        return self.interpreter.watch if self.interpreter else ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Notes for the banner: what ran despite its CUDA, which package's build won."""
        out = [Finding("python-cuda", f"--force: {package_list(self.forced)} built for CUDA "
                       f"{'/'.join(str(m) for m in majors(self.forced))} run anyway",
                       blocking=False)] if self.forced else []
        by_folder: dict[str, list] = {}
        for shadow in self.choice.shadows:
            by_folder.setdefault(shadow.winner, []).append(shadow)
        for folder, shadows in by_folder.items():
            losers = sorted({d for s in shadows for d in s.losers})
            out.append(Finding("one-build", (
                f"{', '.join(s.family for s in shadows)} come from "
                f"{', '.join(sorted({s.owner for s in shadows}))} in {folder}, not from "
                f"{', '.join(losers)}: the package loads its own build first, so every part "
                "of each library comes from there"), blocking=False))
        return tuple(out)

    def apply(self, target: Target) -> Target:
        """``target`` with the winning package folders first and the emptied ones gone."""
        choice = self.choice
        if not choice.changes:
            return target
        dropped = set(choice.dropped)

        def keep(dirs: Sequence[str]) -> tuple[str, ...]:
            return tuple(d for d in dirs if os.path.realpath(d) not in dropped)

        tk = dataclasses.replace(target.toolkit, lib_dirs=keep(target.toolkit.lib_dirs))
        return dataclasses.replace(target, toolkit=tk,
                                   extra_lib_dirs=(*choice.first, *keep(target.extra_lib_dirs)))

    def as_dict(self) -> dict:
        return {"interpreter": self.interpreter.as_dict() if self.interpreter else None,
                "packages": [d.as_dict() for d in self.dists],
                "forced": [d.label for d in self.forced],
                "first": list(self.choice.first), "dropped": list(self.choice.dropped)}


def ort_lookup(version: str) -> tuple[int, str] | None:
    """The CUDA major of a PyPI onnxruntime-gpu release, from the shipped compat data."""
    from .slots import ort_build_for

    build = ort_build_for(version)
    if build is None:
        return None
    return build.cuda_major, f"onnxruntime-gpu {build.pattern} is built for CUDA " \
                             f"{build.cuda_major} ({build.source})"


def package_list(dists: Sequence[PyDist], limit: int = 4, evidence: bool = True) -> str:
    """Frameworks first, NVIDIA's library wheels after, the rest counted."""
    ordered = sorted(dists, key=lambda d: (bool(d.libraries), d.name))
    shown = [f"{d.label} ({d.evidence})" if evidence else d.label for d in ordered[:limit]]
    rest = len(ordered) - limit
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def lib_dirs(target: Target) -> list[str]:
    """The folders the plan puts on ``LD_LIBRARY_PATH`` for ``target``, in order."""
    return list(dict.fromkeys([*target.extra_lib_dirs, *target.toolkit.lib_dirs]))


def _listing(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def library_choice(target_dirs: Sequence[str], dists: Sequence[PyDist]) -> LibChoice:
    """``choose_builds`` over real paths: the folders' contents read here, at the edge."""
    packages: dict[tuple[str, str], list[str]] = {}
    for d in dists:
        for lib in d.libraries:
            folder = os.path.realpath(os.path.dirname(lib))
            packages.setdefault((d.label, folder), []).append(os.path.basename(lib))
    if not packages:
        return LibChoice()
    target = [(os.path.realpath(d), _listing(d)) for d in target_dirs]
    return choose_builds(target, [(owner, folder, names)
                                  for (owner, folder), names in packages.items()])


def fitting(major: int, toolkits: Sequence[Toolkit], env: Mapping[str, str]) -> str:
    """Installed toolkits and slots of ``major``, as a user would select them."""
    tks = [t for t in toolkits if t.ok and t.version and t.version.major == major]
    names: list[str] = []
    try:
        from .slots import installed_slots

        roots = {os.path.realpath(t.root) for t in tks}
        names = [n for n, r in installed_slots(env).items() if os.path.realpath(r) in roots]
    except OSError:
        names = []
    if not tks:
        return (f"no CUDA {major} toolkit is installed (cudaswitch install {major}.x, or "
                "give the program an environment built for the chosen CUDA)")
    out = "installed for CUDA " + str(major) + ": " + ", ".join(
        f"{t.version} at {t.root}" for t in tks)
    if names:
        out += "; slots " + ", ".join(names)
    return out + f"; run with --cuda {tks[0].version}" + (f" or --slot {names[0]}" if names
                                                          else "")


def planned_path(target: Target, env: Mapping[str, str]) -> str:
    """``PATH`` as the plan will start it: the slot's and toolkit's folders, then the rest."""
    return ":".join([*target.extra_bin_dirs, *target.toolkit.bin_dirs,
                     *[p for p in env.get("PATH", "").split(":") if p]])


def check_python(target: Target, argv: Sequence[str], env: Mapping[str, str],
                 toolkits: Sequence[Toolkit], force: bool = False) -> PyCheck:
    """Inspect the interpreter that will run ``argv`` under ``target``; refuse a package of
    another CUDA major than the target's (``IncompatibleError``, exit 4) unless ``force``."""
    python = command_python(argv, planned_path(target, env))
    if python is None:
        return PyCheck()
    interp = inspect(python, {**env, **dict(target.extra_env)})
    dists = read_dists(interp.site_dirs, ort_lookup)
    tk = target.toolkit
    major = tk.version.major if tk.version else None
    wrong = tuple(d for d in dists if major and d.cuda_major and d.cuda_major != major)
    if wrong and not force:
        by_major = majors(wrong)
        what = "; ".join(f"CUDA {m}: {package_list(ds)}" for m, ds in by_major.items())
        fits = "; ".join(fitting(m, toolkits, env) for m in by_major)
        raise IncompatibleError(
            f"{python} runs this command, and its environment holds packages built for another "
            f"CUDA major than the selected toolkit (CUDA {tk.shown_version} at {tk.root}): {what}. "
            f"One process cannot load two CUDA majors. {fits[0].upper()}{fits[1:]}; "
            "--force runs it anyway")
    return PyCheck(interp, dists, wrong, library_choice(lib_dirs(target), dists))
