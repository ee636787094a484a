import pytest
from hypothesis import given
from hypothesis import strategies as st

from cudaswitch.versions import CudaVersion, SpecError, VersionSpec, is_plain_version


@pytest.mark.parametrize("a,b", [("12.9", "12.10"), ("11.8", "12.0"), ("12.4.99", "12.4.127"),
                                 ("12", "12.0.1"), ("9.2", "10.0")])
def test_numeric_order(a, b):
    assert CudaVersion.parse(a) < CudaVersion.parse(b)
    assert not CudaVersion.parse(b) < CudaVersion.parse(a)


@pytest.mark.parametrize("spec,version,expected", [
    ("12", "12.9.79", True), ("12", "13.0", False), ("12.2", "12.2.140", True),
    ("12.2", "12.20.1", False), ("12.2.140", "12.2.140", True), ("12.2.140", "12.2.128", False),
    (">=12.1,<13", "12.9", True), (">=12.1,<13", "13.0.96", False), (">=12.1,<13", "12.0", False),
    ("<=11.8", "11.8.89", False), ("<=11.8.89", "11.8.89", True), ("!=12.4", "12.4.1", True),
    ("auto", "11.8", True), ("latest", "13.5", True), ("=12.4", "12.4", True),
])
def test_matches(spec, version, expected):
    assert VersionSpec.parse(spec).matches(CudaVersion.parse(version)) is expected


@pytest.mark.parametrize("bad", ["", "   ", "12.2; rm -rf /", "../../etc", "x" * 200, "12.é",
                                 "twelve", "１２.４", "١٢", "12..2", ">=12,", "12.2.3.4", "$(id)",
                                 "12\n13", "auto,12", "-1"])
def test_bad_specs_say_what_a_spec_looks_like(bad):
    with pytest.raises(SpecError) as e:
        VersionSpec.parse(bad)
    assert "spec" in str(e.value)


@given(st.text(max_size=80))
def test_any_string_parses_or_fails_cleanly(text):
    try:
        spec = VersionSpec.parse(text)
    except SpecError as e:
        assert str(e)
    else:
        assert spec.kind in ("prefix", "range", "auto", "latest")
        assert spec.text.isascii() and ";" not in spec.text and "/" not in spec.text
        assert VersionSpec.parse(spec.text) == spec


@given(st.lists(st.integers(0, 999), min_size=1, max_size=3),
       st.lists(st.integers(0, 999), min_size=1, max_size=3))
def test_order_agrees_with_integer_tuples(a, b):
    va, vb = CudaVersion.parse(".".join(map(str, a))), CudaVersion.parse(".".join(map(str, b)))
    pad = lambda x: tuple(x) + (0,) * (3 - len(x))  # noqa: E731
    assert (va < vb) == (pad(a) < pad(b))


def test_plain_version():
    assert is_plain_version("11.8") and is_plain_version("12.4.1")
    assert not is_plain_version("auto") and not is_plain_version(">=12")
    assert not is_plain_version("")
