"""NVIDIA's requirement language (``NVIDIA_REQUIRE_*``), as the container toolkit applies it.

Two evaluators exist upstream and they disagree. The one that decides whether a container
starts under ``docker run --gpus`` is the C code of ``nvidia-container-cli`` (libnvidia-container
``src/cli/dsl.c``): space separates OR terms, comma separates AND factors, evaluation is lazy,
an unknown property is an invalid expression, brands compare case-insensitively. Our checks use
that one (:func:`evaluate`, :func:`check`). The Go constraint factory of the toolkit (used on
Jetson's CSV path) skips unknown properties and compares with semver; its behaviour is kept
under the ``go_`` names so that the toolkit's own test tables can be checked against us.

Also here: which requirements an image's environment produces (legacy ``CUDA_VERSION``,
``NVIDIA_DISABLE_REQUIRE``) and the hook's view of an image (devices, capabilities).

Standard library only: the container entrypoint imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PROPERTIES: tuple[str, ...] = ("cuda", "driver", "arch", "brand")
OPERATORS: tuple[str, ...] = ("!=", "<=", ">=", "=", "<", ">")
MAX_REQUIREMENTS = 32  # nvidia-container-cli keeps --require values in a fixed array of 32
EXPR_MAX = 128  # the C evaluator's buffer for the failing factor; longer is an invalid expression
CUDA_SUFFIX = ", please update your driver to a newer version, or use an earlier cuda container"
VALID_FACTOR_HELP = (
    "a requirement is factors joined by ',' (all must hold) and terms separated by ' ' (one "
    "must hold); a factor is PROPERTY OP VALUE without spaces, PROPERTY one of cuda, driver, "
    "arch, brand, OP one of = != < <= > >=, VALUE digits and dots for cuda/driver/arch "
    "(e.g. cuda>=12.2, driver>=535, arch=9.0), a name for brand with = or != only "
    "(e.g. brand=tesla)"
)

_OP_CHARS = "<>=!"
_UINTMAX = 2**64 - 1
_VERSION_CHARS = frozenset("0123456789.")

REQUIRE_PREFIX = "NVIDIA_REQUIRE_"
REQUIRE_CUDA = "NVIDIA_REQUIRE_CUDA"
REQUIRE_JETPACK = "NVIDIA_REQUIRE_JETPACK"
DISABLE_REQUIRE = "NVIDIA_DISABLE_REQUIRE"
LEGACY_CUDA_VERSION = "CUDA_VERSION"


class RequireError(ValueError):
    """Base of everything this module raises about its input."""


class InvalidExpression(RequireError):
    """nvidia-container-cli would stop with ``requirement error: invalid expression``."""

    def __init__(self, requirement: str, factor: str, why: str) -> None:
        self.requirement = requirement
        self.factor = factor
        self.why = why
        super().__init__(
            f"invalid expression: {factor!r} in {requirement!r}: {why}; {VALID_FACTOR_HELP}"
        )


class TooManyRequirements(RequireError):
    """nvidia-container-cli accepts at most 32 ``--require`` values."""


class InvalidCudaVersion(RequireError):
    """A legacy ``CUDA_VERSION`` the toolkit cannot read; its hook panics on it."""


class HookPanic(RequireError):
    """The runtime hook would panic: the container does not start."""


# --------------------------------------------------------------------------- C semantics


@dataclass(frozen=True)
class GpuFacts:
    """One selected GPU as the C evaluator sees it; ``None`` makes its factors hold."""

    arch: str | None = None
    brand: str | None = None


@dataclass(frozen=True)
class Facts:
    """What requirements are checked against; an unknown fact satisfies its factors, as in C."""

    cuda: str | None = None
    driver: str | None = None
    gpus: tuple[GpuFacts, ...] = ()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str | None = None
    requirement: str | None = None
    factor: str | None = None
    gpu: int | None = None

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "message": self.message,
            "requirement": self.requirement,
            "factor": self.factor,
            "gpu": self.gpu,
        }


def compare_versions(left: str, op: str, right: str) -> bool | None:
    """NVIDIA's C version compare; ``None`` where C returns -1 (an invalid expression)."""
    if not _VERSION_CHARS.issuperset(left) or not _VERSION_CHARS.issuperset(right):
        return None
    i = j = 0
    while i < len(left) and j < len(right):
        n1, i2 = _leading_number(left, i)
        if n1 is None:
            return None
        n2, j2 = _leading_number(right, j)
        if n2 is None:
            return None
        if n1 != n2:
            if op == "=":
                return False
            if op == "!=":
                return True
            return n1 < n2 if op in ("<", "<=") else n1 > n2
        i = _skip(left, i2, ".")
        j = _skip(right, j2, ".")
    rest1 = left[_skip(left, i, ".0"):]
    rest2 = right[_skip(right, j, ".0"):]
    if op == "!=":
        return bool(rest1 or rest2)
    if op in ("=", "<=", ">=") and not rest1 and not rest2:
        return True
    if op == "=":
        return False
    if op in ("<", "<="):
        return not rest1 and bool(rest2)
    return bool(rest1) and not rest2


def _leading_number(text: str, start: int) -> tuple[int | None, int]:
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    if end == start:
        return None, start
    value = int(text[start:end])
    if value >= _UINTMAX:  # strtoumax saturates at UINTMAX_MAX, which C treats as failure
        return None, end
    return value, end


def _skip(text: str, start: int, chars: str) -> int:
    while start < len(text) and text[start] in chars:
        start += 1
    return start


def valid_version_value(value: str) -> bool:
    """Whether C could compare ``value`` with any real version, whatever the other side."""
    if not value or value[0] == "." or not _VERSION_CHARS.issuperset(value):
        return False
    return all(int(part) < _UINTMAX for part in value.split(".") if part)


def split_factor(factor: str) -> tuple[str, str, str] | None:
    """``(property, op, value)`` as C splits a factor, or ``None`` where C gives up."""
    n = 0
    while n < len(factor) and factor[n] not in _OP_CHARS:
        n += 1
    if n == 0 or n == len(factor):
        return None
    end = n
    while end < len(factor) and factor[end] in _OP_CHARS:
        end += 1
    op = factor[n:end]
    value = factor[end:]
    if op not in OPERATORS or not value:
        return None
    return factor[:n], op, value


def _factor_result(
    requirement: str, factor: str, facts: Facts, gpu: GpuFacts | None
) -> tuple[bool, str]:
    parts = split_factor(factor)
    if parts is None:
        raise InvalidExpression(requirement, factor, "not of the form PROPERTY OP VALUE")
    prop, op, value = parts
    name = prop.lower()
    if name not in PROPERTIES:
        raise InvalidExpression(requirement, factor, f"unknown property {prop!r}")
    result: bool | None
    if name == "brand":
        if op not in ("=", "!="):
            raise InvalidExpression(requirement, factor, "brand compares with = or != only")
        if gpu is None or gpu.brand is None:
            result = True
        else:
            result = (gpu.brand.lower() == value.lower()) == (op == "=")
    else:
        if name == "cuda":
            have = facts.cuda
        elif name == "driver":
            have = facts.driver
        else:
            have = gpu.arch if gpu is not None else None
        result = True if have is None else compare_versions(have, op, value)
        if result is None:
            why = (f"{name} value {value!r} is not a version (digits and dots)"
                   if not valid_version_value(value)
                   else f"this host's {name} {have!r} is not a version (digits and dots)")
            raise InvalidExpression(requirement, factor, why)
    shown = f"{prop} {op} {value}"
    if not result and len(shown) >= EXPR_MAX:
        raise InvalidExpression(requirement, factor, f"longer than {EXPR_MAX - 3} characters")
    return result, shown


def evaluate(requirement: str, facts: Facts, gpu: GpuFacts | None = None) -> Outcome:
    """One ``NVIDIA_REQUIRE_*`` value against one GPU (or none), lazily, as C does.

    Lazy means what C means: factors after a false one and terms after a true one are never
    looked at, so ``cuda>=11 foo=1`` holds where ``cuda>=11`` does. A term made only of empty
    factors stops the evaluation with the previous term's result, another C detail kept here.
    """
    ok = True
    failed = None
    for term in requirement.split(" "):
        if not term:
            continue
        finished = True
        for factor in term.split(","):
            if not factor:
                continue
            ok, shown = _factor_result(requirement, factor, facts, gpu)
            if not ok:
                failed = shown
                finished = False
                break
        if finished:
            break
    if ok:
        return Outcome(True)
    return Outcome(False, unsatisfied_message(requirement), requirement, failed)


def unsatisfied_message(requirement: str) -> str:
    """NVIDIA's text: the first OR term of the value, plus advice when it is a CUDA floor."""
    first = requirement.split(" ", 1)[0]
    if first.startswith("cuda>="):
        return f"unsatisfied condition: {first}{CUDA_SUFFIX}"
    return f"unsatisfied condition: {first}"


def check(requirements: Sequence[str], facts: Facts) -> Outcome:
    """All values (ANDed) for each GPU in turn, stopping at the first failure, as C does.

    Without a GPU the values are evaluated once, with ``arch`` and ``brand`` holding.
    """
    if len(requirements) > MAX_REQUIREMENTS:
        raise TooManyRequirements(
            f"too many requirements: {len(requirements)} (at most {MAX_REQUIREMENTS})"
        )
    targets: Sequence[tuple[int | None, GpuFacts | None]] = (
        list(enumerate(facts.gpus)) if facts.gpus else [(None, None)]
    )
    for index, gpu in targets:
        for requirement in requirements:
            outcome = evaluate(requirement, facts, gpu)
            if not outcome.ok:
                return Outcome(False, outcome.message, requirement, outcome.factor, index)
    return Outcome(True)


@dataclass(frozen=True)
class Factor:
    property: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.property}{self.op}{self.value}"


@dataclass(frozen=True)
class Requirement:
    """A fully checked value: OR over terms, each an AND over factors."""

    text: str
    terms: tuple[tuple[Factor, ...], ...]


def parse(requirement: str) -> Requirement:
    """Check every factor, not only those C would reach, so that a bad value fails at build
    time instead of on the one host where evaluation happens to get that far.
    """
    terms = []
    for term in requirement.split(" "):
        factors = []
        for text in term.split(","):
            if not text:
                continue
            parts = split_factor(text)
            if parts is None:
                raise InvalidExpression(requirement, text, "not of the form PROPERTY OP VALUE")
            prop, op, value = parts
            name = prop.lower()
            if name not in PROPERTIES:
                raise InvalidExpression(requirement, text, f"unknown property {prop!r}")
            if name == "brand":
                if op not in ("=", "!="):
                    raise InvalidExpression(requirement, text, "brand compares with = or != only")
            elif not valid_version_value(value):
                raise InvalidExpression(
                    requirement, text, f"{name} value {value!r} is not a version (digits and dots)"
                )
            if len(f"{prop} {op} {value}") >= EXPR_MAX:
                raise InvalidExpression(
                    requirement, text, f"longer than {EXPR_MAX - 3} characters"
                )
            factors.append(Factor(name, op, value))
        if factors:
            terms.append(tuple(factors))
    return Requirement(requirement, tuple(terms))


# --------------------------------------------------------------------------- image env


def parse_go_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``, which the toolkit uses for ``NVIDIA_DISABLE_REQUIRE``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise RequireError(f"not a boolean: {text!r}")


def require_disabled(env: Mapping[str, str]) -> bool:
    value = env.get(DISABLE_REQUIRE)
    if value is None:
        return False
    try:
        return parse_go_bool(value)
    except RequireError:
        return False


def is_legacy_image(env: Mapping[str, str]) -> bool:
    """An image with ``CUDA_VERSION`` and no ``NVIDIA_REQUIRE_CUDA`` gets legacy treatment."""
    return bool(env.get(LEGACY_CUDA_VERSION)) and not env.get(REQUIRE_CUDA)


def parse_major_minor(version: str) -> str:
    """``major.minor`` of a legacy ``CUDA_VERSION``, accepting exactly what the toolkit does."""
    text = "v" + (version[1:] if version.startswith("v") else version)
    parsed = _semver(text)
    if parsed is None:
        raise InvalidCudaVersion(f"invalid CUDA version {version!r}: invalid version string")
    major, minor = parsed[0], parsed[1]
    if int(major) > 0xFFFFFFFF:
        raise InvalidCudaVersion(f"invalid CUDA version {version!r}: invalid major version")
    if int(minor) > 0xFFFFFFFF:
        raise InvalidCudaVersion(f"invalid CUDA version {version!r}: invalid minor version")
    return f"{major}.{minor}"


def requirements_from_env(
    env: Mapping[str, str], *, disable_require: bool = False
) -> tuple[str, ...]:
    """The values nvidia-container-cli would get as ``--require`` for an image's environment.

    ``NVIDIA_REQUIRE_CUDA`` comes first, then a legacy image's implicit ``cuda>=X.Y``, then the
    other variables by name, so that the message NVIDIA prints names the CUDA floor when several
    fail. ``disable_require`` is the hook config's ``disable-require``.
    """
    if disable_require or require_disabled(env):
        return ()
    names = sorted(
        n for n in env
        if n.startswith(REQUIRE_PREFIX) and not n.startswith(REQUIRE_JETPACK) and n != REQUIRE_CUDA
    )
    found: list[str] = []
    if REQUIRE_CUDA in env:
        found.append(env[REQUIRE_CUDA])
    if is_legacy_image(env):
        found.append(f"cuda>={parse_major_minor(env[LEGACY_CUDA_VERSION])}")
    found.extend(env[n] for n in names)
    return tuple(found)


# --------------------------------------------------------------------------- hook config

SUPPORTED_CAPABILITIES: tuple[str, ...] = (
    "compute", "compat32", "graphics", "utility", "video", "display", "ngx",
)
DEFAULT_CAPABILITIES: tuple[str, ...] = ("utility", "compute")


@dataclass(frozen=True)
class HookConfig:
    """What the legacy runtime hook derives from an image; ``None`` instead = not a GPU one."""

    devices: tuple[str, ...]
    driver_capabilities: str
    requirements: tuple[str, ...]
    mig_config_devices: str = ""
    mig_monitor_devices: str = ""


def render_capabilities(capabilities: Iterable[str]) -> str:
    return ",".join(sorted(set(capabilities)))


def hook_config(
    env: Mapping[str, str], privileged: bool = False, *, disable_require: bool = False
) -> HookConfig | None:
    """The runtime hook's reading of an image environment (unprivileged env vars accepted).

    Raises :class:`HookPanic` where the hook panics (MIG variables unprivileged, unsupported
    capabilities, unreadable legacy ``CUDA_VERSION``).
    """
    legacy = is_legacy_image(env)
    devices = _visible_devices(env, legacy)
    if devices is None:
        return None
    mig_config = env.get("NVIDIA_MIG_CONFIG_DEVICES", "")
    if mig_config and not privileged:
        raise HookPanic("cannot set MIG_CONFIG_DEVICES in non privileged container")
    mig_monitor = env.get("NVIDIA_MIG_MONITOR_DEVICES", "")
    if mig_monitor and not privileged:
        raise HookPanic("cannot set MIG_MONITOR_DEVICES in non privileged container")
    capabilities = _capabilities(env, legacy)
    try:
        requirements = requirements_from_env(env, disable_require=disable_require)
    except InvalidCudaVersion as e:
        raise HookPanic(f"failed to get requirements: {e}") from e
    return HookConfig(devices, capabilities, requirements, mig_config, mig_monitor)


def _visible_devices(env: Mapping[str, str], legacy: bool) -> tuple[str, ...] | None:
    raw = env.get("NVIDIA_VISIBLE_DEVICES")
    if raw is None:
        return ("all",) if legacy else None
    devices = [d.strip() for d in raw.split(",") if d.strip()]
    if not devices or "void" in devices:
        return None
    if "all" in devices:
        return ("all",)
    if "none" in devices:
        return ("",)
    return tuple(devices)


def _capabilities(env: Mapping[str, str], legacy: bool) -> str:
    if "NVIDIA_DRIVER_CAPABILITIES" not in env:
        return render_capabilities(SUPPORTED_CAPABILITIES if legacy else DEFAULT_CAPABILITIES)
    raw = env["NVIDIA_DRIVER_CAPABILITIES"]
    if not raw:
        return render_capabilities(DEFAULT_CAPABILITIES)
    asked = set(raw.split(","))
    if "all" in asked:
        return render_capabilities(SUPPORTED_CAPABILITIES)
    unsupported = asked - set(SUPPORTED_CAPABILITIES)
    if unsupported:
        raise HookPanic(
            f"unsupported capabilities found in {render_capabilities(asked)!r} "
            f"(allowed {render_capabilities(SUPPORTED_CAPABILITIES)!r})"
        )
    return render_capabilities(asked)


# --------------------------------------------------------------------------- Go dialect

_SEMVER_NUM = r"(0|[1-9][0-9]*)"
_SEMVER_IDENT = r"[0-9A-Za-z-]+"
_SEMVER_RE = re.compile(
    rf"v{_SEMVER_NUM}(?:\.{_SEMVER_NUM}(?:\.{_SEMVER_NUM}"
    rf"(?:-({_SEMVER_IDENT}(?:\.{_SEMVER_IDENT})*))?(?:\+({_SEMVER_IDENT}(?:\.{_SEMVER_IDENT})*))?"
    r")?)?",
    re.ASCII,
)


def _semver(text: str) -> tuple[str, str, str, str] | None:
    """golang.org/x/mod/semver's reading: ``(major, minor, patch, prerelease)`` or ``None``."""
    m = _SEMVER_RE.fullmatch(text)
    if m is None:
        return None
    major, minor, patch, pre = m.group(1), m.group(2) or "0", m.group(3) or "0", m.group(4) or ""
    if pre and any(p.isdigit() and len(p) > 1 and p[0] == "0" for p in pre.split(".")):
        return None
    return major, minor, patch, pre


def go_semver_compare(a: str, b: str) -> int:
    """x/mod/semver ``Compare`` on ``v``-prefixed strings; an invalid one sorts below all."""
    pa, pb = _semver(a), _semver(b)
    if pa is None or pb is None:
        return 0 if pa is None and pb is None else (-1 if pa is None else 1)
    for x, y in zip(pa[:3], pb[:3], strict=True):
        if int(x) != int(y):
            return -1 if int(x) < int(y) else 1
    return _compare_prerelease(pa[3], pb[3])


def _compare_prerelease(x: str, y: str) -> int:
    if x == y:
        return 0
    if not x:
        return 1
    if not y:
        return -1
    for dx, dy in zip(x.split("."), y.split("."), strict=False):
        if dx == dy:
            continue
        nx, ny = dx.isdigit(), dy.isdigit()
        if nx and ny:
            return -1 if int(dx) < int(dy) else 1
        if nx != ny:
            return -1 if nx else 1
        return -1 if dx < dy else 1
    return -1 if len(x.split(".")) < len(y.split(".")) else 1


def _go_version(value: str) -> str:
    return "v" + (value[1:] if value.startswith("v") else value)


@dataclass(frozen=True)
class GoProperty:
    """A property handed to the Go factory: ``version`` ones compare as semver."""

    name: str
    value: str = ""
    kind: str = "version"

    def validate(self, value: str) -> str | None:
        if self.kind == "version" and _semver(_go_version(value)) is None:
            return f"invailid value {value}; expected a valid version string"
        return None

    def compare_to(self, other: str) -> int:
        if self.kind == "version":
            problem = self.validate(other)
            if problem:
                raise RequireError(f"invailid value for {self.name}: {problem}")
            return go_semver_compare(_go_version(self.value), _go_version(other))
        return (self.value > other) - (self.value < other)


class GoConstraint:
    def failure(self) -> str | None:
        """Go's ``Assert``: ``None`` when it holds, else the error text."""
        raise NotImplementedError


@dataclass(frozen=True)
class GoAlways(GoConstraint):
    def failure(self) -> str | None:
        return None


@dataclass(frozen=True)
class GoBinary(GoConstraint):
    left: GoProperty
    operator: str
    right: str

    def __str__(self) -> str:
        return f"{self.left.name}{self.operator}{self.right}"

    def failure(self) -> str | None:
        try:
            c = self.left.compare_to(self.right)
        except RequireError as e:
            return str(e)
        results = {"=": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}
        if self.operator not in results:
            return f"invalid operator {self.operator}"
        if results[self.operator]:
            return None
        return f"unsatisfied condition: {self} ({self.left.name}={self.left.value})"


@dataclass(frozen=True)
class GoAnd(GoConstraint):
    operands: tuple[GoConstraint, ...] = field(default=())

    def failure(self) -> str | None:
        for o in self.operands:
            problem = o.failure()
            if problem is not None:
                return problem
        return None


@dataclass(frozen=True)
class GoOr(GoConstraint):
    operands: tuple[GoConstraint, ...] = field(default=())

    def failure(self) -> str | None:
        for o in self.operands:
            if o.failure() is None:
                return None
        return f"{'||'.join(str(o) for o in self.operands)} not met"


def go_and(constraints: Sequence[GoConstraint]) -> GoConstraint:
    """The exported ``AND``: nothing is always true, one is itself."""
    if not constraints:
        return GoAlways()
    return constraints[0] if len(constraints) == 1 else GoAnd(tuple(constraints))


def go_or(constraints: Sequence[GoConstraint]) -> GoConstraint | None:
    """The exported ``OR``: nothing is ``None`` (no constraint at all), one is itself."""
    if not constraints:
        return None
    return constraints[0] if len(constraints) == 1 else GoOr(tuple(constraints))


def go_parse_condition(
    condition: str, properties: Mapping[str, GoProperty]
) -> tuple[GoBinary | None, str | None]:
    """The factory's ``parse``: like Go, it may return a constraint *and* an error."""
    if not condition.strip():
        return None, None
    end = next((i for i, ch in enumerate(condition) if ch in _OP_CHARS), -1)
    if end == -1:
        return None, f"invalid constraint: {condition}"
    prop = properties.get(condition[:end])
    if prop is None:
        return None, None
    rest = condition[end:]
    op = next((o for o in OPERATORS if rest.startswith(o)), "")
    value = rest[len(op):]
    return GoBinary(prop, op, value), prop.validate(value)


def go_constraint_from_requirement(
    requirement: str, properties: Mapping[str, GoProperty]
) -> GoConstraint | None:
    """One value through the Go factory: space = OR, comma = AND, unknown properties skipped."""
    if not requirement.strip():
        return None
    terms: list[GoConstraint] = []
    for term in requirement.split(" "):
        factors: list[GoConstraint] = []
        for text in term.split(","):
            constraint, problem = go_parse_condition(text, properties)
            if problem is not None:
                raise RequireError(problem)
            if constraint is not None:
                factors.append(constraint)
        if len(factors) == 1:
            terms.append(factors[0])
        elif factors:
            terms.append(GoAnd(tuple(factors)))
    return go_or(terms)


def go_new(requirements: Sequence[str], properties: Mapping[str, GoProperty]) -> GoConstraint:
    constraints = []
    for requirement in requirements:
        c = go_constraint_from_requirement(requirement, properties)
        if c is not None:
            constraints.append(c)
    return go_and(constraints)
