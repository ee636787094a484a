"""Invariants of the shipped NVIDIA data, one test per invariant, ids naming the entry."""

import json
from pathlib import Path

import pytest

from cudaswitch.compat.data import DATA_FILE, catalog
from cudaswitch.versions import parse_dotted

CAT = catalog()
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "nvidia-compat.json"


def test_shipped_data_keeps_its_sources():
    raw = json.loads(Path(DATA_FILE).read_text())
    assert len(raw["sources"]) > 10
    assert all(r.get("sources") for r in raw["toolkit_driver_versions"]["rows"])


@pytest.mark.skipif(not SHARED.exists(), reason="shared reference not beside this checkout")
def test_shipped_data_is_the_reference_copy():
    assert json.loads(Path(DATA_FILE).read_text()) == json.loads(SHARED.read_text())


@pytest.mark.parametrize("row", CAT.driver_rows, ids=lambda r: f"{r.cuda}-{r.release}")
def test_every_driver_row_parses(row):
    assert len(row.min_driver_tuple) >= 2 and row.min_driver_tuple[0] >= 300


def test_newer_releases_never_need_older_drivers():
    for a, b in zip(CAT.driver_rows, CAT.driver_rows[1:], strict=False):
        assert a.min_driver_tuple <= b.min_driver_tuple, (a, b)


@pytest.mark.parametrize("major,floor", [(11, "450.80.02"), (12, "525.60.13"), (13, "580.65.06")])
def test_minor_floors(major, floor):
    assert floor in {f.min_driver for f in CAT.minor_floors if f.major == major}


@pytest.mark.parametrize("t", CAT.arch_targets, ids=lambda t: str(t.cuda))
def test_every_toolkit_targets_something(t):
    assert t.sms and all(s.startswith("sm_") for s in t.sms)


def test_architecture_names_for_every_listed_cc():
    assert CAT.arch_names["9.0"] == "Hopper"
    assert all(parse_dotted(cc) for cc in CAT.arch_names)
