"""Model run spans from overlapping threads: the benchmark's share of frame time outside
inference counts each instant once, whatever the number of models running then."""

from facefuse.types import StageTimes, covered_seconds


def test_overlapping_spans_count_once() -> None:
    spans = [(1.0, 3.0), (2.0, 4.0), (2.5, 2.6), (6.0, 7.0)]
    assert covered_seconds(spans, 0.0, 10.0) == 4.0


def test_spans_are_clipped_to_the_window() -> None:
    assert covered_seconds([(0.0, 2.0), (9.0, 12.0)], 1.0, 10.0) == 2.0
    assert covered_seconds([], 0.0, 1.0) == 0.0


def test_merge_keeps_spans_and_totals() -> None:
    a, b = StageTimes(), StageTimes()
    a.add_span("swap_infer", 1.0, 1.5)
    b.add_span("swap_infer", 1.2, 2.0)
    a.merge(b)
    assert a.counts["swap_infer"] == 2 and abs(a.totals_ms["swap_infer"] - 1300.0) < 1e-9
    assert covered_seconds(a.spans, 0.0, 5.0) == 1.0
