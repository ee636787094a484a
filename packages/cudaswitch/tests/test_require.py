"""NVIDIA's requirement language: every row of nvidia-require-cases.md §A–§D, then the C
evaluator's semantics (§G) that those tables do not pin down.

Row ids are the upstream test descriptions, verbatim, so that the tables can be ticked off.
"""

from __future__ import annotations

import pytest

from cudaswitch.compat.require import (
    CUDA_SUFFIX,
    MAX_REQUIREMENTS,
    Facts,
    GoAlways,
    GoAnd,
    GoBinary,
    GoConstraint,
    GoOr,
    GoProperty,
    GpuFacts,
    HookConfig,
    HookPanic,
    InvalidCudaVersion,
    InvalidExpression,
    RequireError,
    TooManyRequirements,
    check,
    compare_versions,
    evaluate,
    go_and,
    go_constraint_from_requirement,
    go_new,
    go_or,
    go_parse_condition,
    hook_config,
    is_legacy_image,
    parse,
    parse_go_bool,
    parse_major_minor,
    require_disabled,
    requirements_from_env,
)

CUDA = GoProperty("cuda")
ARCH = GoProperty("arch")

# --------------------------------------------------------------------------- §A1 TestParse

A1 = [
    ("empty is nil", "", False, None),
    ("missing operator is invalid", "notvalid", True, None),
    ("invalid property is invalid", "foo=45", False, None),
    ("cuda must be semver", "cuda=foo", True, GoBinary(CUDA, "=", "foo")),
    ("cuda greater than equal", "cuda>=11.6", False, GoBinary(CUDA, ">=", "11.6")),
    ("cuda greater than", "cuda>11.6", False, GoBinary(CUDA, ">", "11.6")),
    ("cuda less than equal", "cuda<=11.6", False, GoBinary(CUDA, "<=", "11.6")),
    ("cuda less than", "cuda<11.6", False, GoBinary(CUDA, "<", "11.6")),
    ("cuda equal", "cuda=11.6", False, GoBinary(CUDA, "=", "11.6")),
    ("cuda not equal", "cuda!=11.6", False, GoBinary(CUDA, "!=", "11.6")),
]


@pytest.mark.parametrize(("condition", "expect_error", "expected"),
                         [r[1:] for r in A1], ids=[r[0] for r in A1])
def test_go_parse_condition(condition: str, expect_error: bool, expected: GoBinary | None) -> None:
    constraint, problem = go_parse_condition(condition, {"cuda": CUDA})
    assert (problem is not None) == expect_error
    assert constraint == expected


# --------------------------------------------------------------------------- §A2

CUDA_GE = GoBinary(CUDA, ">=", "11.6")
ARCH_EQ = GoBinary(ARCH, "=", "5.3")
# Upstream labels rows 4–5 the wrong way round (see the CAVEAT in §A2); the trees below are
# what the factory really builds: space = OR, comma = AND.
A2 = [
    ("empty is nil", "", False, None),
    ("malformed constraint is invalid", "notvalid", True, None),
    ("unsupported property is ignored", "cuda>=11.6 foo=bar", False, CUDA_GE),
    ("space-separated is and", "cuda>=11.6 arch=5.3", False, GoOr((CUDA_GE, ARCH_EQ))),
    ("comma-separated is or", "cuda>=11.6,arch=5.3", False, GoAnd((CUDA_GE, ARCH_EQ))),
    ("and takes precedence", "cuda<13.6 cuda>=11.6,arch=5.3", False,
     GoOr((GoBinary(CUDA, "<", "13.6"), GoAnd((CUDA_GE, ARCH_EQ))))),
]


@pytest.mark.parametrize(("requirement", "expect_error", "expected"),
                         [r[1:] for r in A2], ids=[r[0] for r in A2])
def test_go_constraint_from_requirement(
    requirement: str, expect_error: bool, expected: GoConstraint | None
) -> None:
    properties = {"cuda": CUDA, "arch": ARCH}
    if expect_error:
        with pytest.raises(RequireError):
            go_constraint_from_requirement(requirement, properties)
        return
    assert go_constraint_from_requirement(requirement, properties) == expected


def test_go_factory_empty_list_is_always() -> None:
    assert go_new([], {"cuda": CUDA}) == GoAlways()
    assert go_new(["", "foo=1"], {"cuda": CUDA}) == GoAlways()


def test_go_factory_compares_semver_and_brand_case_sensitively() -> None:
    props = {"cuda": GoProperty("cuda", "12.10"), "brand": GoProperty("brand", "Tesla", "string")}
    assert go_new(["cuda>=12.9"], props).failure() is None
    assert go_new(["brand=Tesla"], props).failure() is None
    assert go_new(["brand=tesla"], props).failure() == (
        "unsatisfied condition: brand=tesla (brand=Tesla)"
    )
    assert go_new(["cuda>=12.11"], props).failure() == (
        "unsatisfied condition: cuda>=12.11 (cuda=12.10)"
    )


# --------------------------------------------------------------------------- §B


class _Never(GoConstraint):
    def failure(self) -> str | None:
        return "false"

    def __str__(self) -> str:
        return "never"


ALWAYS, NEVER = GoAlways(), _Never()
B = [
    ("AND", "empty is always true", [], True),
    ("AND", "single true constraint is true", [ALWAYS], True),
    ("AND", "single false constraint is false", [NEVER], False),
    ("AND", "multiple true constraints are true", [ALWAYS, ALWAYS], True),
    ("AND", "mixed constraints are false (first is true)", [ALWAYS, NEVER], False),
    ("AND", "mixed constraints are false (last is true)", [NEVER, ALWAYS], False),
    ("OR", "empty is always false", [], False),
    ("OR", "single true constraint is true", [ALWAYS], True),
    ("OR", "single false constraint is false", [NEVER], False),
    ("OR", "multiple true constraints are true", [ALWAYS, ALWAYS], True),
    ("OR", "mixed constraints are true (first is true)", [ALWAYS, NEVER], True),
    ("OR", "mixed constraints are true (last is true)", [NEVER, ALWAYS], True),
]


@pytest.mark.parametrize(("kind", "constraints", "expected"),
                         [(r[0], r[2], r[3]) for r in B], ids=[f"{r[0]}: {r[1]}" for r in B])
def test_logical(kind: str, constraints: list[GoConstraint], expected: bool) -> None:
    node = GoAnd(tuple(constraints)) if kind == "AND" else GoOr(tuple(constraints))
    assert (node.failure() is None) == expected


def test_exported_constructors_differ_from_raw_types() -> None:
    assert go_and([]) == GoAlways()
    assert go_or([]) is None
    assert go_and([NEVER]) is NEVER
    assert go_or([ALWAYS]) is ALWAYS


# --------------------------------------------------------------------------- §C1

C1 = [
    ("NVIDIA_REQUIRE_JETPACK is ignored", {"NVIDIA_REQUIRE_JETPACK": "csv-mounts=all"}, []),
    ("NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS is ignored",
     {"NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS": "base-only"}, []),
    ("single requirement set", {"NVIDIA_REQUIRE_CUDA": "cuda>=11.6"}, ["cuda>=11.6"]),
    ("requirements are concatenated requirement set",
     {"NVIDIA_REQUIRE_CUDA": "cuda>=11.6", "NVIDIA_REQUIRE_BRAND": "brand=tesla"},
     ["cuda>=11.6", "brand=tesla"]),
    ("legacy image", {"CUDA_VERSION": "11.6"}, ["cuda>=11.6"]),
    ("legacy image with additional requirement",
     {"CUDA_VERSION": "11.6", "NVIDIA_REQUIRE_BRAND": "brand=tesla"},
     ["cuda>=11.6", "brand=tesla"]),
    ("NVIDIA_DISABLE_REQUIRE ignores requirements",
     {"NVIDIA_REQUIRE_CUDA": "cuda>=11.6", "NVIDIA_REQUIRE_BRAND": "brand=tesla",
      "NVIDIA_DISABLE_REQUIRE": "true"}, []),
    ("NVIDIA_DISABLE_REQUIRE ignores legacy image requirements",
     {"CUDA_VERSION": "11.6", "NVIDIA_REQUIRE_BRAND": "brand=tesla",
      "NVIDIA_DISABLE_REQUIRE": "true"}, []),
]


@pytest.mark.parametrize(("env", "expected"), [r[1:] for r in C1], ids=[r[0] for r in C1])
def test_requirements_from_env(env: dict[str, str], expected: list[str]) -> None:
    assert sorted(requirements_from_env(env)) == sorted(expected)


def test_cuda_requirement_comes_first_so_the_message_names_it() -> None:
    env = {"NVIDIA_REQUIRE_A": "brand=tesla", "NVIDIA_REQUIRE_CUDA": "cuda>=12.2"}
    assert requirements_from_env(env) == ("cuda>=12.2", "brand=tesla")
    assert requirements_from_env({"CUDA_VERSION": "12.4.1", "NVIDIA_REQUIRE_A": "x=1"}) == (
        "cuda>=12.4", "x=1")


def test_config_disable_require_and_empty_require_cuda() -> None:
    assert requirements_from_env({"NVIDIA_REQUIRE_CUDA": "cuda>=9"}, disable_require=True) == ()
    env = {"CUDA_VERSION": "12.2", "NVIDIA_REQUIRE_CUDA": ""}
    assert is_legacy_image(env)
    assert requirements_from_env(env) == ("", "cuda>=12.2")


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_disable_require_truthy(value: str) -> None:
    assert parse_go_bool(value) is True
    assert require_disabled({"NVIDIA_DISABLE_REQUIRE": value})


@pytest.mark.parametrize("value", ["0", "f", "false", "", "yes", "on", "tRUE", " true"])
def test_disable_require_anything_else_checks(value: str) -> None:
    assert not require_disabled({"NVIDIA_DISABLE_REQUIRE": value})


def test_disable_require_plural_spelling_is_not_read() -> None:
    assert not require_disabled({"NVIDIA_DISABLE_REQUIRES": "true"})


# --------------------------------------------------------------------------- §C2 / §C3

C2 = [
    ("0", "0.0"), ("8", "8.0"), ("7.5", "7.5"), ("9.0.116", "9.0"),
    ("4294967295.4294967295.4294967295", "4294967295.4294967295"), ("v11.6", "11.6"),
]
C3 = ["foo", "foo.5.10", "9.0.116.50", "9.0.116foo", "7.foo", "9.0.bar", "9.4294967296",
      "9.0.116.", "9..0", "9.", ".5.10", "-9", "+9", "-9.1.116", "-9.-1.-116"]


@pytest.mark.parametrize(("version", "expected"), C2, ids=[r[0] for r in C2])
def test_parse_major_minor_valid(version: str, expected: str) -> None:
    assert parse_major_minor(version) == expected


@pytest.mark.parametrize("version", C3, ids=C3)
def test_parse_major_minor_invalid(version: str) -> None:
    with pytest.raises(InvalidCudaVersion):
        parse_major_minor(version)


def test_unparsable_legacy_version_fails_unless_disabled() -> None:
    with pytest.raises(InvalidCudaVersion):
        requirements_from_env({"CUDA_VERSION": "auto"})
    assert requirements_from_env({"CUDA_VERSION": "auto", "NVIDIA_DISABLE_REQUIRE": "1"}) == ()
    with pytest.raises(HookPanic, match="failed to get requirements"):
        hook_config({"CUDA_VERSION": "auto"})


# --------------------------------------------------------------------------- §D

SUPPORTED = "compat32,compute,display,graphics,ngx,utility,video"
DEFAULT = "compute,utility"
LEGACY = {"CUDA_VERSION": "9.0"}
MODERN = {"NVIDIA_REQUIRE_CUDA": "cuda>=9.0"}
GPUS = {"NVIDIA_VISIBLE_DEVICES": "gpu0,gpu1"}
VD = {"NVIDIA_DRIVER_CAPABILITIES": "video,display"}
REQS = {"NVIDIA_REQUIRE_REQ0": "req0=true", "NVIDIA_REQUIRE_REQ1": "req1=false"}
OFF = {"NVIDIA_DISABLE_REQUIRE": "true"}
ALL_REQS = ["cuda>=9.0", "req0=true", "req1=false"]
MIG_CONFIG = {**MODERN, "NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_MIG_CONFIG_DEVICES": "mig0,mig1"}
MIG_MONITOR = {**MODERN, "NVIDIA_VISIBLE_DEVICES": "all",
               "NVIDIA_MIG_MONITOR_DEVICES": "mig0,mig1"}
NIL, PANIC = "nil config", "panic"


def _cfg(devices: list[str], caps: str, reqs: list[str], **mig: str) -> HookConfig:
    return HookConfig(tuple(devices), caps, tuple(reqs), **mig)


D = [
    ("No environment, unprivileged", {}, False, NIL),
    ("No environment, privileged", {}, True, NIL),
    ("Legacy image, no devices, no capabilities, no requirements", LEGACY, False,
     _cfg(["all"], SUPPORTED, ["cuda>=9.0"])),
    ("Legacy image, devices 'all', no capabilities, no requirements",
     {**LEGACY, "NVIDIA_VISIBLE_DEVICES": "all"}, False, _cfg(["all"], SUPPORTED, ["cuda>=9.0"])),
    ("Legacy image, devices 'empty', no capabilities, no requirements",
     {**LEGACY, "NVIDIA_VISIBLE_DEVICES": ""}, False, NIL),
    ("Legacy image, devices 'void', no capabilities, no requirements",
     {**LEGACY, "NVIDIA_VISIBLE_DEVICES": "void"}, False, NIL),
    ("Legacy image, devices 'none', no capabilities, no requirements",
     {**LEGACY, "NVIDIA_VISIBLE_DEVICES": "none"}, False, _cfg([""], SUPPORTED, ["cuda>=9.0"])),
    ("Legacy image, devices set, no capabilities, no requirements", {**LEGACY, **GPUS}, False,
     _cfg(["gpu0", "gpu1"], SUPPORTED, ["cuda>=9.0"])),
    ("Legacy image, devices set, capabilities 'empty', no requirements",
     {**LEGACY, **GPUS, "NVIDIA_DRIVER_CAPABILITIES": ""}, False,
     _cfg(["gpu0", "gpu1"], DEFAULT, ["cuda>=9.0"])),
    ("Legacy image, devices set, capabilities 'all', no requirements",
     {**LEGACY, **GPUS, "NVIDIA_DRIVER_CAPABILITIES": "all"}, False,
     _cfg(["gpu0", "gpu1"], SUPPORTED, ["cuda>=9.0"])),
    ("Legacy image, devices set, capabilities set, no requirements", {**LEGACY, **GPUS, **VD},
     False, _cfg(["gpu0", "gpu1"], "display,video", ["cuda>=9.0"])),
    ("Legacy image, devices set, capabilities set, requirements set",
     {**LEGACY, **GPUS, **VD, **REQS}, False, _cfg(["gpu0", "gpu1"], "display,video", ALL_REQS)),
    ("Legacy image, devices set, capabilities set, requirements set, disable requirements",
     {**LEGACY, **GPUS, **VD, **REQS, **OFF}, False, _cfg(["gpu0", "gpu1"], "display,video", [])),
    ("Modern image, no devices, no capabilities, no requirements, no image.EnvVarCudaVersion",
     MODERN, False, NIL),
    ("Modern image, no devices, no capabilities, no requirement, image.EnvVarCudaVersion set",
     {**LEGACY, **MODERN}, False, NIL),
    ("Modern image, devices 'all', no capabilities, no requirements",
     {**MODERN, "NVIDIA_VISIBLE_DEVICES": "all"}, False, _cfg(["all"], DEFAULT, ["cuda>=9.0"])),
    ("Modern image, devices 'empty', no capabilities, no requirements",
     {**MODERN, "NVIDIA_VISIBLE_DEVICES": ""}, False, NIL),
    ("Modern image, devices 'void', no capabilities, no requirements",
     {**MODERN, "NVIDIA_VISIBLE_DEVICES": "void"}, False, NIL),
    ("Modern image, devices 'none', no capabilities, no requirements",
     {**MODERN, "NVIDIA_VISIBLE_DEVICES": "none"}, False, _cfg([""], DEFAULT, ["cuda>=9.0"])),
    ("Modern image, devices set, no capabilities, no requirements", {**MODERN, **GPUS}, False,
     _cfg(["gpu0", "gpu1"], DEFAULT, ["cuda>=9.0"])),
    ("Modern image, devices set, capabilities 'empty', no requirements",
     {**MODERN, **GPUS, "NVIDIA_DRIVER_CAPABILITIES": ""}, False,
     _cfg(["gpu0", "gpu1"], DEFAULT, ["cuda>=9.0"])),
    ("Modern image, devices set, capabilities 'all', no requirements",
     {**MODERN, **GPUS, "NVIDIA_DRIVER_CAPABILITIES": "all"}, False,
     _cfg(["gpu0", "gpu1"], SUPPORTED, ["cuda>=9.0"])),
    ("Modern image, devices set, capabilities set, no requirements", {**MODERN, **GPUS, **VD},
     False, _cfg(["gpu0", "gpu1"], "display,video", ["cuda>=9.0"])),
    ("Modern image, devices set, capabilities set, requirements set",
     {**MODERN, **GPUS, **VD, **REQS}, False, _cfg(["gpu0", "gpu1"], "display,video", ALL_REQS)),
    ("Modern image, devices set, capabilities set, requirements set, disable requirements",
     {**MODERN, **GPUS, **VD, **REQS, **OFF}, False, _cfg(["gpu0", "gpu1"], "display,video", [])),
    ("No cuda envs, devices 'all'", {"NVIDIA_VISIBLE_DEVICES": "all"}, False,
     _cfg(["all"], DEFAULT, [])),
    ("Modern image, devices 'all', migConfig set, privileged", MIG_CONFIG, True,
     _cfg(["all"], DEFAULT, ["cuda>=9.0"], mig_config_devices="mig0,mig1")),
    ("Modern image, devices 'all', migConfig set, unprivileged", MIG_CONFIG, False, PANIC),
    ("Modern image, devices 'all', migMonitor set, privileged", MIG_MONITOR, True,
     _cfg(["all"], DEFAULT, ["cuda>=9.0"], mig_monitor_devices="mig0,mig1")),
    ("Modern image, devices 'all', migMonitor set, unprivileged", MIG_MONITOR, False, PANIC),
]


@pytest.mark.parametrize(("env", "privileged", "expected"), [r[1:] for r in D],
                         ids=[r[0] for r in D])
def test_hook_config(env: dict[str, str], privileged: bool, expected: object) -> None:
    if expected == PANIC:
        with pytest.raises(HookPanic):
            hook_config(env, privileged)
        return
    got = hook_config(env, privileged)
    if expected == NIL:
        assert got is None
        return
    assert isinstance(expected, HookConfig) and got is not None
    assert got.devices == expected.devices
    assert got.driver_capabilities == expected.driver_capabilities
    assert sorted(got.requirements) == sorted(expected.requirements)
    assert got.mig_config_devices == expected.mig_config_devices
    assert got.mig_monitor_devices == expected.mig_monitor_devices


def test_hook_panics_on_unsupported_capability() -> None:
    with pytest.raises(HookPanic, match="unsupported capabilities"):
        hook_config({**MODERN, **GPUS, "NVIDIA_DRIVER_CAPABILITIES": "compute,warp"})


def test_hook_requirements_naming_unknown_properties_are_invalid_in_c() -> None:
    cfg = hook_config({**MODERN, **GPUS, **REQS})
    assert cfg is not None
    with pytest.raises(InvalidExpression):
        check(cfg.requirements, Facts(cuda="12.2"))


# --------------------------------------------------------------------------- §G: C semantics

HOST = Facts(cuda="11.4", driver="470.82.01", gpus=(GpuFacts("8.0", "Tesla"),))

G_HOLDS = [
    ("issue example", "cuda>=11.8 brand=tesla,driver>=470,driver<471", True),
    ("space is OR", "cuda>=11.8 cuda>=11.4", True),
    ("comma is AND", "cuda>=11.4,driver>=471", False),
    ("property names are case-insensitive", "CUDA>=11.4,Driver=470.82.1,ARCH=8", True),
    ("brand compare is case-insensitive", "brand=TESLA", True),
    ("brand not equal", "brand!=geforce", True),
    ("numeric compare, 12.9 < 12.10", "cuda<11.10", True),
    ("missing tail is zero", "cuda=11.4.0.0", True),
    ("zero tail on the host side", "arch=8", True),
    ("leading zeros are numbers", "driver=470.82.1", True),
    ("empty pieces are ignored", "  cuda>=11.4,,  ", True),
    ("empty value holds", "", True),
    ("lazy AND skips unknown property after a false factor", "cuda>=12,foo=bar", False),
    ("lazy OR skips unknown property after a true term", "cuda>=11 foo=bar", True),
    ("value may carry operator characters for brand", "brand!=a=b", True),
    ("greater than", "driver>470.82", True),
    ("less or equal", "driver<=470.82.01", True),
    ("not equal on versions", "cuda!=11.4.0", False),
    ("a term of only empty factors stops with the previous result", "cuda>=12 ,", False),
]


@pytest.mark.parametrize(("requirement", "holds"), [r[1:] for r in G_HOLDS],
                         ids=[r[0] for r in G_HOLDS])
def test_c_evaluation(requirement: str, holds: bool) -> None:
    assert check([requirement], HOST).ok is holds


G_INVALID = [
    ("unknown property", "foo=1"),
    ("unknown property reached after a true factor", "cuda>=11,foo=1"),
    ("no operator", "cuda"),
    ("no property", ">=11"),
    ("no value", "cuda>="),
    ("doubled operator", "cuda==11"),
    ("operator run that is no operator", "cuda=>11"),
    ("bang alone", "cuda!11"),
    ("version with letters", "cuda>=11.x"),
    ("version with a leading dot", "cuda>=.5"),
    ("brand ordering", "brand<tesla"),
    ("component that overflows uintmax", "driver=18446744073709551615"),
]


@pytest.mark.parametrize("requirement", [r[1] for r in G_INVALID], ids=[r[0] for r in G_INVALID])
def test_c_invalid_expression(requirement: str) -> None:
    with pytest.raises(InvalidExpression) as e:
        check([requirement], HOST)
    assert "invalid expression" in str(e.value)
    assert "PROPERTY OP VALUE" in str(e.value)


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ("cuda>=12.2 brand=tesla,driver>=535",
         "unsatisfied condition: cuda>=12.2" + CUDA_SUFFIX),
        ("driver>=535 cuda>=12.2", "unsatisfied condition: driver>=535"),
        ("CUDA>=12.2", "unsatisfied condition: CUDA>=12.2"),
        ("brand=geforce", "unsatisfied condition: brand=geforce"),
        (" cuda>=12.2", "unsatisfied condition: "),
    ],
    ids=["cuda floor gets the driver advice", "first OR term only", "prefix is case-sensitive",
         "brand", "leading space echoes an empty first term"],
)
def test_c_error_text(requirement: str, message: str) -> None:
    outcome = check([requirement], HOST)
    assert not outcome.ok
    assert outcome.message == message


def test_c_reports_the_failing_factor_and_gpu() -> None:
    facts = Facts(cuda="12.4", driver="550.54.15",
                  gpus=(GpuFacts("9.0", "Tesla"), GpuFacts("7.0", "Tesla")))
    outcome = check(["cuda>=12.0", "arch>=8.0"], facts)
    assert (outcome.ok, outcome.gpu, outcome.requirement, outcome.factor) == (
        False, 1, "arch>=8.0", "arch >= 8.0")


def test_c_without_gpu_arch_and_brand_hold() -> None:
    facts = Facts(cuda="12.4", driver="550.54.15")
    assert check(["arch>=10.0,brand=tesla"], facts).ok
    assert not check(["arch>=10.0,cuda>=13"], facts).ok


def test_c_unknown_facts_hold() -> None:
    assert check(["cuda>=99,driver>=999"], Facts()).ok
    assert check(["brand=tesla"], Facts(gpus=(GpuFacts("9.0", None),))).ok


def test_c_several_values_are_anded() -> None:
    assert check(["cuda>=11", "driver>=470"], HOST).ok
    out = check(["cuda>=11", "driver>=471"], HOST)
    assert not out.ok and out.requirement == "driver>=471"


def test_c_host_value_that_is_no_version_is_invalid() -> None:
    with pytest.raises(InvalidExpression, match="this host's driver"):
        evaluate("driver>=470", Facts(driver="470.82.01-custom"))


def test_c_failing_factor_longer_than_its_buffer_is_invalid() -> None:
    long_brand = "x" * 130
    assert check([f"brand!={long_brand}"], HOST).ok
    with pytest.raises(InvalidExpression):
        check([f"brand={long_brand}"], HOST)


def test_c_at_most_32_requirements() -> None:
    assert check(["cuda>=1"] * MAX_REQUIREMENTS, HOST).ok
    with pytest.raises(TooManyRequirements):
        check(["cuda>=1"] * (MAX_REQUIREMENTS + 1), HOST)


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("12.9", "<", "12.10", True), ("12", "=", "12.0.0", True), ("12.0.1", ">", "12", True),
        ("12.0.0", "<=", "12", True), ("12", "!=", "12.0", False), ("1..2", "=", "1.2", True),
        ("1.", "=", "1", True), ("12.02", "=", "12.2", True), ("1", "<", "1.0.0.1", True),
        ("a", "=", "1", None), (".1", "=", "1", None),
    ],
)
def test_compare_versions(left: str, op: str, right: str, expected: bool | None) -> None:
    assert compare_versions(left, op, right) is expected


def test_strict_parse_checks_every_factor() -> None:
    req = parse("cuda>=12.2 brand=Tesla,driver>=470,driver<471")
    assert [[str(f) for f in t] for t in req.terms] == [
        ["cuda>=12.2"], ["brand=Tesla", "driver>=470", "driver<471"]]
    bad_values = ("cuda>=11 foo=bar", "cuda>=11,arch=x", "brand>=tesla",
                  "cuda>=1.99999999999999999999")
    for bad in bad_values:
        with pytest.raises(InvalidExpression):
            parse(bad)
