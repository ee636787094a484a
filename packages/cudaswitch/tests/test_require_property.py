"""Any string given to the requirement parsers gives a result or a clean error with a message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cudaswitch.compat.forward import CompatNoteError, parse_payload
from cudaswitch.compat.require import (
    Facts,
    GoProperty,
    GpuFacts,
    RequireError,
    check,
    compare_versions,
    go_new,
    hook_config,
    parse,
    parse_major_minor,
    requirements_from_env,
)

ALPHABET = st.sampled_from(list("cudarivebn<>=!,. 0123456789xX-+vé\t\0"))
EXPR = st.one_of(st.text(), st.text(alphabet=ALPHABET, max_size=60))
VERSION = st.one_of(st.none(), st.text(alphabet="0123456789.", max_size=12), st.text(max_size=8))
FACTS = st.builds(
    Facts,
    cuda=VERSION,
    driver=VERSION,
    gpus=st.lists(st.builds(GpuFacts, arch=VERSION, brand=st.one_of(st.none(), st.text())),
                  max_size=3).map(tuple),
)


def _clean(e: RequireError) -> None:
    assert str(e)


@settings(max_examples=400)
@given(EXPR, FACTS)
def test_check_gives_a_result_or_a_clean_error(expr: str, facts: Facts) -> None:
    try:
        outcome = check([expr], facts)
    except RequireError as e:
        _clean(e)
        return
    assert outcome.ok or (outcome.message or "").startswith("unsatisfied condition: ")


@settings(max_examples=400)
@given(EXPR)
def test_strict_parse_accepts_only_what_check_can_evaluate(expr: str) -> None:
    try:
        parse(expr)
    except RequireError as e:
        _clean(e)
        return
    check([expr], Facts(cuda="12.2", driver="535.54.03", gpus=(GpuFacts("9.0", "Tesla"),)))


@given(EXPR, st.text(max_size=10), st.text(max_size=10))
def test_go_factory_gives_a_result_or_a_clean_error(expr: str, cuda: str, brand: str) -> None:
    props = {"cuda": GoProperty("cuda", cuda), "brand": GoProperty("brand", brand, "string")}
    try:
        constraint = go_new([expr], props)
    except RequireError as e:
        _clean(e)
        return
    failure = constraint.failure()
    assert failure is None or isinstance(failure, str)


@given(st.one_of(st.text(), st.text(alphabet="0123456789.v-+", max_size=20)))
def test_major_minor_gives_a_result_or_a_clean_error(text: str) -> None:
    try:
        major, minor = parse_major_minor(text).split(".")
    except RequireError as e:
        _clean(e)
        return
    assert major.isdigit() and minor.isdigit()


@given(st.text(alphabet="0123456789.", max_size=16), st.sampled_from(["=", "!=", "<", "<=", ">",
                                                                      ">="]),
       st.text(alphabet="0123456789.", max_size=16))
def test_compare_versions_is_tri_state(a: str, op: str, b: str) -> None:
    assert compare_versions(a, op, b) in (True, False, None)


ENV_KEYS = st.sampled_from(["CUDA_VERSION", "NVIDIA_REQUIRE_CUDA", "NVIDIA_REQUIRE_X",
                            "NVIDIA_DISABLE_REQUIRE", "NVIDIA_VISIBLE_DEVICES",
                            "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_MIG_CONFIG_DEVICES",
                            "NVIDIA_REQUIRE_JETPACK"])


@given(st.dictionaries(ENV_KEYS, st.text(max_size=20)), st.booleans())
def test_env_readers_give_a_result_or_a_clean_error(env: dict[str, str], privileged: bool) -> None:
    try:
        reqs = requirements_from_env(env)
        assert all(isinstance(r, str) for r in reqs)
        hook_config(env, privileged)
    except RequireError as e:
        _clean(e)


@given(st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode)))
def test_note_payload_gives_a_header_or_a_clean_error(payload: bytes) -> None:
    try:
        parse_payload(payload)
    except CompatNoteError as e:
        assert str(e).startswith("could not unmarshal JSON data")


def test_deeply_nested_payload_is_a_clean_error() -> None:
    with pytest.raises(CompatNoteError, match="could not unmarshal JSON data"):
        parse_payload(b"[" * 100_000)
